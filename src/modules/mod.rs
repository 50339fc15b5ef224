//! Every feature, one folder each, each owning its API, types, store, SQL, migrations
//! and the meaning of its constraints (its `MODULE`, a
//! [`ModuleInfo`](crate::platform::module::ModuleInfo)). [`registry`] is the one list
//! of them.
//!
//! - [`tenancy`]: the tenant's settings (`/tenant/modules`).
//! - [`identity`]: sessions (`/auth`) and members (`/users`).
//! - [`crm`]: contacts, companies, deals and the stage pipeline.
//! - [`integrations`]: outbound channels; today [`integrations::mail`], the outbox of
//!   transactional email.
//! - [`verticals`]: industry modules a deployment and a tenant may switch off (Real
//!   Estate).
//!
//! Imports run downward: modules use `platform`, never `http`, `jobs` or `app`;
//! verticals may use `crm` and `identity`, never the reverse.

pub mod crm;
pub mod identity;
pub mod integrations;
pub mod registry;
pub mod tenancy;
pub mod verticals;
