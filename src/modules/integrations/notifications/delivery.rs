//! What the worker sends: a claimed message rendered in the sandbox, from the tenant's
//! wording in force for its locale (else the default) and the values stored with the
//! message, with `tenant.name` and `tz` as they are at the time of sending. A message
//! given as content is sent as it was given.

use crate::platform::db::{ClaimedNotification, Wording};

use super::{
    fallback_locales,
    keys::{self, Channel, TemplateKey},
    render::{self, Parts, Rendered, Variables},
};

/// Why a claimed message cannot be sent, whatever the provider does: it fails at once.
#[derive(Debug, thiserror::Error)]
pub enum Unsendable {
    #[error("unknown channel {0:?}")]
    Channel(String),
    #[error("unknown template {0:?}")]
    Template(String),
    #[error("template {key} offers no {channel} wording")]
    NoWording {
        key: &'static str,
        channel: &'static str,
    },
    #[error("the template did not render: {0}")]
    Render(String),
    #[error("the message has no content")]
    NoContent,
}

/// The channel a claimed message goes out on, and what it says.
pub fn render(claimed: &ClaimedNotification) -> Result<(Channel, Rendered), Unsendable> {
    let channel = Channel::parse(&claimed.channel)
        .ok_or_else(|| Unsendable::Channel(claimed.channel.clone()))?;
    let Some(name) = &claimed.template_key else {
        let text = claimed.text.clone().ok_or(Unsendable::NoContent)?;
        return Ok((
            channel,
            Rendered {
                subject: claimed.subject.clone(),
                text,
                html: claimed.html.clone(),
            },
        ));
    };
    let key = TemplateKey::parse(name).ok_or_else(|| Unsendable::Template(name.clone()))?;
    let variables = variables(claimed);
    let rendered = match wording(&claimed.wordings, &claimed.locale) {
        Some(own) => render::render(
            channel,
            Parts {
                subject: own.subject.as_deref(),
                text: &own.text,
                html: own.html.as_deref(),
            },
            &variables,
        ),
        None => {
            let default = keys::default_for(key, channel).ok_or(Unsendable::NoWording {
                key: key.name(),
                channel: channel.name(),
            })?;
            render::render(
                channel,
                Parts {
                    subject: default.subject,
                    text: default.text,
                    html: default.html,
                },
                &variables,
            )
        }
    };
    let rendered = rendered.map_err(|errors| {
        Unsendable::Render(
            errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok((channel, rendered))
}

/// The tenant's wording for the first of the locale's fallbacks it has one for.
fn wording<'a>(wordings: &'a [Wording], locale: &str) -> Option<&'a Wording> {
    fallback_locales(locale)
        .iter()
        .find_map(|locale| wordings.iter().find(|wording| &wording.locale == locale))
}

/// The stored values (strings; anything else as its JSON text), with the tenant's.
fn variables(claimed: &ClaimedNotification) -> Variables {
    let mut variables: Variables = claimed
        .variables
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (path.clone(), value)
        })
        .collect();
    variables.insert("tenant.name".to_owned(), claimed.tenant_name.clone());
    variables.insert("tz".to_owned(), claimed.time_zone.clone());
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wording(locale: &str, text: &str) -> Wording {
        Wording {
            locale: locale.to_owned(),
            subject: None,
            text: text.to_owned(),
            html: None,
        }
    }

    #[test]
    fn the_most_specific_wording_wins() {
        let saved = [
            wording("en", "en"),
            wording("de", "de"),
            wording("de-CH", "ch"),
        ];
        assert_eq!(
            super::wording(&saved, "de-CH").map(|w| w.text.as_str()),
            Some("ch")
        );
        assert_eq!(
            super::wording(&saved, "de-AT").map(|w| w.text.as_str()),
            Some("de")
        );
        assert_eq!(
            super::wording(&saved, "fr").map(|w| w.text.as_str()),
            Some("en")
        );
        assert!(super::wording(&saved[1..], "fr").is_none());
    }
}
