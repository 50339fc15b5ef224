//! `/tenant/modules`: which of the deployment's modules the caller's tenant uses.

use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use super::MODULE;
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    module::ModuleInfo,
    state::SharedState,
};

#[derive(Tags)]
pub(super) enum TenantTags {
    /// Settings of the caller's tenant: the industry modules it uses and its time zone.
    Tenant,
}

/// One module and whether the tenant uses it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantModule {
    /// The module's name, as in `CRM_MODULES`.
    pub name: String,
    /// The module's name for people.
    pub title: String,
    /// Whether the tenant uses it. When off, its endpoints answer 404 and its data is
    /// kept until it is switched on again.
    pub enabled: bool,
}

/// The modules this deployment serves and which of them the tenant uses.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantModules {
    /// Every module the deployment serves, in a stable order.
    pub modules: Vec<TenantModule>,
}

/// Switch one module on or off.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantModuleSwitch {
    /// A module name from `GET /tenant/modules`.
    pub name: String,
    /// `true` to use the module, `false` to hide it (its data is kept).
    pub enabled: bool,
}

/// Modules to switch; modules not listed keep their state.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TenantModulesBody {
    /// The switches, at most one per module.
    pub modules: Vec<TenantModuleSwitch>,
}

#[derive(ApiResponse)]
enum TenantModulesResponse {
    #[oai(status = 200)]
    Ok(Json<TenantModules>),
}

pub struct TenantModulesApi {
    state: SharedState,
}

impl TenantModulesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// The switchable modules this deployment serves.
    fn served(&self) -> &[&'static ModuleInfo] {
        &self.state.modules
    }

    fn answer(&self, rows: &[tokio_postgres::Row]) -> TenantModulesResponse {
        let modules = self
            .served()
            .iter()
            .map(|module| TenantModule {
                name: module.name.to_owned(),
                title: module.title.to_owned(),
                enabled: rows
                    .iter()
                    .find(|row| row.get::<_, &str>("module") == module.name)
                    .is_none_or(|row| row.get("enabled")),
            })
            .collect();
        TenantModulesResponse::Ok(Json(TenantModules { modules }))
    }
}

#[OpenApi(prefix_path = "/tenant/modules", tag = "TenantTags::Tenant")]
impl TenantModulesApi {
    /// List the tenant's modules
    ///
    /// Every module this deployment serves and whether the tenant uses it; a module
    /// the tenant never switched is on. Any member may read this.
    #[oai(path = "/", method = "get", operation_id = "listTenantModules")]
    async fn list(&self, auth: Auth) -> Result<TenantModulesResponse, problems::ReadMany> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let rows = tx
            .query_and_commit("SELECT module, enabled FROM tenant_modules", &[])
            .await?;
        Ok(self.answer(&rows))
    }

    /// Switch the tenant's modules
    ///
    /// Owners and admins only. Switching a module off makes its endpoints answer 404
    /// for this tenant and keeps its data; switching it on shows the data again.
    /// Answers the state of every served module afterwards.
    #[oai(path = "/", method = "put", operation_id = "switchTenantModules")]
    async fn update(
        &self,
        auth: Auth,
        body: Body<TenantModulesBody>,
    ) -> Result<TenantModulesResponse, problems::Write> {
        let context = auth.manager()?;
        let served = self.served();
        let mut names: Vec<&'static str> = Vec::new();
        let mut enabled: Vec<bool> = Vec::new();
        for switch in &body.into_inner()?.modules {
            let Some(name) = served
                .iter()
                .map(|module| module.name)
                .find(|name| *name == switch.name)
            else {
                return Err(ApiError::invalid(
                    "modules",
                    format!("{:?} is not a module of this service", switch.name),
                )
                .into());
            };
            if names.contains(&name) {
                return Err(
                    ApiError::invalid("modules", format!("{name:?} is listed twice")).into(),
                );
            }
            names.push(name);
            enabled.push(switch.enabled);
        }
        let tx = self.state.db.tx(context, &MODULE).await?;
        let rows = tx
            .query_and_commit(
                "WITH switched AS ( \
                     INSERT INTO tenant_modules (module, enabled) \
                     SELECT * FROM unnest($1::text[], $2::boolean[]) \
                     ON CONFLICT (tenant_id, module) DO UPDATE \
                     SET enabled = EXCLUDED.enabled, updated_at = now(), \
                         updated_by = app.current_user_id() \
                     RETURNING module, enabled) \
                 SELECT module, enabled FROM switched \
                 UNION ALL \
                 SELECT module, enabled FROM tenant_modules \
                 WHERE module <> ALL (SELECT module FROM switched)",
                &[&names, &enabled],
            )
            .await?;
        Ok(self.answer(&rows))
    }
}

impl poem_openapi::types::Example for TenantModulesBody {
    fn example() -> Self {
        Self {
            modules: vec![TenantModuleSwitch {
                name: "real_estate".into(),
                enabled: false,
            }],
        }
    }
}
