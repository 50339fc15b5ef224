//! The server process killed and stopped under write load, on a cluster of the test's
//! own: SIGKILL (three times in a row) loses no acknowledged write and leaves no
//! transaction open; SIGTERM answers every request it accepted, and a write it
//! answered as failed never commits afterwards.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::load::{Load, Unanswered, check};
use crate::support::{
    cluster::{Cluster, Server},
    expect_json, lock_contact,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_write_load_loses_nothing_acknowledged() {
    let cluster = Cluster::start();
    let mut server = Server::start(&cluster, &[]).await;
    let token = server.sign_up(&cluster).await;
    let load = Load::start(&server, &token, 8);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.kill().await;
        server = server.restart().await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let outcomes = load.finish().await;
    let tally = check(&cluster, &outcomes, Unanswered::InDoubt).await;
    assert!(tally.created > 0 && tally.no_answer > 0, "{tally:?}");

    let sql = cluster.sql("crm").await;
    let open: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE usename = 'crm_app' AND state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0);
    assert_eq!(open, 0, "no transaction left open by a killed server");
    eprintln!("server killed three times: {tally:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_write_load_answers_every_request_it_accepted() {
    let cluster = Cluster::start();
    let mut server = Server::start(
        &cluster,
        &[
            ("CRM_SHUTDOWN_TIMEOUT_SECS", "3"),
            ("CRM_STATEMENT_TIMEOUT_MS", "120000"),
        ],
    )
    .await;
    let token = server.sign_up(&cluster).await;
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/api/v1/contacts"))
        .bearer_auth(&token)
        .json(&json!({ "first_name": "Held", "last_name": "Fault" }))
        .send()
        .await
        .expect("create");
    let held_id = expect_json(created, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Two updates held on a row lock past the grace period, and write load beside.
    let lock = cluster.sql("crm").await;
    lock_contact(&lock, &held_id).await;
    let held: Vec<_> = (0..2)
        .map(|n| {
            let http = http.clone();
            let url = server.url(&format!("/api/v1/contacts/{held_id}"));
            let token = token.clone();
            tokio::spawn(async move {
                http.patch(url)
                    .bearer_auth(token)
                    .json(&json!({ "first_name": format!("Late {n}") }))
                    .send()
                    .await
            })
        })
        .collect();
    let load = Load::start(&server, &token, 6);
    tokio::time::sleep(Duration::from_secs(1)).await;

    server.terminate();
    assert!(
        server.exited_cleanly(Duration::from_secs(10)).await,
        "the server exits 0 within the grace"
    );
    for update in held {
        let response = update
            .await
            .expect("task")
            .expect("the held update is answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let outcomes = load.finish().await;
    lock.batch_execute("COMMIT").await.expect("unlock");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let tally = check(&cluster, &outcomes, Unanswered::NotCommitted).await;
    assert!(tally.created > 0, "{tally:?}");
    let name: String = cluster
        .sql("crm")
        .await
        .query_one(
            "SELECT first_name FROM contacts WHERE id = $1::text::uuid",
            &[&held_id],
        )
        .await
        .expect("the held contact")
        .get(0);
    assert_eq!(
        name, "Held",
        "no update answered 503 committed after the exit"
    );
    eprintln!("server stopped under load: {tally:?}");
}
