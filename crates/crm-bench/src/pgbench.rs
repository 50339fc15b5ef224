//! The same database work as each API scenario, run by pgbench as the application role:
//! BEGIN; the signed context (the server's own `ENTER`: signature, membership and
//! session checked, context set); the store's own statement; COMMIT. Statement by
//! statement, or all four in one `\startpipeline` ... `\endpipeline` (the physical
//! limit of that work here).
//!
//! The SQL text comes from the crate (`crm::platform::db::ENTER`, the stores'
//! statements), with each `$n` replaced by the value the server would bind, computed in
//! SQL from pgbench random variables and the deterministic id scheme. The claims (one
//! per seeded owner's session) are minted before the run by the owner-only
//! `app.mint_context`, as the server signs them, and picked by tenant in the script.

use std::{path::Path, process::Stdio};

use crm::{
    modules::crm::{
        contacts::{self, ContactFilter, ContactSort, INSERT_SQL},
        deals::UPDATE_SQL,
    },
    modules::integrations::notifications::messages::QUEUE_SQL,
    modules::verticals::clinic::{
        self, AVAILABILITY_REFERENCES_SQL, AVAILABILITY_SQL, BOOK_SQL as CLINIC_BOOK_SQL,
    },
    modules::verticals::real_estate::{self, BOOK_SQL, DEFAULT_DURATION_MINUTES},
    platform::db::{ENTER, REQUIRE_MODULE},
};
use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio_postgres::Config as PgConfig;

use crate::{
    Result,
    dataset::{Dataset, Kind, search_terms},
    load::{
        AVAILABILITY_DAYS, AVAILABILITY_STEP_MINUTES, CLINIC_SLOT_MINUTES, CLINIC_SLOTS_PER_DAY,
        NOTIFY_SUBJECT, NOTIFY_TEXT, PGBENCH_CLINIC_SLOTS_FROM, PGBENCH_SLOTS_FROM, SLOT_MINUTES,
        Scenario, availability_last_day,
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Statements,
    Pipelined,
}

/// The sequence pgbench takes booking slots from (made by the seed).
pub const BOOKING_SLOTS: &str = "bench_booking_slot";

/// The sequence pgbench takes clinic booking slots from (made by the seed).
pub const CLINIC_SLOTS: &str = "bench_clinic_slot";

/// Replaces `$1..$n` with `args` (highest first, so `$1` never eats `$10`).
fn bind(sql: &str, args: &[String]) -> String {
    let mut sql = sql.to_owned();
    for (i, arg) in args.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), arg);
    }
    sql
}

fn text_array(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    format!("(ARRAY[{}])", quoted.join(", "))
}

/// One signed claim per seeded tenant (its owner's session), in tenant order, valid for
/// a day: what the server would send for each owner's requests.
pub async fn mint_claims(owner_url: &str, d: &Dataset) -> Result<Vec<String>> {
    let config: PgConfig = owner_url.parse()?;
    let client = crm::platform::db::owner_connect(&config).await?;
    let mint = format!(
        "SELECT app.mint_context({}, {}, {}, interval '1 day') \
         FROM generate_series(0, $1::bigint - 1) t ORDER BY t",
        Kind::Tenant.sql("t"),
        Kind::User.sql("t"),
        Kind::Session.sql("t"),
    );
    let tenants = i64::try_from(d.tenants)?;
    let rows = client.query(&mint, &[&tenants]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The pgbench script of one single-request scenario, entering `claims[t]` for tenant `t`.
pub fn script(d: &Dataset, scenario: Scenario, form: Form, claims: &[String]) -> Result<String> {
    let mut meta = vec![
        format!("\\set t random(0, {})", d.tenants - 1),
        format!("\\set r random(0, {})", d.contacts_per_tenant - 1),
        format!("\\set n :t * {} + :r", d.contacts_per_tenant),
    ];
    let terms = search_terms();
    let clinic = d.clinic.as_ref();
    if scenario.needs_clinic() && clinic.is_none() {
        return Err(format!("{} needs a data set with a clinic", scenario.name()).into());
    }
    // The clinic's scenarios are tenant 0's: the practitioner :p, the patient :r.
    if let Some(c) = clinic.filter(|_| scenario.needs_clinic()) {
        meta = vec![
            "\\set t 0".to_owned(),
            format!("\\set p random(0, {})", c.practitioners - 1),
            format!("\\set r random(0, {})", c.patients - 1),
            format!("\\set d random(1, {})", availability_last_day(c)),
        ];
    }
    let statement = match scenario {
        Scenario::Get => bind(contacts::GET_SQL, &[Kind::Contact.sql(":n")]),
        Scenario::List => {
            let page =
                contacts::list_query(empty_filter(None), ContactSort::default(), None, None)?;
            bind(page.sql(), &["51".to_owned()])
        }
        Scenario::ListTag => {
            let filter = ContactFilter {
                tag_id: Some(uuid::Uuid::nil()),
                ..empty_filter(None)
            };
            let page = contacts::list_query(filter, ContactSort::default(), None, None)?;
            bind(page.sql(), &[Kind::Tag.sql(":t"), "51".to_owned()])
        }
        Scenario::Search => {
            meta.push(format!("\\set k random(1, {})", terms.len()));
            let filter = empty_filter(Some("term".to_owned()));
            let page = contacts::list_query(filter, ContactSort::default(), None, None)?;
            bind(
                page.sql(),
                &[format!("{}[:k]", text_array(&terms)), "51".to_owned()],
            )
        }
        Scenario::Create => {
            meta.push(format!("\\set k random(1, {})", terms.len()));
            bind(
                INSERT_SQL,
                &[
                    "gen_random_uuid()".to_owned(),
                    "'Bench'".to_owned(),
                    format!("{}[:k]", text_array(&terms)),
                    "'pgb-' || gen_random_uuid() || '@bench.test'".to_owned(),
                    "NULL".to_owned(),
                    "NULL".to_owned(),
                    "NULL".to_owned(),
                    "NULL".to_owned(),
                ],
            )
        }
        Scenario::UpdateStage => bind(
            UPDATE_SQL,
            &[
                Kind::Deal.sql(":n"),
                "NULL".to_owned(),
                "false".to_owned(),
                "NULL".to_owned(),
                "false".to_owned(),
                "NULL".to_owned(),
                "NULL".to_owned(),
                "NULL".to_owned(),
                // The API client sends the other of NEGOTIATION / NEW (NEGOTIATION when it
                // does not know the stage); pgbench cannot remember, so the row decides.
                "CASE stage WHEN 'NEGOTIATION' THEN 'NEW' ELSE 'NEGOTIATION' END".to_owned(),
                "false".to_owned(),
                "NULL".to_owned(),
                "false".to_owned(),
                "NULL".to_owned(),
                "NULL".to_owned(),
                "false".to_owned(),
                "NULL".to_owned(),
            ],
        ),
        // The server's binds: a v7 id, email, transactional, the contact, no template,
        // no locale (the contact's or tenant's, decided by the trigger), no variables,
        // subject and text, no HTML, now, no idempotency key.
        Scenario::Notify => bind(
            QUEUE_SQL,
            &[
                "gen_random_uuid()".to_owned(),
                "'email'".to_owned(),
                "'transactional'".to_owned(),
                Kind::Contact.sql(":n"),
                "NULL".to_owned(),
                "NULL".to_owned(),
                "'{}'::jsonb".to_owned(),
                format!("'{NOTIFY_SUBJECT}'"),
                format!("'{NOTIFY_TEXT}'"),
                "NULL".to_owned(),
                "now()".to_owned(),
                "NULL".to_owned(),
            ],
        ),
        // The server's binds: a v7 id, the tenant's property, the contact, the caller
        // (the owner) as agent, the next free slot, the default length, no notes.
        Scenario::Book => bind(
            BOOK_SQL,
            &[
                "gen_random_uuid()".to_owned(),
                Kind::Property.sql(":t"),
                Kind::Contact.sql(":n"),
                Kind::User.sql(":t"),
                format!(
                    "'{PGBENCH_SLOTS_FROM}'::timestamptz \
                     + nextval('{BOOKING_SLOTS}') * interval '{SLOT_MINUTES} minutes'"
                ),
                DEFAULT_DURATION_MINUTES.to_string(),
                "NULL".to_owned(),
            ],
        ),
        // The server's binds: the practitioner, the type, a window of 7 days from a UTC
        // midnight (:d days after the seed's), no location, the grid; after the check
        // that the tenant has the type and the practitioner (AVAILABILITY_REFERENCES_SQL).
        Scenario::Availability => {
            let c = clinic.ok_or("checked above")?;
            let from = |days: String| {
                format!(
                    "('{}T00:00:00Z'::timestamptz + ({days})::integer * interval '24 hours')",
                    c.seeded_on
                )
            };
            bind(
                AVAILABILITY_SQL,
                &[
                    Kind::Practitioner.sql(":p"),
                    Kind::AppointmentType.sql("0"),
                    from(":d".to_owned()),
                    from(format!(":d + {AVAILABILITY_DAYS}")),
                    "NULL::uuid".to_owned(),
                    AVAILABILITY_STEP_MINUTES.to_string(),
                ],
            )
        }
        // The server's binds: a v7 id, a patient, a practitioner, the type, the next
        // slot of the sequence (no other booking of this run has its time), the
        // location, no room (the API's bookings name none).
        Scenario::ClinicBook => bind(
            CLINIC_BOOK_SQL,
            &[
                "gen_random_uuid()".to_owned(),
                Kind::Patient.sql(":r"),
                Kind::Practitioner.sql(":p"),
                Kind::AppointmentType.sql("0"),
                format!(
                    "(SELECT '{PGBENCH_CLINIC_SLOTS_FROM}'::timestamptz \
                     + (s.n / {CLINIC_SLOTS_PER_DAY}) * interval '24 hours' \
                     + (s.n % {CLINIC_SLOTS_PER_DAY}) * interval '{CLINIC_SLOT_MINUTES} minutes' \
                     FROM (SELECT nextval('{CLINIC_SLOTS}') AS n) AS s)"
                ),
                Kind::Location.sql("0"),
                "NULL::uuid".to_owned(),
            ],
        ),
        Scenario::Mix => return Err("the mix is several scripts with weights".into()),
    };
    let context = bind(ENTER, &[format!("{}[:t + 1]", text_array(claims))]);
    let mut lines = meta;
    if form == Form::Pipelined {
        lines.push("\\startpipeline".to_owned());
    }
    lines.push("BEGIN;".to_owned());
    lines.push(format!("{context};"));
    // The first flight of a switchable module's transaction checks its switch.
    let module = match scenario {
        Scenario::Book => Some(real_estate::MODULE.name),
        Scenario::Availability | Scenario::ClinicBook => Some(clinic::MODULE.name),
        _ => None,
    };
    if let Some(name) = module {
        lines.push(format!("{};", bind(REQUIRE_MODULE, &[format!("'{name}'")])));
    }
    if scenario == Scenario::Availability {
        let references = bind(
            AVAILABILITY_REFERENCES_SQL,
            &[
                Kind::AppointmentType.sql("0"),
                Kind::Practitioner.sql(":p"),
                "NULL::uuid".to_owned(),
            ],
        );
        lines.push(format!("{references};"));
    }
    lines.push(format!("{statement};"));
    lines.push("COMMIT;".to_owned());
    if form == Form::Pipelined {
        lines.push("\\endpipeline".to_owned());
    }
    Ok(lines.join("\n") + "\n")
}

fn empty_filter(q: Option<String>) -> ContactFilter {
    ContactFilter {
        q,
        company_id: None,
        created_after: None,
        created_before: None,
        tag_id: None,
    }
}

/// Writes the scripts of `scenario` into `dir`; returns the `-f file@weight` arguments.
pub fn write_scripts(
    d: &Dataset,
    scenario: Scenario,
    form: Form,
    dir: &Path,
    claims: &[String],
) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let parts: Vec<(Scenario, u32)> = match scenario {
        Scenario::Mix => Scenario::mix().to_vec(),
        one => vec![(one, 1)],
    };
    let mut args = Vec::new();
    for (part, weight) in parts {
        let file = dir.join(format!("{}-{}.sql", slug(part), slug_form(form)));
        std::fs::write(&file, script(d, part, form, claims)?)?;
        args.push("-f".to_owned());
        args.push(format!("{}@{weight}", file.display()));
    }
    Ok(args)
}

pub fn slug(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Get => "get",
        Scenario::List => "list",
        Scenario::ListTag => "list-tag",
        Scenario::Search => "search",
        Scenario::Create => "create",
        Scenario::UpdateStage => "update-stage",
        Scenario::Notify => "notify",
        Scenario::Book => "book",
        Scenario::Mix => "mix",
        Scenario::Availability => "availability",
        Scenario::ClinicBook => "clinic-book",
    }
}

fn slug_form(form: Form) -> &'static str {
    match form {
        Form::Statements => "stmt",
        Form::Pipelined => "pipelined",
    }
}

/// API requests/s over pgbench transactions/s, as `1.23x`; `–` when pgbench did none.
pub fn ratio(api_rps: f64, tps: f64) -> String {
    if tps > 0.0 {
        format!("{:.2}x", api_rps / tps)
    } else {
        "–".to_owned()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PgbenchSummary {
    pub clients: u64,
    pub tps: f64,
    pub latency_avg_ms: f64,
    pub failed: u64,
}

/// Connection settings for pgbench: the server's host, port and database, as `role`.
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub role: String,
    pub password: String,
}

impl PgTarget {
    pub fn from_owner_url(url: &str, role: &str, password: &str) -> Result<Self> {
        let config: PgConfig = url.parse()?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        Ok(Self {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config.get_dbname().unwrap_or("crm_bench").to_owned(),
            role: role.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// Runs pgbench `-M prepared -c clients -j 2 -T seconds` with `script_args`.
pub async fn run(
    pg: &PgTarget,
    script_args: &[String],
    clients: u64,
    seconds: u64,
) -> Result<PgbenchSummary> {
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string()])
        .args(["-h", &pg.host, "-p", &pg.port.to_string(), "-U", &pg.role])
        .args(script_args)
        .arg(&pg.database)
        .env("PGPASSWORD", &pg.password)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| format!("running pgbench (is it installed?): {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let number = |prefix: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
    };
    // pgbench 15 prints no tps when its clients aborted before a transaction completed
    // (a statement timeout, say): a result (what was processed per second, every
    // client failed), not a broken run.
    let aborted = stderr
        .lines()
        .filter(|l| l.contains("client") && l.contains("aborted"))
        .count() as u64;
    let processed = number("number of transactions actually processed: ");
    let tps = number("tps = ").or_else(|| {
        processed
            .filter(|_| aborted > 0)
            .map(|n| n / seconds.max(1) as f64)
    });
    let Some(tps) = tps else {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout.trim(),
            stderr.lines().take(5).collect::<Vec<_>>().join(" | ")
        )
        .into());
    };
    // pgbench 15 reports failed transactions; a client aborted by an error shows in stderr.
    Ok(PgbenchSummary {
        clients,
        tps,
        latency_avg_ms: number("latency average = ").unwrap_or(0.0),
        failed: number("number of failed transactions: ").map_or(0, |f| f as u64) + aborted,
    })
}

/// How many more connections the server accepts for a non-superuser right now, less a
/// margin for others (pgbench needs one backend per client; the API needs its pool).
pub async fn connection_headroom(owner_url: &str) -> Result<u64> {
    let config: PgConfig = owner_url.parse()?;
    let client = crm::platform::db::owner_connect(&config).await?;
    let row = client
        .query_one(
            "SELECT current_setting('max_connections')::int \
                  - current_setting('superuser_reserved_connections')::int \
                  - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int",
            &[],
        )
        .await?;
    let free: i32 = row.get(0);
    Ok(u64::try_from(free - 5).unwrap_or(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Clinic;

    /// The clinic's scripts bind every parameter and check the module's switch first.
    #[test]
    fn clinic_scripts_bind_every_parameter() -> Result<()> {
        let d = Dataset {
            name: "test".to_owned(),
            tenants: 2,
            contacts_per_tenant: 10,
            deals_per_tenant: 10,
            companies_per_tenant: 1,
            password: String::new(),
            clinic: Some(Clinic {
                practitioners: 50,
                patients: 10,
                appointments: 20_000,
                seeded_on: "2026-12-03".to_owned(),
                booked_days_ahead: 14,
            }),
            tokens: Vec::new(),
        };
        let claims = ["one".to_owned(), "two".to_owned()];
        for form in [Form::Statements, Form::Pipelined] {
            let availability = script(&d, Scenario::Availability, form, &claims)?;
            assert!(!availability.contains('$'), "{availability}");
            assert!(availability.contains("\\set t 0\n"));
            assert!(availability.contains("\\set d random(1, 7)\n"));
            assert!(availability.contains("app.require_module('clinic')"));
            assert!(availability.contains("EXISTS (SELECT 1 FROM practitioners"));
            assert!(availability.contains("app.clinic_availability("));
            let book = script(&d, Scenario::ClinicBook, form, &claims)?;
            assert!(!book.contains('$'), "{book}");
            assert!(book.contains("INSERT INTO appointments"));
            assert!(book.contains(&format!("nextval('{CLINIC_SLOTS}')")));
        }
        Ok(())
    }
}
