//! `/patients/{id}/treatment-notes` and `/treatment-notes/{id}`.

use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::{NewNote, NewNoteBody, NoteList, NotePatch, NotePatchBody, TreatmentNote, store};
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum NoteResponse {
    #[oai(status = 200)]
    Ok(Json<TreatmentNote>),
}

#[derive(ApiResponse)]
enum NoteCreated {
    #[oai(status = 201)]
    Created(Json<TreatmentNote>),
}

#[derive(ApiResponse)]
enum NoteListResponse {
    #[oai(status = 200)]
    Ok(Json<NoteList>),
}

#[derive(ApiResponse)]
enum NoteDeleted {
    /// The draft is deleted.
    #[oai(status = 204)]
    Deleted,
}

pub struct NotesApi {
    state: SharedState,
}

impl NotesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl NotesApi {
    /// A patient's treatment notes
    ///
    /// Oldest first. Clinicians only (owners, admins, practitioners); logged in the
    /// access log. A practitioner without an appointment with the patient must give
    /// `X-Access-Reason` (break-glass; the log flags it), else 422.
    #[oai(
        path = "/patients/:id/treatment-notes",
        method = "get",
        operation_id = "listTreatmentNotes"
    )]
    async fn list(
        &self,
        auth: Auth,
        req: &Request,
        /// The patient's id.
        id: Path<Uuid>,
        /// Why the notes are read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<NoteListResponse, problems::Act> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(NoteListResponse::Ok(Json(NoteList {
            items: store::list(tx, id.0, &access).await?,
        })))
    }

    /// Write a treatment note
    ///
    /// A draft of the caller's, which must be a clinician. `appointment_id` must be one
    /// of the patient's appointments, `amends_id` a signed note of the patient's (422
    /// otherwise).
    #[oai(
        path = "/patients/:id/treatment-notes",
        method = "post",
        operation_id = "createTreatmentNote"
    )]
    async fn create(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        body: Body<NewNoteBody>,
    ) -> Result<NoteCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewNote::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(NoteCreated::Created(Json(
            store::insert(tx, id.0, &new).await?,
        )))
    }

    /// Get a treatment note
    ///
    /// Clinicians only; logged in the access log (see the list for `X-Access-Reason`).
    #[oai(
        path = "/treatment-notes/:id",
        method = "get",
        operation_id = "getTreatmentNote"
    )]
    async fn get(
        &self,
        auth: Auth,
        req: &Request,
        /// The note's id.
        id: Path<Uuid>,
        /// Why the note is read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<NoteResponse, problems::Act> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(NoteResponse::Ok(Json(store::get(tx, id.0, &access).await?)))
    }

    /// Edit or sign a draft
    ///
    /// Its author only. `status` `signed` signs it; a signed note is immutable (409):
    /// correct it with a new note whose `amends_id` names it.
    #[oai(
        path = "/treatment-notes/:id",
        method = "patch",
        operation_id = "updateTreatmentNote"
    )]
    async fn update(
        &self,
        auth: Auth,
        /// The note's id.
        id: Path<Uuid>,
        body: Body<NotePatchBody>,
    ) -> Result<NoteResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NotePatch::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(NoteResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a draft
    ///
    /// Its author only; a signed note stays (409).
    #[oai(
        path = "/treatment-notes/:id",
        method = "delete",
        operation_id = "deleteTreatmentNote"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The note's id.
        id: Path<Uuid>,
    ) -> Result<NoteDeleted, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete(tx, id.0).await?;
        Ok(NoteDeleted::Deleted)
    }
}
