//! The bottom layer: what every module stands on, and nothing that knows a feature
//! or an HTTP route. Imports run downward only: nothing here names `crate::modules`,
//! `crate::http`, `crate::jobs` or `crate::app` (the `layering` test fails if it does).
//!
//! - [`config`]: every setting, from the environment.
//! - [`tenancy`]: [`tenancy::TenantContext`] (who acts, for which tenant) and
//!   [`tenancy::Role`]. A context is minted only here in `platform`: from a verified
//!   access token ([`auth`]) or from what a reviewed database function vouched for
//!   ([`db::PreTenant`]); it cannot be built from a request body.
//! - [`module`]: what a module declares ([`module::ModuleInfo`]): name, title, whether a
//!   tenant may switch it, what its constraints mean to a client, its event kinds, its
//!   migrations.
//! - [`events`]: the kinds of event modules emit, and the [`events::Catalogue`] of a
//!   deployment.
//! - [`db`]: the pool and its doors: [`db::Db::tx`] (the tenant door, the only way to
//!   tenant data) and [`db::Db::pre_tenant`] (the few definer functions that run before
//!   a tenant is known); [`db::DbError`]; set-up, audit, migrations.
//! - [`deadline`]: when a request must be answered (its own deadline, or the process's
//!   stop), which the tenant door honours without lying about writes.
//! - [`lane`]: the kind of record a request works on, so requests held up on one
//!   table cannot take the connections of the others.
//! - [`list`]: filters, sort orders, search and keyset cursors of list endpoints.
//! - [`mail`]: outbound email ([`mail::Email`], [`mail::Mailer`]: SMTP or the log).
//! - [`sms`]: outbound text messages ([`sms::Texter`]: an HTTP provider or the log).
//! - [`webhooks`]: outbound webhooks: the Standard Webhooks signature and one guarded
//!   delivery ([`webhooks::Guard`]).
//! - [`auth`]: access tokens, the bearer scheme handlers take, password hashing.
//! - [`error`]: the API error type and its problem+json rendering.
//! - [`contract`]: the finished OpenAPI document and [`contract::Body`], the request
//!   body that is checked against it.
//! - [`validation`], [`telemetry`], [`metrics`], [`limits`], [`state`].

pub mod auth;
pub mod config;
pub mod contract;
pub mod db;
pub mod deadline;
pub mod error;
pub mod events;
pub mod lane;
pub mod limits;
pub mod list;
pub mod mail;
pub mod metrics;
pub mod module;
pub mod sms;
pub mod state;
pub mod telemetry;
pub mod tenancy;
pub mod validation;
pub mod webhooks;
