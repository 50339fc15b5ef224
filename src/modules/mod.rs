//! Industry modules ("verticals"): each folder holds one vertical's API and SQL; its
//! tables live in `migrations/V<n>__<module>.sql` and its tests in
//! `tests/api/<module>.rs`.
//!
//! Every vertical is listed here, and only here ([`AVAILABLE`], [`ModuleApis`],
//! [`apis`], [`constraint_problem`]). Two switches decide whether it answers:
//! - the deployment: `CRM_MODULES` (default: all) mounts it or not ([`Mounted`]); an
//!   unmounted vertical's routes do not exist (404);
//! - the tenant: `PUT /tenant/modules` (table `tenant_modules`, checked by
//!   [`begin`] in the first round trip of every request) switches it off for one
//!   tenant (404 from all its endpoints); its rows stay and reappear when it is
//!   switched back on. New tenants have every served module switched on.
//!
//! Migrations: refinery applies one folder in strict version order and refuses a file
//! numbered below the last applied one, so a vertical cannot reserve a block of
//! versions; it owns the files named after it (`V4__real_estate.sql`), numbered in
//! sequence with the core's. Its tables exist even where it is not mounted, so turning
//! it on later needs no migration.

mod real_estate;
mod tenant;

use std::collections::HashMap;

use poem::{endpoint::BoxEndpoint, http::Method};
use poem_openapi::{
    OpenApi,
    registry::{MetaApi, Registry},
};

pub use tenant::TenantModulesApi;

use crate::{
    db::{TenantContext, TenantTx},
    error::ApiError,
    state::SharedState,
};

/// A vertical: its name, its API and the meaning of its constraint names.
pub trait Vertical {
    /// The name used in `CRM_MODULES`, `/tenant/modules` and `tenant_modules`.
    const NAME: &'static str;
    /// The name people read.
    const TITLE: &'static str;
    /// Its operations, tagged with the vertical's tag.
    type Api: OpenApi;

    fn api(state: &SharedState) -> Self::Api;

    /// What its named constraints mean to a client (see `error::constraint_problem`).
    fn constraint_problem(constraint: &str) -> Option<ApiError>;
}

/// Every vertical this build can serve: `(name, title)`.
pub const AVAILABLE: &[(&str, &str)] = &[(
    real_estate::RealEstate::NAME,
    real_estate::RealEstate::TITLE,
)];

/// The module APIs: the tenant's switchboard, then every vertical.
pub type ModuleApis = (TenantModulesApi, Mounted<real_estate::RealEstate>);

/// Builds [`ModuleApis`], mounting the verticals the deployment serves.
pub fn apis(state: &SharedState) -> ModuleApis {
    (TenantModulesApi::new(state.clone()), Mounted::new(state))
}

/// What a constraint of the module tables means to a client.
pub fn constraint_problem(constraint: &str) -> Option<ApiError> {
    tenant::constraint_problem(constraint)
        .or_else(|| real_estate::RealEstate::constraint_problem(constraint))
}

/// Parses `CRM_MODULES`: absent means every vertical, `none` means none, otherwise a
/// comma-separated list of names from [`AVAILABLE`].
pub fn from_setting(value: Option<&str>) -> Result<Vec<&'static str>, String> {
    let Some(value) = value else {
        return Ok(AVAILABLE.iter().map(|(name, _)| *name).collect());
    };
    if value.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut modules = Vec::new();
    for wanted in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let Some((name, _)) = AVAILABLE.iter().find(|(name, _)| *name == wanted) else {
            let known: Vec<&str> = AVAILABLE.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "unknown module {wanted:?}; known: {}, or none",
                known.join(", ")
            ));
        };
        if !modules.contains(name) {
            modules.push(*name);
        }
    }
    Ok(modules)
}

/// Opens the transaction of a request to vertical `module`, checking in its first round
/// trip that the tenant has the module on. When `input` was refused (a validation
/// error, a read-only caller), the check still runs first, so a tenant without the
/// module gets 404 from every request, well formed or not.
pub async fn begin<T>(
    state: &SharedState,
    module: &'static str,
    context: TenantContext,
    input: Result<T, ApiError>,
) -> Result<(TenantTx, T), ApiError> {
    let tx = TenantTx::begin_in_module(&state.pool, context, module).await?;
    match input {
        Ok(input) => Ok((tx, input)),
        Err(refused) => {
            tx.query_and_commit("SELECT", &[]).await?;
            Err(refused)
        }
    }
}

/// A vertical's API, routed only when the deployment serves it. The OpenAPI document
/// always describes every vertical of the build, under the vertical's tag.
pub struct Mounted<V: Vertical>(Option<V::Api>);

impl<V: Vertical> Mounted<V> {
    fn new(state: &SharedState) -> Self {
        Self(state.modules.contains(&V::NAME).then(|| V::api(state)))
    }
}

impl<V: Vertical> OpenApi for Mounted<V> {
    fn meta() -> Vec<MetaApi> {
        V::Api::meta()
    }

    fn register(registry: &mut Registry) {
        V::Api::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        if let Some(api) = self.0 {
            api.add_routes(route_table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_modules_defaults_to_all_and_refuses_unknown_names() {
        assert_eq!(from_setting(None).expect("default"), ["real_estate"]);
        assert_eq!(
            from_setting(Some(" real_estate , real_estate")).expect("listed"),
            ["real_estate"]
        );
        assert!(from_setting(Some("none")).expect("none").is_empty());
        let err = from_setting(Some("real_estate,clinic")).expect_err("unknown");
        assert!(
            err.contains("clinic") && err.contains("real_estate"),
            "{err}"
        );
    }
}
