//! `/patients/{id}/erasure`.

use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::{PatientErasure, store};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{auth::Auth, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum ErasureResponse {
    #[oai(status = 200)]
    Ok(Json<PatientErasure>),
}

pub struct ErasureApi {
    state: SharedState,
}

impl ErasureApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl ErasureApi {
    /// Erase a patient's personal data
    ///
    /// In one transaction: the contact's name, email, phone and other details, the
    /// date of birth and sex, identifiers, related people, who signed the consents,
    /// the person's messages and webhook deliveries are removed or anonymised;
    /// appointments stay (future open ones are cancelled); treatment notes signed
    /// within the tenant's `notes_retention_years` (`/clinic/settings`) stay, drafts
    /// and older notes are deleted. The access log stays and records the erasure with
    /// `X-Access-Reason`. Owners and admins only; a second erasure answers 409, and an
    /// erased patient takes no new appointment or record (409).
    #[oai(
        path = "/patients/:id/erasure",
        method = "post",
        operation_id = "erasePatient"
    )]
    async fn erase(
        &self,
        auth: Auth,
        req: &Request,
        /// The patient's id.
        id: Path<Uuid>,
        /// Why the patient's data is erased (up to 500 characters); kept in the
        /// erasure's log and the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<ErasureResponse, problems::ActOnce> {
        let input = auth
            .manager_or("Only owners and admins erase a patient's data.")
            .and(Access::of(req, &self.state, reason.0));
        let (tx, access) = begin(&self.state, auth.context(), input).await?;
        Ok(ErasureResponse::Ok(Json(
            store::erase(tx, id.0, &access).await?,
        )))
    }
}
