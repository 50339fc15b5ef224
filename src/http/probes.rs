//! `/health` (the process is alive; never touches the database) and `/ready` (the
//! database answers and has every migration this binary embeds).

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
    // Bounded: behind PgBouncer a dead database means a queue, not an error.
    let version = tokio::time::timeout(READY_TIMEOUT, state.db.schema_version())
        .await
        .ok()
        .flatten();
    let status = match version {
        None => "database unreachable",
        Some(applied) if applied < state.schema_version => "migrations pending",
        Some(_) => {
            return Json(json!({ "status": "ready" })).into_response();
        }
    };
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
