//! Per-tenant and per-user token buckets on the API (per client IP for requests
//! without a valid token: login, signup, refresh), with the IETF draft `RateLimit`
//! and `RateLimit-Policy` headers on every response and 429 + `Retry-After` on refusal.

use std::net::IpAddr;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    error::ResponseError,
    http::{HeaderValue, header::AUTHORIZATION},
};

use super::request_log::RequestScope;
use crate::{error::ApiError, limits::Decision, state::SharedState};

pub struct RateLimit {
    state: SharedState,
}

impl RateLimit {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint {
            inner,
            state: self.state.clone(),
        }
    }
}

pub struct RateLimitEndpoint<E> {
    inner: E,
    state: SharedState,
}

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

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let limits = &self.state.limits;
        let caller = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.state.jwt.verify(token).ok());
        if let (Some(caller), Some(scope)) = (caller, req.data::<std::sync::Arc<RequestScope>>()) {
            scope.set_caller(caller.tenant_id, caller.user_id);
        }
        let checks = match caller {
            Some(caller) => vec![
                (limits.user, caller.user_id.to_string()),
                (limits.tenant, caller.tenant_id.to_string()),
            ],
            None => vec![(limits.ip, client_ip(&req, limits.trusted_proxy_hops))],
        };
        let decisions = limits.acquire(&checks).await;
        let mut response = match decisions.iter().find(|d| !d.allowed) {
            Some(refused) => {
                self.state
                    .metrics
                    .rate_limited
                    .with_label_values(&[refused.policy.name])
                    .inc();
                ApiError::TooManyRequests(refused.retry_after).as_response()
            }
            None => match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => super::render_error(err).await,
            },
        };
        add_headers(&mut response, &decisions);
        Ok(response)
    }
}

fn add_headers(response: &mut Response, decisions: &[Decision]) {
    let Some(tightest) = decisions.iter().min_by_key(|d| (d.allowed, d.remaining)) else {
        return;
    };
    let policies: Vec<String> = decisions.iter().map(|d| d.policy.header_item()).collect();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policies.join(", ")) {
        headers.insert("ratelimit-policy", value);
    }
    if let Ok(value) = HeaderValue::from_str(&tightest.header_item()) {
        headers.insert("ratelimit", value);
    }
}
