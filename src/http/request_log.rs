//! One span and one log line per request: request id (taken from `X-Request-Id` or
//! generated, and echoed back), method, path, status and latency.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result, http::HeaderValue};
use tracing::Instrument;
use uuid::Uuid;

const REQUEST_ID: &str = "x-request-id";

pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint { inner }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let id = request_id(&req);
        let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
        async move {
            let started = Instant::now();
            let mut response = match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            };
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            tracing::info!(
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}
