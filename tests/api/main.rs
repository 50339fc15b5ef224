//! Integration tests: the real server on a random port, each test with its own
//! database cloned from a migrated template, talking HTTP; attack tests connect as the
//! application role itself (never as a superuser or table owner).
//!
//! The tree mirrors `src/`: `platform/` (doors, isolation, tokens, start-up),
//! `http/` (the host's middleware and probes), `jobs/`, and `modules/<group>/<name>`.
//! `support/` has `spawn_app()` and the typed helpers; `layering` and `sql_hygiene`
//! read the source itself.

mod support;

mod layering;
mod sql_hygiene;

mod platform {
    mod audit;
    mod bola;
    mod fair_share;
    mod isolation_http;
    mod isolation_sql;
    mod migrations;
    mod outages;
    mod pgbouncer;
    mod pooling;
    mod query_plans;
    mod residual_powers;
    mod side_channels;
    mod signed_context;
    mod soak;
    mod startup;
    mod tokens;
}

mod http {
    mod connections;
    mod contract;
    mod deadlines;
    mod limits;
    mod logs;
    mod observability;
    mod probes;
    mod shutdown;
}

mod faults {
    mod database;
    mod load;
    mod server;
    mod webhook_receivers;
    mod webhook_workers;
}

mod jobs {
    mod worker;
}

mod modules {
    mod identity {
        mod invitations;
        mod revocation;
        mod sessions;
        mod users;
    }
    mod integrations {
        mod mail;
        mod notification_sending;
        mod notification_settings;
        mod notifications;
        mod unsubscribing;
        mod webhooks;
    }
    mod tenancy {
        mod settings;
    }
    mod crm {
        mod companies;
        mod contacts;
        mod deals;
        mod pipelines;
        mod tags;
    }
    mod verticals {
        mod clinic;
        mod clinic_api;
        mod clinic_consents;
        mod clinic_erasure;
        mod clinic_records;
        mod real_estate;
        mod viewing_notifications;
    }
}
