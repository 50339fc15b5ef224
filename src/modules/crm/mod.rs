//! The CRM core every vertical builds on: [`contacts`], [`companies`] and [`deals`]
//! moving through the tenant's [`pipelines`] (`V50__pipelines.sql`). Tables: `migrations/V2__contacts_companies_deals.sql` in
//! this folder; `V10__deal_history_written_by_its_trigger.sql` leaves the deal history
//! to its trigger alone. [`tags`] label all three (`V48__tags.sql`).

pub mod companies;
pub mod contacts;
pub mod deals;
pub mod pipelines;
pub mod tags;

use crate::platform::{
    events::{DataSchema, EventKind},
    module::{Constraint, Meaning, Migration, ModuleInfo},
};

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
            name: "tags_name_key",
            meaning: Meaning::Conflict("A tag with this name already exists."),
        },
        Constraint {
            name: "contact_tags_contact_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "contact_tags_tag_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "company_tags_company_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "company_tags_tag_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "deal_tags_deal_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "deal_tags_tag_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "deals_stage_transition",
            meaning: Meaning::Invalid {
                field: "stage",
                message: "this stage change is not allowed by the pipeline",
            },
        },
        Constraint {
            name: "deals_stage_fkey",
            meaning: Meaning::Invalid {
                field: "stage",
                message: "is not a stage of the deal's pipeline",
            },
        },
        Constraint {
            name: "deals_pipeline_fkey",
            meaning: Meaning::MissingReference("pipeline_id"),
        },
        Constraint {
            name: "deals_lost_reason_fkey",
            meaning: Meaning::MissingReference("lost_reason_id"),
        },
        Constraint {
            name: "deals_lost_reason_required",
            meaning: Meaning::Invalid {
                field: "lost_reason_id",
                message: "a deal entering a lost stage needs one of the tenant's lost reasons",
            },
        },
        Constraint {
            name: "deals_lost_reason_only_when_lost",
            meaning: Meaning::Invalid {
                field: "lost_reason_id",
                message: "only a deal in a lost stage has a lost reason",
            },
        },
        Constraint {
            name: "pipelines_name_key",
            meaning: Meaning::Conflict("A pipeline with this name already exists."),
        },
        Constraint {
            name: "pipelines_default_key",
            meaning: Meaning::Conflict("Another pipeline became the default at the same time."),
        },
        Constraint {
            name: "pipelines_default_kept",
            meaning: Meaning::Conflict(
                "The default pipeline is not deleted: make another pipeline the default first.",
            ),
        },
        Constraint {
            name: "pipeline_stages_pkey",
            meaning: Meaning::Conflict("The pipeline already has a stage with this key."),
        },
        Constraint {
            name: "pipeline_stages_in_use",
            meaning: Meaning::Conflict("The stage holds deals: move them to another stage first."),
        },
        Constraint {
            name: "pipeline_moves_from_fkey",
            meaning: Meaning::Invalid {
                field: "allowed_moves",
                message: "names a stage the pipeline does not have",
            },
        },
        Constraint {
            name: "pipeline_moves_to_fkey",
            meaning: Meaning::Invalid {
                field: "allowed_moves",
                message: "names a stage the pipeline does not have",
            },
        },
        Constraint {
            name: "lost_reasons_name_key",
            meaning: Meaning::Conflict("A lost reason with this name already exists."),
        },
    ],
    events: &[
        EventKind {
            name: "contact.created",
            description: "A contact was created; `data` is the contact as `GET /contacts/{id}` returns it.",
            data: DataSchema::of::<contacts::Contact>(),
        },
        EventKind {
            name: "contact.updated",
            description: "A contact changed; `data` is the contact as it now is.",
            data: DataSchema::of::<contacts::Contact>(),
        },
        EventKind {
            name: "contact.deleted",
            description: "A contact was deleted; `data` is the contact as it was.",
            data: DataSchema::of::<contacts::Contact>(),
        },
        EventKind {
            name: "company.created",
            description: "A company was created; `data` is the company as `GET /companies/{id}` returns it.",
            data: DataSchema::of::<companies::Company>(),
        },
        EventKind {
            name: "company.updated",
            description: "A company changed; `data` is the company as it now is.",
            data: DataSchema::of::<companies::Company>(),
        },
        EventKind {
            name: "company.deleted",
            description: "A company was deleted; `data` is the company as it was.",
            data: DataSchema::of::<companies::Company>(),
        },
        EventKind {
            name: "deal.created",
            description: "A deal was created; `data` is the deal as `GET /deals/{id}` returns it.",
            data: DataSchema::of::<deals::Deal>(),
        },
        EventKind {
            name: "deal.updated",
            description: "A deal changed; `data` is the deal as it now is.",
            data: DataSchema::of::<deals::Deal>(),
        },
        EventKind {
            name: "deal.deleted",
            description: "A deal was deleted; `data` is the deal as it was.",
            data: DataSchema::of::<deals::Deal>(),
        },
        EventKind {
            name: "deal.stage_changed",
            description: "A deal moved to another stage; `data` is the change as `GET /deals/{id}/history` lists it (`from_stage`, `to_stage`, `changed_by`, `changed_at`) and the `deal` as it now is.",
            data: DataSchema::of::<deals::DealStageChanged>(),
        },
    ],
    notified_records: &[],
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
        Migration {
            name: "V17__crm_events",
            sql: include_str!("migrations/V17__crm_events.sql"),
        },
        Migration {
            name: "V31__contact_locale",
            sql: include_str!("migrations/V31__contact_locale.sql"),
        },
        Migration {
            name: "V48__tags",
            sql: include_str!("migrations/V48__tags.sql"),
        },
        Migration {
            name: "V50__pipelines",
            sql: include_str!("migrations/V50__pipelines.sql"),
        },
    ],
};
