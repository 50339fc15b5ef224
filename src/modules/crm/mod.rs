//! The CRM core every vertical builds on: [`contacts`], [`companies`] and [`deals`]
//! with their stage pipeline. Tables: `migrations/V2__contacts_companies_deals.sql` in
//! this folder; `V10__deal_history_written_by_its_trigger.sql` leaves the deal history
//! to its trigger alone.

pub mod companies;
pub mod contacts;
pub mod deals;

use crate::platform::module::{Constraint, Meaning, Migration, ModuleInfo};

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "crm",
    title: "Contacts, companies and deals",
    switchable: false,
    constraints: &[
        Constraint {
            name: "contacts_email_key",
            meaning: Meaning::Conflict("A contact with this email already exists."),
        },
        Constraint {
            name: "companies_domain_key",
            meaning: Meaning::Conflict("A company with this domain already exists."),
        },
        Constraint {
            name: "contacts_company_fkey",
            meaning: Meaning::MissingReference("company_id"),
        },
        Constraint {
            name: "deals_company_fkey",
            meaning: Meaning::MissingReference("company_id"),
        },
        Constraint {
            name: "deals_contact_fkey",
            meaning: Meaning::MissingReference("contact_id"),
        },
        Constraint {
            name: "deals_stage_transition",
            meaning: Meaning::Invalid {
                field: "stage",
                message: "this stage change is not allowed by the pipeline",
            },
        },
    ],
    migrations: &[
        Migration {
            name: "V2__contacts_companies_deals",
            sql: include_str!("migrations/V2__contacts_companies_deals.sql"),
        },
        Migration {
            name: "V9__keyset_sort_keys",
            sql: include_str!("migrations/V9__keyset_sort_keys.sql"),
        },
        Migration {
            name: "V10__deal_history_written_by_its_trigger",
            sql: include_str!("migrations/V10__deal_history_written_by_its_trigger.sql"),
        },
    ],
};
