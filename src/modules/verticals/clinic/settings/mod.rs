//! `/clinic/settings`: the tenant's clinic settings (V47). For now one:
//! `notes_retention_years`, how long after its signature a treatment note is kept
//! when its patient is erased (default 10; 0 keeps none). Every member reads them;
//! owners and admins change them.

mod api;
mod store;

pub use api::SettingsApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

/// The default of `notes_retention_years` (V47's column default and erasure agree).
pub const NOTES_RETENTION_YEARS: i32 = 10;

/// The tenant's clinic settings.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClinicSettings {
    /// How many years after its signature a treatment note is kept when its patient
    /// is erased; drafts and older notes are deleted.
    pub notes_retention_years: i32,
    /// When they last changed; absent while they are the defaults.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The clinic settings, replaced as a whole. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClinicSettingsBody {
    /// 0 to 100 years (0: an erasure keeps no note).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub notes_retention_years: i32,
}

impl poem_openapi::types::Example for ClinicSettingsBody {
    fn example() -> Self {
        Self {
            notes_retention_years: NOTES_RETENTION_YEARS,
        }
    }
}
