//! Limits shared by every instance through Redis: the same GCRA as governor, run
//! atomically in a Lua script, and fixed-window failure counters (INCR + PEXPIRE).
//!
//! If Redis stops answering, requests are let through (and the error logged): an
//! outage of the limiter must not become an outage of the API.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

use super::{Decision, LimitError, Policy};

/// KEYS[1] bucket; ARGV[1] emission interval (ms), ARGV[2] burst.
/// Returns {allowed, remaining, retry_after_ms, reset_ms}.
const GCRA: &str = r"
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or t)
if tat < t then tat = t end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > t then
  return {0, 0, allow_at - t, tat - t}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - t)
return {1, math.floor((t - allow_at) / interval), 0, new_tat - t}
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

    pub async fn acquire(&self, policy: Policy, key: &str) -> Decision {
        let interval = millis(policy.window / policy.quota.max(1));
        let result: redis::RedisResult<(u8, u32, u64, u64)> = self
            .gcra
            .key(self.key(policy, key))
            .arg(interval)
            .arg(policy.quota)
            .invoke_async(&mut self.redis.clone())
            .await;
        match result {
            Ok((allowed, remaining, retry_ms, reset_ms)) => Decision {
                policy,
                allowed: allowed == 1,
                remaining,
                reset: Duration::from_millis(reset_ms),
                retry_after: Duration::from_millis(retry_ms),
            },
            Err(err) => {
                tracing::error!(error = %err, "rate limit store unavailable; allowing the request");
                Decision {
                    policy,
                    allowed: true,
                    remaining: policy.quota,
                    reset: Duration::ZERO,
                    retry_after: Duration::ZERO,
                }
            }
        }
    }

    pub async fn blocked(&self, policy: Policy, key: &str) -> Option<Duration> {
        let result: redis::RedisResult<(u32, i64)> = self
            .peek
            .key(self.key(policy, key))
            .invoke_async(&mut self.redis.clone())
            .await;
        match result {
            Ok((count, left_ms)) if count >= policy.quota => Some(Duration::from_millis(
                u64::try_from(left_ms).unwrap_or(1).max(1),
            )),
            Ok(_) => None,
            Err(err) => {
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
            tracing::error!(error = %err, "rate limit store unavailable");
        }
    }
}
