//! A broken-object-level-authorization sweep generated from the server's own
//! `/openapi.json`: every operation on a path with an `{id}`, and every list, including
//! routes added after this test was written. An operation the sweep cannot exercise
//! fails the test, so no route escapes silently.
//!
//! For each id route, tenant B calls every method on tenant A's object and on a random
//! id: both answer 404 with the same body, and A's objects are unchanged afterwards.
//! B's lists never show A's ids. A tenant named in a body, an `X-Tenant-Id` header or
//! a `?tenant_id=` query is ignored.
//!
//! What the sweep needs, it builds from the document alone:
//! - an object of `/things` is created by `POST /things`, or else by a nested
//!   `POST /parents/{id}/things` once a parent has been created ([`Spec::creator`]);
//! - a body gets its required properties (an attacker's PATCH or PUT: every property
//!   that can be filled), a nested object its required ones ([`Spec::object`]);
//! - a uuid property `<name>_id` refers to a new object of the collection of
//!   `<name>`s created by the same user first, except for the few names
//!   [`Spec::target_of`] lists;
//! - a sub-resource with a PUT (`/contacts/{id}/requirements`) is PUT by its owner
//!   first (a keyed one, `/patients/{id}/guardians/{contact_id}`, with its other ids
//!   named like body properties: a new contact of the owner's), so that every GET on
//!   an id path, computed ones (`/contacts/{id}/matches`)
//!   included, answers 200 to its owner, and every one must: B's 404 then means
//!   something. B's GETs of its own objects must answer 200 too, so B's 404s cannot
//!   come from a module switched off for B;
//! - DELETEs are attacked last, so that one wrongly succeeding hides no other leak.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, TimeZone, Utc};
use futures::future::{FutureExt, LocalBoxFuture};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{PASSWORD, TestApp, TestUser, expect_json, expect_problem, spawn_app};

/// How deep creating an object may recurse through parents and references before the
/// sweep gives up (a cycle in the document).
const MAX_DEPTH: usize = 6;

/// The operations whose body needs what no schema can say: one of several optional
/// properties (`POST /notifications`: a template or a text), values that fit each
/// other (time off ends after it starts), or working hours an appointment can be
/// booked in (`POST /practitioners`). Their documented example is sent, every
/// `<name>_id` in it, at any depth, replaced by an object of the sender's own.
const FROM_EXAMPLE: &[&str] = &[
    "/notifications",
    "/practitioners",
    "/practitioners/{id}/time-off",
];

/// The views that hold the reads of them (A's own snapshot GETs among them), so they
/// grow between two snapshots: instead of being unchanged, they must name none of B's
/// users.
const READ_LOGS: &[&str] = &["/patients/{id}/access-log", "/patients/{id}/export"];

/// Which properties a body gets, and which values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// The required properties, with the values of a creation.
    Create,
    /// Every property that can be filled, with values unlike `Create`'s: what a PATCH
    /// or a PUT would change.
    Change,
}

/// What a uuid property refers to.
enum Target {
    /// The user making the request.
    ActingUser,
    /// A new object of this collection, created by the user making the request.
    Collection(String),
}

/// A new instant on each call, a day after the previous one, so that no two bookings
/// of the sweep overlap.
fn distinct_instant() -> String {
    static DAYS: AtomicI64 = AtomicI64::new(0);
    let start = Utc
        .with_ymd_and_hms(2031, 1, 1, 12, 0, 0)
        .single()
        .expect("a valid instant");
    (start + Duration::days(DAYS.fetch_add(1, Ordering::Relaxed))).to_rfc3339()
}

/// Twelve random characters that make emails, domains and names unique.
fn unique() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// The uuid properties of a body, resolved: name → id.
type References = Map<String, Value>;

/// How objects of a collection are created.
struct Creator {
    /// The collection whose object the POST path's `{id}` names, if it is nested.
    parent: Option<String>,
    /// The POST path, with `{id}` if nested.
    path: String,
}

/// The OpenAPI document, with `$ref` and `allOf` resolution.
struct Spec(Value);

impl Spec {
    fn resolve(&self, schema: &Value) -> Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let pointer = reference.trim_start_matches('#');
            return self.resolve(self.0.pointer(pointer).unwrap_or(&Value::Null));
        }
        if let Some(first) = schema["allOf"].as_array().and_then(|all| all.first()) {
            return self.resolve(first);
        }
        schema.clone()
    }

    /// The operation `method` (lower-case) of `path`, if there is one.
    fn operation(&self, method: &str, path: &str) -> Option<&Value> {
        let operation = &self.0["paths"][path][method];
        operation.is_object().then_some(operation)
    }

    /// The JSON request body schema of an operation, if it takes one.
    fn body_schema(&self, operation: &Value) -> Option<Value> {
        operation["requestBody"]["content"]
            .as_object()?
            .iter()
            .find(|(media, _)| media.starts_with("application/json"))
            .map(|(_, content)| self.resolve(&content["schema"]))
    }

    fn success_schema(&self, operation: &Value) -> Value {
        let content = &operation["responses"]["200"]["content"];
        content
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| self.resolve(&c["schema"]))
            .unwrap_or(Value::Null)
    }

    /// What the uuid property `name` refers to: `<name>_id` is an object of the
    /// collection of `<name>`s, except for the names listed here; `None` for a name
    /// without `_id`.
    fn target_of(&self, name: &str) -> Option<Target> {
        match name {
            "agent_id" => Some(Target::ActingUser),
            "owner_contact_id" => Some(Target::Collection("/contacts".to_owned())),
            "appointment_type_id" => Some(Target::Collection("/appointment-types".to_owned())),
            "into_tag_id" => Some(Target::Collection("/tags".to_owned())),
            "lost_reason_id" => Some(Target::Collection("/lost-reasons".to_owned())),
            _ => name
                .strip_suffix("_id")
                .map(|stem| Target::Collection(self.collection_named(stem))),
        }
    }

    /// The collection of `stem` objects: the first of `/<stem>s`, `/<stem>es` and
    /// `/<ste>ies` (`company` → `/companies`) that the document has, else `/<stem>s`.
    fn collection_named(&self, stem: &str) -> String {
        let mut candidates = vec![format!("/{stem}s"), format!("/{stem}es")];
        if let Some(root) = stem.strip_suffix('y') {
            candidates.push(format!("/{root}ies"));
        }
        let known = |path: &&String| self.0["paths"].get(path.as_str()).is_some();
        candidates
            .iter()
            .find(known)
            .unwrap_or(&candidates[0])
            .clone()
    }

    /// How objects of `collection` are created: its own POST, or else the nested
    /// `POST /parents/{id}/<name>` of a collection `/parents`, where `<name>` is the
    /// last segment of `collection` (the first such path, in sorted order).
    fn creator(&self, collection: &str) -> Option<Creator> {
        if self.operation("post", collection).is_some() {
            return Some(Creator {
                parent: None,
                path: collection.to_owned(),
            });
        }
        let name = collection.rsplit('/').next()?;
        let suffix = format!("/{{id}}/{name}");
        self.0["paths"]
            .as_object()?
            .keys()
            .filter(|path| self.operation("post", path).is_some())
            .filter_map(|path| Some((path.strip_suffix(&suffix)?, path)))
            .filter(|(parent, _)| !parent.is_empty() && !parent.contains('{'))
            .min()
            .map(|(parent, path)| Creator {
                parent: Some(parent.to_owned()),
                path: path.clone(),
            })
    }

    /// The properties of an object schema a body gets: the required ones, or all of
    /// them (`all`); each with its schema and whether it is required.
    fn properties(&self, schema: &Value, all: bool) -> Vec<(String, Value, bool)> {
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, property)| {
                let is_required = required.contains(name.as_str());
                (name.clone(), self.resolve(property), is_required)
            })
            .filter(|(_, _, is_required)| all || *is_required)
            .collect()
    }

    /// The names of the uuid properties a body of `schema` gets, nested objects'
    /// required ones included.
    fn uuid_names(&self, schema: &Value, all: bool) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (name, property, _) in self.properties(schema, all) {
            if property["format"] == "uuid" {
                names.insert(name);
            } else if property["type"] == "object" {
                names.extend(self.uuid_names(&property, false));
            }
        }
        names
    }

    /// An example scalar value for a property; `patch` asks for a value that differs
    /// from what a create would use. `None` when nothing sensible can be invented.
    fn example(&self, name: &str, schema: &Value, patch: bool, unique: &str) -> Option<Value> {
        let tag = if patch { "patched" } else { "bola" };
        // What cannot be inferred from the schema alone, by property name.
        let by_name = match name {
            "email" => Some(json!(format!("{tag}-{unique}@example.test"))),
            "password" => Some(json!(PASSWORD)),
            "domain" => Some(json!(format!("{tag}-{unique}.example.test"))),
            "currency" => Some(json!(if patch { "EUR" } else { "USD" })),
            "country" => Some(json!(if patch { "FR" } else { "GB" })),
            "phone" => Some(json!("+1 555 0100")),
            "color" => Some(json!(if patch { "#cc6633" } else { "#3366cc" })),
            "locale" => Some(json!(if patch { "de-CH" } else { "en-GB" })),
            "time_zone" => Some(json!(if patch {
                "America/New_York"
            } else {
                "Europe/Zurich"
            })),
            "date_of_birth" => Some(json!(if patch { "1992-02-29" } else { "1985-01-31" })),
            "role" if !patch => Some(json!("member")),
            "url" => Some(json!(format!("https://{tag}-{unique}.example.test/hook"))),
            "event_types" => Some(json!(["*"])),
            "stages" => Some(json!([{ "key": "OPEN", "name": "Open" }])),
            "key" if schema["enum"].is_null() => Some(json!(if patch { "LATER" } else { "SOON" })),
            "is_default" => Some(json!(true)),
            // A lost stage of the default pipeline, which takes a `lost_reason_id`.
            "stage" => Some(json!("CLOSED_LOST")),
            // A notification template by email needs a subject, which an SMS must not
            // have: neither is required by the schema, so the sweep writes SMS.
            "channel" => Some(json!("sms")),
            _ => None,
        };
        if by_name.is_some() {
            return by_name;
        }
        if let Some(values) = schema["enum"].as_array() {
            return if patch { values.last() } else { values.first() }.cloned();
        }
        match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("string"), Some("date" | "naive-date")) => {
                Some(json!(if patch { "2032-02-29" } else { "2031-01-31" }))
            }
            (Some("string"), Some("date-time")) => Some(json!(distinct_instant())),
            (Some("string"), None) => Some(json!(format!("{tag} {name} {unique}"))),
            // 5 fits the usual ranges of a change: a 1-5 rating, 5-480 minutes.
            (Some("integer"), _) => Some(json!(if patch { 5 } else { 100 })),
            (Some("number"), _) => Some(json!(if patch { 42.5 } else { 1.5 })),
            (Some("boolean"), _) => Some(json!(!patch)),
            _ => None,
        }
    }

    /// A value for property `name`: a uuid from `references`, a nested object with
    /// its required properties, or an example; the reason when none can be made.
    fn value(
        &self,
        name: &str,
        schema: &Value,
        patch: bool,
        unique: &str,
        references: &References,
    ) -> Result<Value, String> {
        if schema["format"] == "uuid" {
            return references
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no object for required property `{name}`"));
        }
        if schema["type"] == "object" {
            return self.object(schema, false, patch, unique, references);
        }
        self.example(name, schema, patch, unique)
            .ok_or_else(|| format!("no example value for required property `{name}`"))
    }

    /// An object with its required properties, or with every property that can be
    /// filled (`all`): an optional property that cannot be filled is left out, a
    /// required one is an error.
    fn object(
        &self,
        schema: &Value,
        all: bool,
        patch: bool,
        unique: &str,
        references: &References,
    ) -> Result<Value, String> {
        let mut object = Map::new();
        for (name, property, required) in self.properties(schema, all) {
            match self.value(&name, &property, patch, unique, references) {
                Ok(value) => {
                    object.insert(name, value);
                }
                Err(why) if required => return Err(why),
                Err(_) => {}
            }
        }
        Ok(Value::Object(object))
    }

    /// A request body for `schema`, its uuids taken from `references`.
    fn body(&self, schema: &Value, fill: Fill, references: &References) -> Result<Value, String> {
        let change = fill == Fill::Change;
        let body = self.object(schema, change, change, &unique(), references)?;
        if change && body.as_object().is_some_and(Map::is_empty) {
            return Err("no property of the body can be filled".into());
        }
        Ok(body)
    }
}

struct Operation {
    method: Method,
    path: String,
    spec: Value,
}

fn operations(spec: &Spec) -> Vec<Operation> {
    let mut all = Vec::new();
    for (path, item) in spec.0["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            all.push(Operation {
                method,
                path: path.clone(),
                spec: operation.clone(),
            });
        }
    }
    all
}

/// The operation's parameters.
fn parameters(operation: &Operation) -> Vec<Value> {
    operation.spec["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Why an operation cannot be exercised by this sweep, if it cannot. Besides `id`, it
/// fills path parameters that are uuids or a stage's `key` (naming nothing: a
/// sub-resource of A's object that does not exist answers 404 as well) and required
/// query parameters that are instants.
fn unsupported(operation: &Operation) -> Option<String> {
    for param in parameters(operation) {
        let name = param["name"].as_str().unwrap_or_default();
        let format = param["schema"]["format"].as_str();
        match param["in"].as_str() {
            Some("path") if name != "id" && name != "key" && format != Some("uuid") => {
                return Some(format!("path parameter `{name}` besides `id`"));
            }
            Some("query") if param["required"] == true && format != Some("date-time") => {
                return Some(format!("required parameter `{name}`"));
            }
            Some("header" | "cookie") if param["required"] == true => {
                return Some(format!("required parameter `{name}`"));
            }
            _ => {}
        }
    }
    None
}

/// `operation`'s path on object `id`, its other parameters filled as [`unsupported`]
/// says (the same fresh uuids for every call, so two answers can be compared).
fn target(operation: &Operation, id: &str, others: &str) -> String {
    let mut path = with_id(&operation.path, id);
    let mut query = Vec::new();
    for param in parameters(operation) {
        let name = param["name"].as_str().unwrap_or_default();
        match param["in"].as_str() {
            // A stage's key, which A's pipeline does not have either.
            Some("path") if name == "key" => path = path.replace("{key}", "NOWHERE"),
            Some("path") if name != "id" => path = path.replace(&format!("{{{name}}}"), others),
            Some("query") if param["required"] == true => {
                query.push(format!("{name}=2020-01-01T00:00:00Z"));
            }
            _ => {}
        }
    }
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A failure of `operation`, as reported.
fn failure(operation: &Operation, why: impl std::fmt::Display) -> String {
    format!("{} {}: {why}", operation.method, operation.path)
}

fn collection_of(path: &str) -> &str {
    path.split("/{id}").next().unwrap_or(path)
}

fn with_id(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

/// The id of a created object.
fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap_or_default().to_owned()
}

/// The JSON body of a 200 response; else what `what` answered instead.
async fn ok_json(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        return Err(format!("{what}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|err| format!("{what}: {err}: {text}"))
}

/// What differs between two snapshots of A's objects, as failures.
fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    before
        .iter()
        .filter(|(path, view)| after.get(*path) != Some(view))
        .map(|(path, view)| {
            let now = after.get(path).unwrap_or(&Value::Null);
            format!("A's {path} changed after B's requests: was {view}, is {now}")
        })
        .collect()
}

/// The names of the `<name>_id` properties with a string value in `value`, at any depth.
fn id_names(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                if name.ends_with("_id") && field.is_string() {
                    names.insert(name.clone());
                }
                id_names(field, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| id_names(item, names)),
        _ => {}
    }
}

/// Replaces, at any depth, each property of `value` named in `references` by its value.
fn replace_ids(value: &mut Value, references: &References) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                match references.get(name) {
                    Some(reference) => *field = reference.clone(),
                    None => replace_ids(field, references),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_ids(item, references)),
        _ => {}
    }
}

/// One object per collection: collection → id.
type Objects = BTreeMap<String, String>;

/// The server, its document, and two tenants: A (the victim) and B (the attacker).
struct Sweep {
    app: TestApp,
    spec: Spec,
    a: TestUser,
    b: TestUser,
    /// Every object the sweep created, with the tenant it was created in.
    created: Mutex<Vec<(Uuid, String)>>,
}

impl Sweep {
    async fn start() -> Self {
        let app = spawn_app().await;
        let spec = Spec(
            app.http
                .get(app.url("/openapi.json"))
                .send()
                .await
                .expect("openapi.json")
                .json()
                .await
                .expect("spec"),
        );
        let a = app.sign_up("A").await;
        let b = app.sign_up("B").await;
        Self {
            app,
            spec,
            a,
            b,
            created: Mutex::new(Vec::new()),
        }
    }

    /// A value for every uuid property a body of `schema` gets, as `user`: the user
    /// itself, or a new object created by `user` (see [`Spec::target_of`]). A property
    /// whose object cannot be created is an error even when optional, so that a
    /// reference the rule gets wrong is noticed.
    async fn references(
        &self,
        schema: &Value,
        fill: Fill,
        user: &TestUser,
        depth: usize,
    ) -> Result<References, String> {
        let names = self.spec.uuid_names(schema, fill == Fill::Change);
        self.references_named(names, user, depth).await
    }

    /// A value for each uuid property of `names`, as [`Self::references`] says.
    async fn references_named(
        &self,
        names: BTreeSet<String>,
        user: &TestUser,
        depth: usize,
    ) -> Result<References, String> {
        let mut references = References::new();
        for name in names {
            let value = match self.spec.target_of(&name) {
                None => continue, // not a reference: an error only if required
                Some(Target::ActingUser) => json!(user.user_id),
                Some(Target::Collection(collection)) => {
                    let object = self
                        .create(&collection, user, depth + 1)
                        .await
                        .map_err(|err| format!("`{name}` refers to {collection}: {err}"))?;
                    object["id"].clone()
                }
            };
            references.insert(name, value);
        }
        Ok(references)
    }

    /// A body for `schema` as `user`, creating the objects it refers to first.
    async fn body(
        &self,
        schema: &Value,
        fill: Fill,
        user: &TestUser,
        depth: usize,
    ) -> Result<Value, String> {
        let references = self.references(schema, fill, user, depth).await?;
        self.spec.body(schema, fill, &references)
    }

    /// The POST path and body that create an object of `collection` as `user`,
    /// creating its parent and the objects its body refers to first.
    async fn creation(
        &self,
        collection: &str,
        user: &TestUser,
        depth: usize,
    ) -> Result<(String, Value), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{collection}: objects refer to each other in a cycle"
            ));
        }
        let creator = self.spec.creator(collection).ok_or_else(|| {
            format!("no POST {collection} nor POST /<parents>/{{id}}/<name> to create the object")
        })?;
        let post = self
            .spec
            .operation("post", &creator.path)
            .expect("the creator's POST");
        let schema = self
            .spec
            .body_schema(post)
            .ok_or_else(|| format!("POST {} takes no JSON body", creator.path))?;
        let path = match &creator.parent {
            None => creator.path.clone(),
            Some(parent) => {
                let parent = self.create(parent, user, depth + 1).await?;
                with_id(&creator.path, &id_of(&parent))
            }
        };
        let body = if FROM_EXAMPLE.contains(&creator.path.as_str()) {
            self.example_body(&creator.path, &schema, user, depth)
                .await?
        } else {
            self.body(&schema, Fill::Create, user, depth).await?
        };
        Ok((path, body))
    }

    /// The documented example of the body `schema` of `path`, every `<name>_id` in it
    /// replaced by a new object of `user`'s, one per name (see [`FROM_EXAMPLE`]).
    async fn example_body(
        &self,
        path: &str,
        schema: &Value,
        user: &TestUser,
        depth: usize,
    ) -> Result<Value, String> {
        let mut example = schema["example"].clone();
        if !example.is_object() {
            return Err(format!("{path} documents no example body"));
        }
        let mut names = BTreeSet::new();
        id_names(&example, &mut names);
        let references = self.references_named(names, user, depth).await?;
        replace_ids(&mut example, &references);
        Ok(example)
    }

    /// Creates an object of `collection` as `user` (see [`Self::creation`]). Two
    /// collections have no POST of their own: a member (`/users`) joins by accepting
    /// an invitation, and an invitation (`/invitations`) is made by `POST /users`.
    fn create<'a>(
        &'a self,
        collection: &'a str,
        user: &'a TestUser,
        depth: usize,
    ) -> LocalBoxFuture<'a, Result<Value, String>> {
        async move {
            let created = match collection {
                "/users" => json!({ "id": self.app.add_member(user, "member").await.user_id }),
                "/invitations" => {
                    let (path, body) = self.creation("/users", user, depth).await?;
                    self.post_expecting(&path, body, user, StatusCode::ACCEPTED)
                        .await?
                }
                _ => {
                    let (path, body) = self.creation(collection, user, depth).await?;
                    self.post_expecting(&path, body, user, StatusCode::CREATED)
                        .await?
                }
            };
            self.created
                .lock()
                .expect("created")
                .push((user.tenant_id, id_of(&created)));
            Ok(created)
        }
        .boxed_local()
    }

    /// POSTs `body` to `path` as `user`; the object it answers with `expected`.
    async fn post_expecting(
        &self,
        path: &str,
        body: Value,
        user: &TestUser,
        expected: StatusCode,
    ) -> Result<Value, String> {
        let response = self.app.post(path, user, body.clone()).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != expected {
            return Err(format!("POST {path} {body} answered {status}: {text}"));
        }
        let created: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if !created["id"].is_string() {
            return Err(format!("POST {path} returned no id: {created}"));
        }
        Ok(created)
    }

    /// Every id of an object created in `user`'s tenant, with the user's and the
    /// tenant's own ids.
    fn ids_of_tenant(&self, user: &TestUser) -> BTreeSet<String> {
        let created = self.created.lock().expect("created");
        let mut ids: BTreeSet<String> = created
            .iter()
            .filter(|(tenant, _)| *tenant == user.tenant_id)
            .map(|(_, id)| id.clone())
            .collect();
        ids.insert(user.user_id.to_string());
        ids.insert(user.tenant_id.to_string());
        ids
    }

    /// One object of each collection for `user`, and why the others failed.
    async fn create_each(
        &self,
        collections: &BTreeSet<&str>,
        user: &TestUser,
    ) -> (Objects, Vec<String>) {
        let mut objects = Objects::new();
        let mut failures = Vec::new();
        for collection in collections {
            match self.create(collection, user, 0).await {
                Ok(created) => {
                    objects.insert((*collection).to_owned(), id_of(&created));
                }
                Err(err) => failures.push(format!(
                    "{collection}: cannot create an object to attack: {err}"
                )),
            }
        }
        (objects, failures)
    }

    /// PUTs, as their owner, the sub-resources of `user`'s objects that exist only once
    /// PUT (such as `/contacts/{id}/requirements`), so that their GET answers 200.
    async fn put_sub_resources(
        &self,
        puts: &[&Operation],
        objects: &Objects,
        user: &TestUser,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for put in puts {
            let Some(id) = objects.get(collection_of(&put.path)) else {
                continue; // its collection's failure is reported already
            };
            let body = match self.spec.body_schema(&put.spec) {
                Some(schema) => match self.body(&schema, Fill::Create, user, 0).await {
                    Ok(body) => Some(body),
                    Err(err) => {
                        failures.push(failure(put, format!("the owner's PUT: {err}")));
                        continue;
                    }
                },
                None => None,
            };
            let mut path = with_id(&put.path, id);
            let keys: BTreeSet<String> = parameters(put)
                .iter()
                .filter(|param| param["in"] == "path" && param["name"] != "id")
                .filter_map(|param| param["name"].as_str().map(str::to_owned))
                .collect();
            match self.references_named(keys, user, 0).await {
                Ok(keys) => {
                    for (name, value) in &keys {
                        let value = value.as_str().unwrap_or_default();
                        path = path.replace(&format!("{{{name}}}"), value);
                    }
                }
                Err(err) => {
                    failures.push(failure(put, format!("the owner's PUT: {err}")));
                    continue;
                }
            }
            let response = self.app.call(Method::PUT, &path, user, body).await;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                failures.push(failure(
                    put,
                    format!("the owner's PUT {path}: {status} {text}"),
                ));
            }
        }
        failures
    }

    /// Every GET on an id path, as `user`, of `user`'s object of its collection. Each
    /// one must answer 200: another tenant's 404 proves nothing otherwise.
    async fn snapshot(
        &self,
        gets: &[&Operation],
        objects: &Objects,
        user: &TestUser,
    ) -> (BTreeMap<String, Value>, Vec<String>) {
        let mut views = BTreeMap::new();
        let mut failures = Vec::new();
        for get in gets {
            let Some(id) = objects.get(collection_of(&get.path)) else {
                continue; // its collection's failure is reported already
            };
            let path = with_id(&get.path, id);
            let what = format!("its owner's GET {path}");
            match ok_json(self.app.get(&path, user).await, &what).await {
                Ok(view) => {
                    views.insert(path, view);
                }
                Err(why) => failures.push(failure(get, why)),
            }
        }
        (views, failures)
    }

    /// The body B sends to `operation`: a change for PATCH and PUT, a creation
    /// otherwise. It refers to B's own objects, so that only the target can make the
    /// request fail.
    async fn attack_body(&self, operation: &Operation) -> Result<Option<Value>, String> {
        let Some(schema) = self.spec.body_schema(&operation.spec) else {
            return Ok(None);
        };
        if FROM_EXAMPLE.contains(&operation.path.as_str()) {
            return self
                .example_body(&operation.path, &schema, &self.b, 0)
                .await
                .map(Some);
        }
        let fill = if matches!(operation.method, Method::PATCH | Method::PUT) {
            Fill::Change
        } else {
            Fill::Create
        };
        self.body(&schema, fill, &self.b, 0).await.map(Some)
    }

    /// B calls `operation` on A's object `id`, then on a random id: both must answer
    /// the same 404; a GET naming A's tenant in a header and the query too. Returns
    /// the failures.
    async fn attack(&self, operation: &Operation, id: &str) -> Vec<String> {
        let body = match self.attack_body(operation).await {
            Ok(body) => body,
            Err(err) => return vec![failure(operation, err)],
        };
        let random = Uuid::now_v7().to_string();
        let others = Uuid::now_v7().to_string();
        let mut answers = Vec::new();
        for object in [id, random.as_str()] {
            let path = target(operation, object, &others);
            let response = self
                .app
                .call(operation.method.clone(), &path, &self.b, body.clone())
                .await;
            if response.status() != StatusCode::NOT_FOUND {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return vec![failure(operation, format!("B on {path}: {status} {text}"))];
            }
            answers.push(expect_problem(response, StatusCode::NOT_FOUND).await);
        }
        let mut failures = Vec::new();
        if answers[0] != answers[1] {
            failures.push(failure(
                operation,
                format!("A's id answers {}, a random id {}", answers[0], answers[1]),
            ));
        }
        if operation.method == Method::GET {
            let path = target(operation, id, &others);
            let status = self.hinted_get(&path).await.status();
            if status != StatusCode::NOT_FOUND {
                failures.push(failure(
                    operation,
                    format!("with X-Tenant-Id of A: {status}"),
                ));
            }
        }
        failures
    }

    /// B's GET of `path`, naming A's tenant in an `X-Tenant-Id` header and the query.
    async fn hinted_get(&self, path: &str) -> reqwest::Response {
        self.app
            .http
            .get(
                self.app
                    .url(&format!("/api/v1{path}?tenant_id={}", self.a.tenant_id)),
            )
            .bearer_auth(&self.b.token)
            .header("X-Tenant-Id", self.a.tenant_id.to_string())
            .send()
            .await
            .expect("request")
    }

    /// A's list shows A's object of its collection; B's list, plain or naming A's
    /// tenant, is the same and shows none of `a_ids`. Returns the failures.
    async fn check_list(
        &self,
        list: &Operation,
        a_objects: &Objects,
        a_ids: &BTreeSet<String>,
    ) -> Vec<String> {
        let fetched = async {
            Ok::<_, String>((
                ok_json(self.app.get(&list.path, &self.a).await, "A's list").await?,
                ok_json(self.app.get(&list.path, &self.b).await, "B's list").await?,
                ok_json(self.hinted_get(&list.path).await, "B's list naming A").await?,
            ))
        };
        let (own, plain, hinted) = match fetched.await {
            Ok(lists) => lists,
            Err(why) => return vec![failure(list, why)],
        };
        let mut failures = Vec::new();
        if let Some(id) = a_objects.get(&list.path) {
            if !own.to_string().contains(id.as_str()) {
                failures.push(failure(list, format!("A's own list lacks A's object {id}")));
            }
        }
        if plain != hinted {
            failures.push(failure(
                list,
                "naming A's tenant in header and query changed B's list",
            ));
        }
        let text = plain.to_string();
        if let Some(leak) = a_ids.iter().find(|id| text.contains(id.as_str())) {
            failures.push(failure(list, format!("B's list shows A's id {leak}")));
        }
        failures
    }
}

#[tokio::test]
async fn every_id_route_and_list_hides_other_tenants_objects() {
    let sweep = Sweep::start().await;
    let (a, b) = (&sweep.a, &sweep.b);
    let all = operations(&sweep.spec);
    let mut id_operations: Vec<&Operation> =
        all.iter().filter(|o| o.path.contains("{id}")).collect();
    // DELETEs last: one that wrongly succeeds must not hide the others' leaks.
    id_operations.sort_by_key(|o| o.method == Method::DELETE);
    assert!(
        id_operations.len() >= 10,
        "the spec lists fewer id routes than the core has"
    );
    let with_method = |method: Method| -> Vec<&Operation> {
        id_operations
            .iter()
            .copied()
            .filter(|o| o.method == method)
            .collect()
    };
    let (gets, puts) = (with_method(Method::GET), with_method(Method::PUT));

    // One object of A and one of B (so lists are not trivially empty, and B's own GETs
    // prove the routes answer B) per collection, their PUT-only sub-resources set.
    let collections: BTreeSet<&str> = id_operations
        .iter()
        .map(|o| collection_of(&o.path))
        .collect();
    let mut failures = Vec::new();
    let (a_objects, a_failures) = sweep.create_each(&collections, a).await;
    let (b_objects, b_failures) = sweep.create_each(&collections, b).await;
    failures.extend(a_failures.into_iter().chain(b_failures));
    failures.extend(sweep.put_sub_resources(&puts, &a_objects, a).await);
    failures.extend(sweep.put_sub_resources(&puts, &b_objects, b).await);
    let (mut before, a_failures) = sweep.snapshot(&gets, &a_objects, a).await;
    let (_, b_failures) = sweep.snapshot(&gets, &b_objects, b).await;
    failures.extend(a_failures.into_iter().chain(b_failures));

    // B calls every id route on A's object, then on a random id: the same 404.
    let mut swept = 0;
    for operation in &id_operations {
        if let Some(why) = unsupported(operation) {
            failures.push(failure(operation, why));
            continue;
        }
        let Some(id) = a_objects.get(collection_of(&operation.path)) else {
            failures.push(failure(
                operation,
                "no object of its collection could be created",
            ));
            continue;
        };
        let found = sweep.attack(operation, id).await;
        if found.is_empty() {
            swept += 1;
        }
        failures.extend(found);
    }

    let (mut after, gone) = sweep.snapshot(&gets, &a_objects, a).await;
    failures.extend(gone);
    for log in gets
        .iter()
        .filter(|get| READ_LOGS.contains(&get.path.as_str()))
    {
        let Some(id) = a_objects.get(collection_of(&log.path)) else {
            continue;
        };
        let path = with_id(&log.path, id);
        before.remove(&path);
        if after
            .remove(&path)
            .is_some_and(|view| view.to_string().contains(&b.user_id.to_string()))
        {
            failures.push(failure(log, "A's log records a read by B"));
        }
    }
    failures.extend(changes(&before, &after));

    // Lists: B never sees A's ids, even naming A's tenant; A sees its own.
    let a_ids = sweep.ids_of_tenant(a);
    let lists: Vec<&Operation> = all
        .iter()
        .filter(|o| o.method == Method::GET && !o.path.contains('{'))
        .filter(|o| sweep.spec.success_schema(&o.spec)["properties"]["items"]["type"] == "array")
        .collect();
    assert!(
        lists.len() >= 4,
        "the spec lists fewer lists than the core has"
    );
    for list in &lists {
        if let Some(why) = unsupported(list) {
            failures.push(failure(list, why));
            continue;
        }
        let found = sweep.check_list(list, &a_objects, &a_ids).await;
        if found.is_empty() {
            swept += 1;
        }
        failures.extend(found);
    }

    assert!(
        failures.is_empty(),
        "BOLA sweep ({swept} operations checked):\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_tenant_named_in_a_create_body_header_or_query_is_ignored() {
    let sweep = Sweep::start().await;
    let (app, a, b) = (&sweep.app, &sweep.a, &sweep.b);
    let mut failures = Vec::new();
    // Every collection that has objects with ids.
    let collections: BTreeSet<String> = operations(&sweep.spec)
        .iter()
        .filter(|o| o.path.contains("{id}"))
        .map(|o| collection_of(&o.path).to_owned())
        .collect();
    for collection in &collections {
        // A member is created by no POST (the invitee accepts an invitation); an
        // invitation is created by `POST /users` and read back from its list.
        let (creating, expected) = match collection.as_str() {
            "/users" => continue,
            "/invitations" => ("/users", StatusCode::ACCEPTED),
            other => (other, StatusCode::CREATED),
        };
        let (path, mut body) = match sweep.creation(creating, b, 0).await {
            Ok(creation) => creation,
            Err(err) => {
                failures.push(format!("{collection}: {err}"));
                continue;
            }
        };
        let chosen_id = Uuid::now_v7().to_string();
        body["tenant_id"] = json!(a.tenant_id);
        body["id"] = json!(chosen_id);
        let response = app
            .http
            .post(app.url(&format!("/api/v1{path}?tenant_id={}", a.tenant_id)))
            .bearer_auth(&b.token)
            .header("X-Tenant-Id", a.tenant_id.to_string())
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        if status.is_client_error() && status != StatusCode::NOT_FOUND {
            continue; // refused outright: also acceptable
        }
        let created = expect_json(response, expected).await;
        let id = id_of(&created);
        if id == chosen_id {
            failures.push(format!("POST {path}: the client chose the id"));
        }
        let is_b_s = if collection == "/invitations" {
            let b_list = expect_json(app.get("/invitations", b).await, StatusCode::OK).await;
            let a_list = expect_json(app.get("/invitations", a).await, StatusCode::OK).await;
            (
                b_list.to_string().contains(&id),
                !a_list.to_string().contains(&id),
            )
        } else {
            let object = format!("{collection}/{id}");
            (
                app.get(&object, b).await.status() == StatusCode::OK,
                app.get(&object, a).await.status() == StatusCode::NOT_FOUND,
            )
        };
        if !is_b_s.0 {
            failures.push(format!("POST {path}: the object is not B's"));
        }
        if !is_b_s.1 {
            failures.push(format!("POST {path}: the object landed in A"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
