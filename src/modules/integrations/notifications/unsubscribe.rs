//! `/unsubscribe`: where the link in every marketing email leads, without a login. The
//! link's token is signed by the database (migration V28); the page (`GET`) names the
//! tenant and asks, the button or a mail client's one-click request (`POST`, RFC 8058)
//! opts the contact out of the channel. A link prefetched by a mail scanner only reads
//! the page.

use minijinja::{AutoEscape, Environment, context};
use poem_openapi::{ApiResponse, OpenApi, param::Query, payload::Html};

use super::NotificationTags;
use crate::platform::{
    db::Unsubscribed,
    error::{ApiError, problems},
    state::SharedState,
};

#[derive(ApiResponse)]
enum UnsubscribePage {
    /// The page: a question (`GET`), or the confirmation (`POST`).
    #[oai(status = 200)]
    Ok(Html<String>),
    /// The link is not valid (malformed, or not signed by this service).
    #[oai(status = 404)]
    NotValid(Html<String>),
}

pub struct UnsubscribeApi {
    state: SharedState,
}

impl UnsubscribeApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/unsubscribe", tag = "NotificationTags::Notifications")]
impl UnsubscribeApi {
    /// Show an unsubscribe link's page
    ///
    /// An HTML page naming the tenant and the channel, with a button that unsubscribes.
    /// Changes nothing. No login: the token is the proof.
    #[oai(path = "/", method = "get", operation_id = "showUnsubscribePage")]
    async fn show(
        &self,
        /// The token of the link.
        #[oai(validator(min_length = 1, max_length = 300))]
        token: Query<String>,
    ) -> Result<UnsubscribePage, problems::Follow> {
        let target = self
            .state
            .db
            .pre_tenant()
            .unsubscribe_target(&token.0)
            .await?;
        Ok(page(target, false)?)
    }

    /// Unsubscribe
    ///
    /// The contact the link was sent to opts out of its channel (consent `opted_out`,
    /// source `unsubscribe link`); nothing more is sent to them on it, messages already
    /// queued included. The page's button and mail clients' one-click unsubscribe
    /// (`List-Unsubscribe-Post`, RFC 8058) send this; its body is not read. No login.
    #[oai(path = "/", method = "post", operation_id = "unsubscribe")]
    async fn unsubscribe(
        &self,
        /// The token of the link.
        #[oai(validator(min_length = 1, max_length = 300))]
        token: Query<String>,
    ) -> Result<UnsubscribePage, problems::Follow> {
        let done = self.state.db.pre_tenant().unsubscribe(&token.0).await?;
        Ok(page(done, true)?)
    }
}

/// The pages, rendered by minijinja with every value HTML-escaped.
const PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">
<title>{{ title }}</title></head>
<body>
<h1>{{ title }}</h1>
{% if tenant is none %}<p>This link is not valid. Use the link of a message you received.</p>
{% elif done %}<p>You will receive no more {{ channel }} from {{ tenant }}.</p>
{% else %}<p>Stop receiving {{ channel }} from {{ tenant }}?</p>
<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>
{% endif %}</body></html>
";

/// The page for a valid link (asking, or `done`), or the one saying it is not.
fn page(target: Option<Unsubscribed>, done: bool) -> Result<UnsubscribePage, ApiError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    let (title, tenant, channel) = match &target {
        None => ("Link not valid", None, None),
        Some(target) => (
            if done { "Unsubscribed" } else { "Unsubscribe" },
            Some(target.tenant_name.as_str()),
            Some(channel_words(&target.channel)),
        ),
    };
    let html = env
        .render_str(PAGE, context! { title, tenant, channel, done })
        .map_err(ApiError::internal)?;
    Ok(match target {
        Some(_) => UnsubscribePage::Ok(Html(html)),
        None => UnsubscribePage::NotValid(Html(html)),
    })
}

fn channel_words(channel: &str) -> &'static str {
    match channel {
        "sms" => "text messages",
        _ => "emails",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_name_cannot_write_markup_into_the_page() {
        let target = Unsubscribed {
            tenant_name: "<script>alert('x')</script> & co".to_owned(),
            channel: "email".to_owned(),
        };
        let Ok(UnsubscribePage::Ok(Html(html))) = page(Some(target), false) else {
            panic!("a page");
        };
        assert!(
            html.contains("from &lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; co?"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
    }
}
