//! Fair share between tenants, as the noisy neighbour attacks it over HTTP: one
//! tenant holding more than its share of the pool, and searches no index can serve.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    TestApp, TestUser, expect_json, expect_problem, id_of, lock_contact, spawn_app_with,
};

/// A pool of 4 (the test default): 2 connections per tenant, 1 per tenant and lane. A short pool wait, so
/// the old behaviour (everyone queues on the pool) shows as a 503 quickly; a long
/// statement timeout, so the requests held on a row lock outlive the test's checks.
fn small_pool(vars: &mut Vec<(String, String)>) {
    vars.push(("CRM_POOL_TIMEOUT_MS".into(), "1000".into()));
    vars.push(("CRM_STATEMENT_TIMEOUT_MS".into(), "25000".into()));
}

#[tokio::test]
async fn a_tenant_holding_its_whole_share_gets_429_while_another_tenant_is_served() {
    let app = spawn_app_with(small_pool).await;
    let noisy = app.sign_up("Noisy").await;
    let quiet = app.sign_up("Quiet").await;
    let quiet_contact = id_of(&app.create_contact(&quiet, "Quinn").await);
    let contact = id_of(&app.create_contact(&noisy, "Held").await);
    let company = id_of(
        &app.create("/companies", &noisy, json!({ "name": "Held" }))
            .await,
    );

    // Noisy's updates of two rows (two lanes) queue on their locks, each holding a
    // pooled connection: its whole share.
    let owner = app.owner_sql().await;
    lock_contact(&owner, &contact).await;
    owner
        .execute(
            "SELECT 1 FROM companies WHERE id = $1::text::uuid FOR UPDATE",
            &[&company],
        )
        .await
        .expect("lock the company");
    let held: Vec<_> = [
        (
            format!("/contacts/{contact}"),
            json!({ "first_name": "Update" }),
        ),
        (format!("/companies/{company}"), json!({ "name": "Update" })),
    ]
    .into_iter()
    .map(|(path, body)| {
        let app = app.other_instance(app.address.clone(), app.db.clone());
        let noisy = noisy.clone();
        tokio::spawn(async move { app.patch(&path, &noisy, body).await.status() })
    })
    .collect();
    app.until_lock_waiters(2).await;

    // The quiet tenant is still served from the rest of the pool.
    let read = app.get(&format!("/contacts/{quiet_contact}"), &quiet).await;
    expect_json(read, StatusCode::OK).await;

    // The noisy tenant is told to slow down, with a time to come back.
    let refused = app.get("/deals", &noisy).await;
    let retry_after = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let problem = expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(retry_after.as_deref(), Some("1"), "{problem}");

    owner
        .batch_execute("ROLLBACK")
        .await
        .expect("release the rows");
    for task in held {
        assert_eq!(task.await.expect("the update task"), StatusCode::OK);
    }
}

/// A pool of 4 and one tenant allowed all of it, as the review ran it: a table lock
/// holds every request on contacts, which must not take the connections deals need.
#[tokio::test]
async fn requests_held_up_on_one_table_leave_connections_for_the_others() {
    let app = spawn_app_with(|vars| {
        small_pool(vars);
        vars.push(("CRM_TENANT_MAX_CONNECTIONS".into(), "4".into()));
    })
    .await;
    let busy = app.sign_up("Busy").await;
    let other = app.sign_up("Other").await;
    let contact = id_of(&app.create_contact(&busy, "Ada").await);

    let owner = app.owner_sql().await;
    owner
        .batch_execute("BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let held: Vec<_> = [&busy, &busy, &busy, &busy, &busy, &other]
        .into_iter()
        .map(|user| {
            let app = app.other_instance(app.address.clone(), app.db.clone());
            let user = user.clone();
            let path = format!("/contacts/{contact}");
            tokio::spawn(async move { app.get(&path, &user).await.status() })
        })
        .collect();
    app.until_lock_waiters(3).await;

    for user in [&busy, &other] {
        let deals = app.get("/deals", user).await;
        expect_json(deals, StatusCode::OK).await;
    }

    owner
        .batch_execute("COMMIT")
        .await
        .expect("release the table");
    for task in held {
        let status = task.await.expect("the read task");
        assert!(
            [
                StatusCode::OK,
                StatusCode::NOT_FOUND,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&status),
            "served, or refused with a time to come back: {status}"
        );
    }
}

/// Every list with a text search, and a row it can find.
async fn searchable_lists(app: &TestApp, user: &TestUser) -> Vec<&'static str> {
    app.create_contact(user, "Searchable").await;
    for (path, body) in [
        ("/companies", json!({ "name": "Searchable Ltd" })),
        (
            "/deals",
            json!({ "title": "Searchable deal", "amount_minor": 100, "currency": "EUR" }),
        ),
    ] {
        app.create(path, user, body).await;
    }
    vec!["/contacts", "/companies", "/deals", "/properties"]
}

#[tokio::test]
async fn searches_no_index_can_serve_are_refused_naming_the_rule() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.sign_up("Searcher").await;
    let too_long = "abc".repeat(34);
    for path in searchable_lists(&app, &user).await {
        for q in ["%25%25%25%25", "ab", "a%20b%20c", "__", too_long.as_str()] {
            let response = app.get(&format!("{path}?q={q}"), &user).await;
            let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(
                problem["errors"][0]["field"], "q",
                "{path}?q={q}: {problem}"
            );
        }
        let found = app.get(&format!("{path}?q=searchable"), &user).await;
        let page = expect_json(found, StatusCode::OK).await;
        if path != "/properties" {
            assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{path}");
        }
    }
}

#[tokio::test]
async fn wildcards_in_a_search_match_only_themselves() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.sign_up("Literal").await;
    for name in ["Off100%", "Off1000", "snake_case", "snakeXcase"] {
        app.create_contact(&user, name).await;
    }
    for (q, expected) in [("100%25", "Off100%"), ("snake_case", "snake_case")] {
        let page = expect_json(
            app.get(&format!("/contacts?q={q}"), &user).await,
            StatusCode::OK,
        )
        .await;
        let names: Vec<&str> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["first_name"].as_str())
            .collect();
        assert_eq!(names, [expected], "q={q}");
    }
}

/// Searches read the tenant's rows (under RLS no index serves the pattern: `textlike`
/// is not LEAKPROOF), so a tenant runs at most its search budget of them at once, a
/// slice of its share of the pool; its other requests keep the rest of that share.
#[tokio::test]
async fn a_tenants_searches_are_held_to_its_search_budget() {
    let app = spawn_app_with(|vars| {
        small_pool(vars);
        vars.push(("CRM_TENANT_MAX_SEARCHES".into(), "1".into()));
    })
    .await;
    let noisy = app.sign_up("Noisy").await;
    let contact = id_of(&app.create_contact(&noisy, "Nora").await);
    app.create("/companies", &noisy, json!({ "name": "Searchable Ltd" }))
        .await;

    // A table lock holds the tenant's first company search inside the database.
    let owner = app.owner_sql().await;
    owner
        .batch_execute("BEGIN; LOCK TABLE companies IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let first = {
        let app = app.other_instance(app.address.clone(), app.db.clone());
        let noisy = noisy.clone();
        tokio::spawn(async move { app.get("/companies?q=searchable", &noisy).await.status() })
    };
    app.until_lock_waiters(1).await;

    let second = tokio::time::timeout(
        Duration::from_secs(20),
        app.get("/companies?q=searchable", &noisy),
    )
    .await
    .expect("a second search is answered, not queued behind the first");
    assert!(second.headers().contains_key("retry-after"));
    expect_problem(second, StatusCode::TOO_MANY_REQUESTS).await;
    let read = app.get(&format!("/contacts/{contact}"), &noisy).await;
    expect_json(read, StatusCode::OK).await;

    owner
        .batch_execute("COMMIT")
        .await
        .expect("release the lock");
    assert_eq!(first.await.expect("the first search"), StatusCode::OK);
}
