//! Logging with `tracing`: readable text in development, JSON lines in production.
//! `RUST_LOG` filters (default `info`).

use tracing_subscriber::{EnvFilter, fmt};

use crate::platform::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
