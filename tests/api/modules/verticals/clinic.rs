//! The clinic's database (migration V36) through the application role's own SQL, as
//! the clinic's API will use it: availability computed by `app.clinic_availability`
//! matches a brute-force reference for randomised schedules, time off and bookings
//! over a week with a daylight-saving change; and concurrent bookings or moves of one
//! practitioner's time never overlap, whatever the interleaving.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::{Europe::Zurich, Tz, US::Eastern};
use futures::future::join_all;
use tokio_postgres::{Client, error::SqlState};
use uuid::Uuid;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, notifications::address, spawn_app,
};

/// Runs `statements` (each with its parameters) as `user` in one transaction of an
/// application-role connection, the way a request does; the first error, if any.
async fn as_user(
    app: &TestApp,
    user: &TestUser,
    sql: &Client,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    sql.batch_execute("BEGIN").await?;
    app.enter(sql, user.tenant_id, user.user_id).await;
    match sql.execute(statement, params).await {
        Ok(rows) => {
            sql.batch_execute("COMMIT").await?;
            Ok(rows)
        }
        Err(err) => {
            sql.batch_execute("ROLLBACK").await?;
            Err(err)
        }
    }
}

/// A small deterministic generator, so a failing schedule can be replayed by seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The Monday of the week in which Europe changes to summer time next (the last
/// Sunday of March), at least a week from now.
fn week_of_the_spring_change() -> NaiveDate {
    let soon = Utc::now().date_naive() + Duration::days(7);
    let mut year = soon.year();
    loop {
        let last_sunday = (25..=31)
            .filter_map(|day| NaiveDate::from_ymd_opt(year, 3, day))
            .find(|day| day.weekday() == Weekday::Sun)
            .expect("March has a last Sunday");
        let monday = last_sunday - Duration::days(6);
        if monday >= soon {
            return monday;
        }
        year += 1;
    }
}

struct Range {
    location: usize,
    weekday: u32,
    starts: NaiveTime,
    ends: NaiveTime,
}

struct Schedule {
    zones: [Tz; 2],
    ranges: Vec<Range>,
    time_off: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    duration: i64,
    before: i64,
    after: i64,
}

/// A quarter hour of the day, never within 02:00-03:00 (the hour the clock skips).
fn quarter(rng: &mut Lcg, from: u32, to: u32) -> u32 {
    loop {
        let q = from + u32::try_from(rng.below(u64::from(to - from))).expect("small");
        if q / 4 != 2 {
            return q;
        }
    }
}

fn at_quarter(q: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(q / 4, (q % 4) * 15, 0).expect("a time of day")
}

fn random_schedule(rng: &mut Lcg, monday: NaiveDate) -> Schedule {
    let mut ranges = Vec::new();
    for weekday in 1..=7 {
        // Up to two ranges a day, the first in the morning, the second later.
        for (from, to) in [(0, 48), (49, 96)] {
            if weekday == 7 && from == 0 {
                // Sunday night, in Zurich, across the hour the clock skips.
                ranges.push(Range {
                    location: 0,
                    weekday,
                    starts: at_quarter(4),
                    ends: at_quarter(20),
                });
                continue;
            }
            if rng.below(3) == 0 {
                continue;
            }
            let a = quarter(rng, from, to - 1);
            let b = quarter(rng, a + 1, to);
            ranges.push(Range {
                location: usize::try_from(rng.below(2)).expect("0 or 1"),
                weekday,
                starts: at_quarter(a),
                ends: at_quarter(b),
            });
        }
    }
    let week_start = Zurich
        .from_local_datetime(&monday.and_time(NaiveTime::MIN))
        .single()
        .expect("midnight exists")
        .to_utc();
    let time_off = (0..rng.below(4))
        .map(|_| {
            let start = week_start
                + Duration::minutes(i64::try_from(rng.below(7 * 24 * 4)).expect("small") * 15);
            let length = Duration::minutes(15 * (1 + i64::try_from(rng.below(16)).expect("small")));
            (start, start + length)
        })
        .collect();
    let pick = |rng: &mut Lcg, values: &[i64]| {
        values[usize::try_from(rng.below(values.len() as u64)).expect("an index")]
    };
    Schedule {
        zones: [Zurich, Eastern],
        ranges,
        time_off,
        duration: pick(rng, &[15, 30, 45, 60]),
        before: pick(rng, &[0, 5, 10]),
        after: pick(rng, &[0, 10, 15]),
    }
}

/// What the tenant has after [`store`]: the ids of its two locations and its type.
struct Stored {
    locations: [Uuid; 2],
    appointment_type: Uuid,
    patient: Uuid,
}

/// Writes `schedule` for `owner` (its own practitioner) through the app role, in one
/// transaction.
async fn store(app: &TestApp, owner: &TestUser, sql: &Client, schedule: &Schedule) -> Stored {
    let stored = Stored {
        locations: [Uuid::now_v7(), Uuid::now_v7()],
        appointment_type: Uuid::now_v7(),
        patient: Uuid::now_v7(),
    };
    let contact = Uuid::now_v7();
    sql.batch_execute("BEGIN").await.expect("begin");
    app.enter(sql, owner.tenant_id, owner.user_id).await;
    sql.execute(
        "INSERT INTO contacts (id, first_name, last_name, email) VALUES ($1, 'Pat', 'Ient', $2)",
        &[&contact, &address("patient")],
    )
    .await
    .expect("a contact");
    sql.execute(
        "INSERT INTO patients (id, contact_id) VALUES ($1, $2)",
        &[&stored.patient, &contact],
    )
    .await
    .expect("a patient");
    sql.execute(
        "INSERT INTO practitioners (user_id, title) VALUES ($1, 'Dr. Owner')",
        &[&owner.user_id],
    )
    .await
    .expect("a practitioner");
    let minutes = |m: i64| i32::try_from(m).expect("minutes");
    sql.execute(
        "INSERT INTO appointment_types (id, name, duration_minutes, buffer_before_minutes, \
         buffer_after_minutes) VALUES ($1, 'Visit', $2, $3, $4)",
        &[
            &stored.appointment_type,
            &minutes(schedule.duration),
            &minutes(schedule.before),
            &minutes(schedule.after),
        ],
    )
    .await
    .expect("a type");
    for (location, zone) in stored.locations.iter().zip(schedule.zones) {
        sql.execute(
            "INSERT INTO clinic_locations (id, name, time_zone) VALUES ($1, $2, $2)",
            &[location, &zone.name()],
        )
        .await
        .expect("a location");
    }
    for range in &schedule.ranges {
        let weekday = i16::try_from(range.weekday).expect("a weekday");
        sql.execute(
            "INSERT INTO practitioner_hours (practitioner_id, location_id, weekday, starts, ends) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &owner.user_id,
                &stored.locations[range.location],
                &weekday,
                &range.starts,
                &range.ends,
            ],
        )
        .await
        .expect("working hours");
    }
    for (start, end) in &schedule.time_off {
        sql.execute(
            "INSERT INTO practitioner_time_off (id, practitioner_id, during) \
             VALUES ($1, $2, tstzrange($3, $4))",
            &[&Uuid::now_v7(), &owner.user_id, start, end],
        )
        .await
        .expect("time off");
    }
    sql.batch_execute("COMMIT").await.expect("commit");
    stored
}

/// Books `id` for the stored patient with `owner` at `location`, starting `at`.
async fn book(
    app: &TestApp,
    owner: &TestUser,
    sql: &Client,
    stored: &Stored,
    (id, location, at): (Uuid, Uuid, DateTime<Utc>),
) -> Result<u64, tokio_postgres::Error> {
    as_user(
        app,
        owner,
        sql,
        "INSERT INTO appointments (id, patient_id, practitioner_id, location_id, \
         appointment_type_id, starts_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &stored.patient,
            &owner.user_id,
            &location,
            &stored.appointment_type,
            &at,
        ],
    )
    .await
}

/// Books `tries` random quarter hours of the week; the database refuses what does not
/// fit, and that is the point: the reference reads back what it kept.
async fn book_some(
    app: &TestApp,
    owner: &TestUser,
    sql: &Client,
    stored: &Stored,
    rng: &mut Lcg,
    from: DateTime<Utc>,
) {
    for _ in 0..40 {
        let at =
            from + Duration::minutes(i64::try_from(rng.below(7 * 24 * 4)).expect("small") * 15);
        let location = stored.locations[usize::try_from(rng.below(2)).expect("0 or 1")];
        let booked = book(app, owner, sql, stored, (Uuid::now_v7(), location, at)).await;
        if let Err(err) = booked {
            let code = err.code().cloned();
            assert!(
                code == Some(SqlState::EXCLUSION_VIOLATION)
                    || code == Some(SqlState::CHECK_VIOLATION),
                "only a clash or the schedule refuses a booking: {err}"
            );
        }
    }
}

/// Every start on the `step` grid of each working range that the whole appointment
/// fits in, its buffered time clear of `blocked`, none of it in time off.
fn reference(
    schedule: &Schedule,
    stored: &Stored,
    blocked: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
) -> Vec<(DateTime<Utc>, Uuid)> {
    let overlaps = |a: (DateTime<Utc>, DateTime<Utc>), b: &(DateTime<Utc>, DateTime<Utc>)| {
        a.0 < b.1 && b.0 < a.1
    };
    let length = Duration::minutes(schedule.duration);
    let mut starts = Vec::new();
    for range in &schedule.ranges {
        let zone = schedule.zones[range.location];
        let first = from.with_timezone(&zone).date_naive() - Duration::days(1);
        let last = to.with_timezone(&zone).date_naive();
        let mut day = first;
        while day <= last {
            if day.weekday().number_from_monday() == range.weekday {
                let instant = |time: NaiveTime| {
                    zone.from_local_datetime(&day.and_time(time))
                        .single()
                        .expect("no range ends in the skipped hour")
                        .to_utc()
                };
                let (opens, closes) = (instant(range.starts), instant(range.ends));
                let mut at = opens;
                while at + length <= closes {
                    let buffered = (
                        at - Duration::minutes(schedule.before),
                        at + length + Duration::minutes(schedule.after),
                    );
                    if at >= from
                        && at < to
                        && !blocked.iter().any(|b| overlaps(buffered, b))
                        && !schedule
                            .time_off
                            .iter()
                            .any(|o| overlaps((at, at + length), o))
                    {
                        starts.push((at, stored.locations[range.location]));
                    }
                    at += step;
                }
            }
            day += Duration::days(1);
        }
    }
    starts.sort();
    starts
}

#[tokio::test]
async fn availability_matches_a_brute_force_reference_over_a_daylight_saving_week() {
    let app = spawn_app().await;
    let monday = week_of_the_spring_change();
    let sql = app.app_role_sql().await;
    for seed in 1..=6 {
        let owner = app.sign_up(&format!("Clinic {seed}")).await;
        let mut rng = Lcg(seed);
        let schedule = random_schedule(&mut rng, monday);
        let stored = store(&app, &owner, &sql, &schedule).await;
        let from = Zurich
            .from_local_datetime(&monday.and_time(NaiveTime::MIN))
            .single()
            .expect("midnight exists")
            .to_utc();
        let to = from + Duration::days(8);
        book_some(&app, &owner, &sql, &stored, &mut rng, from).await;

        sql.batch_execute("BEGIN").await.expect("begin");
        app.enter(&sql, owner.tenant_id, owner.user_id).await;
        let blocked: Vec<(DateTime<Utc>, DateTime<Utc>)> = sql
            .query(
                "SELECT lower(blocked), upper(blocked) FROM appointments WHERE status <> 'cancelled'",
                &[],
            )
            .await
            .expect("the bookings")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let step = Duration::minutes(15);
        let availability = async |from: DateTime<Utc>, to: DateTime<Utc>| {
            sql.query(
                "SELECT starts_at, location_id \
                 FROM app.clinic_availability($1, $2, $3, $4, NULL, interval '15 minutes')",
                &[&owner.user_id, &stored.appointment_type, &from, &to],
            )
            .await
            .expect("availability")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect::<Vec<(DateTime<Utc>, Uuid)>>()
        };
        let computed = availability(from, to).await;
        // Cut anywhere, the two windows hold the whole (as /availability/next asks
        // a week at a time): nothing near the cut is lost or gained.
        let cut = from + step * i32::try_from(rng.below(8 * 24 * 4)).expect("small");
        let mut halves = availability(from, cut).await;
        halves.extend(availability(cut, to).await);
        sql.batch_execute("COMMIT").await.expect("commit");
        assert_eq!(halves, computed, "seed {seed}: cut at {cut}");
        let expected = reference(&schedule, &stored, &blocked, from, to, step);
        assert!(
            !expected.is_empty() || schedule.ranges.is_empty(),
            "seed {seed}: a week with hours has room"
        );
        assert_eq!(
            computed,
            expected,
            "seed {seed}: {} bookings kept",
            blocked.len()
        );
    }
}

/// A practitioner working Mondays 08:00-18:00 in Zurich, a patient with an email
/// address and a 30-minute type, a week after the spring change (a normal week, at
/// least two weeks ahead).
async fn clinic_with_one_practitioner(app: &TestApp, owner: &TestUser) -> (Stored, NaiveDate) {
    let sql = app.app_role_sql().await;
    let monday = week_of_the_spring_change() + Duration::days(7);
    let schedule = Schedule {
        zones: [Zurich, Zurich],
        ranges: vec![Range {
            location: 0,
            weekday: 1,
            starts: at_quarter(32),
            ends: at_quarter(72),
        }],
        time_off: Vec::new(),
        duration: 30,
        before: 0,
        after: 0,
    };
    (store(app, owner, &sql, &schedule).await, monday)
}

fn zurich(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Zurich
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).expect("a time"))
        .single()
        .expect("exists")
        .to_utc()
}

#[tokio::test]
async fn thirty_concurrent_bookings_of_one_slot_keep_exactly_one() {
    let app = spawn_app().await;
    let owner = app.sign_up("Clinic").await;
    let (stored, monday) = clinic_with_one_practitioner(&app, &owner).await;
    let at = zurich(monday, 9, 0);
    let mut connections = Vec::new();
    for _ in 0..30 {
        connections.push(app.app_role_sql().await);
    }
    let attempts = connections.iter().map(|sql| {
        let stored = &stored;
        let (app, owner) = (&app, &owner);
        async move {
            book(
                app,
                owner,
                sql,
                stored,
                (Uuid::now_v7(), stored.locations[0], at),
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let kept = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(kept, 1, "exactly one booking of the slot");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            refused.code(),
            Some(&SqlState::EXCLUSION_VIOLATION),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn two_moves_racing_into_each_others_time_cannot_both_succeed() {
    let app = spawn_app().await;
    let owner = app.sign_up("Clinic").await;
    let (stored, monday) = clinic_with_one_practitioner(&app, &owner).await;
    let sql = app.app_role_sql().await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, hour) in [(first, 8), (second, 10)] {
        book(
            &app,
            &owner,
            &sql,
            &stored,
            (id, stored.locations[0], zurich(monday, hour, 0)),
        )
        .await
        .expect("booked");
    }
    for _ in 0..10 {
        // Each move is free of the other's old time; together they overlap.
        let (a, b) = (app.app_role_sql().await, app.app_role_sql().await);
        let moves = [
            (first, &a, zurich(monday, 9, 0)),
            (second, &b, zurich(monday, 9, 15)),
        ];
        let results = join_all(moves.iter().map(|(id, sql, to)| {
            let (app, owner) = (&app, &owner);
            async move {
                as_user(
                    app,
                    owner,
                    sql,
                    "UPDATE appointments SET starts_at = $2 WHERE id = $1",
                    &[id, to],
                )
                .await
            }
        }))
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        // Put both back for the next round.
        for (id, hour) in [(first, 8), (second, 10)] {
            as_user(
                &app,
                &owner,
                &sql,
                "UPDATE appointments SET starts_at = $2 WHERE id = $1",
                &[&id, &zurich(monday, hour, 0)],
            )
            .await
            .expect("moved back");
        }
    }
}

/// The appointment's reminders as the owner sees them: status, reason, when due.
async fn reminders_of(
    app: &TestApp,
    appointment: Uuid,
) -> Vec<(String, Option<String>, DateTime<Utc>, Value)> {
    app.owner_sql()
        .await
        .query(
            "SELECT status, reason, send_at, variables FROM notification_messages \
             WHERE record_type = 'appointment' AND record_id = $1 ORDER BY created_at",
            &[&appointment],
        )
        .await
        .expect("the reminders")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

#[tokio::test]
async fn an_appointment_reminds_its_patient_by_the_rules_and_follows_its_changes() {
    let app = spawn_app().await;
    let owner = app.sign_up("Clinic").await;
    let (stored, monday) = clinic_with_one_practitioner(&app, &owner).await;
    app.create(
        "/notifications/rules",
        &owner,
        json!({ "template_key": "appointment_reminder", "channel": "email", "offset_minutes": 1440 }),
    )
    .await;
    let sql = app.app_role_sql().await;
    let appointment = Uuid::now_v7();
    let at = zurich(monday, 9, 0);
    book(
        &app,
        &owner,
        &sql,
        &stored,
        (appointment, stored.locations[0], at),
    )
    .await
    .expect("booked");

    let booked = reminders_of(&app, appointment).await;
    assert_eq!(booked.len(), 1, "{booked:?}");
    let (status, _, due, variables) = &booked[0];
    assert_eq!(status, "queued");
    assert_eq!(*due, at - Duration::days(1), "24 hours ahead");
    assert_eq!(variables["appointment.type_name"], "Visit");
    assert_eq!(variables["appointment.practitioner_name"], "Owner");
    assert_eq!(variables["appointment.location_name"], "Europe/Zurich");

    let later = zurich(monday, 11, 30);
    as_user(
        &app,
        &owner,
        &sql,
        "UPDATE appointments SET starts_at = $2 WHERE id = $1",
        &[&appointment, &later],
    )
    .await
    .expect("moved");
    let moved = reminders_of(&app, appointment).await;
    assert_eq!(
        moved.len(),
        1,
        "moved in place, not queued again: {moved:?}"
    );
    assert_eq!(moved[0].2, later - Duration::days(1));

    // A preview of the appointment reminder with the real appointment, and another
    // tenant naming it: the answer of an id that does not exist.
    let preview = |record: Value| {
        json!({
            "template": { "key": "appointment_reminder", "channel": "sms",
                          "text": "{{ appointment.type_name }} with {{ appointment.practitioner_name }}" },
            "record": record,
        })
    };
    let record = json!({ "type": "appointment", "id": appointment });
    let rendered = expect_json(
        app.post(
            "/notifications/templates/preview",
            &owner,
            preview(record.clone()),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rendered["text"], "Visit with Owner");
    let rival = app.sign_up("Rival").await;
    let refused = expect_problem(
        app.post("/notifications/templates/preview", &rival, preview(record))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&refused), ["record.id"], "{refused}");

    as_user(
        &app,
        &owner,
        &sql,
        "UPDATE appointments SET status = 'cancelled', cancel_reason = 'ill' WHERE id = $1",
        &[&appointment],
    )
    .await
    .expect("cancelled");
    let cancelled = reminders_of(&app, appointment).await;
    assert_eq!(cancelled[0].0, "cancelled");
    assert!(
        cancelled[0]
            .1
            .as_deref()
            .is_some_and(|r| r.starts_with("appointment_cancelled")),
        "{cancelled:?}"
    );
    let queue: i64 = app
        .owner_sql()
        .await
        .query_one(
            "SELECT count(*) FROM notification_queue q JOIN notification_messages m \
             ON m.tenant_id = q.tenant_id AND m.id = q.message_id WHERE m.record_id = $1",
            &[&appointment],
        )
        .await
        .expect("the queue")
        .get(0);
    assert_eq!(queue, 0, "nothing left to send");
}
