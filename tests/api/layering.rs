//! Imports run downward only: `platform` ← `modules` ← `http`, `jobs` ← `app`. Inside
//! `modules`, the core groups (`tenancy`, `identity`, `crm`) never reach into a vertical
//! or an integration, and a vertical never reaches into another. Read from the source,
//! like `sql_hygiene`: every `crate::…` path and every `super::…` chain is resolved to
//! the module it names.

use std::path::{Path, PathBuf};

/// The layer of a module path (`["modules", "crm", "contacts"]`), lowest first.
fn layer(path: &[&str]) -> u8 {
    match path.first().copied() {
        Some("platform") => 0,
        Some("modules") => 1,
        Some("http" | "jobs") => 2,
        _ => 3,
    }
}

fn group<'a>(path: &[&'a str]) -> &'a str {
    path.get(1).copied().unwrap_or("")
}

/// Why `from` may not name `to`, if it may not.
fn refusal(from: &[&str], to: &[&str]) -> Option<String> {
    let (a, b) = (layer(from), layer(to));
    if b > a {
        return Some(format!(
            "{} imports upward into {}",
            from.join("::"),
            to.join("::")
        ));
    }
    if a == 2 && b == 2 && from[0] != to[0] {
        return Some(format!("{} imports its sibling host {}", from[0], to[0]));
    }
    if a == 1 && b == 1 {
        let edge = |g: &str| matches!(g, "verticals" | "integrations");
        let core = |g: &str| matches!(g, "tenancy" | "identity" | "crm");
        if core(group(from)) && edge(group(to)) {
            return Some(format!(
                "{} (core) imports {}",
                from.join("::"),
                to.join("::")
            ));
        }
        if edge(group(from)) && group(from) == group(to) && from.get(2) != to.get(2) && to.len() > 2
        {
            return Some(format!(
                "{} imports another {} module: {}",
                from.join("::"),
                group(from),
                to.join("::")
            ));
        }
    }
    None
}

/// The module path of a source file: `src/modules/crm/mod.rs` → `["modules", "crm"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        match last.as_str() {
            "mod.rs" | "lib.rs" | "main.rs" => {}
            file => parts.push(file.trim_end_matches(".rs").to_owned()),
        }
    }
    parts
}

/// Every path a line of code names, resolved from `module`: `crate::a::b` as is,
/// `super::super::a` relative to the file's module.
fn named_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':')
        {
            continue;
        }
        let tail: String = code[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = tail.split("::").filter(|s| !s.is_empty()).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut rest = segments.as_slice();
        if rest.first() == Some(&"crate") {
            rest = &rest[1..];
        } else {
            resolved = module.to_vec();
            while rest.first() == Some(&"super") {
                resolved.pop();
                rest = &rest[1..];
            }
        }
        resolved.extend(rest.iter().map(|s| (*s).to_owned()));
        found.push(resolved);
    }
    found
}

/// Every refused import in one file's source.
fn violations(relative: &Path, source: &str) -> Vec<String> {
    let module = module_path(relative);
    let from: Vec<&str> = module.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for to in named_paths(&module, code) {
            let to: Vec<&str> = to.iter().map(String::as_str).collect();
            if let Some(why) = refusal(&from, &to) {
                out.push(format!("{}:{}: {why}", relative.display(), number + 1));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source tree") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_import_runs_upward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 40,
        "found only {} files under src",
        files.len()
    );
    let mut refused = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable file");
        let relative = file.strip_prefix(&src).expect("under src");
        refused.extend(violations(relative, &source));
    }
    assert!(
        refused.is_empty(),
        "imports that run upward:\n{}",
        refused.join("\n")
    );
}

/// The check itself: each kind of upward import is caught, allowed ones are not.
#[test]
fn the_check_catches_each_kind_of_upward_import() {
    let refused = |path: &str, code: &str| !violations(Path::new(path), code).is_empty();
    assert!(refused(
        "platform/error.rs",
        "use crate::modules::registry;"
    ));
    assert!(refused(
        "platform/db/pool.rs",
        "let x = crate::http::RateLimit::new(s);"
    ));
    assert!(refused(
        "platform/db/mod.rs",
        "use super::super::super::app::routes;"
    ));
    assert!(refused(
        "modules/crm/contacts/api.rs",
        "use crate::http::RequestLog;"
    ));
    assert!(refused(
        "modules/crm/deals/store.rs",
        "use crate::modules::verticals::real_estate::Label;"
    ));
    assert!(refused(
        "modules/crm/mod.rs",
        "use super::verticals::real_estate;"
    ));
    assert!(refused(
        "modules/verticals/clinic/mod.rs",
        "use crate::modules::verticals::real_estate::Label;"
    ));
    assert!(refused("http/probes.rs", "use crate::jobs::JobHost;"));
    assert!(refused("jobs/mod.rs", "use crate::app::Application;"));

    assert!(!refused(
        "modules/verticals/real_estate/mod.rs",
        "use crate::modules::crm::MODULE;"
    ));
    assert!(!refused(
        "modules/verticals/real_estate/viewings/api.rs",
        "use super::super::Label;"
    ));
    assert!(!refused(
        "modules/crm/contacts/api.rs",
        "use crate::platform::db::DbError;"
    ));
    assert!(!refused(
        "app.rs",
        "use crate::{http, jobs::JobHost, modules::registry};"
    ));
    assert!(!refused(
        "platform/error.rs",
        "// see crate::modules::registry"
    ));
}
