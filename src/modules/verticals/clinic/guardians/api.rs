//! `/patients/{id}/guardians`.

use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::{Guardian, GuardianBody, GuardianLink, GuardianList, store};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum GuardianListResponse {
    #[oai(status = 200)]
    Ok(Json<GuardianList>),
}

#[derive(ApiResponse)]
enum GuardianSaved {
    /// The link is replaced.
    #[oai(status = 200)]
    Replaced(Json<Guardian>),
    /// The link is created.
    #[oai(status = 201)]
    Created(Json<Guardian>),
}

#[derive(ApiResponse)]
enum GuardianDeleted {
    /// The link is removed (the contact stays).
    #[oai(status = 204)]
    Deleted,
}

pub struct GuardiansApi {
    state: SharedState,
}

impl GuardiansApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl GuardiansApi {
    /// A patient's guardians and related people
    ///
    /// The emergency contact first, then by when they were linked. Logged in the
    /// access log as a read of the patient's record.
    #[oai(
        path = "/patients/:id/guardians",
        method = "get",
        operation_id = "listPatientGuardians"
    )]
    async fn list(
        &self,
        auth: Auth,
        req: &Request,
        /// The patient's id.
        id: Path<Uuid>,
        /// Why the patient's data is read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<GuardianListResponse, problems::ReadMany> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(GuardianListResponse::Ok(Json(GuardianList {
            items: store::list(tx, id.0, &access).await?,
        })))
    }

    /// Link a guardian or related person
    ///
    /// Creates (201) or replaces (200) the link of a contact of the tenant to the
    /// patient. A contact the tenant does not have answers 404, like a patient; the
    /// patient's own contact is refused (422); a second emergency contact is refused
    /// (409).
    #[oai(
        path = "/patients/:id/guardians/:contact_id",
        method = "put",
        operation_id = "putPatientGuardian"
    )]
    async fn put(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        /// The related person's contact id.
        contact_id: Path<Uuid>,
        body: Body<GuardianBody>,
    ) -> Result<GuardianSaved, problems::Write> {
        let input = auth.writer().and(body.into_inner().map(GuardianLink::from));
        let (tx, link) = begin(&self.state, auth.context(), input).await?;
        Ok(match store::put(tx, id.0, contact_id.0, &link).await? {
            (saved, true) => GuardianSaved::Created(Json(saved)),
            (saved, false) => GuardianSaved::Replaced(Json(saved)),
        })
    }

    /// Unlink a guardian or related person
    ///
    /// The contact stays; consents it signed stay as they were signed.
    #[oai(
        path = "/patients/:id/guardians/:contact_id",
        method = "delete",
        operation_id = "deletePatientGuardian"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        /// The related person's contact id.
        contact_id: Path<Uuid>,
    ) -> Result<GuardianDeleted, problems::Remove> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete(tx, id.0, contact_id.0).await?;
        Ok(GuardianDeleted::Deleted)
    }
}
