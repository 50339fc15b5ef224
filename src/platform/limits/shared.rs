//! Limits shared by every instance through Redis: the same GCRA as governor, run
//! atomically in a Lua script, and fixed-window failure counters (INCR + PEXPIRE).
//!
//! If Redis stops answering, requests are let through (and the error logged): an
//! outage of the limiter must not become an outage of the API.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

use super::{Decision, LimitError, Policy};

/// Every bucket of one request in one round trip, all or nothing: KEYS[i] is a
/// bucket, ARGV[2i-1] its emission interval (ms) and ARGV[2i] its burst. If any bucket
/// refuses, none is charged. Returns {allowed, remaining, retry_after_ms, reset_ms}
/// per bucket, flattened.
const GCRA: &str = r"
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out, writes, refused = {}, {}, false
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or t)
  if tat < t then tat = t end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if allow_at > t then
    refused = true
    for _, v in ipairs({0, 0, allow_at - t, tat - t}) do table.insert(out, v) end
  else
    table.insert(writes, {key, new_tat})
    for _, v in ipairs({1, math.floor((t - allow_at) / interval), 0, new_tat - t}) do
      table.insert(out, v)
    end
  end
end
if not refused then
  for _, w in ipairs(writes) do redis.call('SET', w[1], w[2], 'PX', w[2] - t) end
end
return out
";

/// KEYS[1] counter; ARGV[1] window (ms). Returns the new count.
const FAIL: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
";

/// KEYS[1] counter. Returns {count, ms left}.
const PEEK: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or 0)
return {count, redis.call('PTTL', KEYS[1])}
";

pub struct Shared {
    redis: ConnectionManager,
    prefix: String,
    gcra: Script,
    fail: Script,
    peek: Script,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Shared {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, LimitError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let redis = redis::Client::open(url)?
            .get_connection_manager_with_config(config)
            .await?;
        Ok(Self {
            redis,
            prefix: prefix.to_owned(),
            gcra: Script::new(GCRA),
            fail: Script::new(FAIL),
            peek: Script::new(PEEK),
        })
    }

    fn key(&self, policy: Policy, key: &str) -> String {
        format!("{}:{}:{}", self.prefix, policy.name, key)
    }

    /// Charges every bucket or none (see [`GCRA`]).
    pub async fn acquire_all(&self, checks: &[(Policy, String)]) -> Vec<Decision> {
        let mut invocation = self.gcra.prepare_invoke();
        for (policy, key) in checks {
            invocation
                .key(self.key(*policy, key))
                .arg(millis(policy.window / policy.quota.max(1)))
                .arg(policy.quota);
        }
        let result: redis::RedisResult<Vec<u64>> =
            invocation.invoke_async(&mut self.redis.clone()).await;
        match result {
            Ok(values) if values.len() == checks.len() * 4 => checks
                .iter()
                .zip(values.chunks_exact(4))
                .map(|((policy, _), v)| Decision {
                    policy: *policy,
                    allowed: v[0] == 1,
                    remaining: u32::try_from(v[1]).unwrap_or(u32::MAX),
                    reset: Duration::from_millis(v[3]),
                    retry_after: Duration::from_millis(v[2]),
                })
                .collect(),
            other => {
                crate::platform::metrics::RATE_LIMIT_STORE_ERRORS.inc();
                if let Err(err) = other {
                    tracing::error!(error = %err, "rate limit store unavailable; allowing the request");
                }
                checks
                    .iter()
                    .map(|(policy, _)| Decision {
                        policy: *policy,
                        allowed: true,
                        remaining: policy.quota,
                        reset: Duration::ZERO,
                        retry_after: Duration::ZERO,
                    })
                    .collect()
            }
        }
    }

    /// Failures counted under `key` in the current window, and the time left in it.
    pub async fn failures(&self, policy: Policy, key: &str) -> Option<(u32, Duration)> {
        let result: redis::RedisResult<(u32, i64)> = self
            .peek
            .key(self.key(policy, key))
            .invoke_async(&mut self.redis.clone())
            .await;
        match result {
            Ok((count, left_ms)) => Some((
                count,
                Duration::from_millis(u64::try_from(left_ms).unwrap_or(1).max(1)),
            )),
            Err(err) => {
                crate::platform::metrics::RATE_LIMIT_STORE_ERRORS.inc();
                tracing::error!(error = %err, "rate limit store unavailable");
                None
            }
        }
    }

    pub async fn fail(&self, policy: Policy, key: &str) {
        let result: redis::RedisResult<u32> = self
            .fail
            .key(self.key(policy, key))
            .arg(millis(policy.window))
            .invoke_async(&mut self.redis.clone())
            .await;
        if let Err(err) = result {
            crate::platform::metrics::RATE_LIMIT_STORE_ERRORS.inc();
            tracing::error!(error = %err, "rate limit store unavailable");
        }
    }
}
