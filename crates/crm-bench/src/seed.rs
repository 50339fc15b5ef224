//! `crm-bench seed`: recreates the benchmark database and loads N tenants x M contacts
//! (plus as many deals, some companies and one owner per tenant) with COPY as the owner,
//! and, in tenant 0, a clinic: practitioners, patients and their appointments.
//!
//! Fast-load recipe: secondary indexes are dropped before COPY and rebuilt after it,
//! the sessions run with `session_replication_role = replica` (no per-row triggers or
//! foreign-key checks: the generated rows are consistent by construction, and the
//! stage history the trigger would write is copied explicitly), tables are loaded in
//! parallel, and VACUUM ANALYZE leaves fresh statistics and a visibility map.

use std::{
    path::Path,
    sync::LazyLock,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use bytes::Bytes;
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use crm::{
    modules::registry,
    platform::{
        auth::Claims,
        config::{Config, JwtConfig},
        db,
        tenancy::Role,
    },
};
use futures::{SinkExt, pin_mut};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tokio_postgres::{Client, Config as PgConfig};
use uuid::Uuid;

use crate::{
    Result,
    dataset::{Clinic, Dataset, FIRST_NAMES, Kind, LAST_NAMES, Rng},
    pgbench::{BOOKING_SLOTS, CLINIC_SLOTS},
};

/// The password of every seeded owner (logins in the login scenario use it).
const PASSWORD: &str = "bench password 4f1c2a";
const STAGES: &[&str] = &[
    "NEW",
    "NEW",
    "NEW",
    "NEW",
    "NEGOTIATION",
    "NEGOTIATION",
    "NEGOTIATION",
    "CLOSED_WON",
    "CLOSED_WON",
    "CLOSED_LOST",
];
const CHUNK: usize = 1 << 20;

pub struct SeedArgs {
    pub name: String,
    pub tenants: u64,
    pub contacts_per_tenant: u64,
    pub companies_per_tenant: u64,
    /// Appointments of tenant 0's clinic; 0: no clinic.
    pub appointments: u64,
    pub practitioners: u64,
}

pub async fn seed(args: SeedArgs, out: &Path) -> Result<Dataset> {
    let config = Config::from_env().map_err(|err| format!("configuration: {err}"))?;
    if config.jwt.generated {
        return Err("set CRM_JWT_SECRET (the server's) so the minted tokens verify".into());
    }
    let owner: PgConfig = config.database_url.expose().parse()?;
    let database = owner.get_dbname().unwrap_or_default().to_owned();
    if !database.contains("bench") {
        return Err(format!(
            "refusing to recreate database {database:?}: its name must contain \"bench\""
        )
        .into());
    }
    let started = Instant::now();
    recreate(&owner, &database).await?;
    db::prepare_database(&config, registry::ALL).await?;
    eprintln!("seed: migrated {database} in {:.1?}", started.elapsed());

    let agenda = (args.appointments > 0).then(|| Agenda::new(&args, NOW.date_naive()));
    let dataset = Dataset {
        name: args.name,
        tenants: args.tenants,
        contacts_per_tenant: args.contacts_per_tenant,
        deals_per_tenant: args.contacts_per_tenant,
        companies_per_tenant: args.companies_per_tenant.max(1),
        password: PASSWORD.to_owned(),
        clinic: None,
        tokens: Vec::new(),
    };
    let sessions = [
        connect(&owner).await?,
        connect(&owner).await?,
        connect(&owner).await?,
    ];
    let indexes = drop_secondary_indexes(&sessions[0]).await?;
    let loaded = Instant::now();
    let hash = Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .map_err(|err| err.to_string())?
        .to_string();
    load_tenants(&sessions[0], &dataset, &hash).await?;
    let pipelines = open_default_pipelines(&sessions[0], &dataset).await?;
    let (a, b, c) = futures::join!(
        async {
            load_companies(&sessions[0], &dataset).await?;
            load_stage_changes(&sessions[0], &dataset, &pipelines).await
        },
        async {
            load_contacts(&sessions[1], &dataset).await?;
            match &agenda {
                Some(agenda) => load_clinic(&sessions[1], agenda, &hash).await,
                None => Ok(()),
            }
        },
        load_deals(&sessions[2], &dataset, &pipelines),
    );
    a?;
    b?;
    c?;
    eprintln!(
        "seed: copied {} contacts, {} deals and {} appointments in {:.1?}",
        dataset.contacts(),
        dataset.deals(),
        agenda.as_ref().map_or(0, |agenda| agenda.appointments()),
        loaded.elapsed()
    );

    let rebuilt = Instant::now();
    let (even, odd): (Vec<_>, Vec<_>) = indexes.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let (x, y) = futures::join!(
        build_indexes(&sessions[0], even.into_iter().map(|(_, def)| def)),
        build_indexes(&sessions[1], odd.into_iter().map(|(_, def)| def)),
    );
    x?;
    y?;
    eprintln!(
        "seed: rebuilt {} indexes in {:.1?}",
        indexes.len(),
        rebuilt.elapsed()
    );
    load_bookings(&sessions[0], &dataset).await?;
    load_tags(&sessions[0], &dataset).await?;
    let vacuumed = Instant::now();
    sessions[0]
        .batch_execute(
            "VACUUM (ANALYZE) tenants, users, memberships, user_tenants, refresh_tokens, companies, contacts, deals, deal_stage_changes, properties, notification_rules, tags, contact_tags, \
             clinic_locations, appointment_types, practitioners, practitioner_hours, patients, appointments",
        )
        .await?;
    eprintln!("seed: VACUUM ANALYZE in {:.1?}", vacuumed.elapsed());

    let mut dataset = dataset;
    dataset.clinic = agenda.map(|agenda| agenda.clinic());
    dataset.tokens = mint_tokens(&config.jwt, dataset.tenants)?;
    dataset.save(out)?;
    eprintln!(
        "seed: {} ready in {:.1?}; dataset.json and tokens.txt in {}",
        dataset.name,
        started.elapsed(),
        out.display()
    );
    Ok(dataset)
}

async fn build_indexes(session: &Client, definitions: impl Iterator<Item = &String>) -> Result<()> {
    session
        .batch_execute("SET maintenance_work_mem = '256MB'")
        .await?;
    for definition in definitions {
        session.batch_execute(definition).await?;
    }
    Ok(())
}

async fn connect(config: &PgConfig) -> Result<Client> {
    let client = db::owner_connect(config).await?;
    // Superuser only: skips per-row triggers and foreign-key checks while loading.
    client
        .batch_execute("SET session_replication_role = replica; SET synchronous_commit = off")
        .await
        .map_err(|err| format!("the seeding role must be a superuser: {err}"))?;
    Ok(client)
}

async fn recreate(owner: &PgConfig, database: &str) -> Result<()> {
    let mut admin = owner.clone();
    admin.dbname("postgres");
    let client = db::owner_connect(&admin).await?;
    // The name was checked above; PostgreSQL quotes it (format's %I).
    let ddl: String = client
        .query_one(
            "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)",
            &[&database],
        )
        .await?
        .get(0);
    client.batch_execute(&ddl).await?;
    Ok(())
}

/// Drops every index that backs no constraint on the bulk tables; returns their DDL.
async fn drop_secondary_indexes(client: &Client) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid) FROM pg_index \
             WHERE indrelid = ANY ('{contacts,deals,companies,deal_stage_changes,patients,appointments}'::regclass[]) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)",
            &[],
        )
        .await?;
    for row in &rows {
        client.batch_execute(row.get::<_, &str>(0)).await?;
    }
    Ok(rows.iter().map(|row| row.get::<_, String>(1)).collect())
}

/// COPY ... FROM STDIN (text format) of `rows` lines written by `line`.
async fn copy(
    client: &Client,
    sql: &str,
    rows: u64,
    mut line: impl FnMut(u64, &mut String),
) -> Result<u64> {
    let sink = client.copy_in(sql).await?;
    pin_mut!(sink);
    let mut buffer = String::with_capacity(CHUNK + 4096);
    for n in 0..rows {
        line(n, &mut buffer);
        if buffer.len() >= CHUNK {
            sink.send(Bytes::from(std::mem::replace(
                &mut buffer,
                String::with_capacity(CHUNK + 4096),
            )))
            .await?;
        }
    }
    if !buffer.is_empty() {
        sink.send(Bytes::from(buffer)).await?;
    }
    Ok(sink.finish().await?)
}

/// When the seed started: every generated timestamp is before it.
static NOW: LazyLock<DateTime<Utc>> = LazyLock::new(Utc::now);

fn timestamp(minutes_ago: u64) -> String {
    let at = *NOW - Duration::minutes(i64::try_from(minutes_ago).unwrap_or(i64::MAX));
    at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

async fn load_tenants(client: &Client, d: &Dataset, hash: &str) -> Result<()> {
    let created = timestamp(d.contacts_per_tenant + 10);
    copy(
        client,
        "COPY tenants (id, name, created_at) FROM STDIN",
        d.tenants,
        |t, b| {
            b.push_str(&format!("{}\tTenant {t}\t{created}\n", Kind::Tenant.id(t)));
        },
    )
    .await?;
    copy(
        client,
        "COPY users (id, email, password_hash, full_name) FROM STDIN",
        d.tenants,
        |t, b| {
            b.push_str(&format!(
                "{}\t{}\t{hash}\tOwner {t}\n",
                Kind::User.id(t),
                Dataset::owner_email(t)
            ));
        },
    )
    .await?;
    // Triggers are off while seeding: the member's identity columns and the login
    // lookup (user_tenants) are written here, as the membership triggers would.
    copy(
        client,
        "COPY memberships (tenant_id, user_id, role, email, full_name) FROM STDIN",
        d.tenants,
        |t, b| {
            b.push_str(&format!(
                "{}\t{}\towner\t{}\tOwner {t}\n",
                Kind::Tenant.id(t),
                Kind::User.id(t),
                Dataset::owner_email(t)
            ));
        },
    )
    .await?;
    copy(
        client,
        "COPY user_tenants (tenant_id, user_id) FROM STDIN",
        d.tenants,
        |t, b| {
            b.push_str(&format!("{}\t{}\n", Kind::Tenant.id(t), Kind::User.id(t)));
        },
    )
    .await?;
    // One live session per owner, which every request checks; its refresh token is
    // never handed out (the stored hash is of nothing anyone holds).
    copy(
        client,
        "COPY refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at) FROM STDIN",
        d.tenants,
        |t, b| {
            let session = Kind::Session.id(t);
            b.push_str(&format!(
                "{}\t{session}\t{session}\t{}\t\\\\x{}\t2100-01-01 00:00:00+00\n",
                Kind::Tenant.id(t),
                Kind::User.id(t),
                session.replace('-', ""),
            ));
        },
    )
    .await?;
    Ok(())
}

async fn load_companies(client: &Client, d: &Dataset) -> Result<()> {
    let per = d.companies_per_tenant;
    let created = timestamp(d.contacts_per_tenant + 5);
    copy(
        client,
        "COPY companies (tenant_id, id, name, domain, created_at, updated_at) FROM STDIN",
        d.tenants * per,
        |n, b| {
            b.push_str(&format!(
                "{}\t{}\tCompany {n}\tcompany{n}.example\t{created}\t{created}\n",
                Kind::Tenant.id(n / per),
                Kind::Company.id(n),
            ));
        },
    )
    .await?;
    Ok(())
}

/// Contact `r` of tenant `t` is row `n = t * M + r`; half of them work for a company.
fn company_of(d: &Dataset, n: u64) -> Option<u64> {
    let (t, r) = (n / d.contacts_per_tenant, n % d.contacts_per_tenant);
    (r % 2 == 0).then(|| t * d.companies_per_tenant + (r / 2) % d.companies_per_tenant)
}

async fn load_contacts(client: &Client, d: &Dataset) -> Result<()> {
    let m = d.contacts_per_tenant;
    copy(
        client,
        "COPY contacts (tenant_id, id, first_name, last_name, email, phone, company_id, created_at, updated_at) FROM STDIN",
        d.contacts(),
        |n, b| {
            let mut rng = Rng::new(n);
            let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
            let company = company_of(d, n).map_or_else(|| "\\N".to_owned(), |c| Kind::Company.id(c));
            let created = timestamp(m - n % m);
            b.push_str(&format!(
                "{}\t{}\t{first}\t{last}\t{}.{}.{n}@example.com\t+1 555 {:04}\t{company}\t{created}\t{created}\n",
                Kind::Tenant.id(n / m),
                Kind::Contact.id(n),
                first.to_lowercase(),
                last.to_lowercase(),
                n % 10_000,
            ));
        },
    )
    .await?;
    Ok(())
}

/// What the `list-tag` scenario filters on: each tenant's tag "VIP" ([`Kind::Tag`]) on
/// every tenth of its contacts (row numbers ending in 0).
async fn load_tags(client: &Client, d: &Dataset) -> Result<()> {
    let tenants = i64::try_from(d.tenants)?;
    let contacts = i64::try_from(d.contacts())?;
    let tags = format!(
        "INSERT INTO tags (tenant_id, id, name) SELECT {}, {}, 'VIP' \
         FROM generate_series(0, $1::bigint - 1) t",
        Kind::Tenant.sql("t"),
        Kind::Tag.sql("t"),
    );
    client.execute(&tags, &[&tenants]).await?;
    let tenant_of = format!("n / {}", d.contacts_per_tenant);
    let links = format!(
        "INSERT INTO contact_tags (tenant_id, contact_id, tag_id) SELECT {}, {}, {} \
         FROM generate_series(0, $1::bigint - 1) n WHERE n % 10 = 0",
        Kind::Tenant.sql(&tenant_of),
        Kind::Contact.sql("n"),
        Kind::Tag.sql(&tenant_of),
    );
    client.execute(&links, &[&contacts]).await?;
    Ok(())
}

/// What the `book` scenario books: one property per tenant, its agent the owner; the
/// rules an agency would set (a confirmation, reminders 24 h and 2 h ahead); and the
/// sequence pgbench takes its slots from.
async fn load_bookings(client: &Client, d: &Dataset) -> Result<()> {
    let tenants = i64::try_from(d.tenants)?;
    let properties = format!(
        "INSERT INTO properties (tenant_id, id, title, address_line, city, country, \
         price_minor, currency, listing_type, property_type, agent_id) \
         SELECT {}, {}, 'Bench flat', 'Bench street 1', 'Zurich', 'CH', 100000000, 'CHF', \
         'SALE', 'APARTMENT', {} FROM generate_series(0, $1::bigint - 1) t",
        Kind::Tenant.sql("t"),
        Kind::Property.sql("t"),
        Kind::User.sql("t"),
    );
    client.execute(&properties, &[&tenants]).await?;
    let rules = format!(
        "INSERT INTO notification_rules (tenant_id, id, template_key, channel, offset_minutes) \
         SELECT {}, {}, r.key, r.channel, r.minutes FROM generate_series(0, $1::bigint - 1) t, \
         (VALUES (0, 'viewing_confirmation', 'email', 0), (1, 'viewing_reminder', 'email', 1440), \
                 (2, 'viewing_reminder', 'sms', 120)) AS r (k, key, channel, minutes)",
        Kind::Tenant.sql("t"),
        Kind::Rule.sql("3 * t + r.k"),
    );
    client.execute(&rules, &[&tenants]).await?;
    client
        .batch_execute(&format!(
            "CREATE SEQUENCE {BOOKING_SLOTS}; GRANT USAGE ON SEQUENCE {BOOKING_SLOTS} TO crm_api"
        ))
        .await?;
    Ok(())
}

/// Tenant 0's clinic agenda: every practitioner works at the one location every day
/// from 07:00 to 21:00 in [`CLINIC_ZONE`], a day is [`AGENDA_SLOTS_A_DAY`] slots of 40
/// minutes (the type's 30 minutes and its 10 minutes' buffer after) from 07:00, and
/// three slots in four are booked (by a hash of practitioner and slot), from a first
/// day chosen so that about 45% of the appointments are in the past. Booked slots never
/// overlap and always fit the hours: the rows are valid as the triggers would have
/// them, with `ends_at` and `blocked` written here.
pub struct Agenda {
    practitioners: u64,
    patients: u64,
    /// Appointments per practitioner.
    per: u64,
    first_day: NaiveDate,
    today: NaiveDate,
}

const CLINIC_ZONE: &str = "Europe/Zurich";
const AGENDA_SLOTS_A_DAY: u64 = 21;
const AGENDA_OPENS_MINUTE: u64 = 7 * 60;
const AGENDA_SLOT_MINUTES: u64 = 40;
const APPOINTMENT_MINUTES: u64 = 30;

impl Agenda {
    fn new(args: &SeedArgs, today: NaiveDate) -> Self {
        let practitioners = args.practitioners.max(1);
        let per = (args.appointments / practitioners).max(1);
        // Three in four slots booked: per * 4/3 slots, 45% of those days past.
        let days = per * 4 / 3 / AGENDA_SLOTS_A_DAY;
        Self {
            practitioners,
            patients: args.contacts_per_tenant,
            per,
            first_day: today - Days::new(days * 45 / 100),
            today,
        }
    }

    pub fn appointments(&self) -> u64 {
        self.practitioners * self.per
    }

    fn booked(practitioner: u64, slot: u64) -> bool {
        Rng::new((practitioner << 40) ^ slot ^ 0xC11_41C).below(4) != 0
    }

    /// The slots (from 07:00 of the first day) of practitioner `p`'s appointments.
    fn slots(p: u64, per: u64) -> impl Iterator<Item = u64> {
        (0..)
            .filter(move |&k| Self::booked(p, k))
            .take(per as usize)
    }

    /// Local time `minute` (since midnight) of the day of `slot`, as COPY text.
    fn local(&self, slot: u64, minute: u64) -> String {
        let day = self.first_day + Days::new(slot / AGENDA_SLOTS_A_DAY);
        format!(
            "{day} {:02}:{:02}:00 {CLINIC_ZONE}",
            minute / 60,
            minute % 60
        )
    }

    /// What `dataset.json` says of the clinic.
    fn clinic(&self) -> Clinic {
        // The last day on which every practitioner still has seeded appointments.
        let last = (0..self.practitioners)
            .filter_map(|p| Self::slots(p, self.per).last())
            .min()
            .unwrap_or_default();
        let last_day = self.first_day + Days::new(last / AGENDA_SLOTS_A_DAY);
        Clinic {
            practitioners: self.practitioners,
            patients: self.patients,
            appointments: self.appointments(),
            seeded_on: self.today.format("%Y-%m-%d").to_string(),
            booked_days_ahead: u64::try_from((last_day - self.today).num_days()).unwrap_or(0),
        }
    }
}

/// Tenant 0's clinic (see [`Agenda`]): the location, the type, the practitioners (new
/// members of the tenant, with a login like the owners'), their hours, one patient per
/// contact of the tenant, the appointments, and the sequence pgbench books from.
async fn load_clinic(client: &Client, agenda: &Agenda, hash: &str) -> Result<()> {
    let tenant = Kind::Tenant.id(0);
    let practitioners = i64::try_from(agenda.practitioners)?;
    client
        .execute(
            "INSERT INTO clinic_locations (tenant_id, id, name, time_zone) \
             VALUES ($1::text::uuid, $2::text::uuid, 'Bench clinic', $3)",
            &[&tenant, &Kind::Location.id(0), &CLINIC_ZONE],
        )
        .await?;
    client
        .execute(
            "INSERT INTO appointment_types (tenant_id, id, name, duration_minutes, \
             buffer_before_minutes, buffer_after_minutes, price_minor, currency, online_booking) \
             VALUES ($1::text::uuid, $2::text::uuid, 'Consultation', $3, 0, $4, 12000, 'CHF', true)",
            &[
                &tenant,
                &Kind::AppointmentType.id(0),
                &i32::try_from(APPOINTMENT_MINUTES)?,
                &i32::try_from(AGENDA_SLOT_MINUTES - APPOINTMENT_MINUTES)?,
            ],
        )
        .await?;
    let user = Kind::Practitioner.sql("p");
    let t0 = Kind::Tenant.sql("0");
    // Triggers are off: the member's identity columns and the login lookup are written
    // here, as for the owners.
    client
        .execute(
            &format!(
                "INSERT INTO users (id, email, password_hash, full_name) \
                 SELECT {user}, 'practitioner' || p || '@bench.test', $1, 'Practitioner ' || p \
                 FROM generate_series(0, $2::bigint - 1) p"
            ),
            &[&hash, &practitioners],
        )
        .await?;
    client
        .batch_execute(&format!(
            "INSERT INTO memberships (tenant_id, user_id, role, email, full_name) \
             SELECT {t0}, {user}, 'member', 'practitioner' || p || '@bench.test', 'Practitioner ' || p \
             FROM generate_series(0, {practitioners} - 1) p; \
             INSERT INTO user_tenants (tenant_id, user_id) \
             SELECT {t0}, {user} FROM generate_series(0, {practitioners} - 1) p; \
             INSERT INTO practitioners (tenant_id, user_id, title, specialties, registration_number) \
             SELECT {t0}, {user}, 'Physiotherapist', '{{physiotherapy}}', 'REG-' || p \
             FROM generate_series(0, {practitioners} - 1) p; \
             INSERT INTO practitioner_hours (tenant_id, practitioner_id, location_id, weekday, starts, ends) \
             SELECT {t0}, {user}, {location}, w, '07:00', '21:00' \
             FROM generate_series(0, {practitioners} - 1) p, generate_series(1, 7) w; \
             CREATE SEQUENCE {CLINIC_SLOTS}; GRANT USAGE ON SEQUENCE {CLINIC_SLOTS} TO crm_api",
            location = Kind::Location.sql("0"),
        ))
        .await?;
    const SEXES: [&str; 4] = ["female", "male", "other", "unknown"];
    copy(
        client,
        "COPY patients (tenant_id, id, contact_id, date_of_birth, sex) FROM STDIN",
        agenda.patients,
        |r, b| {
            let born = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default()
                + Days::new(r * 7_919 % 25_000);
            b.push_str(&format!(
                "{tenant}\t{}\t{}\t{born}\t{}\n",
                Kind::Patient.id(r),
                Kind::Contact.id(r),
                SEXES[(r % 4) as usize],
            ));
        },
    )
    .await?;
    let (location, kind) = (Kind::Location.id(0), Kind::AppointmentType.id(0));
    let mut slots =
        (0..agenda.practitioners).flat_map(|p| Agenda::slots(p, agenda.per).map(move |k| (p, k)));
    copy(
        client,
        "COPY appointments (tenant_id, id, patient_id, practitioner_id, location_id, \
         appointment_type_id, starts_at, ends_at, blocked, status, cancel_reason) FROM STDIN",
        agenda.appointments(),
        |n, b| {
            let Some((p, k)) = slots.next() else { return };
            let opens = AGENDA_OPENS_MINUTE + (k % AGENDA_SLOTS_A_DAY) * AGENDA_SLOT_MINUTES;
            let starts = agenda.local(k, opens);
            let day = agenda.first_day + Days::new(k / AGENDA_SLOTS_A_DAY);
            let roll = Rng::new(n ^ 0x0057_A705).below(100);
            let status = match (day < agenda.today, roll) {
                (true, 0..90) => "completed",
                (true, 90..94) => "no_show",
                (false, 0..90) => "booked",
                (false, 90..97) => "confirmed",
                _ => "cancelled",
            };
            let reason = if status == "cancelled" {
                "The patient cancelled."
            } else {
                "\\N"
            };
            b.push_str(&format!(
                "{tenant}\t{}\t{}\t{}\t{location}\t{kind}\t{starts}\t{}\t[\"{starts}\",\"{}\")\t{status}\t{reason}\n",
                Kind::Appointment.id(n),
                Kind::Patient.id(Rng::new(n ^ 0x00BA_71E7).below(agenda.patients.max(1))),
                Kind::Practitioner.id(p),
                agenda.local(k, opens + APPOINTMENT_MINUTES),
                agenda.local(k, opens + AGENDA_SLOT_MINUTES),
            ));
        },
    )
    .await?;
    Ok(())
}

fn stage_of(n: u64) -> &'static str {
    STAGES[Rng::new(n ^ 0xDEA1).below(STAGES.len() as u64) as usize]
}

/// What the `tenants_open_default_pipeline` trigger would have made: each tenant's
/// default pipeline, made by the same function; their ids, by tenant number.
async fn open_default_pipelines(client: &Client, d: &Dataset) -> Result<Vec<String>> {
    client
        .batch_execute("SELECT app.open_default_pipeline(t.id) FROM tenants t")
        .await?;
    let by_tenant: std::collections::HashMap<String, String> = client
        .query(
            "SELECT p.tenant_id::text, p.id::text FROM pipelines p WHERE p.is_default",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    (0..d.tenants)
        .map(|t| {
            let tenant = Kind::Tenant.id(t);
            by_tenant
                .get(&tenant)
                .cloned()
                .ok_or_else(|| format!("tenant {tenant} has no default pipeline").into())
        })
        .collect()
}

async fn load_deals(client: &Client, d: &Dataset, pipelines: &[String]) -> Result<()> {
    let m = d.deals_per_tenant;
    copy(
        client,
        "COPY deals (tenant_id, id, title, contact_id, company_id, amount_minor, currency, pipeline_id, stage, stage_entered_at, created_at, updated_at) FROM STDIN",
        d.deals(),
        |n, b| {
            let company = company_of(d, n).map_or_else(|| "\\N".to_owned(), |c| Kind::Company.id(c));
            let created = timestamp(m - n % m);
            b.push_str(&format!(
                "{}\t{}\tDeal {n}\t{}\t{company}\t{}\tUSD\t{}\t{}\t{created}\t{created}\t{created}\n",
                Kind::Tenant.id(n / m),
                Kind::Deal.id(n),
                Kind::Contact.id(n),
                (n % 1000) * 10_000,
                pipelines[(n / m) as usize],
                stage_of(n),
            ));
        },
    )
    .await?;
    Ok(())
}

/// What the `deals_record_stage_created` trigger would have written.
async fn load_stage_changes(client: &Client, d: &Dataset, pipelines: &[String]) -> Result<()> {
    let m = d.deals_per_tenant;
    copy(
        client,
        "COPY deal_stage_changes (tenant_id, id, deal_id, from_stage, pipeline_id, to_stage, changed_by, changed_at) FROM STDIN",
        d.deals(),
        |n, b| {
            b.push_str(&format!(
                "{}\t{}\t{}\t\\N\t{}\t{}\t{}\t{}\n",
                Kind::Tenant.id(n / m),
                Kind::StageChange.id(n),
                Kind::Deal.id(n),
                pipelines[(n / m) as usize],
                stage_of(n),
                Kind::User.id(n / m),
                timestamp(m - n % m),
            ));
        },
    )
    .await?;
    Ok(())
}

/// How long the seeded owners' tokens stay valid: longer than any run, whatever the
/// deployment's access-token lifetime.
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// One owner token per tenant, valid for [`TOKEN_TTL`], with the claims the server puts
/// in its own access tokens (HS256; issuer and audience from `jwt`).
///
/// Signed here rather than by the library: `crm` mints a `TenantContext` only from
/// credentials it has verified, so it offers no way to issue a token for an arbitrary
/// tenant. This tool holds the deployment's secret (`CRM_JWT_SECRET`), so it signs
/// the seeded owners' tokens itself and the server verifies them like any other.
fn mint_tokens(jwt: &JwtConfig, tenants: u64) -> Result<Vec<String>> {
    let key = EncodingKey::from_secret(jwt.secret.expose().as_bytes());
    let header = Header::new(Algorithm::HS256);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    (0..tenants)
        .map(|t| {
            let claims = Claims {
                sub: Uuid::parse_str(&Kind::User.id(t))?,
                tid: Uuid::parse_str(&Kind::Tenant.id(t))?,
                role: Role::Owner,
                sid: Uuid::parse_str(&Kind::Session.id(t))?,
                iss: jwt.issuer.clone(),
                aud: jwt.audience.clone(),
                iat: now,
                nbf: now,
                exp: now + TOKEN_TTL.as_secs(),
            };
            encode(&header, &claims, &key).map_err(|err| format!("signing a token: {err}").into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use crm::platform::{auth::JwtKeys, config::Secret};

    use super::*;

    /// The agenda books three slots in four of 07:00 to 21:00, each practitioner's in
    /// order and never two in one slot (so never overlapping, buffers included), about
    /// 45% of them in the past, and leaves a week of booked future for availability.
    #[test]
    fn the_clinic_agenda_fits_the_hours_and_never_overlaps() -> Result<()> {
        const { assert!(AGENDA_OPENS_MINUTE + AGENDA_SLOTS_A_DAY * AGENDA_SLOT_MINUTES <= 21 * 60) };
        let args = SeedArgs {
            name: "test".to_owned(),
            tenants: 1,
            contacts_per_tenant: 100,
            companies_per_tenant: 1,
            appointments: 20_000,
            practitioners: 50,
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).ok_or("a date")?;
        let agenda = Agenda::new(&args, today);
        assert_eq!(agenda.appointments(), 20_000);
        let mut past = 0;
        for p in 0..50 {
            let slots: Vec<u64> = Agenda::slots(p, agenda.per).collect();
            assert_eq!(slots.len() as u64, agenda.per);
            assert!(slots.windows(2).all(|w| w[0] < w[1]));
            past += slots
                .iter()
                .filter(|&&k| agenda.first_day + Days::new(k / AGENDA_SLOTS_A_DAY) < today)
                .count();
        }
        assert!((8_000..10_000).contains(&past), "{past} in the past");
        assert_eq!(
            agenda.local(20, 7 * 60 + 40),
            "2026-11-22 07:40:00 Europe/Zurich"
        );
        let clinic = agenda.clinic();
        assert_eq!(clinic.seeded_on, "2026-12-03");
        assert!(clinic.booked_days_ahead >= 7, "{clinic:?}");
        Ok(())
    }

    /// The tokens the tool signs are ones the server accepts, for the seeded owners.
    #[test]
    fn minted_tokens_verify_as_the_seeded_owners() -> Result<()> {
        let jwt = JwtConfig {
            secret: Secret::new("a-test-secret-that-is-long-enough-0123456789abcdef"),
            generated: false,
            issuer: "crm-test".to_owned(),
            audience: "crm-test-api".to_owned(),
            access_ttl: StdDuration::from_secs(900),
            refresh_ttl: StdDuration::from_secs(86_400),
        };
        let tokens = mint_tokens(&jwt, 3)?;
        assert_eq!(tokens.len(), 3);
        let keys = JwtKeys::new(&jwt);
        for (t, token) in (0..).zip(&tokens) {
            let context = keys
                .verify(token)
                .map_err(|err| format!("token {t} does not verify: {err:?}"))?;
            assert_eq!(context.tenant_id(), Uuid::parse_str(&Kind::Tenant.id(t))?);
            assert_eq!(context.user_id(), Uuid::parse_str(&Kind::User.id(t))?);
            assert_eq!(context.role(), Role::Owner);
        }
        Ok(())
    }
}
