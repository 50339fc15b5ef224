//! Tenancy: the tenant's own settings, today the switchboard of its industry modules
//! (`/tenant/modules`, table `tenant_modules`, checked by the tenant door in the first
//! round trip of every request to a switchable module), and its time zone
//! (`/tenant/settings`, column `tenants.time_zone`, which notification templates
//! format instants in; owners and admins set it). Tables:
//! `migrations/V3__tenant_modules.sql` and `V22__tenant_time_zone.sql` in this folder.

mod api;
mod settings;

pub use api::TenantModulesApi;
pub use settings::TenantSettingsApi;

use crate::platform::module::{Migration, ModuleInfo};

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "tenancy",
    title: "Tenant settings",
    switchable: false,
    constraints: &[],
    events: &[],
    notified_records: &[],
    migrations: &[
        Migration {
            name: "V3__tenant_modules",
            sql: include_str!("migrations/V3__tenant_modules.sql"),
        },
        Migration {
            name: "V22__tenant_time_zone",
            sql: include_str!("migrations/V22__tenant_time_zone.sql"),
        },
        Migration {
            name: "V30__tenant_locale",
            sql: include_str!("migrations/V30__tenant_locale.sql"),
        },
    ],
};
