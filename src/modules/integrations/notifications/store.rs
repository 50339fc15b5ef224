//! Template storage: plain SQL under the tenant's policies (every member reads, owners
//! and admins insert). Versions are only ever inserted.

use std::collections::BTreeMap;

use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    EffectiveTemplate, NewTemplate, Source, Template, fallback_locales,
    keys::{self, Channel, TemplateKey},
};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery, SortOrder},
};

/// The columns every template query returns; `in_force` needs the table aliased `t`.
macro_rules! columns {
    () => {
        "t.id, t.key, t.channel, t.locale, t.version, t.subject, t.text_body, t.html_body, \
         t.created_at, t.created_by, NOT EXISTS (SELECT 1 FROM notification_templates n \
         WHERE n.tenant_id = t.tenant_id AND n.key = t.key AND n.channel = t.channel \
         AND n.locale = t.locale AND n.version > t.version) AS in_force"
    };
}

fn template(row: &Row) -> Result<Template, DbError> {
    let key: &str = row.get("key");
    let channel: &str = row.get("channel");
    let unknown = || DbError::internal(format!("a stored template of key {key:?} on {channel:?}"));
    Ok(Template {
        id: row.get("id"),
        key: TemplateKey::parse(key).ok_or_else(unknown)?,
        channel: Channel::parse(channel).ok_or_else(unknown)?,
        locale: row.get("locale"),
        version: row.get("version"),
        in_force: row.get("in_force"),
        subject: row.get("subject"),
        text: row.get("text_body"),
        html: row.get("html_body"),
        created_at: row.get("created_at"),
        created_by: row.get("created_by"),
    })
}

fn templates(rows: Vec<Result<Template, DbError>>) -> Result<Vec<Template>, DbError> {
    rows.into_iter().collect()
}

/// Saves `new` as the next version of its key, channel and locale (1 for the first),
/// which is then the one in force. Two saves at the same moment: the second is a
/// conflict (`notification_templates_version_key`).
pub async fn create(tx: TenantTx, new: &NewTemplate) -> Result<Template, DbError> {
    let id = Uuid::now_v7();
    let row = tx
        .query_opt_and_commit(
            concat!(
                "WITH saved AS (INSERT INTO notification_templates \
                 (id, key, channel, locale, version, subject, text_body, html_body) \
                 SELECT $1, $2, $3, $4, coalesce(max(version), 0) + 1, $5, $6, $7 \
                 FROM notification_templates WHERE key = $2 AND channel = $3 AND locale = $4 \
                 RETURNING *) SELECT ",
                columns!(),
                " FROM saved t"
            ),
            &[
                &id,
                &new.key.name(),
                &new.channel.name(),
                &new.locale,
                &new.subject,
                &new.text,
                &new.html,
            ],
        )
        .await?
        .ok_or_else(|| DbError::internal("the insert returned no row"))?;
    // The version just saved is the newest: the statement's snapshot cannot see it.
    let mut saved = template(&row)?;
    saved.in_force = true;
    Ok(saved)
}

/// Version `id` of the tenant's templates.
pub async fn get(tx: TenantTx, id: Uuid) -> Result<Template, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM notification_templates t WHERE t.id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(template).ok_or(DbError::NotFound)?
}

/// Version `id` and the tenant's time zone, in one statement.
pub async fn get_with_time_zone(tx: TenantTx, id: Uuid) -> Result<(Template, String), DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                ", (SELECT time_zone FROM tenants) AS time_zone \
                 FROM notification_templates t WHERE t.id = $1"
            ),
            &[&id],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    Ok((template(&row)?, row.get("time_zone")))
}

/// The tenant's time zone.
pub async fn time_zone(tx: TenantTx) -> Result<String, DbError> {
    let row = tx
        .query_opt_and_commit("SELECT time_zone FROM tenants", &[])
        .await?
        .ok_or_else(|| DbError::internal("the tenant's row is not readable"))?;
    Ok(row.get("time_zone"))
}

/// A contact's values, as `notification_messages_address` (V24) fills them in.
const CONTACT_VALUES_SQL: &str = "SELECT jsonb_strip_nulls(jsonb_build_object(\
     'contact.first_name', c.first_name, 'contact.last_name', c.last_name, \
     'contact.email', c.email, 'contact.phone', c.phone)) AS variables \
     FROM contacts c WHERE c.id = $1";

/// The values record `id` gives templates, its contact's among them: read by
/// `record_sql` (a module's [`crate::platform::module::NotifiedRecord`]), or, when
/// `None`, the record is a contact. `NotFound` when the tenant has no such record.
pub async fn record_values(
    mut tx: TenantTx,
    record_sql: Option<&str>,
    id: Uuid,
) -> Result<BTreeMap<String, String>, DbError> {
    let (mut values, contact_id) = match record_sql {
        None => (BTreeMap::new(), Some(id)),
        Some(sql) => {
            let row = tx.query_opt(sql, &[&id]).await?.ok_or(DbError::NotFound)?;
            (text_values(row.get("variables")), row.get("contact_id"))
        }
    };
    let Some(contact_id) = contact_id else {
        tx.commit().await?;
        return Ok(values);
    };
    match tx
        .query_opt_and_commit(CONTACT_VALUES_SQL, &[&contact_id])
        .await?
    {
        Some(row) => values.extend(text_values(row.get("variables"))),
        None if record_sql.is_none() => return Err(DbError::NotFound),
        None => {}
    }
    Ok(values)
}

/// A jsonb object's text values by key (the variables' shape); others are left out.
fn text_values(object: serde_json::Value) -> BTreeMap<String, String> {
    let serde_json::Value::Object(map) = object else {
        return BTreeMap::new();
    };
    map.into_iter()
        .filter_map(|(path, value)| match value {
            serde_json::Value::String(text) => Some((path, text)),
            _ => None,
        })
        .collect()
}

/// The filters of the list of versions in force.
#[derive(Debug, Default)]
pub struct Filters {
    pub key: Option<TemplateKey>,
    pub channel: Option<Channel>,
    pub locale: Option<String>,
}

/// The statement [`list`] runs for this page of the versions in force, oldest first
/// (`notification_templates_created_idx`); refuses a bad cursor or limit.
pub fn list_query(
    filters: Filters,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", t.created_at::text AS sort_key FROM notification_templates t) AS templates"
    ));
    query.filter("in_force", "=", Some(true));
    query.filter("key", "=", filters.key.map(TemplateKey::name));
    query.filter("channel", "=", filters.channel.map(Channel::name));
    query.filter("locale", "=", filters.locale);
    query.page(OldestFirst, cursor, limit)
}

/// One page of versions and the cursor of the next.
pub async fn list<S: SortOrder>(
    tx: TenantTx,
    query: PageQuery<S>,
) -> Result<(Vec<Template>, Option<String>), DbError> {
    let (rows, next) = query.fetch(tx, template).await?;
    Ok((templates(rows)?, next))
}

/// A template's history: newest version first (`notification_templates_version_key`,
/// read backwards).
#[derive(Debug, Clone, Copy)]
pub struct NewestVersionFirst;

impl SortOrder for NewestVersionFirst {
    fn name(self) -> &'static str {
        "version"
    }

    fn expression(self) -> &'static str {
        "version"
    }

    fn sql_type(self) -> &'static str {
        "bigint"
    }

    fn descending(self) -> bool {
        true
    }
}

/// The statement [`versions`] runs for this page of the history of the template
/// version `id` belongs to (same key, channel and locale), newest first; refuses a bad
/// cursor or limit.
pub fn versions_query(
    id: Uuid,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<NewestVersionFirst>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", t.version::text AS sort_key, o.id AS of_id FROM notification_templates t \
         JOIN notification_templates o ON o.tenant_id = t.tenant_id AND o.key = t.key \
         AND o.channel = t.channel AND o.locale = t.locale) AS templates"
    ));
    query.filter("of_id", "=", Some(id));
    query.page(NewestVersionFirst, cursor, limit)
}

/// One page of the history of the template version `id` belongs to, and the cursor
/// of the next; `NotFound` for no such version of the tenant.
pub async fn versions(
    mut tx: TenantTx,
    id: Uuid,
    query: PageQuery<NewestVersionFirst>,
) -> Result<(Vec<Template>, Option<String>), DbError> {
    tx.query_opt("SELECT 1 FROM notification_templates WHERE id = $1", &[&id])
        .await?
        .ok_or(DbError::NotFound)?;
    list(tx, query).await
}

/// The wording in force in `locale` for every key and channel `wanted` admits: the
/// tenant's newest version for the first of [`fallback_locales`] it has one for, else
/// the default.
pub async fn effective(
    tx: TenantTx,
    locale: &str,
    wanted: impl Fn(TemplateKey, Channel) -> bool,
) -> Result<Vec<EffectiveTemplate>, DbError> {
    let chain = fallback_locales(locale);
    let rows = tx
        .query_and_commit(
            concat!(
                "SELECT * FROM (SELECT ",
                columns!(),
                " FROM notification_templates t WHERE t.locale = ANY($1)) AS templates \
                 WHERE in_force"
            ),
            &[&chain],
        )
        .await?;
    let saved = templates(rows.iter().map(template).collect())?;
    let mut answer = Vec::new();
    for spec in keys::KEYS {
        for &channel in spec.channels {
            if !wanted(spec.key, channel) {
                continue;
            }
            let own = chain.iter().find_map(|locale| {
                saved.iter().find(|template| {
                    template.key == spec.key
                        && template.channel == channel
                        && &template.locale == locale
                })
            });
            answer.push(match (own, keys::default_for(spec.key, channel)) {
                (Some(own), _) => EffectiveTemplate {
                    key: spec.key,
                    channel,
                    locale: own.locale.clone(),
                    source: Source::Tenant,
                    template_id: Some(own.id),
                    version: Some(own.version),
                    subject: own.subject.clone(),
                    text: own.text.clone(),
                    html: own.html.clone(),
                },
                (None, Some(default)) => EffectiveTemplate {
                    key: spec.key,
                    channel,
                    locale: keys::DEFAULT_LOCALE.to_owned(),
                    source: Source::Default,
                    template_id: None,
                    version: None,
                    subject: default.subject.map(str::to_owned),
                    text: default.text.to_owned(),
                    html: default.html.map(str::to_owned),
                },
                (None, None) => continue,
            });
        }
    }
    Ok(answer)
}
