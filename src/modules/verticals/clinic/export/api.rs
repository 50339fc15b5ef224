//! `/patients/{id}/export`.

use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::{PatientExport, store};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{auth::Auth, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum ExportResponse {
    #[oai(status = 200)]
    Ok(Json<PatientExport>),
}

pub struct ExportApi {
    state: SharedState,
}

impl ExportApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl ExportApi {
    /// Export a patient
    ///
    /// Everything about the patient as one document: the record, every appointment,
    /// every treatment note and the access log. Owners and admins only; the export is
    /// logged in the access log like any read.
    #[oai(
        path = "/patients/:id/export",
        method = "get",
        operation_id = "exportPatient"
    )]
    async fn export(
        &self,
        auth: Auth,
        req: &Request,
        /// The patient's id.
        id: Path<Uuid>,
        /// Why the patient's data is exported (up to 500 characters); kept in the
        /// access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<ExportResponse, problems::ReadManaged> {
        let input = auth
            .manager_or("Only owners and admins export a patient's data.")
            .and(Access::of(req, &self.state, reason.0));
        let (tx, access) = begin(&self.state, auth.context(), input).await?;
        Ok(ExportResponse::Ok(Json(
            store::export(tx, id.0, &access).await?,
        )))
    }
}
