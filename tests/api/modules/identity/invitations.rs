//! Identities you can trust, over real HTTP: signup creates nothing until its mailbox
//! confirms, members join only by accepting an invitation, and neither answer says
//! whether an email has an account. Each attack test fails on the old behaviour
//! (signup that created the identity, `POST /users` that attached it).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    PASSWORD, TestApp, TestUser, expect_json, expect_problem, mail::SmtpServer, spawn_app,
    spawn_app_with, token_in,
};

const VICTIM: &str = "cfo@victim.test";
const VICTIMS_OWN_PASSWORD: &str = "the real cfo's own passphrase";

/// `(identities, memberships)` of the email, read as the superuser.
async fn footprint(app: &TestApp, email: &str) -> (i64, i64) {
    let row = app
        .owner_sql()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM users WHERE lower(email) = lower($1)), \
                    (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE lower(u.email) = lower($1))",
            &[&email],
        )
        .await
        .expect("footprint");
    (row.get(0), row.get(1))
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

async fn log_in_with(
    app: &TestApp,
    email: &str,
    password: &str,
    tenant: Option<Uuid>,
) -> reqwest::Response {
    let mut body = json!({ "email": email, "password": password });
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    app.post_anonymous("/auth/login", body).await
}

/// Sequence 1, new way: the attacker's signup and another tenant's invitation for the
/// victim's address create nothing the attacker can use; the mailbox's owner still
/// signs up.
#[tokio::test]
async fn pre_hijacking_by_signup_or_invitation_creates_nothing() {
    let app = spawn_app().await;
    let signup = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "Throwaway", "email": VICTIM, "password": PASSWORD, "full_name": "CFO" }),
        )
        .await;
    expect_json(signup, StatusCode::ACCEPTED).await;
    assert_eq!(
        footprint(&app, VICTIM).await,
        (0, 0),
        "signup created nothing"
    );
    let tenants: i64 = app
        .owner_sql()
        .await
        .query_one("SELECT count(*) FROM tenants WHERE name = 'Throwaway'", &[])
        .await
        .expect("tenants")
        .get(0);
    assert_eq!(tenants, 0, "no tenant before the mailbox confirms");
    // Without the mailbox the attacker has no token; a guess is refused.
    let guess = app
        .post_anonymous(
            "/auth/signup/confirm",
            json!({ "token": format!("{}.{}", Uuid::new_v4(), "0".repeat(64)) }),
        )
        .await;
    expect_problem(guess, StatusCode::UNAUTHORIZED).await;
    expect_problem(
        log_in_with(&app, VICTIM, PASSWORD, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let other = app.sign_up("Other").await;
    let admin = app.add_member(&other, "admin").await;
    let invited = app
        .post(
            "/users",
            &admin,
            json!({ "email": VICTIM, "full_name": "CFO", "role": "member", "password": PASSWORD }),
        )
        .await;
    expect_json(invited, StatusCode::ACCEPTED).await;
    assert_eq!(
        footprint(&app, VICTIM).await,
        (0, 0),
        "inviting created nothing"
    );
    expect_problem(
        log_in_with(&app, VICTIM, PASSWORD, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // The real person signs up from the mail in their mailbox, with their password.
    let response = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "Victim Inc", "email": VICTIM, "password": VICTIMS_OWN_PASSWORD, "full_name": "CFO" }),
        )
        .await;
    expect_json(response, StatusCode::ACCEPTED).await;
    let token = token_in(&app.last_system_mail(VICTIM).await);
    let confirmed = app
        .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
        .await;
    expect_json(confirmed, StatusCode::CREATED).await;
    expect_json(
        log_in_with(&app, VICTIM, VICTIMS_OWN_PASSWORD, None).await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        log_in_with(&app, VICTIM, PASSWORD, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// Sequence 1, legacy identity: one made the old way by an attacker (their password,
/// never verified, a membership in their tenant, a live session). The victim tenant
/// invites the address; the real person accepts with their own password; the
/// attacker is locked out everywhere, at once.
#[tokio::test]
async fn accepting_ends_a_never_verified_identitys_old_password_and_sessions() {
    let app = spawn_app().await;
    let attacker = app.sign_up_as("Evil", "attacker@evil.test").await;
    let owner = app.owner_sql().await;
    let legacy: Uuid = owner
        .query_one(
            "INSERT INTO users (id, email, password_hash, full_name) \
             SELECT gen_random_uuid(), $1, password_hash, 'CFO (attacker)' FROM users WHERE email = $2 \
             RETURNING id",
            &[&VICTIM, &attacker.email],
        )
        .await
        .expect("the legacy identity")
        .get(0);
    owner
        .execute(
            "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')",
            &[&attacker.tenant_id, &legacy],
        )
        .await
        .expect("the attacker's membership");
    let attackers_tokens = expect_json(
        log_in_with(&app, VICTIM, PASSWORD, None).await,
        StatusCode::OK,
    )
    .await;
    let attackers_session = app
        .user_from_tokens(VICTIM.to_owned(), &attackers_tokens)
        .await;
    assert_eq!(attackers_session.user_id, legacy);

    let victim_owner = app.sign_up("Victim Inc").await;
    let token = app.invite(&victim_owner, VICTIM, "owner").await;
    let no_password = app
        .post_anonymous("/auth/invitations/accept", json!({ "token": token }))
        .await;
    let problem = expect_problem(no_password, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "password", "{problem}");
    let accepted = app
        .post_anonymous(
            "/auth/invitations/accept",
            json!({ "token": token, "password": VICTIMS_OWN_PASSWORD, "full_name": "The CFO" }),
        )
        .await;
    let cfo = app
        .user_from_tokens(
            VICTIM.to_owned(),
            &expect_json(accepted, StatusCode::OK).await,
        )
        .await;
    assert_eq!(cfo.tenant_id, victim_owner.tenant_id);

    // The attacker: password, refresh token and access token all dead.
    for tenant in [None, Some(victim_owner.tenant_id), Some(attacker.tenant_id)] {
        expect_problem(
            log_in_with(&app, VICTIM, PASSWORD, tenant).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let refresh = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": attackers_session.refresh_token }),
        )
        .await;
    expect_problem(refresh, StatusCode::UNAUTHORIZED).await;
    expect_problem(
        app.get("/auth/me", &attackers_session).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // The real person logs in to the victim tenant, as owner.
    let tokens = expect_json(
        log_in_with(
            &app,
            VICTIM,
            VICTIMS_OWN_PASSWORD,
            Some(victim_owner.tenant_id),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let user = app.user_from_tokens(VICTIM.to_owned(), &tokens).await;
    let me = expect_json(app.get("/auth/me", &user).await, StatusCode::OK).await;
    assert_eq!(me["role"], "owner");
    assert_eq!(me["full_name"], "The CFO");
}

/// Sequence 2: inviting another tenant's member answers exactly like inviting an
/// unknown address, reveals no id or name, and joins nothing.
#[tokio::test]
async fn inviting_someone_elses_member_attaches_and_reveals_nothing() {
    let app = spawn_app().await;
    let person = app.sign_up("Person's own").await;
    let caller = app.sign_up("Phishing Ltd").await;

    let known = app
        .post(
            "/users",
            &caller,
            json!({ "email": person.email, "role": "admin" }),
        )
        .await;
    let (known_status, known) = (known.status(), known.json::<Value>().await.expect("json"));
    let unknown = app
        .post(
            "/users",
            &caller,
            json!({ "email": "nobody@nowhere.test", "role": "admin" }),
        )
        .await;
    let (unknown_status, unknown) = (
        unknown.status(),
        unknown.json::<Value>().await.expect("json"),
    );
    assert_eq!(known_status, StatusCode::ACCEPTED);
    assert_eq!(known_status, unknown_status, "same status");
    assert_eq!(keys(&known), keys(&unknown), "same body keys");
    assert_eq!(
        keys(&known),
        ["created_at", "email", "expires_at", "id", "role", "status"]
    );
    assert_eq!(known["status"], unknown["status"]);
    let text = known.to_string();
    assert!(
        !text.contains(&person.user_id.to_string()),
        "no global id: {text}"
    );
    assert!(!text.contains("Owner"), "no name: {text}");

    assert_eq!(
        footprint(&app, &person.email).await,
        (1, 1),
        "nothing joined"
    );
    let login = expect_json(app.log_in(&person.email, None).await, StatusCode::OK).await;
    let again = app.user_from_tokens(person.email.clone(), &login).await;
    assert_eq!(
        again.tenant_id, person.tenant_id,
        "one membership, no tenant list"
    );
    let members = expect_json(app.get("/users", &caller).await, StatusCode::OK).await;
    assert_eq!(members["items"].as_array().map(Vec::len), Some(1));
}

/// Finding 8: signup with a known email answers exactly like with an unknown one;
/// the known address gets a notice, not a link.
#[tokio::test]
async fn signup_with_a_known_email_answers_like_an_unknown_one() {
    let app = spawn_app().await;
    let existing = app.sign_up("Acme").await;
    let signup = |email: String| {
        let app = &app;
        async move {
            let response = app
                .post_anonymous(
                    "/auth/signup",
                    json!({ "tenant_name": "Again", "email": email, "password": PASSWORD, "full_name": "X" }),
                )
                .await;
            let status = response.status();
            let body = response.text().await.expect("body");
            (status, body)
        }
    };
    let known = signup(existing.email.to_uppercase()).await;
    let unknown = signup("fresh@example.test".to_owned()).await;
    assert_eq!(known, unknown, "same status, same body");
    assert_eq!(known.0, StatusCode::ACCEPTED);

    let notice = app.last_system_mail(&existing.email.to_uppercase()).await;
    assert!(notice.contains("already has an account"), "{notice}");
    assert!(
        !notice.contains("token="),
        "no link for a known address: {notice}"
    );
    let link = app.last_system_mail("fresh@example.test").await;
    assert!(link.contains("/signup/confirm?token="), "{link}");
    assert_eq!(
        footprint(&app, &existing.email).await,
        (1, 1),
        "nothing changed"
    );
}

async fn invitation_list(app: &TestApp, user: &TestUser) -> Vec<Value> {
    expect_json(app.get("/invitations", user).await, StatusCode::OK).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn status_of(app: &TestApp, user: &TestUser, email: &str) -> String {
    invitation_list(app, user)
        .await
        .iter()
        .find(|item| item["email"] == email)
        .and_then(|item| item["status"].as_str())
        .expect("listed")
        .to_owned()
}

/// Invitations are managed by managers: listed, resent (the old link dies), revoked
/// (the link dies), expired (the link dies); members cannot invite, admins cannot
/// invite owners, another tenant's invitation is 404.
#[tokio::test]
async fn managers_list_resend_and_revoke_invitations_and_links_die_with_them() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    let member = app.add_member(&owner, "member").await;
    let stranger = app.sign_up("Elsewhere").await;

    let first = app.invite(&owner, "first@example.test", "member").await;
    let id = |email: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            invitation_list(app, owner)
                .await
                .iter()
                .find(|item| item["email"] == email)
                .and_then(|item| item["id"].as_str())
                .expect("listed")
                .to_owned()
        }
    };
    assert_eq!(
        status_of(&app, &owner, "first@example.test").await,
        "pending"
    );

    // Resend: a fresh link, the old one stops working.
    let first_id = id("first@example.test").await;
    let resent = app
        .post(
            &format!("/invitations/{first_id}/resend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        expect_json(resent, StatusCode::ACCEPTED).await["status"],
        "pending"
    );
    let second = token_in(&app.last_tenant_mail("first@example.test").await);
    assert_ne!(first, second);
    let old = expect_problem(app.accept(&first).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        old["detail"],
        "The invitation link is invalid, expired or already used."
    );
    expect_json(app.accept(&second).await, StatusCode::OK).await;
    assert_eq!(
        status_of(&app, &owner, "first@example.test").await,
        "accepted"
    );
    expect_problem(app.accept(&second).await, StatusCode::UNAUTHORIZED).await;
    let resend_accepted = app
        .post(
            &format!("/invitations/{first_id}/resend"),
            &owner,
            json!({}),
        )
        .await;
    expect_problem(resend_accepted, StatusCode::NOT_FOUND).await;

    // Revoke: the link stops working.
    let revoked_link = app.invite(&admin, "revoked@example.test", "member").await;
    let revoked_id = id("revoked@example.test").await;
    let revoke = app
        .delete(&format!("/invitations/{revoked_id}"), &admin)
        .await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    expect_problem(app.accept(&revoked_link).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status_of(&app, &owner, "revoked@example.test").await,
        "revoked"
    );
    expect_problem(
        app.delete(&format!("/invitations/{revoked_id}"), &admin)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(footprint(&app, "revoked@example.test").await, (0, 0));

    // Expiry: the link stops working; a resend revives it with a fresh link.
    let late = app.invite(&owner, "late@example.test", "read_only").await;
    app.owner_sql()
        .await
        .execute(
            "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1",
            &[&"late@example.test"],
        )
        .await
        .expect("expire");
    assert_eq!(
        status_of(&app, &owner, "late@example.test").await,
        "expired"
    );
    expect_problem(app.accept(&late).await, StatusCode::UNAUTHORIZED).await;

    // Twice invited, once joined: the second link answers 409.
    let twice = app.invite(&owner, "twice@example.test", "member").await;
    let twice_again = app.invite(&admin, "twice@example.test", "admin").await;
    expect_json(app.accept(&twice).await, StatusCode::OK).await;
    expect_problem(app.accept(&twice_again).await, StatusCode::CONFLICT).await;
    // A new identity needs a password.
    let new = app.invite(&owner, "new@example.test", "member").await;
    let problem = expect_problem(
        app.post_anonymous("/auth/invitations/accept", json!({ "token": new }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "password");

    // Who may: members neither invite nor see invitations; admins never invite owners
    // nor touch an owner's invitation.
    let by_member = app
        .post(
            "/users",
            &member,
            json!({ "email": "x@example.test", "role": "member" }),
        )
        .await;
    expect_problem(by_member, StatusCode::FORBIDDEN).await;
    expect_problem(
        app.get("/invitations", &member).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let owner_by_admin = app
        .post(
            "/users",
            &admin,
            json!({ "email": "boss@example.test", "role": "owner" }),
        )
        .await;
    expect_problem(owner_by_admin, StatusCode::FORBIDDEN).await;
    app.invite(&owner, "co-owner@example.test", "owner").await;
    let co_owner = id("co-owner@example.test").await;
    for response in [
        app.post(
            &format!("/invitations/{co_owner}/resend"),
            &admin,
            json!({}),
        )
        .await,
        app.delete(&format!("/invitations/{co_owner}"), &admin)
            .await,
        app.delete(&format!("/invitations/{co_owner}"), &member)
            .await,
    ] {
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(
        status_of(&app, &owner, "co-owner@example.test").await,
        "pending"
    );

    // Another tenant's invitation is 404, as a random id is.
    for path in [co_owner.clone(), Uuid::new_v4().to_string()] {
        expect_problem(
            app.post(&format!("/invitations/{path}/resend"), &stranger, json!({}))
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.delete(&format!("/invitations/{path}"), &stranger).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert!(invitation_list(&app, &stranger).await.is_empty());
    assert_eq!(
        status_of(&app, &owner, "co-owner@example.test").await,
        "pending"
    );
}

/// The invitation list is keyset-paginated like every list.
#[tokio::test]
async fn the_invitation_list_is_keyset_paginated() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for n in 0..5 {
        app.invite(&owner, &format!("p{n}@example.test"), "member")
            .await;
    }
    let mut seen = Vec::new();
    let mut path = "/invitations?limit=2".to_owned();
    loop {
        let page = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|item| item["email"].as_str().expect("email").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/invitations?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("p{n}@example.test")).collect();
    assert_eq!(seen, expected, "every invitation once, oldest first");
}

/// The link of a message as the SMTP server received it (quoted-printable undone).
fn token_from_mail(body: &str) -> String {
    let unfolded = body.replace("=\n", "");
    let mut decoded = String::new();
    let mut rest = unfolded.as_str();
    while let Some(at) = rest.find('=') {
        decoded.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3).unwrap_or("");
        match u8::from_str_radix(hex, 16) {
            Ok(byte) if hex.len() == 2 => {
                decoded.push(char::from(byte));
                rest = &rest[at + 3..];
            }
            _ => {
                decoded.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    decoded.push_str(rest);
    token_in(&decoded)
}

/// End to end: the confirmation and the invitation arrive by SMTP (aiosmtpd), and
/// their links work.
#[tokio::test]
async fn signup_and_invitation_links_arrive_by_smtp_and_work() {
    let smtp = SmtpServer::start().await;
    let env = smtp.env();
    let app = spawn_app_with(|vars| vars.extend(env)).await;
    let email = "smtp-owner@example.test";
    let signup = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "By Mail", "email": email, "password": PASSWORD, "full_name": "Mailed" }),
        )
        .await;
    expect_json(signup, StatusCode::ACCEPTED).await;
    let mail = smtp.wait_for_message(email, Duration::from_secs(20)).await;
    assert_eq!(
        mail.header("Subject"),
        Some("Confirm your email to create your CRM account")
    );
    let token = token_from_mail(&mail.body);
    let confirmed = app
        .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
        .await;
    let owner = app
        .user_from_tokens(
            email.to_owned(),
            &expect_json(confirmed, StatusCode::CREATED).await,
        )
        .await;

    let invitee = "smtp-invitee@example.test";
    let invited = app
        .post(
            "/users",
            &owner,
            json!({ "email": invitee, "role": "admin" }),
        )
        .await;
    expect_json(invited, StatusCode::ACCEPTED).await;
    let mail = smtp
        .wait_for_message(invitee, Duration::from_secs(20))
        .await;
    assert_eq!(
        mail.header("Subject"),
        Some("You are invited to a CRM tenant")
    );
    let accepted = app.accept(&token_from_mail(&mail.body)).await;
    let admin = app
        .user_from_tokens(
            invitee.to_owned(),
            &expect_json(accepted, StatusCode::OK).await,
        )
        .await;
    assert_eq!(admin.tenant_id, owner.tenant_id);
    let me = expect_json(app.get("/auth/me", &admin).await, StatusCode::OK).await;
    assert_eq!(me["role"], "admin");
}
