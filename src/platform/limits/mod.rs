//! Rate limits: token buckets per client IP, tenant and user, and a failed-login
//! counter per IP and per email. In memory by default ([`local`], governor); shared by
//! every instance through Redis when `CRM_REDIS_URL` is set ([`shared`]).
//!
//! A limit of 0 switches that policy off.

mod local;
mod shared;

use std::{net::IpAddr, time::Duration};

use poem::Request;

use sha2::{Digest, Sha256};

use crate::platform::config::RateLimitConfig;

/// The client's address: the peer, or, behind `hops` trusted proxies, the entry they
/// appended to `X-Forwarded-For` (entries further left are the client's own claims).
pub fn client_ip(req: &Request, hops: usize) -> String {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_canonical());
    if hops > 0 {
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse().ok())
            .collect();
        if let Some(ip) = forwarded
            .len()
            .checked_sub(hops)
            .and_then(|i| forwarded.get(i))
        {
            return ip.to_canonical().to_string();
        }
    }
    peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// One named limit: `quota` requests per `window`, refilled evenly (GCRA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    pub name: &'static str,
    pub quota: u32,
    pub window: Duration,
}

impl Policy {
    /// The `RateLimit-Policy` item (draft-ietf-httpapi-ratelimit-headers).
    pub fn header_item(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.name,
            self.quota,
            self.window.as_secs().max(1)
        )
    }

    fn enabled(&self) -> bool {
        self.quota > 0 && !self.window.is_zero()
    }
}

/// What a bucket said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub policy: Policy,
    pub allowed: bool,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// When refused: how long until one request is allowed.
    pub retry_after: Duration,
}

impl Decision {
    /// The `RateLimit` item (draft-ietf-httpapi-ratelimit-headers).
    pub fn header_item(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.policy.name,
            self.remaining,
            ceil_secs(self.reset)
        )
    }
}

/// Whole seconds, rounded up (a client told 0 would retry at once).
pub fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("CRM_REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}

enum Backend {
    Local(local::Local),
    Shared(shared::Shared),
}

/// The limits of this server: the policies and where their state lives.
pub struct Limits {
    backend: Backend,
    pub ip: Policy,
    pub user: Policy,
    pub tenant: Policy,
    pub login_failures: Policy,
    pub trusted_proxy_hops: usize,
}

impl Limits {
    /// In memory, or through Redis when `redis_url` is set (connected now, so a wrong
    /// URL fails start-up).
    pub async fn new(
        config: &RateLimitConfig,
        redis_url: Option<&str>,
    ) -> Result<Self, LimitError> {
        let policy = |name, quota| Policy {
            name,
            quota,
            window: config.window,
        };
        let backend = match redis_url {
            Some(url) => Backend::Shared(shared::Shared::connect(url, &config.key_prefix).await?),
            None => Backend::Local(local::Local::default()),
        };
        Ok(Self {
            backend,
            ip: policy("ip", config.ip),
            user: policy("user", config.user),
            tenant: policy("tenant", config.tenant),
            login_failures: policy("login", config.login_failures),
            trusted_proxy_hops: config.trusted_proxy_hops,
        })
    }

    /// Takes one request from the bucket of each `(policy, key)` (policies that are
    /// off are skipped). Redis charges all or none in one round trip; in memory, the
    /// buckets are charged in order up to the first refusal.
    pub async fn acquire(&self, checks: &[(Policy, String)]) -> Vec<Decision> {
        let checks: Vec<(Policy, String)> = checks
            .iter()
            .filter(|(policy, _)| policy.enabled())
            .cloned()
            .collect();
        if checks.is_empty() {
            return Vec::new();
        }
        match &self.backend {
            Backend::Shared(shared) => shared.acquire_all(&checks).await,
            Backend::Local(local) => {
                let mut decisions = Vec::with_capacity(checks.len());
                for (policy, key) in &checks {
                    let decision = local.acquire(*policy, key);
                    decisions.push(decision);
                    if !decision.allowed {
                        break;
                    }
                }
                decisions
            }
        }
    }

    async fn failures(&self, key: &str) -> Option<(u32, Duration)> {
        match &self.backend {
            Backend::Local(local) => local.failures(self.login_failures, key),
            Backend::Shared(shared) => shared.failures(self.login_failures, key).await,
        }
    }

    /// How long logins are refused for this IP (too many failures from it, whatever
    /// the emails) or for this email from this IP, if they are. Failures for an email
    /// never block it from another address: its owner still logs in from their network
    /// (see [`Self::login_delay`]).
    pub async fn login_blocked(&self, ip: &str, email: &str) -> Option<Duration> {
        if !self.login_failures.enabled() {
            return None;
        }
        let keys = FailureKeys::new(ip, email);
        let mut longest: Option<Duration> = None;
        for key in [&keys.ip, &keys.pair] {
            let blocked = self
                .failures(key)
                .await
                .and_then(|(count, left)| (count >= self.login_failures.quota).then_some(left));
            longest = longest.max(blocked);
        }
        longest
    }

    /// How long a login for this email waits before its password is checked: nothing
    /// until the email has had as many failures (from anywhere) as the login quota,
    /// then 250 ms, doubling with each further failure, up to 4 s. It slows an attack
    /// on one account from many addresses without locking its owner out.
    pub async fn login_delay(&self, email: &str) -> Duration {
        if !self.login_failures.enabled() {
            return Duration::ZERO;
        }
        let keys = FailureKeys::new("", email);
        let count = self
            .failures(&keys.email)
            .await
            .map_or(0, |(count, _)| count);
        progressive_delay(count, self.login_failures.quota)
    }

    /// Counts a failed login against the IP, the (email, IP) pair and the email.
    pub async fn login_failed(&self, ip: &str, email: &str) {
        if !self.login_failures.enabled() {
            return;
        }
        let keys = FailureKeys::new(ip, email);
        for key in [keys.ip, keys.pair, keys.email] {
            match &self.backend {
                Backend::Local(local) => local.fail(self.login_failures, &key),
                Backend::Shared(shared) => shared.fail(self.login_failures, &key).await,
            }
        }
    }
}

/// The counters of failed logins. Emails are hashed so no address ends up as a key in
/// memory dumps or Redis.
struct FailureKeys {
    ip: String,
    pair: String,
    email: String,
}

impl FailureKeys {
    fn new(ip: &str, email: &str) -> Self {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let email: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self {
            ip: format!("ip:{ip}"),
            pair: format!("pair:{ip}:{email}"),
            email: format!("email:{email}"),
        }
    }
}

const FIRST_DELAY: Duration = Duration::from_millis(250);
const LONGEST_DELAY: Duration = Duration::from_secs(4);

fn progressive_delay(failures: u32, quota: u32) -> Duration {
    match failures.checked_sub(quota) {
        None => Duration::ZERO,
        Some(beyond) => FIRST_DELAY
            .saturating_mul(2u32.saturating_pow(beyond.min(16)))
            .min(LONGEST_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(quota: u32) -> RateLimitConfig {
        RateLimitConfig {
            window: Duration::from_secs(60),
            ip: quota,
            user: quota,
            tenant: 0,
            login_failures: 2,
            trusted_proxy_hops: 0,
            key_prefix: "unit".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_bucket_allows_its_quota_then_refuses() {
        let limits = Limits::new(&config(3), None).await.expect("local limits");
        let one = |key: &str| vec![(limits.ip, key.to_owned())];
        let mut remaining = vec![];
        for _ in 0..3 {
            let decision = limits.acquire(&one("a")).await[0];
            assert!(decision.allowed);
            remaining.push(decision.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limits.acquire(&one("a")).await[0];
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(limits.acquire(&one("b")).await[0].allowed);
        let off = limits.acquire(&[(limits.tenant, "a".to_owned())]).await;
        assert!(off.is_empty(), "0 = off");
    }

    #[test]
    fn the_delay_doubles_beyond_the_quota_up_to_a_ceiling() {
        let delays: Vec<u128> = (0..9)
            .map(|n| progressive_delay(n, 3).as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000, 4000]);
        assert_eq!(progressive_delay(u32::MAX, 3), LONGEST_DELAY);
    }

    /// The email is blocked only from the address that failed; elsewhere it is delayed.
    #[tokio::test]
    async fn failed_logins_block_the_ip_and_the_pair_and_delay_the_email() {
        let limits = Limits::new(&config(3), None).await.expect("local limits");
        assert!(limits.login_blocked("1.2.3.4", "a@x.test").await.is_none());
        limits.login_failed("1.2.3.4", "A@x.test").await;
        assert!(limits.login_blocked("1.2.3.4", "a@x.test").await.is_none());
        limits.login_failed("1.2.3.4", "a@x.test ").await;
        assert!(
            limits
                .login_blocked("1.2.3.4", "other@x.test")
                .await
                .is_some()
        );
        assert!(limits.login_blocked("5.6.7.8", "a@x.test").await.is_none());
        assert!(limits.login_delay("a@x.test").await > Duration::ZERO);
        assert_eq!(limits.login_delay("other@x.test").await, Duration::ZERO);
        assert!(
            limits
                .login_blocked("5.6.7.8", "other@x.test")
                .await
                .is_none()
        );
    }
}
