//! Settings storage: plain SQL under the tenant's policies (every member reads, owners
//! and admins write).

use chrono::NaiveTime;
use tokio_postgres::Row;

use super::{NotificationSettings, QuietHours, Settings, written};
use crate::platform::db::{DbError, TenantTx};

fn settings(row: Option<&Row>) -> NotificationSettings {
    let Some(row) = row else {
        return NotificationSettings {
            quiet_hours: None,
            hourly_limit: None,
            daily_limit: None,
        };
    };
    let start: Option<NaiveTime> = row.get("quiet_hours_start");
    let end: Option<NaiveTime> = row.get("quiet_hours_end");
    NotificationSettings {
        quiet_hours: start.zip(end).map(|(start, end)| QuietHours {
            start: written(start),
            end: written(end),
        }),
        hourly_limit: row.get("hourly_limit"),
        daily_limit: row.get("daily_limit"),
    }
}

/// The tenant's settings; all off when it has none.
pub async fn get(tx: TenantTx) -> Result<NotificationSettings, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT quiet_hours_start, quiet_hours_end, hourly_limit, daily_limit \
             FROM notification_settings",
            &[],
        )
        .await?;
    Ok(settings(row.as_ref()))
}

/// Replaces the tenant's settings with `new`.
pub async fn put(tx: TenantTx, new: &Settings) -> Result<NotificationSettings, DbError> {
    let (start, end) = new.quiet_hours.unzip();
    let row = tx
        .query_opt_and_commit(
            "INSERT INTO notification_settings \
                 (quiet_hours_start, quiet_hours_end, hourly_limit, daily_limit) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE \
             SET quiet_hours_start = excluded.quiet_hours_start, \
                 quiet_hours_end = excluded.quiet_hours_end, \
                 hourly_limit = excluded.hourly_limit, daily_limit = excluded.daily_limit, \
                 updated_at = now(), updated_by = excluded.updated_by \
             RETURNING quiet_hours_start, quiet_hours_end, hourly_limit, daily_limit",
            &[&start, &end, &new.hourly_limit, &new.daily_limit],
        )
        .await?;
    Ok(settings(row.as_ref()))
}
