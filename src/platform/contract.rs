//! The API contract: the OpenAPI document clients generate code from, and the one
//! check every JSON request body passes before an operation sees it.
//!
//! poem-openapi writes the document; [`Contract::new`] finishes it where the framework
//! falls short of what validators and generators accept (an OAuth2 flow without
//! `scopes`, `allOf` wrappers that carry a second, description-only schema, the
//! unknown format `naive-date`, input fields whose `null` the server accepts but the
//! document does not admit) and adds what only the deployment knows: closed sets, and
//! the webhook messages of the event kinds it serves ([`events`]). The
//! finished document is what `/openapi.json` serves **and** what [`Body`] checks
//! bodies against, so the server refuses exactly what the document forbids, naming
//! the field: a missing required field, a number where a string belongs, a string
//! too long, a value outside its enum, a date past year 9999.

mod events;

use std::{collections::HashMap, sync::Arc};

use chrono::{Datelike, NaiveDate};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::platform::{
    error::{ApiError, FieldError},
    events::EventKind,
};

const SCHEMAS: &str = "#/components/schemas/";

/// The finished OpenAPI document and the compiled patterns of its schemas.
pub struct Contract {
    document: Value,
    text: String,
    patterns: HashMap<String, Regex>,
}

/// A closed set of values for one property, known only when the server starts (for
/// example the module names a deployment serves).
pub struct ClosedSet<'a> {
    /// The component schema that holds the property.
    pub schema: &'a str,
    pub property: &'a str,
    pub values: Vec<&'a str>,
}

impl Contract {
    /// Finishes the document poem-openapi wrote (`spec`, JSON), describes the messages
    /// of the event kinds `events`, and compiles its patterns; fails on a pattern that
    /// is not a regular expression.
    pub fn new(
        spec: &str,
        closed_sets: &[ClosedSet<'_>],
        events: &[&EventKind],
    ) -> Result<Self, ContractError> {
        let mut document: Value = serde_json::from_str(spec)?;
        events::describe(&mut document, events)?;
        finish(&mut document, closed_sets);
        let mut patterns = HashMap::new();
        collect_patterns(&document, &mut patterns)?;
        let text = serde_json::to_string(&document)?;
        Ok(Self {
            document,
            text,
            patterns,
        })
    }

    /// The document as served at `/openapi.json`.
    pub fn json(&self) -> &str {
        &self.text
    }

    /// The document's paths (`/contacts/{id}`, …), relative to its server.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.document["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.keys().map(String::as_str))
    }

    /// Checks `value` against the schema `schema` refers to; every violation names its
    /// field (`first_name`, `address.city`, `modules[0].name`; `body` for the whole).
    pub fn check(&self, schema: &MetaSchemaRef, value: &Value) -> Result<(), ApiError> {
        let schema = match schema {
            MetaSchemaRef::Reference(name) => json!({ "$ref": format!("{SCHEMAS}{name}") }),
            MetaSchemaRef::Inline(schema) => serde_json::to_value(schema)
                .map_err(|err| ApiError::internal(ContractError::Json(err)))?,
        };
        let mut errors = Vec::new();
        self.check_value(&schema, value, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix(SCHEMAS))
        {
            Some(name) => &self.document["components"]["schemas"][name],
            None => schema,
        }
    }

    fn check_value(
        &self,
        schema: &Value,
        value: &Value,
        field: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let schema = self.resolve(schema);
        let name = if field.is_empty() { "body" } else { field };
        if value.is_null() {
            if schema["nullable"] != Value::Bool(true) {
                errors.push(FieldError::new(name, "must not be null"));
            }
            return;
        }
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.check_value(part, value, field, errors);
            }
        }
        let before = errors.len();
        let fail = |errors: &mut Vec<FieldError>, message: String| {
            errors.push(FieldError::new(name, message));
        };
        match schema["type"].as_str() {
            Some("string") => match value.as_str() {
                Some(text) => {
                    if let Some(message) = self.string_problem(schema, text) {
                        fail(errors, message);
                    }
                }
                None => fail(errors, "must be a string".into()),
            },
            Some("integer") => match value.as_i64() {
                Some(number) => {
                    if let Some(message) = range_problem(schema, number as f64) {
                        fail(errors, message);
                    }
                }
                None => fail(errors, "must be a 64-bit integer".into()),
            },
            Some("number") => match value.as_f64() {
                Some(number) => {
                    if let Some(message) = range_problem(schema, number) {
                        fail(errors, message);
                    }
                }
                None => fail(errors, "must be a number".into()),
            },
            Some("boolean") if !value.is_boolean() => fail(errors, "must be true or false".into()),
            Some("array") => match value.as_array() {
                Some(items) => {
                    if let Some(max) = schema["maxItems"].as_u64()
                        && items.len() as u64 > max
                    {
                        fail(errors, format!("must have at most {max} items"));
                    }
                    for (index, item) in items.iter().enumerate() {
                        self.check_value(
                            &schema["items"],
                            item,
                            &format!("{name}[{index}]"),
                            errors,
                        );
                    }
                }
                None => fail(errors, "must be an array".into()),
            },
            Some("object") => match value.as_object() {
                Some(object) => self.check_object(schema, object, field, errors),
                None => fail(errors, "must be an object".into()),
            },
            _ => {}
        }
        if errors.len() == before
            && let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            fail(errors, format!("must be one of {}", names.join(", ")));
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        field: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let path = |property: &str| {
            if field.is_empty() {
                property.to_owned()
            } else {
                format!("{field}.{property}")
            }
        };
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(required) = required.as_str()
                && !object.contains_key(required)
            {
                errors.push(FieldError::new(path(required), "is required"));
            }
        }
        // Unknown fields (`tenant_id`, `id`, `created_at`) are ignored, as documented.
        for (property, property_schema) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(value) = object.get(property) {
                self.check_value(property_schema, value, &path(property), errors);
            }
        }
    }

    fn string_problem(&self, schema: &Value, text: &str) -> Option<String> {
        let length = text.chars().count() as u64;
        let min = schema["minLength"].as_u64();
        let max = schema["maxLength"].as_u64();
        if min.is_some_and(|min| length < min) || max.is_some_and(|max| length > max) {
            return Some(match (min, max) {
                (Some(min), Some(max)) => format!("must be {min} to {max} characters"),
                (Some(min), None) => format!("must be at least {min} characters"),
                (None, _) => format!("must be at most {} characters", max.unwrap_or_default()),
            });
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && self
                .patterns
                .get(pattern)
                .is_some_and(|re| !re.is_match(text))
        {
            return Some(format!("must match the pattern {pattern}"));
        }
        match schema["format"].as_str() {
            Some("date-time") if !is_date_time(text) => {
                Some("must be an RFC 3339 date-time between years 0001 and 9999".into())
            }
            Some("date") if !is_date(text) => {
                Some("must be a date (YYYY-MM-DD) between years 0001 and 9999".into())
            }
            Some("uuid") if uuid::Uuid::parse_str(text).is_err() => Some("must be a UUID".into()),
            _ => None,
        }
    }
}

fn range_problem(schema: &Value, number: f64) -> Option<String> {
    let min = schema["minimum"].as_f64();
    let max = schema["maximum"].as_f64();
    let outside = min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max);
    outside.then(|| match (min, max) {
        (Some(min), Some(max)) => format!("must be between {min} and {max}"),
        (Some(min), None) => format!("must be at least {min}"),
        (None, _) => format!("must be at most {}", max.unwrap_or_default()),
    })
}

/// RFC 3339 allows four-digit years only; so does the API, in and out.
fn is_date_time(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text)
        .is_ok_and(|at| (1..=9999).contains(&at.to_utc().year()))
}

fn is_date(text: &str) -> bool {
    text.len() == 10
        && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok_and(|date| date.year() >= 1)
}

/// What the framework leaves out or gets wrong, put right in one place.
fn finish(document: &mut Value, closed_sets: &[ClosedSet<'_>]) {
    for scheme in document
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|schemes| schemes.values_mut())
    {
        for flow in scheme
            .get_mut("flows")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|flows| flows.values_mut())
        {
            // Required by OpenAPI; poem-openapi drops an empty map.
            if let Some(flow) = flow.as_object_mut() {
                flow.entry("scopes").or_insert_with(|| json!({}));
            }
        }
    }
    // Every operation that reads a body needs one (poem-openapi leaves `required` off
    // for a choice of content types, and generators then treat the body as optional).
    for request_body in document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|path| path.values_mut())
        .filter_map(|operation| operation.get_mut("requestBody"))
        .filter_map(Value::as_object_mut)
    {
        request_body.insert("required".into(), json!(true));
    }
    for set in closed_sets {
        let pointer = format!(
            "/components/schemas/{}/properties/{}",
            set.schema, set.property
        );
        if let Some(property) = document
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
        {
            property.insert("enum".into(), json!(set.values));
        }
    }
    rewrite(document);
    let (inputs, bodies) = request_schemas(document);
    let schemas = &mut document["components"]["schemas"];
    for name in inputs {
        printable_text(&mut schemas[name.as_str()]);
    }
    for name in bodies {
        admit_null_for_optional_fields(&mut schemas[name.as_str()]);
    }
}

/// Rewrites what generators cannot read, wherever it occurs: `allOf: [$ref, {description}]`
/// becomes `allOf: [$ref]` (the description stays beside it), `naive-date` becomes `date`,
/// and the unsigned formats become ranges.
fn rewrite(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(parts)) = object.get_mut("allOf") {
                parts.retain(|part| part.get("$ref").is_some() || part.get("type").is_some());
            }
            match object.get("format").and_then(Value::as_str) {
                Some("naive-date") => {
                    object.insert("format".into(), json!("date"));
                }
                // Unsigned formats are Rust's, not OpenAPI's: say it with a range.
                Some("uint16") => {
                    object.insert("format".into(), json!("int32"));
                    object.insert("minimum".into(), json!(0));
                    object.insert("maximum".into(), json!(u16::MAX));
                }
                Some("uint64") => {
                    object.insert("format".into(), json!("int64"));
                    object.insert("minimum".into(), json!(0));
                }
                _ => {}
            }
            object.values_mut().for_each(rewrite);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        _ => {}
    }
}

/// The component schemas a request body can contain (bodies and what they refer to),
/// and among them the bodies that appear in no response.
fn request_schemas(document: &Value) -> (Vec<String>, Vec<String>) {
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for operation in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|path| path.values())
    {
        collect_refs(&operation["requestBody"], &mut requests);
        collect_refs(&operation["responses"], &mut responses);
    }
    let mut bodies = requests.clone();
    bodies.retain(|name| !responses.contains(name));
    bodies.sort();
    bodies.dedup();
    let mut inputs: Vec<String> = Vec::new();
    while let Some(name) = requests.pop() {
        if !inputs.contains(&name) {
            collect_refs(
                &document["components"]["schemas"][name.as_str()],
                &mut requests,
            );
            inputs.push(name);
        }
    }
    (inputs, bodies)
}

/// Text with no control characters but tab and newline, and with something besides
/// white space where at least one character is required.
const PRINTABLE: &str = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$";
const PRINTABLE_NOT_BLANK: &str =
    r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B-\x1F\x7F-\x9F]*$";

/// Every free-text field of a request refuses control characters (but tab and newline)
/// and, when required to be non-empty, blank text: `platform::validation` trims and
/// checks text so, and the document says it to clients and fuzzers.
fn printable_text(schema: &mut Value) {
    for property in schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|properties| properties.values_mut())
        .filter_map(Value::as_object_mut)
    {
        let free_text = property.get("type").and_then(Value::as_str) == Some("string")
            && !["format", "enum", "pattern"]
                .iter()
                .any(|key| property.contains_key(*key));
        if free_text {
            let not_blank = property
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|min| min >= 1);
            let pattern = if not_blank {
                PRINTABLE_NOT_BLANK
            } else {
                PRINTABLE
            };
            property.insert("pattern".into(), json!(pattern));
        }
    }
}

fn collect_refs(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(SCHEMAS))
            {
                names.push(name.to_owned());
            }
            object.values().for_each(|v| collect_refs(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, names)),
        _ => {}
    }
}

/// In a request body an optional field may be absent or `null`, and both mean "none"
/// (in a PATCH, `null` clears the field): the document says so with `nullable`.
fn admit_null_for_optional_fields(schema: &mut Value) {
    let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    for (name, property) in schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|properties| properties.iter_mut())
    {
        if !required.contains(&json!(name))
            && let Some(property) = property.as_object_mut()
        {
            if let Some(target) = property.remove("$ref") {
                property.insert("allOf".into(), json!([{ "$ref": target }]));
            }
            property.insert("nullable".into(), json!(true));
        }
    }
}

fn collect_patterns(
    value: &Value,
    patterns: &mut HashMap<String, Regex>,
) -> Result<(), ContractError> {
    match value {
        Value::Object(object) => {
            if let Some(pattern) = object.get("pattern").and_then(Value::as_str)
                && !patterns.contains_key(pattern)
            {
                patterns.insert(pattern.to_owned(), Regex::new(pattern)?);
            }
            for value in object.values() {
                collect_patterns(value, patterns)?;
            }
        }
        Value::Array(items) => {
            for value in items {
                collect_patterns(value, patterns)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why the document could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("the OpenAPI document is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a pattern in the OpenAPI document is not a regular expression: {0}")]
    Pattern(#[from] regex::Error),
}

/// A JSON request body, checked against the served document before it is parsed:
/// a body that breaks its schema is a 422 naming each field, never a 400 from the
/// framework, and a string field never takes a number or a boolean.
///
/// Only JSON that cannot be read (400) or the wrong content type (415) stops the
/// request at once; a refusal of the content waits in [`Body::into_inner`], so the
/// handler decides what comes first (a switched-off module answers 404, a read-only
/// caller 403, whatever the body).
#[derive(Debug)]
pub struct Body<T>(Result<T, ApiError>);

impl<T> Body<T> {
    /// The parsed body, or the 422 that names every field breaking the schema.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: Type> Payload for Body<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let essence = essence.to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for Body<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let value: Value = serde_json::from_slice(&data)
            .map_err(|err| ApiError::BadRequest(format!("The body is not valid JSON: {err}")))?;
        let contract = request
            .data::<Arc<Contract>>()
            .ok_or_else(|| ApiError::internal("the contract is not attached to the route"))?;
        let parsed = contract.check(&T::schema_ref(), &value).and_then(|()| {
            T::parse_from_json(Some(value))
                .map_err(|err| ApiError::invalid("body", err.into_message()))
        });
        Ok(Self(parsed))
    }
}

poem_openapi::impl_apirequest_for_payload!(Body<T>, T: ParseFromJSON);

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        let spec = json!({
            "openapi": "3.0.0",
            "paths": { "/things": { "post": {
                "requestBody": { "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/NewThing" } } } },
                "responses": {}
            } } },
            "components": { "schemas": {
                "NewThing": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string", "maxLength": 3, "pattern": "\\S" },
                        "count": { "type": "integer", "minimum": 1 },
                        "on": { "type": "string", "format": "date" },
                        "kind": { "$ref": "#/components/schemas/Kind" }
                    }
                },
                "Kind": { "type": "string", "enum": ["A", "B"] }
            } }
        });
        Contract::new(&spec.to_string(), &[], &[]).expect("a valid document")
    }

    fn fields(value: Value) -> Vec<String> {
        let thing = MetaSchemaRef::Reference("NewThing".into());
        match contract().check(&thing, &value) {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn names_every_field_that_breaks_the_schema() {
        assert!(
            fields(json!({"name": "ab", "count": 2, "on": "2030-01-31", "kind": "B"})).is_empty()
        );
        assert!(fields(json!({"name": "ab", "count": null, "kind": null})).is_empty());
        assert_eq!(fields(json!({})), ["name"]);
        assert_eq!(fields(json!({"name": false})), ["name"]);
        assert_eq!(fields(json!({"name": "abcd"})), ["name"]);
        assert_eq!(fields(json!({"name": "  "})), ["name"]);
        assert_eq!(fields(json!({"name": "a", "count": 0})), ["count"]);
        assert_eq!(fields(json!({"name": "a", "count": 1.5})), ["count"]);
        assert_eq!(fields(json!({"name": "a", "kind": "C"})), ["kind"]);
        assert_eq!(fields(json!({"name": "a", "on": "+10000-01-01"})), ["on"]);
        assert_eq!(fields(json!([])), ["body"]);
    }

    #[test]
    fn optional_fields_of_a_request_body_admit_null() {
        let schema = &contract().document["components"]["schemas"]["NewThing"];
        assert_eq!(schema["properties"]["count"]["nullable"], json!(true));
        assert_eq!(schema["properties"]["name"].get("nullable"), None);
        assert_eq!(
            schema["properties"]["kind"]["allOf"],
            json!([{"$ref": "#/components/schemas/Kind"}])
        );
    }
}
