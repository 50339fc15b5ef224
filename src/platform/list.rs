//! List queries: filters, sort orders, text search and keyset pagination.
//!
//! SQL is assembled only from `&'static str` fragments written in this crate; every
//! value a client sends is a bind parameter. The cursor is opaque to clients (base64
//! JSON of the sort, the last row's sort key and id); a forged one is a 400, and it
//! cannot choose a tenant (RLS decides which rows exist).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::ToSql};
use uuid::Uuid;

use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
/// The longest search text: every trigram of it is looked up and rechecked.
pub const MAX_SEARCH_CHARS: usize = 100;
/// pg_trgm makes trigrams only from words (runs of letters and digits); a search
/// without a word this long has no trigram to look up and reads every row.
pub const MIN_SEARCH_WORD: usize = 3;

/// The trimmed search text, when an index can serve it: 1 to [`MAX_SEARCH_CHARS`]
/// characters containing a word of at least [`MIN_SEARCH_WORD`] letters or digits.
pub fn searchable(text: &str) -> Result<&str, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid(
            "q",
            format!("must be 1 to {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let longest_word = text
        .split(|c: char| !c.is_alphanumeric())
        .map(|word| word.chars().count())
        .max()
        .unwrap_or(0);
    if longest_word < MIN_SEARCH_WORD {
        return Err(ApiError::invalid(
            "q",
            format!(
                "must contain a word of at least {MIN_SEARCH_WORD} letters or digits (a shorter search cannot use the index)"
            ),
        ));
    }
    Ok(text)
}

/// A sort order a list endpoint offers.
pub trait SortOrder: Copy {
    /// The value of the `sort` parameter, echoed in cursors.
    fn name(self) -> &'static str;
    /// The SQL expression sorted on (matching an index led by tenant_id).
    fn expression(self) -> &'static str;
    /// The SQL type of that expression, used to read a cursor key back.
    fn sql_type(self) -> &'static str;
    fn descending(self) -> bool;
}

/// Oldest first by `created_at`, for lists that offer no other order (members,
/// invitations); the table's index must be `(tenant_id, created_at, id)`.
#[derive(Debug, Clone, Copy)]
pub struct OldestFirst;

impl SortOrder for OldestFirst {
    fn name(self) -> &'static str {
        "created_at"
    }

    fn expression(self) -> &'static str {
        "created_at"
    }

    fn sql_type(self) -> &'static str {
        "timestamptz"
    }

    fn descending(self) -> bool {
        false
    }
}

/// Newest first by `created_at`, for lists that offer no other order (notification
/// messages); the table's index must be `(tenant_id, created_at, id)`, read backwards.
#[derive(Debug, Clone, Copy)]
pub struct NewestFirst;

impl SortOrder for NewestFirst {
    fn name(self) -> &'static str {
        "created_at"
    }

    fn expression(self) -> &'static str {
        "created_at"
    }

    fn sql_type(self) -> &'static str {
        "timestamptz"
    }

    fn descending(self) -> bool {
        true
    }
}

/// A page size: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn checked_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    sort: String,
    key: String,
    id: Uuid,
}

/// A list query under construction.
pub struct ListQuery {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    /// Whether a text search was added (see [`PageQuery::searches`]).
    searches: bool,
}

impl ListQuery {
    /// `select` must end with a FROM clause; `sort_key` is added to its columns by
    /// the caller as `<expression>::text AS sort_key`.
    pub fn new(select: &'static str) -> Self {
        Self {
            sql: [select, " WHERE true"].concat(),
            params: Vec::new(),
            searches: false,
        }
    }

    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Adds `AND <column> <operator> $n` when `value` is present.
    pub fn filter<T: ToSql + Sync + Send + 'static>(
        &mut self,
        column: &'static str,
        operator: &'static str,
        value: Option<T>,
    ) {
        if let Some(value) = value {
            let placeholder = self.bind(value);
            self.sql
                .push_str(&format!(" AND {column} {operator} {placeholder}"));
        }
    }

    /// Adds `AND <head>$n<tail>` when `value` is present: a condition the other
    /// filters cannot write, such as `id IN (SELECT ... WHERE value = $n)`.
    pub fn filter_around<T: ToSql + Sync + Send + 'static>(
        &mut self,
        head: &'static str,
        value: Option<T>,
        tail: &'static str,
    ) {
        if let Some(value) = value {
            let placeholder = self.bind(value);
            self.sql
                .push_str(&format!(" AND {head}{placeholder}{tail}"));
        }
    }

    /// Adds `AND <column> = lower($n)` when `value` is present: `column` holds the
    /// stored lower-case form, so the comparison stays an index condition under RLS
    /// (`lower()` on a bind parameter is a constant; on a column it is not LEAKPROOF).
    pub fn filter_lower_case(&mut self, column: &'static str, value: Option<String>) {
        if let Some(value) = value {
            let placeholder = self.bind(value);
            self.sql
                .push_str(&format!(" AND {column} = lower({placeholder})"));
        }
    }

    /// Case-insensitive substring search on a trigram-indexed `search_text` column,
    /// refusing what no trigram index can look up (see [`searchable`]). LIKE
    /// wildcards and the escape character in the text are matched literally.
    pub fn search(&mut self, text: Option<String>) -> Result<(), ApiError> {
        let Some(text) = text else { return Ok(()) };
        let text = searchable(&text)?;
        self.searches = true;
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let placeholder = self.bind(escaped);
        self.sql.push_str(&format!(
            " AND search_text LIKE '%' || lower({placeholder}) || '%'"
        ));
        Ok(())
    }

    /// Adds the keyset condition, ORDER BY and LIMIT (one extra row, to learn whether
    /// another page follows).
    pub fn page<S: SortOrder>(
        mut self,
        sort: S,
        cursor: Option<String>,
        limit: Option<i64>,
    ) -> Result<PageQuery<S>, ApiError> {
        let limit = checked_limit(limit)?;
        let (expression, direction, comparison) = (
            sort.expression(),
            if sort.descending() { "DESC" } else { "ASC" },
            if sort.descending() { "<" } else { ">" },
        );
        if let Some(cursor) = cursor {
            let cursor = decode_cursor(&cursor, sort)?;
            let key = self.bind(cursor.key);
            let id = self.bind(cursor.id);
            self.sql.push_str(&format!(
                " AND ({expression}, id) {comparison} ({key}::text::{}, {id})",
                sort.sql_type()
            ));
        }
        let limit_placeholder = self.bind(limit + 1);
        self.sql.push_str(&format!(
            " ORDER BY {expression} {direction}, id {direction} LIMIT {limit_placeholder}"
        ));
        Ok(PageQuery {
            sql: self.sql,
            params: self.params,
            searches: self.searches,
            sort,
            limit,
        })
    }
}

/// A finished list query: run `sql()` with `params()`, then hand the rows to
/// [`PageQuery::into_page`].
pub struct PageQuery<S> {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    searches: bool,
    sort: S,
    limit: i64,
}

impl<S: SortOrder> PageQuery<S> {
    /// Whether this page is a text search: under RLS no index serves the pattern
    /// (`textlike` is not LEAKPROOF), so it reads the tenant's rows, and the tenant door
    /// counts it against the tenant's smaller search budget ([`Db::tx_for`]).
    ///
    /// [`Db::tx_for`]: crate::platform::db::Db::tx_for
    pub fn searches(&self) -> bool {
        self.searches
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// Runs the query as the last statement of `tx` (with COMMIT in the same flight)
    /// and returns this page's items, made by `item`, and the next page's cursor.
    pub async fn fetch<T>(
        self,
        tx: TenantTx,
        item: impl Fn(&Row) -> T,
    ) -> Result<(Vec<T>, Option<String>), DbError> {
        let rows = tx.query_and_commit(self.sql(), &self.params()).await?;
        let (rows, next) = self.into_page(rows);
        Ok((rows.iter().map(item).collect(), next))
    }

    /// [`Self::fetch`] that leaves `tx` open, for a statement that must follow the read
    /// in its transaction (the clinic logs who read which patient).
    pub async fn fetch_open<T>(
        self,
        tx: &mut TenantTx,
        item: impl Fn(&Row) -> T,
    ) -> Result<(Vec<T>, Option<String>), DbError> {
        let rows = tx.query(self.sql(), &self.params()).await?;
        let (rows, next) = self.into_page(rows);
        Ok((rows.iter().map(item).collect(), next))
    }

    /// The rows of this page and the cursor of the next one, if any.
    fn into_page(self, mut rows: Vec<Row>) -> (Vec<Row>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|row| encode_cursor(self.sort, row));
        (rows, next)
    }
}

fn encode_cursor(sort: impl SortOrder, row: &Row) -> String {
    let cursor = Cursor {
        sort: sort.name().to_owned(),
        key: row.get("sort_key"),
        id: row.get("id"),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn decode_cursor(cursor: &str, sort: impl SortOrder) -> Result<Cursor, ApiError> {
    let malformed = || {
        ApiError::BadRequest(
            "The cursor is malformed; use next_cursor from a previous page.".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if cursor.sort != sort.name() {
        return Err(ApiError::BadRequest(
            "The cursor belongs to another sort order.".into(),
        ));
    }
    let key_is_valid = match sort.sql_type() {
        "bigint" => cursor.key.parse::<i64>().is_ok(),
        "timestamptz" => {
            chrono::DateTime::parse_from_str(&cursor.key, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok()
        }
        // PostgreSQL text cannot hold NUL: refuse it here rather than as a range error.
        _ => cursor.key.len() <= 1000 && !cursor.key.contains('\0'),
    };
    if !key_is_valid {
        return Err(malformed());
    }
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_need_a_word_an_index_can_look_up() {
        for refused in ["%%%%", "ab", "a b c", "__", "\\\\", " 12 ", ""] {
            assert!(searchable(refused).is_err(), "{refused:?}");
        }
        for served in ["smi", "o'neil", "ab%cde", "Zoë", "555"] {
            assert!(searchable(served).is_ok(), "{served:?}");
        }
        assert!(searchable(&"abc".repeat(34)).is_err());
        assert!(searchable(&"a".repeat(MAX_SEARCH_CHARS)).is_ok());
    }
}
