//! `/clinic/settings`.

use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use super::{ClinicSettings, ClinicSettingsBody, store};
use crate::modules::verticals::clinic::{ClinicTags, SETTING_UP, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum SettingsResponse {
    #[oai(status = 200)]
    Ok(Json<ClinicSettings>),
}

pub struct SettingsApi {
    state: SharedState,
}

impl SettingsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/clinic/settings", tag = "ClinicTags::Clinic")]
impl SettingsApi {
    /// The clinic's settings
    ///
    /// The defaults until an owner or an admin changes them.
    #[oai(path = "/", method = "get", operation_id = "getClinicSettings")]
    async fn get(&self, auth: Auth) -> Result<SettingsResponse, problems::ReadOne> {
        let (tx, _) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(SettingsResponse::Ok(Json(store::get(tx).await?)))
    }

    /// Change the clinic's settings
    ///
    /// Replaces them as a whole. Owners and admins only.
    #[oai(path = "/", method = "put", operation_id = "putClinicSettings")]
    async fn put(
        &self,
        auth: Auth,
        body: Body<ClinicSettingsBody>,
    ) -> Result<SettingsResponse, problems::Configure> {
        let input = auth.manager_or(SETTING_UP).and(body.into_inner());
        let (tx, body) = begin(&self.state, auth.context(), input).await?;
        Ok(SettingsResponse::Ok(Json(
            store::put(tx, body.notes_retention_years).await?,
        )))
    }
}
