//! Integrations: how the CRM reaches the outside world on a module's behalf.
//!
//! - [`mail`]: the durable outbox of transactional email.
//! - [`webhooks`]: the tenant's endpoints and the signed delivery of its events.

pub mod mail;
pub mod webhooks;
