//! The Clinic vertical (issue 15): locations in their own time zones, patients (a
//! contact plus clinical data and identifiers), practitioners (a member with a
//! clinical profile, weekly hours per location, time off), appointment types, and
//! appointments that PostgreSQL keeps from double-booking, from falling outside working
//! hours or into time off, and to their lifecycle.
//!
//! - [`locations`] answers `/locations`.
//! - [`appointment_types`] answers `/appointment-types`.
//! - [`practitioners`] answers `/practitioners`, their hours and `/practitioners/{id}/time-off`.
//! - [`rooms`] answers `/rooms`: a location's rooms, which appointments of a type
//!   that needs one hold (never two at once).
//! - [`patients`] answers `/patients`, found by name, identifier or date of birth.
//! - [`notes`] answers `/patients/{id}/treatment-notes` and `/treatment-notes/{id}`:
//!   clinicians only, signed notes immutable (V40).
//! - [`access_log`] answers `/patients/{id}/access-log` and `/clinic/access-log/verify`:
//!   every read of a patient's data, hash-chained per tenant (V40).
//! - [`guardians`] answers `/patients/{id}/guardians`: the people related to a
//!   patient, what each may do for it, and its emergency contact (V46).
//! - [`consents`] answers `/patients/{id}/consents`: what the patient agreed to, signed
//!   by the patient or a guardian who may consent, revoked once (V46).
//! - [`export`] answers `/patients/{id}/export`: everything about one patient.
//! - [`erasure`] answers `/patients/{id}/erasure`: the patient's personal data removed
//!   or anonymised, notes kept by the tenant's retention, the access log kept (V47).
//! - [`settings`] answers `/clinic/settings`: the notes' retention after an erasure.
//! - [`appointments`] answers `/appointments` (book, reschedule, lifecycle, cancel) and
//!   `/availability` (one practitioner's bookable times, or the next ones across
//!   practitioners), computed in one statement by `app.clinic_availability`.
//!
//! Tables: `migrations/V36__clinic.sql` (with the constraints that keep double
//! booking impossible, `appointments_practitioner_overlap`, buffers included),
//! `V39__clinic_api.sql` (the location a booking may leave out),
//! `V40__treatment_notes_and_access_log.sql`, `V41__appointment_events.sql` (webhook
//! events of appointments; nothing clinical is an event), `V42__rooms.sql`
//! (`appointments_room_overlap`), `V46__guardians_and_consents.sql` and
//! `V47__patient_erasure.sql`. Appointments remind
//! their patient by the tenant's `appointment_reminder` rules
//! (`migrations/V38__appointment_reminders.sql`), and a template preview takes an
//! appointment's values (`record` `{"type": "appointment"}`).
//!
//! Switchable like every vertical: its tables exist wherever it is built, and a tenant
//! switches it off with `/tenant/modules`. Tests: `tests/api/modules/verticals/clinic.rs`
//! (availability against a brute-force reference, concurrent bookings, as the app
//! role's own SQL), `clinic_api.rs` (the API), `clinic_records.rs` (notes, the
//! access log, events), `clinic_consents.rs` (guardians, consents) and
//! `clinic_erasure.rs`; pgTAP: `tests/sql/11_clinic.sql`, `12_treatment_notes.sql`,
//! `13_guardians_consents.sql`, `14_erasure.sql`.

mod access_log;
mod appointment_types;
mod appointments;
mod consents;
mod erasure;
mod export;
mod guardians;
mod locations;
mod notes;
mod patients;
mod practitioners;
mod rooms;
mod settings;

/// The SQL of an availability question and of a booking, for the benchmark's pgbench
/// scripts.
pub use appointments::{AVAILABILITY_REFERENCES_SQL, AVAILABILITY_SQL, BOOK_SQL};

use poem_openapi::Tags;

use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    events::{DataSchema, EventKind},
    module::{self, Constraint, Meaning, Migration, ModuleInfo, NotifiedRecord},
    state::SharedState,
    tenancy::TenantContext,
};

/// The Clinic vertical: switchable per deployment and per tenant.
pub const MODULE: ModuleInfo = ModuleInfo {
    name: "clinic",
    title: "Clinic",
    switchable: true,
    constraints: &[
        Constraint {
            name: "patients_contact_fkey",
            meaning: Meaning::MissingReference("contact_id"),
        },
        Constraint {
            name: "practitioners_pkey",
            meaning: Meaning::Conflict("The member is a practitioner already."),
        },
        Constraint {
            name: "practitioners_member_fkey",
            meaning: Meaning::MissingReference("user_id"),
        },
        Constraint {
            name: "practitioner_hours_location_fkey",
            meaning: Meaning::MissingReference("hours.location_id"),
        },
        Constraint {
            name: "practitioner_hours_pkey",
            meaning: Meaning::Invalid {
                field: "hours",
                message: "a practitioner's ranges on one weekday must not overlap",
            },
        },
        // The practitioner is the path's id.
        Constraint {
            name: "practitioner_time_off_practitioner_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "patient_identifiers_pkey",
            meaning: Meaning::Invalid {
                field: "identifiers",
                message: "a patient has one identifier of each kind",
            },
        },
        Constraint {
            name: "appointments_patient_fkey",
            meaning: Meaning::MissingReference("patient_id"),
        },
        Constraint {
            name: "appointments_practitioner_fkey",
            meaning: Meaning::MissingReference("practitioner_id"),
        },
        Constraint {
            name: "appointments_location_fkey",
            meaning: Meaning::MissingReference("location_id"),
        },
        Constraint {
            name: "appointments_type_fkey",
            meaning: Meaning::MissingReference("appointment_type_id"),
        },
        Constraint {
            name: "appointments_cancel_reason",
            meaning: Meaning::Invalid {
                field: "cancel_reason",
                message: "is required to cancel, and only then (1 to 500 characters)",
            },
        },
        Constraint {
            name: "treatment_notes_patient_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "treatment_notes_appointment_fkey",
            meaning: Meaning::MissingReference("appointment_id"),
        },
        Constraint {
            name: "treatment_notes_amends_fkey",
            meaning: Meaning::MissingReference("amends_id"),
        },
        Constraint {
            name: "treatment_notes_amends_signed",
            meaning: Meaning::Invalid {
                field: "amends_id",
                message: "must name a signed note (a draft is edited, not amended)",
            },
        },
        Constraint {
            name: "treatment_notes_signed_immutable",
            meaning: Meaning::Conflict(
                "A signed note is immutable; write an addendum (a new note with amends_id).",
            ),
        },
        Constraint {
            name: "clinic_access_reason_required",
            meaning: Meaning::Invalid {
                field: "X-Access-Reason",
                message: "is required to read the notes of a patient you have no appointment with (break-glass)",
            },
        },
        Constraint {
            name: "clinic_rooms_location_fkey",
            meaning: Meaning::MissingReference("location_id"),
        },
        Constraint {
            name: "appointments_room_fkey",
            meaning: Meaning::MissingReference("room_id"),
        },
        Constraint {
            name: "appointments_room_overlap",
            meaning: Meaning::Conflict(
                "The room is already booked at that time (buffers included).",
            ),
        },
        Constraint {
            name: "appointments_room_required",
            meaning: Meaning::Invalid {
                field: "room_id",
                message: "no room of the location is free then, and the appointment type needs one",
            },
        },
        Constraint {
            name: "appointments_practitioner_overlap",
            meaning: Meaning::Conflict(
                "The practitioner is already booked at that time (buffers included).",
            ),
        },
        Constraint {
            name: "appointments_within_working_hours",
            meaning: Meaning::Invalid {
                field: "starts_at",
                message: "is outside the practitioner's working hours at the location",
            },
        },
        Constraint {
            name: "appointments_outside_time_off",
            meaning: Meaning::Invalid {
                field: "starts_at",
                message: "falls in the practitioner's time off",
            },
        },
        Constraint {
            name: "appointments_status_transition",
            meaning: Meaning::Invalid {
                field: "status",
                message: "cannot follow the appointment's current status",
            },
        },
        Constraint {
            name: "appointments_moved_when_open",
            meaning: Meaning::Invalid {
                field: "starts_at",
                message: "only a booked or confirmed appointment can be moved",
            },
        },
        Constraint {
            name: "patients_contact_key",
            meaning: Meaning::Conflict("The contact is a patient already."),
        },
        Constraint {
            name: "patient_identifiers_value_key",
            meaning: Meaning::Conflict("Another patient has this identifier."),
        },
        // The patient and the contact are the path's ids.
        Constraint {
            name: "patient_guardians_patient_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "patient_guardians_contact_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "patient_guardians_not_self",
            meaning: Meaning::Invalid {
                field: "contact_id",
                message: "is the patient's own contact",
            },
        },
        Constraint {
            name: "patient_guardians_one_emergency_contact",
            meaning: Meaning::Conflict(
                "The patient has another emergency contact; unset it there first.",
            ),
        },
        Constraint {
            name: "patient_consents_patient_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "patient_consents_signer_fkey",
            meaning: Meaning::MissingReference("signed_by_contact_id"),
        },
        Constraint {
            name: "patient_consents_signer_allowed",
            meaning: Meaning::Invalid {
                field: "signed_by_contact_id",
                message: "must be the patient's contact or a guardian of the patient who may consent",
            },
        },
        Constraint {
            name: "patient_consents_signed_in_the_past",
            meaning: Meaning::Invalid {
                field: "signed_at",
                message: "must not be in the future (nor before 1900)",
            },
        },
        Constraint {
            name: "patient_consents_revoked_once",
            meaning: Meaning::Conflict("The consent is revoked already."),
        },
        Constraint {
            name: "patient_consents_immutable",
            meaning: Meaning::Conflict(
                "A consent does not change except by its revocation; record a new one.",
            ),
        },
        Constraint {
            name: "patients_erased",
            meaning: Meaning::Conflict(
                "The patient's data was erased: its record does not change and it takes no new appointment or record.",
            ),
        },
        Constraint {
            name: "patient_erasures_patient_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "patient_erasures_pkey",
            meaning: Meaning::Conflict("The patient's data is erased already."),
        },
        Constraint {
            name: "patient_erasures_reason_length",
            meaning: Meaning::Invalid {
                field: "X-Access-Reason",
                message: "must be 1 to 500 characters",
            },
        },
        Constraint {
            name: "clinic_settings_notes_retention_valid",
            meaning: Meaning::Invalid {
                field: "notes_retention_years",
                message: "must be 0 to 100",
            },
        },
        Constraint {
            name: "practitioner_hours_overlap",
            meaning: Meaning::Invalid {
                field: "hours",
                message: "a practitioner's ranges on one weekday must not overlap",
            },
        },
    ],
    events: &[
        EventKind {
            name: "appointment.booked",
            description: "An appointment was booked; `data` is the appointment as `GET /appointments/{id}` returns it.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
        EventKind {
            name: "appointment.rescheduled",
            description: "An appointment's time, practitioner, location or type changed; `data` is the appointment as it now is.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
        EventKind {
            name: "appointment.cancelled",
            description: "An appointment was cancelled; `data` is the appointment as it now is, with its `cancel_reason`.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
        EventKind {
            name: "appointment.completed",
            description: "An appointment took place; `data` is the appointment as it now is.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
        EventKind {
            name: "appointment.no_show",
            description: "The patient did not come; `data` is the appointment as it now is.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
        EventKind {
            name: "appointment.updated",
            description: "Another step of an appointment's lifecycle (confirmed, arrived, in progress); `data` is the appointment as it now is.",
            data: DataSchema::of::<appointments::Appointment>(),
        },
    ],
    notified_records: &[NotifiedRecord {
        record_type: "appointment",
        variables_sql: "SELECT app.appointment_variables(a) AS variables, p.contact_id \
                        FROM appointments a \
                        JOIN patients p ON p.tenant_id = a.tenant_id AND p.id = a.patient_id \
                        WHERE a.id = $1",
    }],
    migrations: &[
        Migration {
            name: "V36__clinic",
            sql: include_str!("migrations/V36__clinic.sql"),
        },
        Migration {
            name: "V38__appointment_reminders",
            sql: include_str!("migrations/V38__appointment_reminders.sql"),
        },
        Migration {
            name: "V39__clinic_api",
            sql: include_str!("migrations/V39__clinic_api.sql"),
        },
        Migration {
            name: "V40__treatment_notes_and_access_log",
            sql: include_str!("migrations/V40__treatment_notes_and_access_log.sql"),
        },
        Migration {
            name: "V41__appointment_events",
            sql: include_str!("migrations/V41__appointment_events.sql"),
        },
        Migration {
            name: "V42__rooms",
            sql: include_str!("migrations/V42__rooms.sql"),
        },
        Migration {
            name: "V43__recurring_appointments",
            sql: include_str!("migrations/V43__recurring_appointments.sql"),
        },
        Migration {
            name: "V44__availability_by_index",
            sql: include_str!("migrations/V44__availability_by_index.sql"),
        },
        Migration {
            name: "V45__availability_against_multiranges",
            sql: include_str!("migrations/V45__availability_against_multiranges.sql"),
        },
        Migration {
            name: "V46__guardians_and_consents",
            sql: include_str!("migrations/V46__guardians_and_consents.sql"),
        },
        Migration {
            name: "V47__patient_erasure",
            sql: include_str!("migrations/V47__patient_erasure.sql"),
        },
        Migration {
            name: "V49__erasure_untags_the_contact",
            sql: include_str!("migrations/V49__erasure_untags_the_contact.sql"),
        },
    ],
};

/// The vertical's operations, tagged with its tag.
pub type Api = (
    locations::LocationsApi,
    appointment_types::AppointmentTypesApi,
    practitioners::PractitionersApi,
    patients::PatientsApi,
    appointments::AppointmentsApi,
    notes::NotesApi,
    access_log::AccessLogApi,
    rooms::RoomsApi,
    export::ExportApi,
    guardians::GuardiansApi,
    consents::ConsentsApi,
    erasure::ErasureApi,
    settings::SettingsApi,
);

pub fn api(state: &SharedState) -> Api {
    (
        locations::LocationsApi::new(state.clone()),
        appointment_types::AppointmentTypesApi::new(state.clone()),
        practitioners::PractitionersApi::new(state.clone()),
        patients::PatientsApi::new(state.clone()),
        appointments::AppointmentsApi::new(state.clone()),
        notes::NotesApi::new(state.clone()),
        access_log::AccessLogApi::new(state.clone()),
        rooms::RoomsApi::new(state.clone()),
        export::ExportApi::new(state.clone()),
        guardians::GuardiansApi::new(state.clone()),
        consents::ConsentsApi::new(state.clone()),
        erasure::ErasureApi::new(state.clone()),
        settings::SettingsApi::new(state.clone()),
    )
}

/// Every clinic operation carries this tag in the OpenAPI document.
#[derive(Tags)]
enum ClinicTags {
    /// Clinic module: locations, appointment types, practitioners and their hours,
    /// patients, appointments and availability. Answers 404 when the deployment
    /// (`CRM_MODULES`) or the tenant (`/tenant/modules`) has the module off.
    Clinic,
}

/// The refusal of set-up changes to members who are not owners or admins.
const SETTING_UP: &str = "Only owners and admins set the clinic up.";

/// Opens a Clinic transaction (see [`module::begin`]).
async fn begin<T>(
    state: &SharedState,
    context: TenantContext,
    input: Result<T, ApiError>,
) -> Result<(TenantTx, T), ApiError> {
    module::begin(state, &MODULE, context, input, false).await
}

/// [`begin`] for a list page that may be a text search.
async fn begin_searching<T>(
    state: &SharedState,
    context: TenantContext,
    input: Result<T, ApiError>,
    searches: bool,
) -> Result<(TenantTx, T), ApiError> {
    module::begin(state, &MODULE, context, input, searches).await
}

/// For a DELETE: a foreign key can only be violated by rows that still refer to the
/// deleted one, so its violation is the conflict `still_used`.
fn in_use(still_used: &'static str) -> impl Fn(DbError) -> DbError {
    move |err| match err {
        DbError::Constraint(Meaning::MissingReference(_)) | DbError::MissingReference => {
            DbError::Constraint(Meaning::Conflict(still_used))
        }
        other => other,
    }
}
