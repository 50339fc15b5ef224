//! Integrations: how the CRM reaches the outside world on a module's behalf.
//!
//! - [`mail`]: the durable outbox of transactional email.
//! - [`webhooks`]: the tenant's endpoints and the signed delivery of its events.
//! - [`notifications`]: the tenant's versioned message templates, checked and rendered
//!   in a sandbox.

pub mod mail;
pub mod notifications;
pub mod webhooks;
