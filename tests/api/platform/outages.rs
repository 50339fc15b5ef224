//! The database failing under a running server: a connection lost mid-statement is a
//! 503 with `Retry-After` (never a 500) and the pool recovers by itself; a pool
//! saturated by requests held on a lock is busy, and `/ready` still says ready.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app_with};

async fn unavailable_count(app: &TestApp, cause: &str) -> u64 {
    let metrics = app.get_raw("/metrics").await.text().await.expect("metrics");
    let series = format!("crm_db_unavailable_total{{cause=\"{cause}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[tokio::test]
async fn a_connection_terminated_mid_statement_is_a_503_and_the_pool_recovers() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_STATEMENT_TIMEOUT_MS".into(), "25000".into()));
    })
    .await;
    let owner = app.sign_up("Outage").await;
    let contact = id_of(&app.create_contact(&owner, "Ada").await);
    let before = unavailable_count(&app, "shutting_down").await;

    let lock = app.owner_sql().await;
    lock.batch_execute("BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let held = {
        let app = app.other_instance(app.address.clone(), app.db.clone());
        let owner = owner.clone();
        let path = format!("/contacts/{contact}");
        tokio::spawn(async move { app.get(&path, &owner).await })
    };
    // What a restart or a failover does to a session: the server ends it (57P01).
    for pid in app.until_lock_waiters(1).await {
        app.owner_sql()
            .await
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
    }
    let response = held.await.expect("task");
    let retry_after = response.headers().get("retry-after").cloned();
    let problem = expect_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "/problems/unavailable");
    assert!(retry_after.is_some(), "503 says when to retry");
    assert_eq!(
        unavailable_count(&app, "shutting_down").await,
        before + 1,
        "counted by cause"
    );

    lock.batch_execute("COMMIT").await.expect("unlock");
    for _ in 0..8 {
        let read = app.get(&format!("/contacts/{contact}"), &owner).await;
        expect_json(read, StatusCode::OK).await;
    }
}

#[tokio::test]
async fn a_pool_saturated_behind_a_lock_is_busy_and_ready() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_POOL_SIZE".into(), "2".into()));
        vars.push(("CRM_TENANT_MAX_CONNECTIONS".into(), "2".into()));
        vars.push(("CRM_POOL_TIMEOUT_MS".into(), "20000".into()));
        vars.push(("CRM_STATEMENT_TIMEOUT_MS".into(), "25000".into()));
    })
    .await;
    let owner = app.sign_up("Busy").await;
    let contact = id_of(&app.create_contact(&owner, "Ada").await);
    let second = app.sign_up("Other").await;

    // Two lanes held on their tables fill the pool of 2; a third request waits for it.
    let lock = app.owner_sql().await;
    lock.batch_execute("BEGIN; LOCK TABLE contacts, companies IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let get = |user: &TestUser, path: String| {
        let app = app.other_instance(app.address.clone(), app.db.clone());
        let user = user.clone();
        tokio::spawn(async move { app.get(&path, &user).await.status() })
    };
    let mut held = vec![
        get(&owner, format!("/contacts/{contact}")),
        get(&owner, "/companies".to_owned()),
    ];
    app.until_lock_waiters(2).await;
    held.push(get(&second, "/deals".to_owned()));
    tokio::time::timeout(Duration::from_secs(10), async {
        while app.db.status().waiting == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a request waits for the pool");

    let ready = expect_json(app.get_raw("/ready").await, StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["pool"], "busy");

    lock.batch_execute("COMMIT").await.expect("unlock");
    for request in held {
        assert_eq!(request.await.expect("task"), StatusCode::OK);
    }
    let ready = expect_json(app.get_raw("/ready").await, StatusCode::OK).await;
    assert_eq!(ready["pool"], "available");
}
