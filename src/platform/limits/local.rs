//! In-memory limits: governor's keyed GCRA buckets, and fixed-window failure counters.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

use super::{Decision, Policy};

type Bucket =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Forget idle keys after this many checks, so memory follows the active clients.
const PRUNE_EVERY: u64 = 10_000;

#[derive(Default)]
pub struct Local {
    buckets: Mutex<HashMap<Policy, std::sync::Arc<Bucket>>>,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
    checks: AtomicU64,
}

impl Local {
    fn bucket(&self, policy: Policy) -> std::sync::Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry(policy)
            .or_insert_with(|| {
                let burst = NonZeroU32::new(policy.quota).unwrap_or(NonZeroU32::MIN);
                let period = (policy.window / burst.get()).max(Duration::from_nanos(1));
                let quota = Quota::with_period(period)
                    .unwrap_or_else(|| Quota::per_second(burst))
                    .allow_burst(burst);
                std::sync::Arc::new(
                    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    pub fn acquire(&self, policy: Policy, key: &str) -> Decision {
        let bucket = self.bucket(policy);
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
        let interval = policy.window / policy.quota.max(1);
        match bucket.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    policy,
                    allowed: true,
                    remaining,
                    reset: interval * (policy.quota - remaining.min(policy.quota)),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                Decision {
                    policy,
                    allowed: false,
                    remaining: 0,
                    reset: interval * policy.quota,
                    retry_after,
                }
            }
        }
    }

    /// Failures counted under `key` in the current window, and the time left in it.
    pub fn failures(&self, policy: Policy, key: &str) -> Option<(u32, Duration)> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (started, count) = failures.get(key)?;
        let left = policy.window.checked_sub(started.elapsed())?;
        Some((*count, left))
    }

    pub fn fail(&self, policy: Policy, key: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() > 100_000 {
            failures.retain(|_, (started, _)| started.elapsed() < policy.window);
        }
        let entry = failures
            .entry(key.to_owned())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= policy.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}
