//! `GET /metrics`: Prometheus text, behind a bearer token when `CRM_METRICS_TOKEN` is set.

use poem::{IntoResponse, Request, Response, handler, http::header, web::Data};
use sha2::{Digest, Sha256};

use crate::platform::{error::ApiError, state::SharedState};

#[handler]
pub fn metrics(req: &Request, state: Data<&SharedState>) -> poem::Result<Response> {
    if let Some(expected) = &state.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compare digests: equal length, no early exit on the secret's bytes.
        if Sha256::digest(presented.as_bytes()) != Sha256::digest(expected.expose().as_bytes()) {
            return Err(ApiError::Unauthorized("A valid metrics token is required.").into());
        }
    }
    Ok(state
        .metrics
        .render(state.db.status())
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response())
}
