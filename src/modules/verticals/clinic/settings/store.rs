//! The clinic settings' row: absent until first saved (the defaults hold meanwhile).

use tokio_postgres::Row;

use super::{ClinicSettings, NOTES_RETENTION_YEARS};
use crate::platform::db::{DbError, TenantTx};

fn settings(row: Option<&Row>) -> ClinicSettings {
    match row {
        Some(row) => ClinicSettings {
            notes_retention_years: row.get("notes_retention_years"),
            updated_at: Some(row.get("updated_at")),
        },
        None => ClinicSettings {
            notes_retention_years: NOTES_RETENTION_YEARS,
            updated_at: None,
        },
    }
}

pub async fn get(tx: TenantTx) -> Result<ClinicSettings, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT notes_retention_years, updated_at FROM clinic_settings",
            &[],
        )
        .await?;
    Ok(settings(row.as_ref()))
}

pub async fn put(tx: TenantTx, notes_retention_years: i32) -> Result<ClinicSettings, DbError> {
    let row = tx
        .query_opt_and_commit(
            "INSERT INTO clinic_settings (notes_retention_years) VALUES ($1) \
             ON CONFLICT (tenant_id) DO UPDATE SET \
                 notes_retention_years = excluded.notes_retention_years \
             RETURNING notes_retention_years, updated_at",
            &[&notes_retention_years],
        )
        .await?;
    Ok(settings(row.as_ref()))
}
