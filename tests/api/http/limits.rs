//! Rate limits (in memory and shared through Redis), the body cap, the deadline.

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::json;
use uuid::Uuid;

use crate::support::{
    PASSWORD, TestApp, expect_json, expect_problem, spawn_app_with, start_server,
};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{name} header missing: {headers:?}"))
}

/// Tight per-user limits; everything else generous.
fn tight_user_limit(quota: &'static str) -> impl FnOnce(&mut Vec<(String, String)>) {
    move |vars| {
        vars.push(("CRM_RATE_LIMIT_USER".into(), quota.into()));
        vars.push(("CRM_RATE_LIMIT_WINDOW_SECS".into(), "3600".into()));
    }
}

#[tokio::test]
async fn each_user_has_a_bucket_and_every_response_says_how_full_it_is() {
    let app = spawn_app_with(tight_user_limit("3")).await;
    let alice = app.sign_up("Limited").await; // `/auth/me` takes one request
    let first = app.get("/contacts", &alice).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        header(first.headers(), "ratelimit-policy"),
        "\"user\";q=3;w=3600, \"tenant\";q=6000;w=3600"
    );
    assert!(header(first.headers(), "ratelimit").starts_with("\"user\";r=1;t="));
    expect_json(app.get("/contacts", &alice).await, StatusCode::OK).await;

    let refused = app.get("/contacts", &alice).await;
    let headers = refused.headers().clone();
    let retry_after: u64 = header(&headers, "retry-after").parse().expect("seconds");
    assert!((1..=1200).contains(&retry_after), "{retry_after}");
    assert!(header(&headers, "ratelimit").starts_with("\"user\";r=0;"));
    let problem = expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "/problems/too-many-requests");

    // Another user has a bucket of their own.
    let bob = app.sign_up("Other tenant").await;
    expect_json(app.get("/contacts", &bob).await, StatusCode::OK).await;

    let metrics = app.get_raw("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("crm_rate_limited_total{policy=\"user\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_client_ip() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_RATE_LIMIT_IP".into(), "2".into()));
        vars.push(("CRM_RATE_LIMIT_WINDOW_SECS".into(), "3600".into()));
    })
    .await;
    let refresh = || app.post_anonymous("/auth/refresh", json!({ "refresh_token": "nope" }));
    expect_problem(refresh().await, StatusCode::UNAUTHORIZED).await;
    let second = refresh().await;
    assert!(header(second.headers(), "ratelimit").starts_with("\"ip\";r=0;"));
    expect_problem(second, StatusCode::UNAUTHORIZED).await;
    let signup = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "X", "email": "x@example.test", "password": PASSWORD, "full_name": "X" }),
        )
        .await;
    assert!(signup.headers().contains_key("retry-after"));
    expect_problem(signup, StatusCode::TOO_MANY_REQUESTS).await;
}

/// Finding 8: signup is throttled per address too (each new tenant would bring its own
/// quota): at most five signup messages an hour reach one mailbox, whoever asks, and
/// the answer stays the same (it says nothing about the address).
#[tokio::test]
async fn signup_mail_is_throttled_per_address() {
    let app = spawn_app_with(|vars| vars.push(("CRM_RATE_LIMIT_IP".into(), "100".into()))).await;
    let email = "flooded@example.test";
    let mut answers = Vec::new();
    for _ in 0..8 {
        let response = app
            .post_anonymous(
                "/auth/signup",
                json!({ "tenant_name": "X", "email": email, "password": PASSWORD, "full_name": "X" }),
            )
            .await;
        answers.push((response.status(), response.text().await.expect("body")));
    }
    assert!(
        answers.iter().all(|answer| answer == &answers[0]),
        "{answers:?}"
    );
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    let queued: i64 = app
        .owner_sql()
        .await
        .query_one(
            "SELECT count(*) FROM system_mail_outbox WHERE recipient = $1",
            &[&email],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(queued, 5, "at most five an hour to one address");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_per_ip_and_per_email() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_RATE_LIMIT_LOGIN_FAILURES".into(), "3".into()));
        vars.push(("CRM_RATE_LIMIT_WINDOW_SECS".into(), "3600".into()));
    })
    .await;
    let owner = app.sign_up("Brute").await;
    let login = |email: String, password: &'static str| {
        app.post_anonymous(
            "/auth/login",
            json!({ "email": email, "password": password }),
        )
    };
    for _ in 0..3 {
        expect_problem(
            login(owner.email.clone(), "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Even the right password is refused now, without being checked.
    let blocked = login(owner.email.clone(), PASSWORD).await;
    assert!(blocked.headers().contains_key("retry-after"));
    expect_problem(blocked, StatusCode::TOO_MANY_REQUESTS).await;
    // The IP is blocked for other emails too.
    expect_problem(
        login("someone-else@example.test".into(), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    let metrics = app.get_raw("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("crm_login_failures_total 3"), "{metrics}");
    assert!(
        metrics.contains("crm_rate_limited_total{policy=\"login\"} 2"),
        "{metrics}"
    );
}

/// Two instances on one database, sharing limits through Redis, as behind a load
/// balancer. The key prefix is unique to this test.
#[tokio::test]
async fn two_instances_share_one_limit_through_redis() {
    let prefix = format!("crm-test-{}", Uuid::new_v4().simple());
    let vars = |vars: &mut Vec<(String, String)>| {
        vars.push(("CRM_REDIS_URL".into(), "redis://127.0.0.1:6379".into()));
        vars.push(("CRM_RATE_LIMIT_PREFIX".into(), prefix.clone()));
        vars.push(("CRM_RATE_LIMIT_USER".into(), "5".into()));
        vars.push(("CRM_RATE_LIMIT_LOGIN_FAILURES".into(), "2".into()));
        vars.push(("CRM_RATE_LIMIT_WINDOW_SECS".into(), "3600".into()));
    };
    let a = spawn_app_with(vars).await;
    let (address, pool) = start_server(&a.database, vars).await;
    let b: TestApp = a.other_instance(address, pool);

    let user = a.sign_up("Shared").await; // `/auth/me` on A: 1 of 5
    let mut remaining = vec![];
    for app in [&a, &b, &a, &b] {
        let response = app.get("/contacts", &user).await;
        assert_eq!(response.status(), StatusCode::OK);
        remaining.push(
            header(response.headers(), "ratelimit")
                .split(';')
                .nth(1)
                .map(str::to_owned),
        );
    }
    let remaining: Vec<String> = remaining.into_iter().flatten().collect();
    assert_eq!(remaining, ["r=3", "r=2", "r=1", "r=0"]);
    expect_problem(
        b.get("/contacts", &user).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    expect_problem(
        a.get("/contacts", &user).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    // Failed logins counted on A block the email on B.
    for _ in 0..2 {
        let wrong = a
            .post_anonymous(
                "/auth/login",
                json!({ "email": user.email, "password": "wrong password!" }),
            )
            .await;
        expect_problem(wrong, StatusCode::UNAUTHORIZED).await;
    }
    let blocked = b
        .post_anonymous(
            "/auth/login",
            json!({ "email": user.email, "password": PASSWORD }),
        )
        .await;
    expect_problem(blocked, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn a_wrong_redis_url_stops_start_up() {
    let database = crate::support::fresh_database().await;
    let config = crate::support::test_config(&database.name, |vars| {
        vars.push(("CRM_REDIS_URL".into(), "redis://127.0.0.1:1".into()));
    });
    let err = crm::Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("CRM_REDIS_URL"), "{err}");
}

#[tokio::test]
async fn oversized_bodies_get_413_and_slow_requests_503() {
    let app = spawn_app_with(|vars| vars.push(("CRM_MAX_BODY_BYTES".into(), "256".into()))).await;
    let owner = app.sign_up("Sizes").await;
    let huge = app
        .post(
            "/contacts",
            &owner,
            json!({ "first_name": "x".repeat(300), "last_name": "y" }),
        )
        .await;
    let problem = expect_problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(problem["type"], "/problems/payload-too-large");
    app.create_contact(&owner, "Small").await;

    // No login finishes in a millisecond: argon2 alone takes longer.
    let slow =
        spawn_app_with(|vars| vars.push(("CRM_REQUEST_TIMEOUT_MS".into(), "1".into()))).await;
    let login = slow
        .post_anonymous(
            "/auth/login",
            json!({ "email": "a@example.test", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        login.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    expect_problem(login, StatusCode::SERVICE_UNAVAILABLE).await;
}

/// Finding 4: failed logins for an email from one network must not lock its owner out
/// of another. The attacker's address is blocked; the owner's login is only delayed.
#[tokio::test]
async fn an_attacker_hammering_an_email_cannot_lock_its_owner_out() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_RATE_LIMIT_LOGIN_FAILURES".into(), "3".into()));
        vars.push(("CRM_RATE_LIMIT_WINDOW_SECS".into(), "3600".into()));
        vars.push(("CRM_TRUSTED_PROXY_HOPS".into(), "1".into()));
    })
    .await;
    let victim = app.sign_up("Victim").await;
    let login_from = |ip: &'static str, password: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": victim.email, "password": password }))
            .send()
    };
    for _ in 0..4 {
        let attempt = login_from("203.0.113.7", "wrong password!")
            .await
            .expect("login");
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&attempt.status()),
            "{}",
            attempt.status()
        );
    }
    let attacker = login_from("203.0.113.7", PASSWORD).await.expect("login");
    expect_problem(attacker, StatusCode::TOO_MANY_REQUESTS).await;
    let owner = login_from("198.51.100.20", PASSWORD).await.expect("login");
    expect_json(owner, StatusCode::OK).await;
}
