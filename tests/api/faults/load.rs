//! Write load for the fault tests: writers creating contacts with unique names as fast
//! as the server answers, each on its own keep-alive connection, recording every
//! answer; and the checks every fault test makes of what they recorded.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::support::cluster::{Cluster, Server};

/// What one request got.
#[derive(Debug)]
pub enum Outcome {
    /// 201: the contact of this name was acknowledged.
    Created(String),
    /// 503 with `Retry-After`.
    Unavailable,
    /// Any other answer: always a failure of the test.
    Other(StatusCode, String),
    /// No answer. `name` is checked not to have committed.
    NoAnswer { name: String, connect: bool },
}

pub struct Load {
    stop: Arc<AtomicBool>,
    writers: JoinSet<Vec<Outcome>>,
}

impl Load {
    pub fn start(server: &Server, token: &str, writers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = JoinSet::new();
        for writer in 0..writers {
            let (stop, token) = (stop.clone(), token.to_owned());
            let url = server.url("/api/v1/contacts");
            set.spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("client");
                let mut outcomes = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("w{writer}-{n}");
                    let sent = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "first_name": name, "last_name": "Fault" }))
                        .send()
                        .await;
                    let outcome = match sent {
                        Ok(response) => answer(response, name).await,
                        Err(err) => {
                            let connect = err.is_connect();
                            // A dead or restarting server: do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Outcome::NoAnswer { name, connect }
                        }
                    };
                    if matches!(outcome, Outcome::Unavailable) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    outcomes.push(outcome);
                }
                outcomes
            });
        }
        Self { stop, writers: set }
    }

    pub async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        let mut outcomes = Vec::new();
        for writer in self.writers.join_all().await {
            outcomes.extend(writer);
        }
        outcomes
    }
}

async fn answer(response: reqwest::Response, name: String) -> Outcome {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    match status {
        StatusCode::CREATED => Outcome::Created(name),
        StatusCode::SERVICE_UNAVAILABLE if retry_after => Outcome::Unavailable,
        _ => Outcome::Other(status, response.text().await.unwrap_or_default()),
    }
}

/// What the writers saw, counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub created: usize,
    pub unavailable: usize,
    pub no_answer: usize,
}

/// What a fault allows of requests that got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The server kept running: every request gets an answer.
    Never,
    /// The server stopped: a request it did not answer (never read, or refused) must
    /// not have committed.
    NotCommitted,
    /// The server was killed: what it was doing is in doubt, as for any client.
    InDoubt,
}

/// The invariants of every fault: no answer but 201 and 503 (with `Retry-After`);
/// every acknowledged contact is in the database; requests without an answer as
/// `unanswered` allows. Answers the counts.
pub async fn check(cluster: &Cluster, outcomes: &[Outcome], unanswered: Unanswered) -> Tally {
    let stored: HashSet<String> = cluster
        .sql("crm")
        .await
        .query("SELECT first_name FROM contacts", &[])
        .await
        .expect("read the contacts")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut tally = Tally::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Created(name) => {
                assert!(stored.contains(name), "acknowledged {name} was lost");
                tally.created += 1;
            }
            Outcome::Unavailable => tally.unavailable += 1,
            Outcome::Other(status, body) => panic!("answered {status}: {body}"),
            Outcome::NoAnswer { name, connect } => {
                assert_ne!(unanswered, Unanswered::Never, "{name} got no answer");
                assert!(
                    unanswered == Unanswered::InDoubt || !stored.contains(name),
                    "{name} committed but its request got no answer (connect error: {connect})"
                );
                tally.no_answer += 1;
            }
        }
    }
    tally
}
