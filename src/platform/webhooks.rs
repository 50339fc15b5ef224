//! Outbound webhooks: the signature of the Standard Webhooks specification and one
//! delivery, guarded against server-side request forgery.
//!
//! - [`sign`]: `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
//!   one `v1,…` per secret (space-separated), so a receiver keeps verifying while a
//!   secret is rotated.
//! - [`Guard`]: one HTTP client for every delivery, whose resolver is the check: every
//!   address a receiver's host resolves to must be public (no loopback, private,
//!   link-local, shared, multicast, documentation or metadata address, in IPv4 or IPv6)
//!   unless the deployment allow-lists its network (`CRM_WEBHOOK_ALLOWED_NETWORKS`), or
//!   the resolution fails and nothing is sent. The connection is made to the addresses
//!   that resolution answered, so a second resolution (DNS rebinding) cannot move it; an
//!   address literal, which is never resolved, is checked before the request. Redirects
//!   are not followed, and no proxy from the environment is used (a proxy would resolve
//!   the host itself).
//! - [`Guard::deliver`]: one POST with a connect timeout and a whole-request timeout,
//!   over kept-alive connections.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use reqwest::{
    StatusCode, Url,
    dns::{Addrs, Name, Resolve, Resolving},
    header::HeaderMap,
    redirect,
};
use sha2::Sha256;

use crate::platform::config::WebhookConfig;

/// What a receiver answered, or why there was no answer worth the name.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx, with the start of its body.
    Accepted { status: u16, excerpt: String },
    /// Any other status, with the wait the receiver asked for (`Retry-After`, seconds).
    Refused {
        status: u16,
        retry_after: Option<Duration>,
        excerpt: String,
    },
    /// No answer: the address is not allowed, the connection failed or timed out.
    Unreachable(String),
}

/// Why a URL is not one the platform delivers to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http or https URL")]
    NotHttp,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error(
        "points at an address webhooks may not reach (loopback, private, link-local or metadata)"
    )]
    Forbidden,
}

/// The network policy of every delivery, and the one client that applies it.
#[derive(Clone, Debug)]
pub struct Guard {
    reach: Arc<Reach>,
    client: reqwest::Client,
}

/// Which addresses deliveries may reach.
#[derive(Debug)]
struct Reach {
    allowed: Vec<IpNet>,
}

impl Reach {
    fn may_reach(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// The client's resolver: the host's addresses, provided every one may be reached.
struct GuardedResolver(Arc<Reach>);

/// A host that resolves to an address webhooks may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, an address webhooks may not reach")]
struct Refused {
    host: String,
    ip: IpAddr,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addresses.iter().find(|a| !reach.may_reach(a.ip())) {
                return Err(Box::new(Refused { host, ip: bad.ip() }) as _);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// Characters of an answer's body kept for the delivery log.
const EXCERPT: usize = 500;

impl Guard {
    /// The guard and its client; fails only when the TLS set-up does.
    pub fn new(config: &WebhookConfig) -> Result<Self, reqwest::Error> {
        let reach = Arc::new(Reach {
            allowed: config.allowed_networks.clone(),
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(reach.clone())))
            .no_proxy()
            .redirect(redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { reach, client })
    }

    /// Checks what can be checked without resolving: the scheme, no credentials, and an
    /// address literal's range. A host name is checked at every delivery, after DNS.
    pub fn check_url(&self, url: &str) -> Result<Url, UrlError> {
        let parsed = Url::parse(url).map_err(|_| UrlError::NotHttp)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(UrlError::NotHttp);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.reach.may_reach(ip)) {
            return Err(UrlError::Forbidden);
        }
        Ok(parsed)
    }

    /// POSTs `body` to `url` with the Standard Webhooks headers for `id`, signed with
    /// every one of `secrets`.
    pub async fn deliver(&self, url: &str, id: &str, body: &str, secrets: &[String]) -> Outcome {
        let url = match self.check_url(url) {
            Ok(url) => url,
            Err(err) => return Outcome::Unreachable(format!("the URL {err}")),
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(secrets, id, timestamp, body))
            .body(body.to_owned())
            .send()
            .await;
        let response = match response {
            Err(err) => return Outcome::Unreachable(describe(&err)),
            Ok(response) => response,
        };
        let status = response.status();
        let retry_after = retry_after(status, response.headers());
        let excerpt = excerpt(response).await;
        if status.is_success() {
            Outcome::Accepted {
                status: status.as_u16(),
                excerpt,
            }
        } else {
            Outcome::Refused {
                status: status.as_u16(),
                retry_after,
                excerpt,
            }
        }
    }
}

/// The first [`EXCERPT`] characters of the answer's body, reading no more of it than
/// they need (a receiver cannot make the worker hold a large body), as text the
/// delivery log can hold: invalid UTF-8 and NUL, which PostgreSQL's text refuses (and
/// with it the whole batch of settlements), become U+FFFD.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(EXCERPT)
        .map(|c| {
            if c == '\0' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// The `webhook-signature` header: `v1,<signature>` under each secret, space-separated.
/// A secret is `whsec_` and the base64 of its key; one that is not is skipped.
pub fn sign(secrets: &[String], id: &str, timestamp: u64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(format!("whsec_{}", STANDARD.encode(key)))
}

fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let seconds: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Why a request got no answer, with the innermost cause (a refused address, a DNS
/// failure, a refused connection).
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_connect() && err.is_timeout() {
        "cannot connect to the receiver in time"
    } else if err.is_connect() {
        "cannot connect to the receiver"
    } else if err.is_timeout() {
        "the receiver did not answer in time"
    } else {
        "the request failed"
    };
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    format!("{what}: {cause}")
}

/// Whether `ip` is an address on the public internet: not loopback, private,
/// link-local (where cloud metadata services live), shared (100.64/10), benchmarking,
/// documentation, multicast, broadcast or unspecified; IPv4-mapped IPv6 is judged as
/// the IPv4 address it carries.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allowed: &[&str]) -> Guard {
        Guard::new(&WebhookConfig {
            allowed_networks: allowed
                .iter()
                .map(|net| net.parse().expect("net"))
                .collect(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retention: Duration::from_secs(86_400),
            concurrency: 1,
        })
        .expect("a client")
    }

    /// A receiver's answer ends up in the delivery log, a text column: a NUL in it
    /// would make PostgreSQL refuse the whole batch of settlements it is in.
    #[tokio::test]
    async fn an_answer_with_nul_bytes_is_kept_as_text_the_log_can_hold() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let answer = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.expect("a delivery");
            let mut request = [0_u8; 4096];
            let _ = socket.read(&mut request).await.expect("the request");
            socket
                .write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 9\r\n\r\nbad\0\xffbody")
                .await
                .expect("the answer");
        });
        let outcome = guard(&["127.0.0.1/32"])
            .deliver(&url, "msg", "{}", &[])
            .await;
        answer.await.expect("answered");
        match outcome {
            Outcome::Refused {
                status, excerpt, ..
            } => {
                assert_eq!(status, 500);
                assert_eq!(excerpt, "bad\u{fffd}\u{fffd}body");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_host_that_resolves_to_loopback_is_refused_after_dns() {
        let outcome = guard(&[])
            .deliver("http://localhost:9/hook", "msg", "{}", &[])
            .await;
        match outcome {
            Outcome::Unreachable(why) => assert!(why.contains("may not reach"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_webhooks_may_not_reach() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip} is not public");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip} is public");
        }
    }

    #[test]
    fn urls_are_checked_before_any_delivery() {
        let strict = guard(&[]);
        assert_eq!(
            strict.check_url("http://127.0.0.1:9/hook").err(),
            Some(UrlError::Forbidden)
        );
        assert_eq!(
            strict.check_url("http://[::1]/hook").err(),
            Some(UrlError::Forbidden)
        );
        assert_eq!(
            strict
                .check_url("http://169.254.169.254/latest/meta-data")
                .err(),
            Some(UrlError::Forbidden)
        );
        assert_eq!(
            strict.check_url("ftp://example.com/").err(),
            Some(UrlError::NotHttp)
        );
        assert_eq!(
            strict.check_url("https://user:pw@example.com/").err(),
            Some(UrlError::Credentials)
        );
        assert!(strict.check_url("https://hooks.example.com/crm").is_ok());
        assert!(
            guard(&["127.0.0.1/32"])
                .check_url("http://127.0.0.1:9/hook")
                .is_ok()
        );
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
