//! HTTP plumbing around the API: health probes, problem+json for every error, and the
//! per-request span.

mod probes;
mod problems;
mod request_log;

pub use probes::{health, ready};
pub use problems::render_error;
pub use request_log::RequestLog;
