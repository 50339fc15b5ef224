//! `/health` (the process is alive; never touches the database) and `/ready` (the
//! database answers and has every migration this binary embeds, and the process is
//! not stopping).
//!
//! Readiness asks over a connection of its own: a pool saturated by requests waiting
//! on a lock is busy, not gone, and taking every replica out of a load balancer for
//! one slow table would turn a slow table into an outage. Busy is reported in the
//! body and answered 200.

use poem::web::Json;
use poem::{IntoResponse, Response, handler, http::StatusCode, web::Data};
use serde_json::json;

use crate::platform::state::SharedState;

#[handler]
pub fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Shorter than any sensible readiness probe timeout.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

#[handler]
pub async fn ready(state: Data<&SharedState>) -> Response {
    if state.stopping.is_stopping() {
        return not_ready("shutting down");
    }
    // Bounded: behind PgBouncer a dead database means a queue, not an error.
    let version = tokio::time::timeout(READY_TIMEOUT, state.db.schema_version())
        .await
        .ok()
        .flatten();
    let status = match version {
        None => "database unreachable",
        Some(applied) if applied < state.schema_version => "migrations pending",
        Some(_) => {
            let pool = match state.db.is_saturated() {
                true => "busy",
                false => "available",
            };
            return Json(json!({ "status": "ready", "pool": pool })).into_response();
        }
    };
    not_ready(status)
}

fn not_ready(status: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": status })),
    )
        .into_response()
}

/// Asks the server on this host's `port` for `/health`: true on a 200. A few bytes of
/// HTTP/1.1 over loopback, so images need no curl.
pub async fn probe_health(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(&head == b"HTTP/1.1 200")
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), probe).await,
        Ok(Ok(true))
    )
}
