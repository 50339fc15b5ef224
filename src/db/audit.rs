//! The row-level security audit (`sql/audit_rls.sql`): the same catalog checks a DBA
//! runs in psql, run by the server at start-up and by `crm audit`.

use serde::Serialize;
use tokio_postgres::Client;

const AUDIT: &str = include_str!("../../sql/audit_rls.sql");

/// One problem the audit found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `RLS001`.
    pub rule: String,
    /// `error` (the server refuses to start) or `warning`.
    pub severity: String,
    /// The table, policy, role or function concerned.
    pub object: String,
    pub finding: String,
    /// A one-line fix.
    pub fix: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} {}] {}: {} (fix: {})",
            self.rule, self.severity, self.object, self.finding, self.fix
        )
    }
}

/// Runs the audit. With `app_role`, role rules concern only that role; without, every
/// login role in `crm_api`.
pub async fn audit(
    client: &Client,
    app_role: Option<&str>,
) -> Result<Vec<Finding>, tokio_postgres::Error> {
    client
        .execute(
            "SELECT set_config('crm.audit_role', $1, false)",
            &[&app_role.unwrap_or("")],
        )
        .await?;
    let rows = client.query(AUDIT, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Finding {
            rule: row.get("rule"),
            severity: row.get("severity"),
            object: row.get("object"),
            finding: row.get("finding"),
            fix: row.get("fix"),
        })
        .collect())
}
