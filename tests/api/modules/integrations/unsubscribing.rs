//! Every marketing email carries an unsubscribe link and the one-click
//! `List-Unsubscribe` headers (RFC 8058); the link's public page asks, and its POST
//! opts the contact out without a login. The token is signed by the database: an
//! altered or forged one is a 404 page, over HTTP and through the application role's
//! own SQL. The worker sends to a real SMTP server (aiosmtpd).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::error::SqlState;

use crate::support::{
    TestApp, TestUser, expect_json, id_of,
    mail::{ReceivedMail, SmtpServer},
    notifications::{ARRIVAL, address, contact, sending, settled},
    sms::SmsProvider,
};

/// A contact who opted in to email (marketing needs it).
async fn subscriber(app: &TestApp, user: &TestUser, to: &str) -> String {
    let id = contact(app, user, Some(to), None).await;
    let consent = app
        .call(
            Method::PUT,
            &format!("/contacts/{id}/consents"),
            user,
            Some(json!({ "channel": "email", "status": "opted_in", "source": "web form" })),
        )
        .await;
    expect_json(consent, StatusCode::OK).await;
    id
}

async fn send(app: &TestApp, user: &TestUser, contact: &str, purpose: &str) -> Value {
    app.create(
        "/notifications",
        user,
        json!({ "contact_id": contact, "channel": "email", "purpose": purpose,
                "subject": "Open house on Saturday", "text": "Come and see.",
                "html": "<p>Come and see.</p>" }),
    )
    .await
}

/// The token of the mail's one-click link.
fn token_of(mail: &ReceivedMail) -> String {
    let header = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    let url = header
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .expect("<url>");
    let (_, token) = url.split_once("?token=").expect("a token");
    assert!(
        url.ends_with(&format!("/api/v1/unsubscribe?token={token}")),
        "{url}"
    );
    token.to_owned()
}

async fn page(app: &TestApp, method: Method, token: &str) -> (StatusCode, String) {
    let response = app
        .http
        .request(method, app.url("/api/v1/unsubscribe"))
        .query(&[("token", token)])
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    (status, response.text().await.expect("a page"))
}

async fn consent_of(app: &TestApp, user: &TestUser, contact: &str) -> Value {
    let list = expect_json(
        app.get(&format!("/contacts/{contact}/consents"), user)
            .await,
        StatusCode::OK,
    )
    .await;
    list["items"][0].clone()
}

#[tokio::test]
async fn a_marketing_email_carries_a_one_click_link_that_opts_its_contact_out() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let to = address("fan");
    let fan = subscriber(&worker, &user, &to).await;
    let transactional = send(&worker, &user, &fan, "transactional").await;
    settled(&worker, &user, &id_of(&transactional)).await;
    let plain = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(
        plain.header("List-Unsubscribe"),
        None,
        "only marketing carries it"
    );

    let marketing = send(&worker, &user, &fan, "marketing").await;
    let sent = settled(&worker, &user, &id_of(&marketing)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let mails = smtp.messages_to(&to);
    let mail = mails
        .iter()
        .find(|mail| mail.header("List-Unsubscribe").is_some())
        .expect("the marketing email");
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let token = token_of(mail);
    let text = sent["text"].as_str().expect("the text as sent");
    assert!(
        text.starts_with("Come and see.") && text.contains(&token),
        "the link ends the text: {text}"
    );
    assert!(
        sent["html"]
            .as_str()
            .is_some_and(|html| html.contains(&token)),
        "{sent}"
    );

    // The page asks and changes nothing; a scanner prefetching it unsubscribes nobody.
    let (status, asked) = page(&worker, Method::GET, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        asked.contains("Stop receiving emails from Acme?"),
        "{asked}"
    );
    assert_eq!(consent_of(&worker, &user, &fan).await["status"], "opted_in");

    // One click.
    let (status, done) = page(&worker, Method::POST, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        done.contains("You will receive no more emails from Acme."),
        "{done}"
    );
    let consent = consent_of(&worker, &user, &fan).await;
    assert_eq!(consent["status"], "opted_out", "{consent}");
    assert_eq!(consent["source"], "unsubscribe link");
    assert!(consent.get("recorded_by").is_none(), "the contact decided");
    let after = send(&worker, &user, &fan, "marketing").await;
    assert_eq!(after["status"], "suppressed", "{after}");
}

#[tokio::test]
async fn an_altered_or_forged_token_is_not_valid_over_http_or_through_the_app_roles_sql() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let rival = worker.sign_up("Rival").await;
    let (to, theirs) = (address("fan"), address("rival-fan"));
    let fan = subscriber(&worker, &user, &to).await;
    let rival_fan = subscriber(&worker, &rival, &theirs).await;
    let mine = send(&worker, &user, &fan, "marketing").await;
    let other = send(&worker, &rival, &rival_fan, "marketing").await;
    for (who, id) in [(&user, &mine), (&rival, &other)] {
        settled(&worker, who, &id_of(id)).await;
    }
    let token = token_of(&smtp.wait_for_message(&to, ARRIVAL).await);
    let their_token = token_of(&smtp.wait_for_message(&theirs, ARRIVAL).await);
    let parts: Vec<&str> = token.split('.').collect();
    let theirs_parts: Vec<&str> = their_token.split('.').collect();
    let flipped = format!(
        "{}{}",
        &parts[3][..63],
        if parts[3].ends_with('0') { "1" } else { "0" }
    );
    let forged = [
        // The signature altered by one digit.
        format!("{}.{}.{}.{flipped}", parts[0], parts[1], parts[2]),
        // My signature on the rival's message.
        format!(
            "{}.{}.{}.{}",
            parts[0], theirs_parts[1], theirs_parts[2], parts[3]
        ),
        // The rival's message under my tenant.
        format!(
            "{}.{}.{}.{}",
            theirs_parts[0], parts[1], theirs_parts[2], theirs_parts[3]
        ),
        "not-a-token".to_owned(),
        format!("{}.{}.{}", parts[0], parts[1], parts[2]),
    ];
    for token in &forged {
        for method in [Method::GET, Method::POST] {
            let (status, body) = page(&worker, method.clone(), token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {token}");
            assert!(body.contains("This link is not valid"), "{body}");
        }
    }
    assert_eq!(
        consent_of(&worker, &rival, &rival_fan).await["status"],
        "opted_in"
    );
    assert_eq!(consent_of(&worker, &user, &fan).await["status"], "opted_in");

    let sql = worker.app_role_sql().await;
    for token in &forged {
        let rows = sql
            .query("SELECT * FROM app.unsubscribe($1)", &[token])
            .await
            .expect("the definer answers");
        assert!(rows.is_empty(), "{token}");
    }
    let minted = sql
        .query(
            "SELECT app.unsubscribe_token($1::text::uuid, $2::text::uuid)",
            &[&theirs_parts[1], &theirs_parts[2]],
        )
        .await
        .expect_err("not the app role's to sign");
    assert_eq!(minted.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(
        consent_of(&worker, &rival, &rival_fan).await["status"],
        "opted_in"
    );
}
