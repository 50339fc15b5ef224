//! Limits every request meets before any work: a body size cap (413) and a deadline
//! (503 + `Retry-After`), both as problem+json; and the request's [`Lane`], which the
//! tenant door reads.
//!
//! The deadline ([`Deadline`]: `CRM_REQUEST_TIMEOUT_MS`, or the process's stop if
//! that comes first) is told the truth about writes: when it passes, a statement in
//! flight is cancelled on the server and the request gets what the database did
//! (see `platform::db`'s settle). When it passes the guard answers 503 at once if
//! the request has nothing in flight (waiting for a connection, hashing a password,
//! reading a body: dropped, which writes nothing); gives cancelled reads a moment
//! ([`SETTLE`]); and awaits the handler's answer when the request wrote or has a
//! COMMIT in flight, since only that answer can say what happened.

use std::time::Duration;

use tokio::time::Instant;

use poem::{
    Endpoint, Middleware, Request, Result,
    error::SizedLimitError,
    http::header::{CONTENT_LENGTH, TRANSFER_ENCODING},
};

use crate::platform::{
    deadline::{Deadline, Stopping},
    error::ApiError,
    lane::{Lane, Lanes},
};

/// How long past the deadline a request's cancelled reads may take to report (a
/// cancel lands in milliseconds); a request that wrote is awaited without a bound.
pub const SETTLE: Duration = Duration::from_secs(1);

/// How often the guard looks whether the statements in flight have ended.
const TICK: Duration = Duration::from_millis(10);

pub struct Guards {
    pub max_body_bytes: usize,
    pub timeout: Duration,
    pub stopping: Stopping,
    pub lanes: Lanes,
}

impl<E: Endpoint> Middleware<E> for Guards {
    type Output = GuardsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardsEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
            timeout: self.timeout,
            stopping: self.stopping.clone(),
            lanes: self.lanes.clone(),
        }
    }
}

pub struct GuardsEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
    timeout: Duration,
    stopping: Stopping,
    lanes: Lanes,
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
        let deadline = Deadline::after(self.timeout, &self.stopping);
        let lane = self.lanes.of(req.uri().path());
        let call = deadline.scope(in_lane(lane, self.inner.call(req)));
        tokio::pin!(call);
        tokio::select! {
            biased;
            result = &mut call => return result,
            () = deadline.passed() => {}
        }
        // Statements in flight are being cancelled: give them a moment to report.
        let settle_by = Instant::now() + SETTLE;
        while deadline.has_flights() && !deadline.has_written() && Instant::now() < settle_by {
            if let Ok(result) = tokio::time::timeout(TICK, &mut call).await {
                return result;
            }
        }
        if deadline.has_written() {
            // Committed, or a COMMIT in flight: the handler's answer tells which.
            return call.await;
        }
        tracing::warn!(timeout_ms = self.timeout.as_millis(), "request timed out");
        Err(ApiError::Unavailable("The request took too long; retry shortly.").into())
    }
}

/// Runs `work` in `lane` (see [`Lane`]), or outside any when the path has none.
async fn in_lane<T>(lane: Option<Lane>, work: impl Future<Output = T>) -> T {
    match lane {
        Some(lane) => lane.scope(work).await,
        None => work.await,
    }
}
