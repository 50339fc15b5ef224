//! The noisy neighbour (issue 12): tenant A reads contacts by id, first alone, then
//! while tenant B runs the heaviest searches the API accepts from as many clients as
//! it likes. The goal: A's p99 under load stays under 3x its quiet p99.
//!
//! B's searches are the legal ones that cost most: terms that match no contact (every
//! row of B's is read to find none), of one short word and of the longest text
//! accepted, made of many words.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request};
use serde::{Deserialize, Serialize};

use crate::{
    Result,
    dataset::{Dataset, Kind, Rng},
    load::{Connection, Samples, Summary, Target, build, micros},
};

/// The quiet tenant (reads) and the noisy one (searches): the first two seeded.
const QUIET: u64 = 0;
const NOISY: u64 = 1;

/// What the scenario measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NeighbourSummary {
    pub quiet_conns: u64,
    pub noisy_conns: u64,
    /// A's GET by id with nobody else on the server.
    pub alone: Summary,
    /// A's GET by id while B searches.
    pub beside_noise: Summary,
    /// B's searches (refusals, 429 when over its share, count as errors).
    pub noise: Summary,
}

impl NeighbourSummary {
    /// A's p99 under load over its quiet p99.
    pub fn p99_ratio(&self) -> f64 {
        self.beside_noise.p99_ms / self.alone.p99_ms.max(f64::MIN_POSITIVE)
    }
}

/// The heaviest accepted searches: no match, one short word or 100 characters.
fn heavy_terms() -> [String; 3] {
    [
        "zqx".to_owned(),
        // 20 words, 100 characters once `+` is read as a space.
        "zqxj+".repeat(20),
        "9z9z9z9z9z".to_owned(),
    ]
}

/// Runs A alone for `warmup + duration`, then A beside B for as long.
pub async fn run(
    target: &Target,
    dataset: Arc<Dataset>,
    quiet_conns: u64,
    noisy_conns: u64,
    warmup: Duration,
    duration: Duration,
) -> Result<NeighbourSummary> {
    if dataset.tenants < 2 {
        return Err("the noisy-neighbour scenario needs two seeded tenants".into());
    }
    let alone = clients(target, &dataset, quiet_conns, warmup, duration, reads).await?;
    let noise = clients(target, &dataset, noisy_conns, warmup, duration, searches);
    let beside = clients(target, &dataset, quiet_conns, warmup, duration, reads);
    let (noise, beside_noise) = tokio::try_join!(noise, beside)?;
    Ok(NeighbourSummary {
        quiet_conns,
        noisy_conns,
        alone,
        beside_noise,
        noise,
    })
}

/// Tenant A's next GET by id.
fn reads(dataset: &Dataset, rng: &mut Rng) -> Request<Full<Bytes>> {
    let row = rng.below(dataset.contacts_per_tenant);
    let id = Kind::Contact.id(QUIET * dataset.contacts_per_tenant + row);
    build(
        Method::GET,
        &format!("/api/v1/contacts/{id}"),
        &dataset.tokens[QUIET as usize],
        None,
    )
}

/// Tenant B's next heavy search.
fn searches(dataset: &Dataset, rng: &mut Rng) -> Request<Full<Bytes>> {
    let terms = heavy_terms();
    let term = &terms[rng.below(terms.len() as u64) as usize];
    build(
        Method::GET,
        &format!("/api/v1/contacts?limit=50&q={term}"),
        &dataset.tokens[NOISY as usize],
        None,
    )
}

/// `conns` closed-loop clients sending `next` requests for `warmup + duration`;
/// only `duration` is measured.
async fn clients(
    target: &Target,
    dataset: &Arc<Dataset>,
    conns: u64,
    warmup: Duration,
    duration: Duration,
    next: fn(&Dataset, &mut Rng) -> Request<Full<Bytes>>,
) -> Result<Summary> {
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for index in 0..conns {
        let (target, dataset) = (target.clone(), Arc::clone(dataset));
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut rng = Rng::new(0x5eed ^ (index << 20));
            let mut conn = match Connection::open(&target).await {
                Ok(conn) => conn,
                Err(err) => {
                    samples.error(format!("connect: {err}"));
                    return samples;
                }
            };
            while Instant::now() < end {
                let sent = Instant::now();
                let result = conn.send(next(&dataset, &mut rng)).await;
                let done = Instant::now();
                if sent >= measure_from && done <= end {
                    match result {
                        Ok(()) => samples.micros.push(micros(done - sent)),
                        Err(err) => samples.error(err),
                    }
                }
                if conn.is_closed() {
                    match Connection::open(&target).await {
                        Ok(fresh) => conn = fresh,
                        Err(err) => {
                            samples.error(format!("reconnect: {err}"));
                            return samples;
                        }
                    }
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await?);
    }
    Ok(all.summary(duration))
}
