//! What a module declares about itself, in one value its folder owns: its name, whether
//! a tenant may switch it off, what its named constraints mean to a client, the kinds
//! of event it emits, and its migrations. `crate::modules::registry` lists every
//! module's [`ModuleInfo`].

use crate::platform::{
    db::TenantTx, error::ApiError, events::EventKind, state::SharedState, tenancy::TenantContext,
};

/// A feature module.
#[derive(Debug)]
pub struct ModuleInfo {
    /// The name used in `CRM_MODULES`, `/tenant/modules` and `tenant_modules`.
    pub name: &'static str,
    /// The name people read.
    pub title: &'static str,
    /// A vertical a deployment (`CRM_MODULES`) and a tenant (`/tenant/modules`) may
    /// switch off; the tenant door then checks the switch in its first round trip.
    pub switchable: bool,
    /// What its named constraints mean to a client.
    pub constraints: &'static [Constraint],
    /// The events its migrations' triggers emit (see [`crate::platform::events`]).
    pub events: &'static [EventKind],
    /// The kinds of record its messages concern, for previews of their templates.
    pub notified_records: &'static [NotifiedRecord],
    /// Its refinery migrations, applied in one global version order with every other
    /// module's (the names and SQL are those of the files, so checksums never change).
    pub migrations: &'static [Migration],
}

impl ModuleInfo {
    /// The meaning of one of this module's constraints.
    pub fn constraint(&self, name: &str) -> Option<Meaning> {
        self.constraints
            .iter()
            .find(|constraint| constraint.name == name)
            .map(|constraint| constraint.meaning)
    }
}

/// A named constraint of a module's tables and what its violation means.
#[derive(Debug)]
pub struct Constraint {
    pub name: &'static str,
    pub meaning: Meaning,
}

/// What a violated constraint tells the client. Never the constraint's name or the
/// row's values: a reference to another tenant's row means exactly what a reference to
/// a row that does not exist means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// 409 with this detail.
    Conflict(&'static str),
    /// 422: the field names a record that does not exist (for this tenant).
    MissingReference(&'static str),
    /// 422: the field's value is not acceptable, with this message.
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    /// 404: the resource in the path does not exist (for this tenant).
    NotFound,
}

/// A kind of record the messages of a module concern (`notification_messages.
/// record_type`), and how a template preview reads the values one of them gives its
/// template's variables.
#[derive(Debug)]
pub struct NotifiedRecord {
    /// As messages name it (`viewing`).
    pub record_type: &'static str,
    /// One parameter, the record's id; run as the caller, under its policies. No row
    /// when the tenant has no such record, else one: `variables` (jsonb, dotted paths
    /// to text) and `contact_id` (uuid: the contact the record concerns, or NULL).
    pub variables_sql: &'static str,
}

/// One migration file: `V<version>__<name>` and its SQL, embedded with `include_str!`.
#[derive(Debug)]
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Opens a transaction of `module` through the tenant door. When `input` was refused
/// (a validation error, a caller without the role), the module switch is still checked
/// first, so a tenant without the module gets 404 from every request, well formed or
/// not. `searches`: the request is a text search (it counts against the tenant's
/// search budget, see `Db::tx_for`).
pub async fn begin<T>(
    state: &SharedState,
    module: &'static ModuleInfo,
    context: TenantContext,
    input: Result<T, ApiError>,
    searches: bool,
) -> Result<(TenantTx, T), ApiError> {
    let tx = state.db.tx_for(context, module, searches).await?;
    match input {
        Ok(input) => Ok((tx, input)),
        Err(refused) => {
            tx.ensure_module().await?;
            Err(refused)
        }
    }
}
