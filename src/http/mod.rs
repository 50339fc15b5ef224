//! The poem host around the API: health probes and metrics, problem+json for every
//! error, the request log, rate limits (which verify the bearer token once per
//! request), body/deadline guards and security headers. The operations themselves are
//! the modules'; `crate::app` mounts them.

mod connections;
mod guards;
mod probes;
mod problems;
mod rate_limit;
mod request_log;
mod scrape;
mod security_headers;

pub use connections::{ConnectionLimits, serve};
pub use guards::{Guards, SETTLE};
pub use probes::{health, probe_health, ready};
pub use problems::render_error;
pub use rate_limit::RateLimit;
pub use request_log::{RequestLog, RequestScope, RouteTemplates};
pub use scrape::metrics;
pub use security_headers::SecurityHeaders;
