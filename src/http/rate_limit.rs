//! Per-tenant and per-user token buckets on the API (per client IP for requests
//! without a valid token: login, signup, refresh), with the IETF draft `RateLimit`
//! and `RateLimit-Policy` headers on every response and 429 + `Retry-After` on refusal.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result, error::ResponseError,
    http::HeaderValue,
};

use super::request_log::RequestScope;
use crate::platform::{
    auth::VerifiedCaller,
    error::ApiError,
    limits::{Decision, client_ip},
    state::SharedState,
};

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

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    /// Verifies the bearer token once for the whole request: the security scheme of
    /// the operation reads the [`VerifiedCaller`] left here.
    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let limits = &self.state.limits;
        let verified = VerifiedCaller::of(&req, &self.state.jwt);
        req.set_data(verified);
        let caller = verified.0;
        if let (Some(caller), Some(scope)) = (caller, req.data::<std::sync::Arc<RequestScope>>()) {
            scope.set_caller(caller.tenant_id(), caller.user_id());
        }
        let checks = match caller {
            Some(caller) => vec![
                (limits.user, caller.user_id().to_string()),
                (limits.tenant, caller.tenant_id().to_string()),
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
