//! One span, one log line and the request metrics per request: request id (taken from
//! `X-Request-Id` or generated, and echoed back), method, route template (never the
//! raw path, which holds ids), status, latency, and the tenant and user once a token
//! has been verified; a 405 gets the `Allow` header listing the route's methods.
//! Nothing from headers or bodies is logged, so no token, password or secret can
//! reach the logs.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::Instant,
};

use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result,
    http::{HeaderValue, StatusCode, header},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::platform::state::SharedState;

const REQUEST_ID: &str = "x-request-id";
/// The route label of requests that matched no route (bounded metric cardinality).
const UNMATCHED: &str = "unmatched";

/// Filled in by inner layers, read when the response leaves.
#[derive(Default)]
pub struct RequestScope {
    caller: OnceLock<(Uuid, Uuid)>,
}

impl RequestScope {
    pub fn set_caller(&self, tenant_id: Uuid, user_id: Uuid) {
        let _ = self.caller.set((tenant_id, user_id));
    }
}

/// poem-openapi routes `/contacts/{id}` as `/contacts/:param0`; logs and metrics
/// name routes as the OpenAPI document does, and a 405 lists the route's methods.
#[derive(Clone, Default)]
pub struct RouteTemplates(Arc<HashMap<String, Route>>);

struct Route {
    /// The template as the document writes it (`/api/v1/contacts/{id}`).
    name: String,
    /// The methods the document declares for it, as an `Allow` header lists them.
    allow: String,
}

impl RouteTemplates {
    /// Reads the paths of an OpenAPI document (JSON) served under `prefix`.
    pub fn from_spec(spec: &str, prefix: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let routes = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| {
                let mut count = 0;
                let routed: Vec<String> = path
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            count += 1;
                            format!(":param{}", count - 1)
                        } else {
                            segment.to_owned()
                        }
                    })
                    .collect();
                let methods: Vec<String> = operations
                    .as_object()
                    .into_iter()
                    .flat_map(|operations| operations.keys())
                    .map(|method| method.to_ascii_uppercase())
                    .collect();
                let route = Route {
                    name: format!("{prefix}{path}"),
                    allow: methods.join(", "),
                };
                (format!("{prefix}{}", routed.join("/")), route)
            })
            .collect();
        Self(Arc::new(routes))
    }

    fn name<'a>(&'a self, pattern: &'a str) -> &'a str {
        self.0
            .get(pattern)
            .map_or(pattern, |route| route.name.as_str())
    }

    /// The `Allow` header of a route pattern poem matched, when the document has it.
    pub fn allow(&self, pattern: &str) -> Option<&str> {
        self.0.get(pattern).map(|route| route.allow.as_str())
    }
}

pub struct RequestLog {
    state: SharedState,
    templates: RouteTemplates,
}

impl RequestLog {
    pub fn new(state: SharedState, templates: RouteTemplates) -> Self {
        Self { state, templates }
    }
}

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint {
            inner,
            state: self.state.clone(),
            templates: self.templates.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    state: SharedState,
    templates: RouteTemplates,
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// Decrements the in-flight gauge however the request ends (even if cancelled).
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let id = request_id(&req);
        let method = req.method().clone();
        let scope = Arc::new(RequestScope::default());
        req.set_data(scope.clone());
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %method,
            route = tracing::field::Empty,
            tenant_id = tracing::field::Empty,
            user_id = tracing::field::Empty,
        );
        let metrics = &self.state.metrics;
        async move {
            metrics.in_flight.inc();
            let _in_flight = InFlight(metrics.in_flight.clone());
            let started = Instant::now();
            let mut response = match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            };
            let latency = started.elapsed();
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allow) = response
                    .data::<PathPattern>()
                    .and_then(|pattern| self.templates.allow(&pattern.0))
                    .and_then(|allow| HeaderValue::from_str(allow).ok())
            {
                // RFC 9110: a 405 lists the methods the resource supports.
                response.headers_mut().insert(header::ALLOW, allow);
            }
            let route = response
                .data::<PathPattern>()
                .map_or(UNMATCHED, |pattern| self.templates.name(&pattern.0))
                .to_owned();
            let status = response.status().as_u16();
            let span = tracing::Span::current();
            span.record("route", route.as_str());
            if let Some((tenant, user)) = scope.caller.get() {
                span.record("tenant_id", tracing::field::display(tenant));
                span.record("user_id", tracing::field::display(user));
            }
            let status_label = status.to_string();
            let labels = [method.as_str(), route.as_str(), status_label.as_str()];
            metrics.requests.with_label_values(&labels).inc();
            metrics
                .latency
                .with_label_values(&labels)
                .observe(latency.as_secs_f64());
            tracing::info!(
                status,
                latency_ms = latency.as_secs_f64() * 1000.0,
                "request"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}
