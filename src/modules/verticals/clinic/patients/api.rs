//! `/patients`.

use chrono::NaiveDate;
use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    NewPatient, NewPatientBody, Patient, PatientFields, PatientFilter, PatientPage,
    PatientPatchBody, store,
};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin, begin_searching};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum PatientResponse {
    #[oai(status = 200)]
    Ok(Json<Patient>),
}

#[derive(ApiResponse)]
enum PatientCreated {
    #[oai(status = 201)]
    Created(Json<Patient>),
}

#[derive(ApiResponse)]
enum PatientListResponse {
    #[oai(status = 200)]
    Ok(Json<PatientPage>),
}

pub struct PatientsApi {
    state: SharedState,
}

impl PatientsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/patients", tag = "ClinicTags::Clinic")]
impl PatientsApi {
    /// Find patients
    ///
    /// By name, email or phone (`q`), by an identifier's exact value, by date of
    /// birth; oldest first, keyset-paginated with `cursor`. Each patient listed is
    /// logged in the access log.
    #[oai(path = "/", method = "get", operation_id = "listPatients")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        req: &Request,
        /// Text search in the contact's name, email and phone (case-insensitive
        /// substring), 1 to 100 characters with at least one word of 3 or more letters
        /// or digits.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        ))]
        q: Query<Option<String>>,
        /// Only the patient with an identifier of this exact value, of any kind.
        #[oai(validator(min_length = 1, max_length = 100, pattern = r"^[^\x00]*$"))]
        identifier: Query<Option<String>>,
        /// Only patients born on this day.
        date_of_birth: Query<Option<NaiveDate>>,
        /// Only archived patients (`true`) or only those in care (`false`).
        archived: Query<Option<bool>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
        /// Why the patients are read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<PatientListResponse, problems::ReadMany> {
        let filter = PatientFilter {
            q: q.0,
            identifier: identifier.0.map(|value| value.trim().to_owned()),
            date_of_birth: date_of_birth.0,
            archived: archived.0,
        };
        let query = store::list_query(filter, cursor.0, limit.0);
        let searches = query.as_ref().is_ok_and(|query| query.searches());
        let input = query.and_then(|query| Ok((query, Access::of(req, &self.state, reason.0)?)));
        let (tx, (query, access)) =
            begin_searching(&self.state, auth.context(), input, searches).await?;
        let (items, next_cursor) = store::list(tx, query, &access).await?;
        Ok(PatientListResponse::Ok(Json(PatientPage {
            items,
            next_cursor,
        })))
    }

    /// Register a patient
    ///
    /// The contact must belong to the tenant (422) and not be a patient yet (409); an
    /// identifier another patient has is refused with 409.
    #[oai(path = "/", method = "post", operation_id = "createPatient")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewPatientBody>,
    ) -> Result<PatientCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewPatient::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(PatientCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get a patient
    ///
    /// Logged in the access log.
    #[oai(path = "/:id", method = "get", operation_id = "getPatient")]
    async fn get(
        &self,
        auth: Auth,
        req: &Request,
        /// The patient's id.
        id: Path<Uuid>,
        /// Why the patient is read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<PatientResponse, problems::ReadMany> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(PatientResponse::Ok(Json(
            store::get(tx, id.0, &access).await?,
        )))
    }

    /// Update a patient
    ///
    /// The clinical data; the name, email and phone are the contact's.
    #[oai(path = "/:id", method = "patch", operation_id = "updatePatient")]
    async fn update(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        body: Body<PatientPatchBody>,
    ) -> Result<PatientResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(PatientFields::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(PatientResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }
}
