//! The messages webhook endpoints receive, in the document: for each event kind the
//! deployment serves (and the test message), a component schema named after it
//! (`contact.created`: `ContactCreatedEvent`) whose `data` is the schema the kind
//! declares, the API's own for its resource; `WebhookEvent`, any one of them, told
//! apart by `type`; and under `x-webhooks` the POST a receiver of each kind gets.
//!
//! OpenAPI 3.0 has no `webhooks` (3.1 has, and poem-openapi writes 3.0 schemas, whose
//! `#[Webhook]` puts a 3.1 key in a 3.0 document that validators refuse, and lists the
//! build's kinds rather than the deployment's): `x-webhooks` is the extension Redoc
//! reads, in the 3.1 shape.

use poem_openapi::registry::Registry;
use serde_json::{Map, Value, json};

use super::SCHEMAS;
use crate::platform::events::EventKind;

/// The schema of every message, whatever its kind.
const ANY_EVENT: &str = "WebhookEvent";

/// Adds the schemas of `kinds`' messages and of their `data`, and their deliveries.
pub(super) fn describe(document: &mut Value, kinds: &[&EventKind]) -> serde_json::Result<()> {
    if kinds.is_empty() {
        return Ok(());
    }
    let mut registry = Registry::new();
    for kind in kinds {
        kind.data.register(&mut registry);
    }
    let schemas = &mut document["components"]["schemas"];
    for (name, schema) in registry.schemas {
        if schemas.get(&name).is_none() {
            schemas[name] = serde_json::to_value(schema)?;
        }
    }
    let mut deliveries = Map::new();
    for kind in kinds {
        schemas[schema_name(kind)] = message(kind)?;
        deliveries.insert(kind.name.to_owned(), delivery(kind));
    }
    schemas[ANY_EVENT] = any_event(kinds);
    document["x-webhooks"] = Value::Object(deliveries);
    Ok(())
}

/// `contact.created` → `ContactCreatedEvent`, `viewing.no_show` → `ViewingNoShowEvent`.
fn schema_name(kind: &EventKind) -> String {
    let words = kind.name.split(['.', '_']).map(|word| {
        let mut letters = word.chars();
        letters.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(letters).collect()
        })
    });
    words.chain(["Event".to_owned()]).collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{SCHEMAS}{name}") })
}

/// The body of one kind's message.
fn message(kind: &EventKind) -> serde_json::Result<Value> {
    let mut data = serde_json::to_value(kind.data.reference())?;
    if let Some(target) = data.as_object_mut().and_then(|data| data.remove("$ref")) {
        data = json!({ "allOf": [{ "$ref": target }] });
    }
    data["description"] = json!("What it is about, as the API returns it.");
    Ok(json!({
        "type": "object",
        "description": kind.description,
        "required": ["id", "type", "timestamp", "data"],
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "The event's id, also its `webhook-id` header: the same in every delivery of it, so a receiver can drop repeats."
            },
            "type": {
                "type": "string",
                "enum": [kind.name],
                "description": "The kind of event."
            },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened, in UTC: in the transaction of the change."
            },
            "data": data
        }
    }))
}

/// Any message, by its `type`.
fn any_event(kinds: &[&EventKind]) -> Value {
    let mapping: Map<String, Value> = kinds
        .iter()
        .map(|kind| {
            let target = format!("{SCHEMAS}{}", schema_name(kind));
            (kind.name.to_owned(), json!(target))
        })
        .collect();
    json!({
        "description": "Any message an endpoint receives, told apart by its `type`.",
        "oneOf": kinds.iter().map(|kind| reference(&schema_name(kind))).collect::<Vec<_>>(),
        "discriminator": { "propertyName": "type", "mapping": mapping }
    })
}

/// The POST a subscribed endpoint receives, signed the Standard Webhooks way.
fn delivery(kind: &EventKind) -> Value {
    let header = |name: &str, description: &str| {
        json!({
            "name": name,
            "in": "header",
            "required": true,
            "description": description,
            "schema": { "type": "string" }
        })
    };
    json!({ "post": {
        "summary": kind.name,
        "description": kind.description,
        "parameters": [
            header("webhook-id", "The event's `id`."),
            header("webhook-timestamp", "When this delivery was signed, in seconds since the Unix epoch."),
            header("webhook-signature", "`v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<body>\">` under each of the endpoint's secrets, space-separated.")
        ],
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": reference(&schema_name(kind)) } }
        },
        "responses": {
            "2XX": { "description": "Received: the message is never sent again." },
            "410": { "description": "Gone: the endpoint is disabled and receives nothing more." },
            "default": { "description": "Not received (as is no answer in time): sent again later, up to 8 attempts in all." }
        }
    } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::events::DataSchema;

    const NOTE_PINNED: EventKind = EventKind {
        name: "note.pinned_twice",
        description: "A note was pinned.",
        data: DataSchema::of::<Note>(),
    };

    /// A note.
    #[derive(poem_openapi::Object)]
    struct Note {
        /// Its text.
        text: String,
    }

    #[test]
    fn each_kind_has_a_message_schema_whose_data_is_the_declared_one() {
        let mut document = json!({ "components": { "schemas": {} } });
        describe(&mut document, &[&NOTE_PINNED]).expect("serializable");
        let schemas = &document["components"]["schemas"];
        let message = &schemas["NotePinnedTwiceEvent"];
        assert_eq!(message["description"], "A note was pinned.");
        assert_eq!(
            message["properties"]["type"]["enum"],
            json!(["note.pinned_twice"])
        );
        assert_eq!(
            message["properties"]["data"]["allOf"],
            json!([{ "$ref": "#/components/schemas/Note" }])
        );
        assert_eq!(schemas["Note"]["required"], json!(["text"]));
        assert_eq!(
            schemas[ANY_EVENT]["discriminator"]["mapping"]["note.pinned_twice"],
            "#/components/schemas/NotePinnedTwiceEvent"
        );
        let body = &document["x-webhooks"]["note.pinned_twice"]["post"]["requestBody"];
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/NotePinnedTwiceEvent"
        );
    }

    #[test]
    fn a_deployment_without_events_documents_none() {
        let mut document = json!({ "components": { "schemas": {} } });
        describe(&mut document, &[]).expect("serializable");
        assert_eq!(document, json!({ "components": { "schemas": {} } }));
    }
}
