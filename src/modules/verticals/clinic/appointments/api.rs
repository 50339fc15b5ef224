//! `/appointments`, `/availability` and `/availability/next`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    Appointment, AppointmentFilter, AppointmentPage, AppointmentPatch, AppointmentPatchBody,
    AppointmentSeries, AppointmentStatus, Availability, AvailabilityQuery, MAX_SPAN_DAYS,
    NewAppointment, NewAppointmentBody, NewSeries, NewSeriesBody,
    store::{self, Refusal, Wanted},
};
use crate::modules::verticals::clinic::MODULE;
use crate::modules::verticals::clinic::{ClinicTags, access_log::Access, begin};
use crate::platform::{
    auth::Auth,
    contract::Body,
    db::DbError,
    error::{ApiError, problems},
    module::Meaning,
    state::SharedState,
    tenancy::TenantContext,
};

#[derive(ApiResponse)]
enum AppointmentResponse {
    #[oai(status = 200)]
    Ok(Json<Appointment>),
}

#[derive(ApiResponse)]
enum AppointmentCreated {
    #[oai(status = 201)]
    Created(Json<Appointment>),
}

#[derive(ApiResponse)]
enum AppointmentListResponse {
    #[oai(status = 200)]
    Ok(Json<AppointmentPage>),
}

#[derive(ApiResponse)]
enum SeriesCreated {
    #[oai(status = 201)]
    Created(Json<AppointmentSeries>),
}

#[derive(ApiResponse)]
enum AvailabilityResponse {
    #[oai(status = 200)]
    Ok(Json<Availability>),
}

/// The default grid of availability, in minutes.
const DEFAULT_STEP_MINUTES: i32 = 15;

pub struct AppointmentsApi {
    state: SharedState,
}

impl AppointmentsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// The 409 for a refused booking or move, naming the appointment that holds the
    /// time. Looked up after the refusal (the database's error text never reaches a
    /// client); if that appointment is gone by then, the answer says so without
    /// naming it.
    async fn double_booking(&self, context: TenantContext, wanted: Wanted) -> ApiError {
        let found = match begin(&self.state, context, Ok(())).await {
            Ok((tx, ())) => store::find_conflict(tx, &wanted)
                .await
                .map_err(ApiError::from),
            Err(err) => Err(err),
        };
        match found {
            Ok(Some(conflict)) => ApiError::Conflict(format!(
                "The {} is already booked from {} to {} (buffers aside) by appointment {}.",
                if conflict.same_practitioner {
                    "practitioner"
                } else {
                    "room"
                },
                conflict
                    .starts_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                conflict.ends_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                conflict.id
            )),
            Ok(None) => ApiError::Conflict(
                "The practitioner or the room was booked at that time; try again.".to_owned(),
            ),
            Err(err) => err,
        }
    }

    /// Answers an availability question: 422 naming a parameter that names nothing of
    /// the tenant's.
    async fn slots(
        &self,
        auth: &Auth,
        query: Result<AvailabilityQuery, ApiError>,
        limit: Option<i64>,
    ) -> Result<AvailabilityResponse, problems::ReadMany> {
        let (mut tx, query) = begin(&self.state, auth.context(), query).await?;
        if let Some(parameter) = store::missing_reference(&mut tx, &query).await? {
            return Err(ApiError::invalid(parameter, "names nothing of this tenant").into());
        }
        let slots = match limit {
            None => store::availability(tx, &query).await?,
            Some(limit) => store::next_available(tx, &query, limit).await?,
        };
        Ok(AvailabilityResponse::Ok(Json(Availability { slots })))
    }
}

/// The answer to a series that could not be booked: a reference the tenant does not
/// have is a 422 naming it (every occurrence was refused for it); otherwise a 409
/// listing each occurrence refused and why.
fn series_refused(refusals: &[Refusal], of: usize) -> ApiError {
    let mut listed = Vec::new();
    for refusal in refusals {
        let why = match MODULE.constraint(&refusal.constraint) {
            Some(Meaning::MissingReference(field)) => {
                return ApiError::invalid(field, "refers to a record that does not exist");
            }
            Some(Meaning::Conflict(why) | Meaning::Invalid { message: why, .. }) => why,
            Some(Meaning::NotFound) | None => "refused",
        };
        let at = refusal.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        listed.push(format!("{at}: {why}"));
    }
    ApiError::Conflict(format!(
        "Nothing was booked: {} of the {of} appointments cannot be. {}",
        refusals.len(),
        listed.join("; ")
    ))
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl AppointmentsApi {
    /// Book a weekly series
    ///
    /// Every `every_weeks` weeks at the same local time, `count` times or until
    /// `until` (at most 52), each checked like a booking. All or nothing: when any
    /// cannot be booked, none is, and the 409 lists each one and why.
    #[oai(
        path = "/appointments/series",
        method = "post",
        operation_id = "createAppointmentSeries"
    )]
    async fn create_series(
        &self,
        auth: Auth,
        body: Body<NewSeriesBody>,
    ) -> Result<SeriesCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewSeries::try_from));
        let (tx, series) = begin(&self.state, auth.context(), input).await?;
        match store::insert_series(tx, &series).await? {
            Ok(items) => Ok(SeriesCreated::Created(Json(AppointmentSeries { items }))),
            Err((refusals, of)) => Err(series_refused(&refusals, of).into()),
        }
    }

    /// The agenda
    ///
    /// Appointments starting in `[from, to)`, earliest first, optionally of one
    /// practitioner, patient, location or status; keyset-paginated with `cursor`.
    /// Each patient whose appointments are listed is logged in the access log.
    #[oai(
        path = "/appointments",
        method = "get",
        operation_id = "listAppointments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        req: &Request,
        /// Only appointments starting at or after this instant.
        from: Query<Option<DateTime<Utc>>>,
        /// Only appointments starting before this instant.
        to: Query<Option<DateTime<Utc>>>,
        /// Only this practitioner's.
        practitioner_id: Query<Option<Uuid>>,
        /// Only this patient's.
        patient_id: Query<Option<Uuid>>,
        /// Only those at this location.
        location_id: Query<Option<Uuid>>,
        /// Only those in this status.
        status: Query<Option<AppointmentStatus>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
        /// Why the appointments are read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<AppointmentListResponse, problems::ReadMany> {
        let filter = AppointmentFilter {
            from: from.0,
            to: to.0,
            practitioner_id: practitioner_id.0,
            patient_id: patient_id.0,
            location_id: location_id.0,
            status: status.0,
        };
        let query = store::list_query(filter, cursor.0, limit.0);
        let input = query.and_then(|query| Ok((query, Access::of(req, &self.state, reason.0)?)));
        let (tx, (query, access)) = begin(&self.state, auth.context(), input).await?;
        let (items, next_cursor) = store::list(tx, query, &access).await?;
        Ok(AppointmentListResponse::Ok(Json(AppointmentPage {
            items,
            next_cursor,
        })))
    }

    /// Book an appointment
    ///
    /// The patient, the practitioner, the type and the location (default: where the
    /// practitioner works then) must be the tenant's (422 naming the field). Outside
    /// the practitioner's working hours or in its time off: 422 on `starts_at`. Time
    /// that overlaps, buffers included, another appointment of the practitioner that
    /// is not cancelled, or of the room: 409 naming that appointment and its time. A type
    /// that needs a room takes the first free one of the location unless `room_id` names
    /// one; with none free, 422 on `room_id`.
    #[oai(
        path = "/appointments",
        method = "post",
        operation_id = "createAppointment"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewAppointmentBody>,
    ) -> Result<AppointmentCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewAppointment::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        let id = Uuid::now_v7();
        match store::insert(tx, id, &new).await {
            Ok(appointment) => Ok(AppointmentCreated::Created(Json(appointment))),
            Err(DbError::Constraint(Meaning::Conflict(_))) => {
                let wanted = Wanted {
                    appointment_id: id,
                    practitioner_id: Some(new.practitioner_id),
                    appointment_type_id: Some(new.appointment_type_id),
                    starts_at: Some(new.starts_at),
                    room_id: new.room_id,
                };
                Err(self.double_booking(auth.context(), wanted).await.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Get an appointment
    ///
    /// Logged in the access log.
    #[oai(
        path = "/appointments/:id",
        method = "get",
        operation_id = "getAppointment"
    )]
    async fn get(
        &self,
        auth: Auth,
        req: &Request,
        /// The appointment's id.
        id: Path<Uuid>,
        /// Why the appointment is read (up to 500 characters); kept in the access log.
        #[oai(name = "X-Access-Reason")]
        reason: Header<Option<String>>,
    ) -> Result<AppointmentResponse, problems::ReadMany> {
        let access = Access::of(req, &self.state, reason.0);
        let (tx, access) = begin(&self.state, auth.context(), access).await?;
        Ok(AppointmentResponse::Ok(Json(
            store::get(tx, id.0, &access).await?,
        )))
    }

    /// Reschedule, confirm, cancel or record an appointment's outcome
    ///
    /// A move is checked like a booking (409, 422) while the appointment is booked or
    /// confirmed. `status` follows booked → confirmed → arrived → in_progress →
    /// completed, or goes to `cancelled` (with `cancel_reason`) or `no_show`; any other
    /// step is a 422 on `status`.
    #[oai(
        path = "/appointments/:id",
        method = "patch",
        operation_id = "updateAppointment"
    )]
    async fn update(
        &self,
        auth: Auth,
        /// The appointment's id.
        id: Path<Uuid>,
        body: Body<AppointmentPatchBody>,
    ) -> Result<AppointmentResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(AppointmentPatch::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        match store::update(tx, id.0, &patch).await {
            Ok(appointment) => Ok(AppointmentResponse::Ok(Json(appointment))),
            Err(DbError::Constraint(Meaning::Conflict(_))) => {
                let wanted = Wanted {
                    appointment_id: id.0,
                    practitioner_id: patch.practitioner_id,
                    appointment_type_id: patch.appointment_type_id,
                    starts_at: patch.starts_at,
                    room_id: patch.room_id,
                };
                Err(self.double_booking(auth.context(), wanted).await.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// A practitioner's availability
    ///
    /// The start times in `[from, to)` (at most 31 days) at which an appointment of
    /// the type can be booked with the practitioner: within its working hours (in
    /// each location's time zone, daylight-saving changes included), its buffered
    /// time free of other appointments, outside time off, and no earlier than the
    /// type's minimum notice. On a grid of `step_minutes` from the start of each
    /// working-hour range. One statement; each slot can be booked as it is.
    #[oai(
        path = "/availability",
        method = "get",
        operation_id = "getAvailability"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn availability(
        &self,
        auth: Auth,
        /// The practitioner.
        practitioner_id: Query<Uuid>,
        /// The type of appointment.
        appointment_type_id: Query<Uuid>,
        /// From this instant.
        from: Query<DateTime<Utc>>,
        /// Until this instant (at most 31 days after `from`).
        to: Query<DateTime<Utc>>,
        /// Only at this location.
        location_id: Query<Option<Uuid>>,
        /// The grid, 5 to 240 minutes (default 15).
        step_minutes: Query<Option<i32>>,
    ) -> Result<AvailabilityResponse, problems::ReadMany> {
        let query = AvailabilityQuery::new(
            Some(practitioner_id.0),
            appointment_type_id.0,
            from.0,
            to.0,
            location_id.0,
            step_minutes.0.unwrap_or(DEFAULT_STEP_MINUTES),
        );
        self.slots(&auth, query, None).await
    }

    /// The next available slots
    ///
    /// The earliest start times from `from` on, within 31 days, at which an
    /// appointment of the type can be booked with any practitioner, as
    /// `/availability` computes them.
    #[oai(
        path = "/availability/next",
        method = "get",
        operation_id = "getNextAvailable"
    )]
    async fn next_available(
        &self,
        auth: Auth,
        /// The type of appointment.
        appointment_type_id: Query<Uuid>,
        /// From this instant; default now.
        from: Query<Option<DateTime<Utc>>>,
        /// Only at this location.
        location_id: Query<Option<Uuid>>,
        /// The grid, 5 to 240 minutes (default 15).
        step_minutes: Query<Option<i32>>,
        /// How many slots, 1 to 50 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<i64>>,
    ) -> Result<AvailabilityResponse, problems::ReadMany> {
        let from = from.0.unwrap_or_else(Utc::now);
        let query = AvailabilityQuery::new(
            None,
            appointment_type_id.0,
            from,
            from + Duration::days(MAX_SPAN_DAYS),
            location_id.0,
            step_minutes.0.unwrap_or(DEFAULT_STEP_MINUTES),
        );
        self.slots(&auth, query, Some(limit.0.unwrap_or(10))).await
    }
}
