//! Sending settings (`notification_settings`, migration V27): the tenant's quiet hours,
//! in its time zone, and how many messages it may send per hour and per day. The
//! worker's claim applies both to every message: one due in quiet hours waits until
//! they end, one over a limit until the window has room.

mod api;
mod store;

pub use api::SettingsApi;

use chrono::NaiveTime;
use poem_openapi::{Object, types::Example};

use crate::platform::{error::ApiError, validation::Fields};

/// The most a tenant may set as its hourly limit, and as its daily limit.
const MAX_HOURLY: i32 = 1_000_000;
const MAX_DAILY: i32 = 10_000_000;
/// How quiet hours are written.
const TIME_FORMAT: &str = "%H:%M";

/// Local times, in the tenant's time zone, between which nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct QuietHours {
    /// When they begin, `HH:MM` (24-hour clock).
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// When they end, `HH:MM`; before `start` when they span midnight (`21:00` to
    /// `08:00`). Not equal to `start`.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: String,
}

/// The tenant's sending settings.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationSettings {
    /// Messages due in them wait until they end; absent: none.
    pub quiet_hours: Option<QuietHours>,
    /// The most messages handed to a provider in any 60 minutes; absent: no limit.
    pub hourly_limit: Option<i32>,
    /// The most messages handed to a provider in any 24 hours; absent: no limit.
    pub daily_limit: Option<i32>,
}

/// The settings to keep, replacing the earlier ones: what is absent is off.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NotificationSettingsBody {
    /// Quiet hours in the tenant's time zone (`PATCH /tenant/settings`); absent or
    /// null: none.
    pub quiet_hours: Option<QuietHours>,
    /// 1 to 1,000,000 messages in any 60 minutes; absent or null: no limit.
    pub hourly_limit: Option<i32>,
    /// 1 to 10,000,000 messages in any 24 hours; absent or null: no limit.
    pub daily_limit: Option<i32>,
}

impl Example for NotificationSettingsBody {
    fn example() -> Self {
        Self {
            quiet_hours: Some(QuietHours {
                start: "21:00".to_owned(),
                end: "08:00".to_owned(),
            }),
            hourly_limit: Some(500),
            daily_limit: Some(5_000),
        }
    }
}

/// Checked [`NotificationSettingsBody`].
#[derive(Debug)]
pub struct Settings {
    pub quiet_hours: Option<(NaiveTime, NaiveTime)>,
    pub hourly_limit: Option<i32>,
    pub daily_limit: Option<i32>,
}

impl Settings {
    /// Every problem of every field at once.
    pub fn check(body: NotificationSettingsBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let quiet_hours = body.quiet_hours.and_then(|hours| {
            let start = local_time(&mut fields, "quiet_hours.start", &hours.start);
            let end = local_time(&mut fields, "quiet_hours.end", &hours.end);
            let (start, end) = start.zip(end)?;
            if start == end {
                fields.error("quiet_hours.end", "must differ from `start`");
            }
            Some((start, end))
        });
        for (field, value, max) in [
            ("hourly_limit", body.hourly_limit, MAX_HOURLY),
            ("daily_limit", body.daily_limit, MAX_DAILY),
        ] {
            if value.is_some_and(|limit| !(1..=max).contains(&limit)) {
                fields.error(field, format!("must be 1 to {max}"));
            }
        }
        fields.finish()?;
        Ok(Self {
            quiet_hours,
            hourly_limit: body.hourly_limit,
            daily_limit: body.daily_limit,
        })
    }
}

fn local_time(fields: &mut Fields, field: &str, value: &str) -> Option<NaiveTime> {
    let parsed = NaiveTime::parse_from_str(value, TIME_FORMAT).ok();
    if parsed.is_none() {
        fields.error(field, "must be a time of day, HH:MM");
    }
    parsed
}

/// `HH:MM`, as [`QuietHours`] writes it.
fn written(time: NaiveTime) -> String {
    time.format(TIME_FORMAT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(start: &str, end: &str, hourly: Option<i32>) -> NotificationSettingsBody {
        NotificationSettingsBody {
            quiet_hours: Some(QuietHours {
                start: start.to_owned(),
                end: end.to_owned(),
            }),
            hourly_limit: hourly,
            daily_limit: None,
        }
    }

    #[test]
    fn quiet_hours_are_two_different_times_and_limits_are_positive() {
        let overnight = Settings::check(body("21:00", "08:00", Some(10))).expect("overnight");
        let (start, end) = overnight.quiet_hours.expect("quiet hours");
        assert_eq!(
            (written(start), written(end)),
            ("21:00".into(), "08:00".into())
        );
        for (start, end, hourly) in [("21:00", "21:00", None), ("25:00", "08:00", None)] {
            assert!(
                Settings::check(body(start, end, hourly)).is_err(),
                "{start}-{end}"
            );
        }
        assert!(Settings::check(body("21:00", "08:00", Some(0))).is_err());
    }
}
