//! Limits every request meets before any work: a body size cap (413) and a deadline
//! (503 + `Retry-After`), both as problem+json. A request cut off by the deadline is
//! dropped like a cancelled one: an open [`crate::platform::db::TenantTx`] rolls back.

use std::time::Duration;

use poem::{
    Endpoint, Middleware, Request, Result,
    error::SizedLimitError,
    http::header::{CONTENT_LENGTH, TRANSFER_ENCODING},
};

use crate::platform::error::ApiError;

pub struct Guards {
    pub max_body_bytes: usize,
    pub timeout: Duration,
}

impl<E: Endpoint> Middleware<E> for Guards {
    type Output = GuardsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardsEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
            timeout: self.timeout,
        }
    }
}

pub struct GuardsEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
    timeout: Duration,
}

impl<E: Endpoint> Endpoint for GuardsEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let too_large = || poem::Error::from(SizedLimitError::PayloadTooLarge);
        match declared {
            Some(length) if length > self.max_body_bytes as u64 => return Err(too_large()),
            Some(_) => {}
            // Chunked: read it here, within the cap, rather than trust the stream.
            None if req.headers().contains_key(TRANSFER_ENCODING) => {
                let body = req
                    .take_body()
                    .into_bytes_limit(self.max_body_bytes)
                    .await
                    .map_err(|_| too_large())?;
                req.set_body(body);
            }
            None => {}
        }
        match tokio::time::timeout(self.timeout, self.inner.call(req)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(timeout_ms = self.timeout.as_millis(), "request timed out");
                Err(ApiError::Unavailable("The request took too long; retry shortly.").into())
            }
        }
    }
}
