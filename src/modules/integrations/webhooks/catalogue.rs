//! The catalogue of event types, and what an endpoint may subscribe to.

/// The events an endpoint may subscribe to, with what they mean.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    (
        "contact.created",
        "A contact was created; `data` is the contact.",
    ),
    (
        "contact.updated",
        "A contact changed; `data` is the contact as it now is.",
    ),
    (
        "contact.deleted",
        "A contact was deleted; `data` is the contact as it was.",
    ),
];

/// An event type, its resource's wildcard, or `*`.
pub fn subscribable(name: &str) -> bool {
    name == "*"
        || EVENT_TYPES.iter().any(|(event, _)| {
            *event == name
                || name
                    .strip_suffix(".*")
                    .is_some_and(|resource| event.split('.').next() == Some(resource))
        })
}

#[cfg(test)]
mod tests {
    use super::subscribable;

    #[test]
    fn endpoints_subscribe_to_types_wildcards_or_everything() {
        for name in ["contact.created", "contact.*", "*"] {
            assert!(subscribable(name), "{name}");
        }
        for name in [
            "contact",
            "contact.",
            "contacts.*",
            "deal.created",
            "*.*",
            "",
        ] {
            assert!(!subscribable(name), "{name}");
        }
    }
}
