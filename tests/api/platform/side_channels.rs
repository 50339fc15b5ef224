//! The review's bisection (issue 12, findings 1 and 2), run as the application role
//! with no tenant: `EXPLAIN (ANALYZE)` of a range on an indexed column. Where the range
//! became the index condition and the policies filtered afterwards, "Rows Removed by
//! Filter" counted the hidden rows in the range, and halving the range recovered every
//! refresh-token hash and user id. Now each probe is refused, or its answer is the same
//! for the lowest and the highest bound: it says nothing about the hidden values.

use serde_json::Value;
use tokio_postgres::{Client, error::SqlState};

use crate::support::spawn_app;

/// What the plan admits about the rows it looked at: rows returned plus rows removed by
/// any filter, over every node.
fn rows_touched(plan: &Value) -> i64 {
    let own = [
        "Actual Rows",
        "Rows Removed by Filter",
        "Rows Removed by Index Recheck",
    ]
    .iter()
    .filter_map(|key| plan[*key].as_i64())
    .sum::<i64>();
    own + plan["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(rows_touched)
        .sum::<i64>()
}

/// `EXPLAIN (ANALYZE)` of `table` filtered by `column > bound`; `None` when refused.
async fn probe(sql: &Client, table: &str, column: &str, bound: &str) -> Option<i64> {
    let statement = format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT {column} FROM {table} WHERE {column} > {bound}"
    );
    match sql.query_one(&statement, &[]).await {
        Ok(row) => {
            let plans: Value = row.get(0);
            Some(rows_touched(&plans[0]["Plan"]))
        }
        Err(err) => {
            assert_eq!(
                err.code(),
                Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                "{statement}: {err}"
            );
            None
        }
    }
}

#[tokio::test]
async fn bisecting_an_index_with_explain_learns_nothing() {
    let app = spawn_app().await;
    for name in ["A", "B", "C"] {
        let owner = app.sign_up(name).await;
        app.add_member(&owner, "member").await;
        app.create_contact(&owner, "Alice").await;
    }
    let sql = app.app_role_sql().await;
    // What an attacker would do to make the planner use the index it wants.
    sql.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .await
        .expect("planner settings");
    let uuid_bounds = (
        "'00000000-0000-0000-0000-000000000000'::uuid",
        "'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid",
    );
    let probes = [
        (
            "refresh_tokens",
            "token_hash",
            ("'\\x00'::bytea", "'\\xff'::bytea"),
        ),
        ("users", "id", uuid_bounds),
        ("memberships", "user_id", uuid_bounds),
        ("memberships", "tenant_id", uuid_bounds),
        ("tenants", "id", uuid_bounds),
        ("contacts", "id", uuid_bounds),
        ("invitations", "id", uuid_bounds),
        ("mail_outbox", "id", uuid_bounds),
    ];
    for (table, column, (low, high)) in probes {
        let answers = (
            probe(&sql, table, column, low).await,
            probe(&sql, table, column, high).await,
        );
        match answers {
            (None, None) => {}
            (Some(low_rows), Some(high_rows)) => assert_eq!(
                low_rows, high_rows,
                "{table}.{column}: the plan counts hidden rows in a range"
            ),
            other => panic!("{table}.{column}: refused only sometimes: {other:?}"),
        }
    }
}
