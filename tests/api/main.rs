//! Integration tests: the real server on a random port, each test with its own
//! database cloned from a migrated template, talking HTTP; attack tests connect as the
//! application role itself (never as a superuser or table owner).

mod helpers;

mod auth;
mod contacts;
mod isolation_http;
mod isolation_sql;
mod limits;
mod logs;
mod observability;
mod pgbouncer;
mod pooling;
mod probes;
mod shutdown;
mod startup;
mod tokens;
