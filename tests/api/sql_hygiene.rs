//! No SQL is assembled from strings at run time, except in the reviewed query builder
//! (which joins `&'static str` fragments and binds every value). An injection cannot
//! forge another tenant's context (it is signed: `platform/signed_context.rs`), but it
//! would act with everything its own request's context allows, so this stays part of
//! the isolation guarantee.

use std::path::{Path, PathBuf};

/// Files allowed to assemble SQL with `format!`, and why.
const REVIEWED: &[&str] = &[
    // Joins &'static str fragments chosen by enums; every client value is a parameter.
    "src/platform/list.rs",
];

const SQL_STARTS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "ALTER", "CREATE", "DROP", "GRANT", "REVOKE",
    "TRUNCATE", "COPY", "SET", "CALL", "DO", "EXECUTE", "PREPARE",
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The format string of each `format!(` in `source` (which may start on the next
/// line), upper-cased and trimmed, with the line number of the call.
fn format_literals(source: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    source.match_indices("format!(").filter_map(move |(at, _)| {
        let rest = source[at + "format!(".len()..].trim_start();
        let literal = rest.strip_prefix('"')?;
        let line = source[..at].matches('\n').count() + 1;
        Some((line, literal.trim_start().to_uppercase()))
    })
}

fn builds_sql(literal: &str) -> bool {
    SQL_STARTS.iter().any(|keyword| {
        literal
            .strip_prefix(keyword)
            .is_some_and(|after| after.starts_with([' ', '\\', '"']) || after.is_empty())
    }) || [" AND ", " OR ", " WHERE ", " ORDER BY ", " LIMIT "]
        .iter()
        .any(|clause| literal.starts_with(clause.trim_start()))
}

#[test]
fn sql_is_never_assembled_with_format_outside_the_reviewed_builder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        if REVIEWED.contains(&relative.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("read");
        for (line, literal) in format_literals(&source) {
            if builds_sql(&literal) {
                offenders.push(format!(
                    "{relative}:{line}: {}",
                    literal.lines().next().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL built with format!:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_recognises_sql_in_format() {
    let first = |source: &str| format_literals(source).next().expect("one format!").1;
    assert!(builds_sql(&first(
        r#"let q = format!("SELECT * FROM t WHERE id = {id}");"#
    )));
    assert!(builds_sql(&first(
        "client.query(&format!(\n    \"delete from t where id = {id}\",\n)"
    )));
    assert!(builds_sql(&first(
        r#"sql.push_str(&format!(" AND {column} = {value}"));"#
    )));
    assert!(!builds_sql(&first(
        r#"format!("must be {min} to {max} characters")"#
    )));
    assert!(!builds_sql(&first(r#"format!("Settings for {name}")"#)));
}
