//! `docs/api.md` lists every code each endpoint answers with. The test suites record every
//! refusal they provoke (`ASSENT_REFUSAL_LOG`: `METHOD ROUTE CODE` per line, routes as the router
//! matched them); this check, run by `scripts/test` after the suites, fails on any recorded code
//! missing from its endpoint's **Refusals** table (or from the tables common to every backend or
//! device call). Run alone: `ASSENT_REFUSAL_LOG=<log> cargo test -p assent-server --test api_docs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Routes of the backend API (the "every backend call" table applies to them).
fn is_backend(route: &str) -> bool {
    route.starts_with("/protected/") || route.starts_with("/onetouch/")
}

/// Routes of the device API but enrollment (the "every device call" table applies to them).
fn is_signed_device_call(route: &str) -> bool {
    route.starts_with("/device/") && route != "/device/v1/enroll"
}

/// The documented codes: per `METHOD ROUTE` heading, and the two common tables.
fn documented(api_md: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    for line in api_md.lines() {
        if let Some(heading) = line.strip_prefix("#### ") {
            current = if heading.starts_with("Every backend call") {
                vec!["backend".into()]
            } else if heading.starts_with("Every device call") {
                vec!["device".into()]
            } else if heading.starts_with("Unknown routes") {
                vec!["(unknown route)".into()]
            } else {
                heading
                    .split('·')
                    .map(|part| part.trim().trim_matches('`').to_owned())
                    .collect()
            };
            continue;
        }
        if line.starts_with('#') {
            current.clear();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 2 && cells[1].len() == 5 && cells[1].bytes().all(|b| b.is_ascii_digit()) {
            for key in &current {
                tables
                    .entry(key.clone())
                    .or_default()
                    .insert(cells[1].to_owned());
            }
        }
    }
    tables
}

#[test]
fn every_refusal_the_suites_produced_is_documented_for_its_endpoint() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let api_md = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let tables = documented(&api_md);
    let log_path = std::env::var_os("ASSENT_REFUSAL_LOG")
        .map(PathBuf::from)
        .expect("ASSENT_REFUSAL_LOG names the log the suites wrote (scripts/test sets it)");
    let log = std::fs::read_to_string(&log_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", log_path.display()));
    let mut seen = BTreeSet::new();
    let mut missing = BTreeSet::new();
    for line in log.lines() {
        let mut parts = line.rsplitn(2, ' ');
        let (Some(code), Some(endpoint)) = (parts.next(), parts.next()) else {
            continue;
        };
        seen.insert((endpoint.to_owned(), code.to_owned()));
        let route = endpoint.split_once(' ').map_or(endpoint, |(_, r)| r);
        let endpoint_key = if route == "(unknown route)" {
            route.to_owned()
        } else {
            endpoint.to_owned()
        };
        let mut allowed = tables.get(&endpoint_key).cloned().unwrap_or_default();
        if is_backend(route) {
            allowed.extend(tables.get("backend").cloned().unwrap_or_default());
        }
        if is_signed_device_call(route) {
            allowed.extend(tables.get("device").cloned().unwrap_or_default());
        }
        if !allowed.contains(code) {
            missing.insert(format!("{endpoint} answered {code}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/api.md does not list these codes for their endpoints:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert!(
        seen.len() >= 30,
        "the suites should have provoked many refusals; only {} distinct ones are in {}",
        seen.len(),
        log_path.display()
    );
}

#[test]
fn the_parser_reads_the_tables() {
    let tables = documented(
        "#### Every backend call\n| code | HTTP | when |\n|---|---|---|\n| 60001 | 401 | x |\n\
         #### `GET /a/{id}` · `POST /b`\n| 60026 | 404 | y |\n### Other\n| 60004 | 400 | z |\n",
    );
    assert_eq!(tables["backend"], BTreeSet::from(["60001".to_owned()]));
    assert_eq!(tables["GET /a/{id}"], BTreeSet::from(["60026".to_owned()]));
    assert_eq!(tables["POST /b"], BTreeSet::from(["60026".to_owned()]));
    assert_eq!(
        tables.len(),
        3,
        "a table under another heading belongs to no endpoint"
    );
}
