//! `crm`: an API-first, multi-tenant CRM whose tenant isolation is enforced by
//! PostgreSQL row-level security. This is the map; imports run down it only
//! (`platform` ← `modules` ← `http`, `jobs` ← `app`), and the `layering` test fails on
//! one that runs upward.
//!
//! - [`platform`]: the bottom layer, knowing no feature: configuration, the tenant
//!   context, **the doors to the database** ([`platform::db::Db::tx`] for tenant data,
//!   [`platform::db::Db::pre_tenant`] for the few calls before a tenant is known),
//!   errors, validation, tokens, metrics, rate limits.
//! - [`modules`]: every feature, a folder each (API, types, store, SQL, migrations, the
//!   meaning of its constraints in its `MODULE`). **[`modules::registry`] lists them**;
//!   a new vertical goes in `modules/verticals/<name>/` plus its registry lines.
//! - [`http`]: the poem host: middleware, probes, `/metrics`, problem+json.
//! - [`jobs`]: the worker host: runs every module's background jobs, stops gracefully.
//! - [`app`]: the composition root: state, **the route table** ([`app::openapi`] and
//!   `routes`), [`Application`] (`crm serve`) and [`Worker`] (`crm worker`).
//!
//! Where a constraint's meaning is declared: in the `MODULE` of the module whose
//! migration names it (for example `modules::crm::MODULE`).

pub mod app;
pub mod http;
pub mod jobs;
pub mod modules;
pub mod platform;

pub use app::{Application, StartError, Worker};
