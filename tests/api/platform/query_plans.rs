//! Query plans on ~100k rows: every tenant-scoped statement the stores run finds its
//! rows through an index led by `tenant_id`, with the tenant helper evaluated once per
//! statement (an InitPlan whose result is the index condition), both as planned for
//! the values at hand and as the generic plan a prepared statement may switch to.
//!
//! The statements are the stores' own (`GET_SQL`, `list_query`), EXPLAINed as the
//! application role with the tenant set, exactly as a request runs them.

use crm::modules::crm::{
    contacts::{self, ContactFilter, ContactSort},
    deals::{self, DealFilter, DealSort},
};
use serde_json::Value;
use tokio_postgres::{Client, types::ToSql};
use uuid::Uuid;

use crate::support::spawn_app;

const TENANTS: i64 = 4;
const CONTACTS_PER_TENANT: i64 = 15_000;
const DEALS_PER_TENANT: i64 = 10_000;

/// Tenant `t`'s id (the benchmark's deterministic scheme).
fn tenant(t: i64) -> Uuid {
    Uuid::parse_str(&format!("9{t:031}")).expect("a valid uuid")
}

/// Tenant `t`'s owner.
fn owner_of(t: i64) -> Uuid {
    Uuid::parse_str(&format!("8{t:031}")).expect("a valid uuid")
}

/// Tenant `t`'s one tag, on every tenth of its contacts.
fn tag_of(t: i64) -> Uuid {
    Uuid::parse_str(&format!("7{t:031}")).expect("a valid uuid")
}

/// 60k contacts and 40k deals over 4 tenants, each tenant's one tag on a tenth of its
/// contacts, in bulk as the owner. Per-row triggers are skipped
/// (`session_replication_role`): the rows are consistent by construction.
async fn load(owner: &Client) {
    owner
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO tenants (id, name)
               SELECT ('9' || lpad(t::text, 31, '0'))::uuid, 'Plan tenant ' || t
               FROM generate_series(0, {last_tenant}) t;
             INSERT INTO users (id, email, password_hash, full_name)
               SELECT ('8' || lpad(t::text, 31, '0'))::uuid, 'owner' || t || '@plan.test',
                      'not a hash', 'Owner ' || t
               FROM generate_series(0, {last_tenant}) t;
             INSERT INTO memberships (tenant_id, user_id, role, email, full_name)
               SELECT ('9' || lpad(t::text, 31, '0'))::uuid, ('8' || lpad(t::text, 31, '0'))::uuid,
                      'owner', 'owner' || t || '@plan.test', 'Owner ' || t
               FROM generate_series(0, {last_tenant}) t;
             INSERT INTO contacts (tenant_id, id, first_name, last_name, email, created_at)
               SELECT ('9' || lpad((n % {TENANTS})::text, 31, '0'))::uuid, gen_random_uuid(),
                      'First' || n, 'Name' || (n % 500), 'c' || n || '@example.com',
                      now() - n * interval '1 minute'
               FROM generate_series(1, {contacts}) n;
             SELECT app.open_default_pipeline(t.id) FROM tenants t;
             INSERT INTO deals (tenant_id, id, title, amount_minor, pipeline_id, stage,
                                stage_entered_at, created_at)
               SELECT p.tenant_id, gen_random_uuid(), 'Deal ' || n, n, p.id,
                      (ARRAY['NEW', 'NEGOTIATION', 'CLOSED_WON', 'CLOSED_LOST'])[1 + n % 4],
                      now(), now() - n * interval '1 minute'
               FROM generate_series(1, {deals}) n
               JOIN pipelines p ON p.tenant_id = ('9' || lpad((n % {TENANTS})::text, 31, '0'))::uuid;
             INSERT INTO tags (tenant_id, id, name)
               SELECT ('9' || lpad(t::text, 31, '0'))::uuid, ('7' || lpad(t::text, 31, '0'))::uuid,
                      'Tag ' || t
               FROM generate_series(0, {last_tenant}) t;
             INSERT INTO contact_tags (tenant_id, contact_id, tag_id)
               SELECT c.tenant_id, c.id, t.id FROM contacts c
               JOIN tags t ON t.tenant_id = c.tenant_id
               WHERE c.email LIKE 'c%0@example.com';
             ANALYZE tenants, contacts, deals, tags, contact_tags;",
            last_tenant = TENANTS - 1,
            contacts = TENANTS * CONTACTS_PER_TENANT,
            deals = TENANTS * DEALS_PER_TENANT,
        ))
        .await
        .expect("bulk load");
}

/// Every plan node, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, out);
    }
}

/// What a plan shows about one statement.
struct Plan {
    nodes: Vec<Value>,
    text: String,
}

impl Plan {
    fn node_types(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| n["Node Type"].as_str())
            .collect()
    }

    /// Indexes the plan reads `table` through.
    fn indexes_on(&self, table: &str) -> Vec<String> {
        let mut names = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let name = node["Index Name"].as_str().map(str::to_owned);
            match node["Node Type"].as_str() {
                Some("Index Scan" | "Index Only Scan")
                    if node["Relation Name"].as_str() == Some(table) =>
                {
                    names.extend(name);
                }
                // A Bitmap Index Scan sits under the Bitmap Heap Scan of its table.
                Some("Bitmap Index Scan")
                    if self.nodes[..i].iter().rev().any(|p| {
                        p["Node Type"] == "Bitmap Heap Scan"
                            && p["Relation Name"].as_str() == Some(table)
                    }) =>
                {
                    names.extend(name);
                }
                _ => {}
            }
        }
        names
    }

    /// The parameters InitPlans return (`$0` in "InitPlan 1 (returns $0)").
    fn init_plan_params(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n["Parent Relationship"] == "InitPlan")
            .filter_map(|n| n["Subplan Name"].as_str())
            .filter_map(|name| name.split("returns ").nth(1))
            .map(|p| p.trim_end_matches(')').to_owned())
            .collect()
    }

    /// True when some index condition compares tenant_id with one of `params`.
    fn tenant_in_index_condition(&self, params: &[String]) -> bool {
        self.nodes.iter().any(|n| {
            let cond = n["Index Cond"].as_str().unwrap_or_default();
            params
                .iter()
                .any(|p| cond.contains(&format!("tenant_id = {p})")))
        })
    }
}

async fn explain(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    generic: bool,
) -> Plan {
    let row = if generic {
        // A prepared statement may switch to its generic plan after five executions:
        // force it, and EXPLAIN EXECUTE that (PostgreSQL 15 has no EXPLAIN GENERIC_PLAN).
        client
            .batch_execute(&format!(
                "DEALLOCATE ALL; SET LOCAL plan_cache_mode = force_generic_plan; PREPARE probe AS {sql}"
            ))
            .await
            .expect("prepare the probe");
        // A generic plan does not depend on the values: NULLs stand in for them.
        let nulls = vec!["NULL"; params.len()].join(", ");
        client
            .query_one(
                &format!("EXPLAIN (FORMAT JSON) EXECUTE probe({nulls})"),
                &[],
            )
            .await
            .expect("explain execute")
    } else {
        client
            .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), params)
            .await
            .expect("explain")
    };
    let json: Value = row.get(0);
    let mut all = Vec::new();
    nodes(&json[0]["Plan"], &mut all);
    Plan {
        nodes: all,
        text: serde_json::to_string_pretty(&json).unwrap_or_default(),
    }
}

/// Is the first key column of `index` tenant_id?
async fn leads_with_tenant(owner: &Client, index: &str) -> bool {
    owner
        .query_one(
            "SELECT a.attname = 'tenant_id' FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indexrelid = $1::text::regclass",
            &[&index],
        )
        .await
        .expect("index lookup")
        .get(0)
}

/// Asserts the tenant-scoped shape of `plan` for a statement on `table`.
async fn assert_tenant_scoped(owner: &Client, what: &str, table: &str, plan: &Plan) {
    let types = plan.node_types();
    assert!(
        !types.contains(&"Seq Scan"),
        "{what}: a sequential scan\n{}",
        plan.text
    );
    let indexes = plan.indexes_on(table);
    assert!(
        !indexes.is_empty(),
        "{what}: no index on {table}\n{}",
        plan.text
    );
    for index in &indexes {
        assert!(
            leads_with_tenant(owner, index).await,
            "{what}: {index} is not led by tenant_id\n{}",
            plan.text
        );
    }
    let params = plan.init_plan_params();
    assert!(
        !params.is_empty(),
        "{what}: the tenant helper is not an InitPlan\n{}",
        plan.text
    );
    assert!(
        plan.tenant_in_index_condition(&params),
        "{what}: tenant_id = <InitPlan result> is not an index condition\n{}",
        plan.text
    );
}

#[tokio::test]
async fn tenant_scoped_statements_use_tenant_led_indexes_and_an_init_plan() {
    let app = spawn_app().await;
    let owner = app.owner_sql().await;
    load(&owner).await;
    let contact_id: Uuid = owner
        .query_one(
            "SELECT id FROM contacts WHERE tenant_id = $1 ORDER BY id OFFSET 100 LIMIT 1",
            &[&tenant(2)],
        )
        .await
        .expect("a contact")
        .get(0);

    // As a request runs: the application role, inside a transaction, context entered.
    let tx = app.app_role_sql().await;
    tx.batch_execute("BEGIN").await.expect("begin");
    app.enter(&tx, tenant(2), owner_of(2)).await;

    let list = contacts::list_query(
        ContactFilter {
            q: None,
            company_id: None,
            created_after: None,
            created_before: None,
            tag_id: None,
        },
        ContactSort::default(),
        None,
        None,
    )
    .expect("list query");
    let search = contacts::list_query(
        ContactFilter {
            q: Some("name123".to_owned()),
            company_id: None,
            created_after: None,
            created_before: None,
            tag_id: None,
        },
        ContactSort::default(),
        None,
        None,
    )
    .expect("search query");
    let by_tag = contacts::list_query(
        ContactFilter {
            q: None,
            company_id: None,
            created_after: None,
            created_before: None,
            tag_id: Some(tag_of(2)),
        },
        ContactSort::default(),
        None,
        None,
    )
    .expect("tag query");
    let by_stage = deals::list_query(
        DealFilter {
            q: None,
            pipeline_id: None,
            stage: Some("NEGOTIATION".into()),
            contact_id: None,
            company_id: None,
            min_amount: None,
            max_amount: None,
            created_after: None,
            created_before: None,
            tag_id: None,
        },
        DealSort::default(),
        None,
        None,
    )
    .expect("deals query");

    for generic in [false, true] {
        let mode = if generic {
            "generic plan"
        } else {
            "custom plan"
        };
        let get = explain(&tx, contacts::GET_SQL, &[&contact_id], generic).await;
        assert_tenant_scoped(&owner, &format!("get contact ({mode})"), "contacts", &get).await;

        let first_page = explain(&tx, list.sql(), &list.params(), generic).await;
        let what = format!("list contacts ({mode})");
        assert_tenant_scoped(&owner, &what, "contacts", &first_page).await;
        assert!(
            !first_page.node_types().contains(&"Sort"),
            "{what}: the first page is sorted instead of read in index order\n{}",
            first_page.text
        );

        let found = explain(&tx, search.sql(), &search.params(), generic).await;
        assert_tenant_scoped(&owner, &format!("search ({mode})"), "contacts", &found).await;

        let tagged = explain(&tx, by_tag.sql(), &by_tag.params(), generic).await;
        let what = format!("contacts by tag ({mode})");
        assert_tenant_scoped(&owner, &what, "contacts", &tagged).await;
        assert_tenant_scoped(&owner, &what, "contact_tags", &tagged).await;

        let stage = explain(&tx, by_stage.sql(), &by_stage.params(), generic).await;
        assert_tenant_scoped(&owner, &format!("deals by stage ({mode})"), "deals", &stage).await;
    }
    tx.batch_execute("ROLLBACK").await.expect("rollback");
}

/// The opaque cursor of a page that ended at (`key`, `id`) in sort order `sort`.
fn cursor(sort: &str, key: &str, id: Uuid) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let json = serde_json::json!({ "sort": sort, "key": key, "id": id });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// The attack: pages sorted by last name cost more the deeper they are when the
/// keyset bound is a Filter (every row before the page is read and discarded). It
/// must be the index condition, as the application role runs it through RLS.
#[tokio::test]
async fn a_deep_keyset_page_by_last_name_is_an_index_condition() {
    let app = spawn_app().await;
    let owner = app.owner_sql().await;
    load(&owner).await;
    let tx = app.app_role_sql().await;
    tx.batch_execute("BEGIN").await.expect("begin");
    app.enter(&tx, tenant(1), owner_of(1)).await;

    let filter = || ContactFilter {
        q: None,
        company_id: None,
        created_after: None,
        created_before: None,
        tag_id: None,
    };
    for (sort, name) in [
        (ContactSort::LastName, "last_name"),
        (ContactSort::LastNameDesc, "-last_name"),
    ] {
        // Deep in the tenant's 15k contacts: past most of the 500 last names.
        let deep = cursor(name, "name450", Uuid::nil());
        let page = contacts::list_query(filter(), sort, Some(deep), None).expect("list query");
        for generic in [false, true] {
            let plan = explain(&tx, page.sql(), &page.params(), generic).await;
            let what = format!("contacts by {name} (generic plan: {generic})");
            assert_tenant_scoped(&owner, &what, "contacts", &plan).await;
            let keyset_in_index = plan.nodes.iter().any(|n| {
                n["Index Cond"]
                    .as_str()
                    .is_some_and(|cond| cond.contains("ROW(") || cond.contains(", id) "))
            });
            let keyset_filtered = plan.nodes.iter().any(|n| {
                n["Filter"]
                    .as_str()
                    .is_some_and(|f| f.contains("ROW(") || f.contains(", id) "))
            });
            assert!(
                keyset_in_index && !keyset_filtered,
                "{what}: the keyset bound is not the index condition\n{}",
                plan.text
            );
            assert!(
                !plan.node_types().contains(&"Sort"),
                "{what}: sorted instead of read in index order\n{}",
                plan.text
            );
        }
    }
    tx.batch_execute("ROLLBACK").await.expect("rollback");
}
