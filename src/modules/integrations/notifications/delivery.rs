//! What the worker sends: a claimed message rendered in the sandbox, from the tenant's
//! wording in force for its locale (else the default) and the values stored with the
//! message, with `tenant.name` and `tz` as they are at the time of sending. A message
//! given as content is sent as it was given. A marketing email ends with its
//! unsubscribe link.

use minijinja::{AutoEscape, Environment, context};

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

/// Where the recipient of a marketing email unsubscribes: the public page of the
/// service reached at `public_url`, with the token the claim signed.
pub fn unsubscribe_link(public_url: &str, token: &str) -> String {
    format!(
        "{}/api/v1/unsubscribe?token={token}",
        public_url.trim_end_matches('/')
    )
}

/// The footer of a marketing email: the text part's line, and the HTML part's
/// paragraph (the link escaped as an attribute).
const FOOTER_TEXT: &str = "\n\n--\nTo receive no more of these emails: {{ link }}\n";
const FOOTER_HTML: &str = "\n<p style=\"font-size:small\"><a href=\"{{ link }}\">Unsubscribe</a> from these emails.</p>\n";

/// `rendered` with the unsubscribe `link` at the end of its text and HTML parts.
pub fn with_unsubscribe_link(rendered: Rendered, link: &str) -> Result<Rendered, Unsendable> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let footer = |name: &'static str, source: &'static str| {
        env.template_from_named_str(name, source)
            .and_then(|template| template.render(context! { link }))
            .map_err(|err| Unsendable::Render(err.to_string()))
    };
    let text = rendered.text + &footer("text", FOOTER_TEXT)?;
    let html = match rendered.html {
        Some(html) => Some(html + &footer("html", FOOTER_HTML)?),
        None => None,
    };
    Ok(Rendered {
        subject: rendered.subject,
        text,
        html,
    })
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
    fn a_marketing_email_ends_with_its_link_escaped_in_the_html() {
        let link = unsubscribe_link("https://crm.example/", "1.a.b.c");
        assert_eq!(link, "https://crm.example/api/v1/unsubscribe?token=1.a.b.c");
        let rendered = Rendered {
            subject: Some("News".to_owned()),
            text: "Hello".to_owned(),
            html: Some("<p>Hello</p>".to_owned()),
        };
        let ended =
            with_unsubscribe_link(rendered, "https://x.test/u?a=1&b=\"2\"").expect("renders");
        assert!(ended.text.starts_with("Hello\n\n--\n"), "{}", ended.text);
        assert!(ended.text.contains("https://x.test/u?a=1&b=\"2\""));
        let html = ended.html.expect("an HTML part");
        assert!(html.starts_with("<p>Hello</p>"), "{html}");
        assert!(
            html.contains("href=\"https:&#x2f;&#x2f;x.test&#x2f;u?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
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
