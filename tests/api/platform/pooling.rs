//! Pooled connections never carry a tenant or an open transaction into the next
//! checkout, including when a request is cancelled mid-transaction.

use std::time::Duration;

use crm::modules::crm::MODULE;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, TestUser, expect_json, spawn_app_with};

async fn small_pool(size: &str) -> TestApp {
    let size = size.to_owned();
    spawn_app_with(|vars| {
        vars.push(("CRM_POOL_SIZE".into(), size));
        // What connections carry, not fair share: a tenant's requests over its share
        // queue as long as for the pool instead of answering 429.
        vars.push(("CRM_TENANT_QUEUE_MS".into(), "5000".into()));
    })
    .await
}

/// What the pool's connections carry: whether any sits inside a transaction while
/// nothing is checked out, and whether the tenant door found a tenant left on the
/// connection it checked out next (its first flight refuses such a connection).
async fn pooled_state(app: &TestApp, user: &TestUser) -> (bool, bool) {
    let in_transaction = idle_in_transaction(app).await > 0;
    let mut tx = app
        .db
        .tx(app.context_of(user), &MODULE)
        .await
        .expect("checkout");
    let leaked = tx.query("SELECT 1", &[]).await.is_err();
    (leaked, in_transaction)
}

async fn idle_in_transaction(app: &TestApp) -> i64 {
    app.owner_sql()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND usename = 'crm_app' AND state LIKE 'idle in transaction%'",
            &[&app.database],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

#[tokio::test]
async fn a_dropped_or_cancelled_transaction_is_rolled_back_before_reuse() {
    let app = small_pool("1").await;
    let owner = app.sign_up("Acme").await;
    let context = app.context_of(&owner);

    let mut tx = app.db.tx(context, &MODULE).await.expect("begin");
    tx.query(
        "INSERT INTO contacts (id, first_name, last_name) VALUES ($1, 'Ghost', 'Row')",
        &[&Uuid::now_v7()],
    )
    .await
    .expect("insert");
    drop(tx);

    let cancelled = tokio::time::timeout(Duration::from_millis(100), async {
        let mut tx = app.db.tx(context, &MODULE).await.expect("begin");
        tx.query("SELECT pg_sleep(1)", &[]).await
    })
    .await;
    assert!(
        cancelled.is_err(),
        "the slow statement was cancelled by the timeout"
    );

    let (leaked, in_transaction) = pooled_state(&app, &owner).await;
    assert!(!leaked, "no tenant carried over");
    assert!(!in_transaction, "no transaction carried over");
    let list = expect_json(app.get("/contacts", &owner).await, StatusCode::OK).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "the dropped insert was rolled back"
    );
}

#[tokio::test]
async fn requests_cancelled_at_random_points_leave_no_open_transaction() {
    let app = small_pool("2").await;
    let owner = app.sign_up("Acme").await;
    let impatient = reqwest::Client::builder().build().expect("client");
    let mut requests = Vec::new();
    for i in 0..60u64 {
        let request = impatient
            .post(app.url("/api/v1/contacts"))
            .bearer_auth(&owner.token)
            .json(&json!({ "first_name": format!("N{i}"), "last_name": "Cancel" }))
            .timeout(Duration::from_micros(200 + (i * 997) % 8000));
        requests.push(tokio::spawn(request.send()));
    }
    for request in requests {
        let _ = request.await;
    }
    let mut open = idle_in_transaction(&app).await;
    for _ in 0..50 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = idle_in_transaction(&app).await;
    }
    assert_eq!(
        open, 0,
        "no connection of the app role is idle in transaction"
    );
    let list = expect_json(app.get("/contacts?limit=200", &owner).await, StatusCode::OK).await;
    assert!(
        list["items"]
            .as_array()
            .is_some_and(|items| items.len() <= 60)
    );
}

#[tokio::test]
async fn many_tenants_on_a_tiny_pool_only_ever_see_their_own_rows() {
    let app = small_pool("2").await;
    let mut tenants = Vec::new();
    for i in 0..6 {
        tenants.push(app.sign_up(&format!("T{i}")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for user in tenants.clone() {
        for round in 0..4 {
            let (app, user) = (app.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..5 {
                    let created = app
                        .create_contact(&user, &format!("{}-{round}-{i}", user.tenant_id))
                        .await;
                    assert!(
                        created["first_name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with(&user.tenant_id.to_string()))
                    );
                    let list =
                        expect_json(app.get("/contacts?limit=200", &user).await, StatusCode::OK)
                            .await;
                    for item in list["items"].as_array().expect("items") {
                        let name = item["first_name"].as_str().expect("name");
                        assert!(
                            name.starts_with(&user.tenant_id.to_string()),
                            "{} saw {name}",
                            user.tenant_id
                        );
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("task");
    }
    let (leaked, in_transaction) = pooled_state(&app, &tenants[0]).await;
    assert_eq!((leaked, in_transaction), (false, false));
}
