//! Integration tests: the real server on a random port, each test with its own
//! database cloned from a migrated template, talking HTTP; attack tests connect as the
//! application role itself (never as a superuser or table owner).

mod helpers;

mod audit;
mod auth;
mod bola;
mod companies;
mod contacts;
mod deals;
mod isolation_http;
mod isolation_sql;
mod limits;
mod logs;
mod observability;
mod pgbouncer;
mod pooling;
mod probes;
mod query_plans;
mod real_estate;
mod shutdown;
mod soak;
mod sql_hygiene;
mod startup;
mod tokens;
mod users;
