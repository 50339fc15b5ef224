//! Integrations: how the CRM reaches the outside world on a module's behalf.
//!
//! - [`mail`]: the durable outbox of transactional email.

pub mod mail;
