//! Industry modules ("verticals"). Each is a folder with its `MODULE` (switchable), its
//! API, store, SQL and migrations; `super::registry` lists it. Two switches decide
//! whether it answers:
//! - the deployment: `CRM_MODULES` (default: all) mounts it or not ([`Mounted`]); an
//!   unmounted vertical's routes do not exist (404);
//! - the tenant: `PUT /tenant/modules` switches it off for one tenant: the tenant door
//!   checks the switch in the first round trip of every request and answers 404; its
//!   rows stay and reappear when it is switched back on.
//!
//! Its tables exist even where it is not mounted, so turning it on later needs no
//! migration.

pub mod clinic;
pub mod real_estate;

use std::collections::HashMap;

use poem::{endpoint::BoxEndpoint, http::Method};
use poem_openapi::{
    OpenApi,
    registry::{MetaApi, Registry},
};

use crate::platform::{module::ModuleInfo, state::SharedState};

/// A vertical's API, routed only when the deployment serves `module`. The OpenAPI
/// document always describes every vertical of the build, under the vertical's tag.
pub struct Mounted<A: OpenApi>(Option<A>);

impl<A: OpenApi> Mounted<A> {
    pub fn new(
        state: &SharedState,
        module: &'static ModuleInfo,
        api: impl FnOnce(&SharedState) -> A,
    ) -> Self {
        let served = state.modules.iter().any(|m| m.name == module.name);
        Self(served.then(|| api(state)))
    }
}

impl<A: OpenApi> OpenApi for Mounted<A> {
    fn meta() -> Vec<MetaApi> {
        A::meta()
    }

    fn register(registry: &mut Registry) {
        A::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        if let Some(api) = self.0 {
            api.add_routes(route_table);
        }
    }
}
