//! PostgreSQL restarted and stopped under write load, on a cluster of the test's own:
//! while it is down every request is answered 503 with `Retry-After` and `/ready`
//! says the database is unreachable; nothing acknowledged is lost; the server
//! recovers by itself.

use std::time::Duration;

use reqwest::StatusCode;

use super::load::{Load, Unanswered, check};
use crate::support::{
    cluster::{Cluster, Server, StopMode},
    expect_json,
};

/// Runs `pg_ctl` off the runtime's threads, so the writers keep writing meanwhile.
async fn blocking(work: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(work).await.expect("pg_ctl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_and_a_stop_under_write_load_lose_nothing_and_answer_503() {
    let cluster = std::sync::Arc::new(Cluster::start());
    let server = Server::start(&cluster, &[("CRM_POOL_TIMEOUT_MS", "1000")]).await;
    let token = server.sign_up(&cluster).await;
    let load = Load::start(&server, &token, 8);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarting = cluster.clone();
    blocking(move || restarting.restart(StopMode::Fast)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stopping = cluster.clone();
    blocking(move || stopping.stop(StopMode::Immediate)).await;
    let http = reqwest::Client::new();
    let ready = http.get(server.url("/ready")).send().await.expect("ready");
    let ready = expect_json(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(ready["status"], "database unreachable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starting = cluster.clone();
    blocking(move || starting.start_again()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let outcomes = load.finish().await;
    let tally = check(&cluster, &outcomes, Unanswered::Never).await;
    assert!(tally.unavailable > 0, "the outage was seen: {tally:?}");
    let after_outage = outcomes
        .iter()
        .rev()
        .take(8)
        .filter(|outcome| matches!(outcome, super::load::Outcome::Created(_)))
        .count();
    assert!(after_outage > 0, "writes succeed again without a restart");
    let ready = http.get(server.url("/ready")).send().await.expect("ready");
    expect_json(ready, StatusCode::OK).await;

    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("crm_db_unavailable_total{cause=\"cannot_connect\"}"),
        "outages are counted by cause"
    );
    eprintln!("database restart and stop: {tally:?}");
}
