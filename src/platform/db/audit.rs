//! The row-level security audit (`sql/audit_rls.sql`): the same catalog checks a DBA
//! runs in psql, run by the server at start-up and by `crm audit`.

use serde::Serialize;
use tokio_postgres::Client;

const AUDIT: &str = include_str!("../../../sql/audit_rls.sql");

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

/// Runs the audit. Without `app_role`, role rules concern every login role in
/// `crm_api`, and the audit runs in the caller's transaction if there is one. With it,
/// they concern only that role: the narrowing (`crm.audit_role`) is set
/// transaction-local, in a read-only transaction of its own, so call it outside one.
pub async fn audit(
    client: &Client,
    app_role: Option<&str>,
) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let rows = match app_role {
        None => client.query(AUDIT, &[]).await?,
        Some(role) => {
            client.batch_execute("BEGIN READ ONLY").await?;
            client
                .execute("SELECT set_config('crm.audit_role', $1, true)", &[&role])
                .await?;
            let rows = client.query(AUDIT, &[]).await;
            client.batch_execute("COMMIT").await?;
            rows?
        }
    };
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
