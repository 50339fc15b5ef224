//! Checks that the application role cannot sidestep row-level security.

use tokio_postgres::Client;

/// Something about the application role that would let it bypass tenant isolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleProblem(pub String);

impl std::fmt::Display for RoleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const ROLE_CHECKS: &str = include_str!("../../sql/app_role_checks.sql");

/// Every way `role` could bypass RLS in the connected database; empty means safe.
pub async fn app_role_problems(
    client: &Client,
    role: &str,
) -> Result<Vec<RoleProblem>, tokio_postgres::Error> {
    let rows = client.query(ROLE_CHECKS, &[&role]).await?;
    Ok(rows
        .iter()
        .map(|row| RoleProblem(row.get("problem")))
        .collect())
}
