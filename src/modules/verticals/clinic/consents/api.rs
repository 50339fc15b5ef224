//! `/patients/{id}/consents`.

use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::{NewConsent, NewPatientConsentBody, PatientConsent, PatientConsentList, store};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum ConsentListResponse {
    #[oai(status = 200)]
    Ok(Json<PatientConsentList>),
}

#[derive(ApiResponse)]
enum ConsentCreated {
    #[oai(status = 201)]
    Created(Json<PatientConsent>),
}

#[derive(ApiResponse)]
enum ConsentResponse {
    #[oai(status = 200)]
    Ok(Json<PatientConsent>),
}

pub struct ConsentsApi {
    state: SharedState,
}

impl ConsentsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl ConsentsApi {
    /// A patient's consents
    ///
    /// Revoked ones included, in the order they were signed. Logged in the access log
    /// as a read of the patient's record.
    #[oai(
        path = "/patients/:id/consents",
        method = "get",
        operation_id = "listPatientConsents"
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
    ) -> Result<ConsentListResponse, problems::ReadMany> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(ConsentListResponse::Ok(Json(PatientConsentList {
            items: store::list(tx, id.0, &access).await?,
        })))
    }

    /// Record a consent
    ///
    /// Signed by the patient, or by a guardian whose permissions include `consent`
    /// (422 naming `signed_by_contact_id` otherwise); recorded in the caller's name.
    /// A consent never changes afterwards: a new version is a new consent.
    #[oai(
        path = "/patients/:id/consents",
        method = "post",
        operation_id = "createPatientConsent"
    )]
    async fn create(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        body: Body<NewPatientConsentBody>,
    ) -> Result<ConsentCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewConsent::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(ConsentCreated::Created(Json(
            store::insert(tx, id.0, &new).await?,
        )))
    }

    /// Revoke a consent
    ///
    /// Stamps the revocation with the time and the caller; once: a revoked consent
    /// answers 409.
    #[oai(
        path = "/patients/:id/consents/:consent_id/revoke",
        method = "post",
        operation_id = "revokePatientConsent"
    )]
    async fn revoke(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        /// The consent's id.
        consent_id: Path<Uuid>,
    ) -> Result<ConsentResponse, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        Ok(ConsentResponse::Ok(Json(
            store::revoke(tx, id.0, consent_id.0).await?,
        )))
    }
}
