//! `/contacts/{id}/consents`: a contact's decisions about each channel (every member
//! reads, writers record).

use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{Consent, ConsentBody, ConsentList, store};
use crate::modules::integrations::notifications::{MODULE, NotificationTags};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum ConsentResponse {
    #[oai(status = 200)]
    Ok(Json<Consent>),
}

#[derive(ApiResponse)]
enum ConsentListResponse {
    #[oai(status = 200)]
    Ok(Json<ConsentList>),
}

pub struct ConsentsApi {
    state: SharedState,
}

impl ConsentsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/contacts", tag = "NotificationTags::Notifications")]
impl ConsentsApi {
    /// List a contact's consents
    ///
    /// The contact's recorded decision about each channel. A channel without one
    /// receives transactional messages and no marketing.
    #[oai(
        path = "/:id/consents",
        method = "get",
        operation_id = "listContactConsents"
    )]
    async fn list(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<ConsentListResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let items = store::list(tx, id.0).await?;
        Ok(ConsentListResponse::Ok(Json(ConsentList { items })))
    }

    /// Record a contact's consent
    ///
    /// Records the contact's decision about the body's channel, replacing the earlier
    /// one: `opted_out` suppresses every message on it from now on (those already
    /// queued included), `opted_in` admits marketing. Writers only.
    #[oai(
        path = "/:id/consents",
        method = "put",
        operation_id = "recordContactConsent"
    )]
    async fn record(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
        body: Body<ConsentBody>,
    ) -> Result<ConsentResponse, problems::Write> {
        let context = auth.writer()?;
        let body = body.into_inner()?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        let consent =
            store::record(tx, id.0, body.channel, body.status, body.source.trim()).await?;
        Ok(ConsentResponse::Ok(Json(consent)))
    }
}
