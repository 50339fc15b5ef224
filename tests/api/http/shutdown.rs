//! Graceful shutdown: requests in flight when the signal comes complete; new
//! connections are refused; the pool is closed at the end.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{build_app_with, connect, expect_json, run_until_signalled};

/// Polls `check` (bounded, so a broken server fails the test instead of hanging it).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    let (server, app) = build_app_with(|vars| {
        vars.push(("CRM_STATEMENT_TIMEOUT_MS".into(), "20000".into()));
    })
    .await;
    let (stop, running) = run_until_signalled(server);
    let owner = app.sign_up("Shutdown").await;
    app.create_contact(&owner, "Ada").await;

    // Hold every reader of contacts behind a lock, so the requests are surely in
    // flight when the signal arrives.
    let admin = connect(&app.database, "postgres", "").await;
    admin
        .batch_execute("BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let http = reqwest::Client::new();
            let url = app.url("/api/v1/contacts");
            let token = owner.token.clone();
            tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
        })
        .collect();
    eventually("three requests are in flight", || async {
        let metrics = app.get_raw("/metrics").await.text().await.expect("metrics");
        // The three held requests and this scrape.
        metrics.contains("crm_http_requests_in_flight 4")
    })
    .await;

    stop.send(()).expect("signal");
    let address = app.address.trim_start_matches("http://").to_owned();
    eventually("the listener is closed", || {
        let address = address.clone();
        async move { tokio::net::TcpStream::connect(address).await.is_err() }
    })
    .await;

    admin.batch_execute("COMMIT").await.expect("unlock");
    for request in requests {
        let response = request
            .await
            .expect("task")
            .expect("in-flight request completed");
        let list = expect_json(response, StatusCode::OK).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    }
    running
        .await
        .expect("task")
        .expect("server stopped cleanly");
    assert!(app.db.is_closed(), "the pool is closed after shutdown");
}
