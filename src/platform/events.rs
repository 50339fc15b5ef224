//! Events: what happened to a module's records, as webhook endpoints receive it.
//!
//! A module declares its event kinds in its [`ModuleInfo`], and its migrations emit
//! them: a trigger on each of its tables calls `app.emit_change` or `app.emit_event`
//! in the transaction of the change (the interface is described in the webhooks
//! module's `V16__events_of_every_module.sql`), so an event exists if and only if its
//! change committed. The [`Catalogue`] is every declared kind of a deployment, which is
//! what endpoints may subscribe to.
//!
//! Every message is `{"id", "type", "timestamp", "data"}`, and a kind names the schema
//! of its `data` ([`DataSchema`]), so the OpenAPI document describes each kind's
//! message from the same declaration (`crate::platform::contract`).

use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use crate::platform::module::ModuleInfo;

/// One kind of event a module emits.
#[derive(Debug)]
pub struct EventKind {
    /// `<resource>.<what happened>`, as endpoints subscribe to it and as the `type` of
    /// its messages.
    pub name: &'static str,
    /// What it means, and what its `data` is.
    pub description: &'static str,
    /// The schema of its `data`: the API's own for the resource it is about.
    pub data: DataSchema,
}

/// The schema of an event's `data`, as the OpenAPI document names it.
#[derive(Debug, Clone, Copy)]
pub struct DataSchema {
    register: fn(&mut Registry),
    reference: fn() -> MetaSchemaRef,
}

impl DataSchema {
    /// The schema of `T`, as the API writes it.
    pub const fn of<T: Type>() -> Self {
        Self {
            register: T::register,
            reference: T::schema_ref,
        }
    }

    /// Adds the schema and every schema it refers to.
    pub fn register(&self, registry: &mut Registry) {
        (self.register)(registry);
    }

    /// The schema, or the reference to it.
    pub fn reference(&self) -> MetaSchemaRef {
        (self.reference)()
    }
}

impl EventKind {
    /// The resource it is about: `deal` for `deal.stage_changed`.
    fn resource(&self) -> &'static str {
        self.name
            .split_once('.')
            .map_or(self.name, |(resource, _)| resource)
    }
}

/// The event kinds of the modules a deployment serves, in their modules' order.
#[derive(Debug, Clone)]
pub struct Catalogue {
    kinds: Vec<&'static EventKind>,
}

impl Catalogue {
    pub fn of<'a>(modules: impl IntoIterator<Item = &'a ModuleInfo>) -> Self {
        Self {
            kinds: modules
                .into_iter()
                .flat_map(|module| module.events)
                .collect(),
        }
    }

    pub fn kinds(&self) -> &[&'static EventKind] {
        &self.kinds
    }

    /// Whether an endpoint may subscribe to `name`: an event kind of the catalogue,
    /// `<resource>.*` for a resource that has one, or `*`.
    pub fn subscribable(&self, name: &str) -> bool {
        name == "*"
            || self
                .kinds
                .iter()
                .any(|kind| kind.name == name || name.strip_suffix(".*") == Some(kind.resource()))
    }
}

#[cfg(test)]
mod tests {
    use super::{Catalogue, DataSchema, EventKind};
    use crate::platform::module::ModuleInfo;

    const NOTES: ModuleInfo = ModuleInfo {
        name: "notes",
        title: "Notes",
        switchable: false,
        constraints: &[],
        events: &[
            EventKind {
                name: "note.created",
                description: "",
                data: DataSchema::of::<String>(),
            },
            EventKind {
                name: "note.pinned",
                description: "",
                data: DataSchema::of::<String>(),
            },
        ],
        notified_records: &[],
        migrations: &[],
    };

    #[test]
    fn endpoints_subscribe_to_kinds_wildcards_or_everything() {
        let catalogue = Catalogue::of([&NOTES]);
        for name in ["note.created", "note.pinned", "note.*", "*"] {
            assert!(catalogue.subscribable(name), "{name}");
        }
        for name in ["note", "note.", "notes.*", "note.deleted", "*.*", "", ".*"] {
            assert!(!catalogue.subscribable(name), "{name}");
        }
    }
}
