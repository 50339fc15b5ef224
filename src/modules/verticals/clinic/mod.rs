//! The Clinic vertical (issue 15), its first part: the database that the clinic's API
//! will stand on. Locations in their own time zones, patients (a contact plus clinical
//! data and identifiers), practitioners (a member with a clinical profile, weekly
//! hours per location, time off), appointment types, and appointments that PostgreSQL
//! keeps from double-booking (`appointments_practitioner_overlap`, buffers included),
//! from falling outside working hours or into time off, and to their lifecycle, all
//! in `migrations/V36__clinic.sql`. `app.clinic_availability` computes the bookable
//! start times in one statement. Appointments remind their patient by the tenant's
//! `appointment_reminder` rules (`migrations/V38__appointment_reminders.sql`), and a
//! template preview takes an appointment's values (`record` `{"type": "appointment"}`).
//!
//! Switchable like every vertical: its tables exist wherever it is built, and a tenant
//! switches it off with `/tenant/modules`. Tests: `tests/api/modules/verticals/clinic.rs`
//! (availability against a brute-force reference, concurrent bookings, as the app
//! role's own SQL); pgTAP: `tests/sql/11_clinic.sql`.

use crate::platform::module::{Constraint, Meaning, Migration, ModuleInfo, NotifiedRecord};

/// The Clinic vertical: switchable per deployment and per tenant.
pub const MODULE: ModuleInfo = ModuleInfo {
    name: "clinic",
    title: "Clinic",
    switchable: true,
    constraints: &[
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
        Constraint {
            name: "practitioner_hours_overlap",
            meaning: Meaning::Invalid {
                field: "hours",
                message: "a practitioner's ranges on one weekday must not overlap",
            },
        },
    ],
    events: &[],
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
    ],
};
