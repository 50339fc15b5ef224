//! A broken-object-level-authorization sweep generated from the server's own
//! `/openapi.json`: every operation on a path with an `{id}`, and every list, including
//! routes added after this test was written. An operation the sweep cannot exercise
//! fails the test, so no route escapes silently.
//!
//! For each id route, tenant B calls every method on tenant A's object and on a random
//! id: both answer 404 with the same body, and A's objects are unchanged afterwards.
//! B's lists never show A's ids. A tenant named in a body, an `X-Tenant-Id` header or
//! a `?tenant_id=` query is ignored.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, TestUser, expect_json, expect_problem, spawn_app};

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

    /// An example value for a property; `patch` asks for a value that differs from
    /// what a create would use. `None` when nothing sensible can be invented (such as
    /// the id of another object).
    fn example(&self, name: &str, schema: &Value, patch: bool, unique: &str) -> Option<Value> {
        let schema = self.resolve(schema);
        let tag = if patch { "patched" } else { "bola" };
        // What cannot be inferred from the schema alone, by property name.
        let by_name = match name {
            "email" => Some(json!(format!("{tag}-{unique}@example.test"))),
            "password" => Some(json!(PASSWORD)),
            "domain" => Some(json!(format!("{tag}-{unique}.example.test"))),
            "currency" => Some(json!(if patch { "EUR" } else { "USD" })),
            "phone" => Some(json!("+1 555 0100")),
            "role" if !patch => Some(json!("member")),
            _ => None,
        };
        if by_name.is_some() {
            return by_name;
        }
        if let Some(values) = schema["enum"].as_array() {
            return if patch { values.last() } else { values.first() }.cloned();
        }
        match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("string"), Some("uuid")) => None,
            (Some("string"), Some("date")) => Some(json!("2031-01-31")),
            (Some("string"), Some("date-time")) => Some(json!("2031-01-31T12:00:00Z")),
            (Some("string"), None) => Some(json!(format!("{tag} {name} {unique}"))),
            (Some("integer"), _) => Some(json!(if patch { 4242 } else { 100 })),
            (Some("number"), _) => Some(json!(if patch { 42.5 } else { 1.5 })),
            (Some("boolean"), _) => Some(json!(!patch)),
            _ => None,
        }
    }

    /// A body with every required property, or the names that cannot be filled.
    fn minimal_body(&self, schema: &Value, unique: &str) -> Result<Value, String> {
        let mut body = Map::new();
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let property = &schema["properties"][name];
            let value = self
                .example(name, property, false, unique)
                .ok_or_else(|| format!("no example value for required property `{name}`"))?;
            body.insert(name.to_owned(), value);
        }
        Ok(Value::Object(body))
    }

    /// A body that would change every field that can be filled.
    fn change_body(&self, schema: &Value, unique: &str) -> Result<Value, String> {
        let mut body = Map::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(value) = self.example(name, property, true, unique) {
                body.insert(name.clone(), value);
            }
        }
        if body.is_empty() {
            return Err("no property of the body can be filled".into());
        }
        Ok(Value::Object(body))
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

/// Why an operation cannot be exercised by this sweep, if it cannot.
fn unsupported(operation: &Operation) -> Option<String> {
    let params = operation.spec["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for param in params {
        let name = param["name"].as_str().unwrap_or_default();
        match param["in"].as_str() {
            Some("path") if name != "id" => {
                return Some(format!("path parameter `{name}` besides `id`"));
            }
            Some("query" | "header" | "cookie") if param["required"] == true => {
                return Some(format!("required parameter `{name}`"));
            }
            _ => {}
        }
    }
    None
}

struct Sweep {
    app: TestApp,
    spec: Spec,
    a: TestUser,
    b: TestUser,
    /// Every operation that could not be exercised, with the reason.
    failures: Vec<String>,
}

impl Sweep {
    fn fail(&mut self, operation: &Operation, why: impl std::fmt::Display) {
        self.failures
            .push(format!("{} {}: {why}", operation.method, operation.path));
    }

    fn post_of(&self, collection: &str) -> Option<Value> {
        self.spec.0["paths"][collection]["post"]
            .as_object()
            .map(|o| Value::Object(o.clone()))
    }

    /// Creates an object of `collection` as `user` through its POST operation.
    async fn create(&self, collection: &str, user: &TestUser) -> Result<Value, String> {
        let post = self
            .post_of(collection)
            .ok_or_else(|| format!("no POST {collection} to create the object"))?;
        let schema = self
            .spec
            .body_schema(&post)
            .ok_or_else(|| format!("POST {collection} takes no JSON body"))?;
        let unique = Uuid::new_v4().simple().to_string();
        let body = self.spec.minimal_body(&schema, &unique[..12])?;
        let response = self.app.post(collection, user, body.clone()).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != StatusCode::CREATED {
            return Err(format!(
                "POST {collection} {body} answered {status}: {text}"
            ));
        }
        let created: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if !created["id"].is_string() {
            return Err(format!("POST {collection} returned no id: {created}"));
        }
        Ok(created)
    }

    /// The body an attacker would send to `operation`.
    fn attack_body(&self, operation: &Operation) -> Result<Option<Value>, String> {
        let Some(schema) = self.spec.body_schema(&operation.spec) else {
            return Ok(None);
        };
        let unique = &Uuid::new_v4().simple().to_string()[..12];
        let body = if operation.method == Method::PATCH {
            self.spec.change_body(&schema, unique)?
        } else {
            self.spec.minimal_body(&schema, unique)?
        };
        Ok(Some(body))
    }
}

fn collection_of(path: &str) -> &str {
    path.split("/{id}").next().unwrap_or(path)
}

fn with_id(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

/// Every GET on an id path, as `user`, for the object of its collection.
async fn snapshot(
    sweep: &Sweep,
    gets: &[&Operation],
    objects: &BTreeMap<String, String>,
    user: &TestUser,
) -> BTreeMap<String, Value> {
    let mut views = BTreeMap::new();
    for get in gets {
        let Some(id) = objects.get(collection_of(&get.path)) else {
            continue;
        };
        let path = with_id(&get.path, id);
        let view = expect_json(sweep.app.get(&path, user).await, StatusCode::OK).await;
        views.insert(path, view);
    }
    views
}

#[tokio::test]
async fn every_id_route_and_list_hides_other_tenants_objects() {
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
    let mut sweep = Sweep {
        app,
        spec,
        a,
        b,
        failures: Vec::new(),
    };
    let all = operations(&sweep.spec);

    let id_operations: Vec<&Operation> = all.iter().filter(|o| o.path.contains("{id}")).collect();
    assert!(
        id_operations.len() >= 10,
        "the spec lists fewer id routes than the core has"
    );

    // One object of A (and, so lists are not trivially empty, of B) per collection.
    let mut a_objects: BTreeMap<String, String> = BTreeMap::new();
    let collections: BTreeSet<&str> = id_operations
        .iter()
        .map(|o| collection_of(&o.path))
        .collect();
    for collection in collections {
        let created = sweep.create(collection, &sweep.a).await;
        let theirs = sweep.create(collection, &sweep.b).await;
        match (created, theirs) {
            (Ok(created), Ok(_)) => {
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                a_objects.insert(collection.to_owned(), id);
            }
            (Err(err), _) | (_, Err(err)) => sweep.failures.push(format!(
                "{collection}: cannot create an object to attack: {err}"
            )),
        }
    }
    let gets: Vec<&Operation> = id_operations
        .iter()
        .copied()
        .filter(|o| o.method == Method::GET)
        .collect();
    let before = snapshot(&sweep, &gets, &a_objects, &sweep.a).await;

    // B calls every id route on A's object, then on a random id: the same 404.
    let mut swept = 0;
    for operation in &id_operations {
        if let Some(why) = unsupported(operation) {
            sweep.fail(operation, why);
            continue;
        }
        let Some(id) = a_objects.get(collection_of(&operation.path)).cloned() else {
            sweep.fail(operation, "no object of its collection could be created");
            continue;
        };
        let body = match sweep.attack_body(operation) {
            Ok(body) => body,
            Err(err) => {
                sweep.fail(operation, err);
                continue;
            }
        };
        let random = Uuid::now_v7().to_string();
        let mut answers = Vec::new();
        for target in [&id, &random] {
            let path = with_id(&operation.path, target);
            let response = sweep
                .app
                .call(operation.method.clone(), &path, &sweep.b, body.clone())
                .await;
            if response.status() != StatusCode::NOT_FOUND {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                sweep.fail(operation, format!("B on {path}: {status} {text}"));
                break;
            }
            answers.push(expect_problem(response, StatusCode::NOT_FOUND).await);
        }
        if let [theirs, missing] = answers.as_slice() {
            if theirs != missing {
                sweep.fail(
                    operation,
                    format!("A's id answers {theirs}, a random id {missing}"),
                );
            }
            swept += 1;
        }
        // Naming A's tenant in a header and the query does not help.
        if operation.method == Method::GET {
            let response = sweep
                .app
                .http
                .get(sweep.app.url(&format!(
                    "/api/v1{}?tenant_id={}",
                    with_id(&operation.path, &id),
                    sweep.a.tenant_id
                )))
                .bearer_auth(&sweep.b.token)
                .header("X-Tenant-Id", sweep.a.tenant_id.to_string())
                .send()
                .await
                .expect("request");
            if response.status() != StatusCode::NOT_FOUND {
                let status = response.status();
                sweep.fail(operation, format!("with X-Tenant-Id of A: {status}"));
            }
        }
    }

    let after = snapshot(&sweep, &gets, &a_objects, &sweep.a).await;
    assert_eq!(before, after, "A's objects changed after B's requests");

    // Lists: B never sees A's ids, even naming A's tenant; A sees its own.
    let mut a_ids: BTreeSet<String> = a_objects.values().cloned().collect();
    a_ids.insert(sweep.a.user_id.to_string());
    a_ids.insert(sweep.a.tenant_id.to_string());
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
            sweep.fail(list, why);
            continue;
        }
        let own = expect_json(sweep.app.get(&list.path, &sweep.a).await, StatusCode::OK).await;
        if let Some(id) = a_objects.get(&list.path) {
            if !own.to_string().contains(id.as_str()) {
                sweep.fail(list, format!("A's own list lacks A's object {id}"));
            }
        }
        let plain = expect_json(sweep.app.get(&list.path, &sweep.b).await, StatusCode::OK).await;
        let hinted = sweep
            .app
            .http
            .get(sweep.app.url(&format!(
                "/api/v1{}?tenant_id={}",
                list.path, sweep.a.tenant_id
            )))
            .bearer_auth(&sweep.b.token)
            .header("X-Tenant-Id", sweep.a.tenant_id.to_string())
            .send()
            .await
            .expect("request");
        let hinted = expect_json(hinted, StatusCode::OK).await;
        if plain != hinted {
            sweep.fail(
                list,
                "naming A's tenant in header and query changed B's list",
            );
        }
        let text = plain.to_string();
        if let Some(leak) = a_ids.iter().find(|id| text.contains(id.as_str())) {
            sweep.fail(list, format!("B's list shows A's id {leak}"));
        }
        swept += 1;
    }

    assert!(
        sweep.failures.is_empty(),
        "BOLA sweep ({swept} operations checked):\n{}",
        sweep.failures.join("\n")
    );
}

#[tokio::test]
async fn a_tenant_named_in_a_create_body_header_or_query_is_ignored() {
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
    let mut failures = Vec::new();
    // Every collection that has objects with ids.
    let collections: BTreeSet<String> = operations(&spec)
        .iter()
        .filter(|o| o.path.contains("{id}"))
        .map(|o| collection_of(&o.path).to_owned())
        .collect();
    for collection in &collections {
        let Some(post) = spec.0["paths"][collection.as_str()]["post"].as_object() else {
            failures.push(format!("{collection}: no POST"));
            continue;
        };
        let Some(schema) = spec.body_schema(&Value::Object(post.clone())) else {
            failures.push(format!("POST {collection}: no JSON body"));
            continue;
        };
        let unique = &Uuid::new_v4().simple().to_string()[..12];
        let mut body = match spec.minimal_body(&schema, unique) {
            Ok(body) => body,
            Err(err) => {
                failures.push(format!("POST {collection}: {err}"));
                continue;
            }
        };
        let chosen_id = Uuid::now_v7().to_string();
        body["tenant_id"] = json!(a.tenant_id);
        body["id"] = json!(chosen_id);
        let response = app
            .http
            .post(app.url(&format!("/api/v1{collection}?tenant_id={}", a.tenant_id)))
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
        let created = expect_json(response, StatusCode::CREATED).await;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        if id == chosen_id {
            failures.push(format!("POST {collection}: the client chose the id"));
        }
        let path = format!("{collection}/{id}");
        if app.get(&path, &b).await.status() != StatusCode::OK {
            failures.push(format!("POST {collection}: the object is not B's"));
        }
        if app.get(&path, &a).await.status() != StatusCode::NOT_FOUND {
            failures.push(format!("POST {collection}: the object landed in A"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
