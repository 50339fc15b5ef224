//! `/notifications/settings`: the tenant's quiet hours and sending limits (every member
//! reads, owners and admins set them).

use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use super::{NotificationSettings, NotificationSettingsBody, Settings, store};
use crate::modules::integrations::notifications::{MODULE, NotificationTags};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum SettingsResponse {
    #[oai(status = 200)]
    Ok(Json<NotificationSettings>),
}

/// Why a member who is neither an owner nor an admin gets a 403 (the policy checks the
/// role again against the membership).
const MANAGERS_ONLY: &str = "Only owners and admins change the notification settings.";

pub struct SettingsApi {
    state: SharedState,
}

impl SettingsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(
    prefix_path = "/notifications/settings",
    tag = "NotificationTags::Notifications"
)]
impl SettingsApi {
    /// Get the notification settings
    ///
    /// The tenant's quiet hours and sending limits; absent ones are off.
    #[oai(path = "/", method = "get", operation_id = "getNotificationSettings")]
    async fn get(&self, auth: Auth) -> Result<SettingsResponse, problems::ReadOne> {
        let settings = store::get(self.state.db.tx(auth.context(), &MODULE).await?).await?;
        Ok(SettingsResponse::Ok(Json(settings)))
    }

    /// Set the notification settings
    ///
    /// Replaces them whole: what the body leaves out is off. They apply to every
    /// message from the next claim on, those already queued included: a message due
    /// in the quiet hours (in the tenant's time zone) waits until they end; one over
    /// the hourly or daily limit waits until the oldest message counted leaves the
    /// window. Owners and admins only.
    #[oai(path = "/", method = "put", operation_id = "setNotificationSettings")]
    async fn put(
        &self,
        auth: Auth,
        body: Body<NotificationSettingsBody>,
    ) -> Result<SettingsResponse, problems::Configure> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let settings = Settings::check(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(SettingsResponse::Ok(Json(store::put(tx, &settings).await?)))
    }
}
