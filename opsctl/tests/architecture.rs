//! opsctl works with the services' data only through the services' own
//! crates (their repository functions) and the messaging crate: no SQL in
//! opsctl names a table a service's migrations create, so a schema change
//! cannot break opsctl without the compiler seeing it.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Every table the services' and the messaging crate's migrations create.
fn service_tables() -> Vec<String> {
    let mut sql = Vec::new();
    files(&repo().join("app"), "sql", &mut sql);
    let mut tables = Vec::new();
    for file in sql {
        let text = std::fs::read_to_string(&file)
            .expect("migration")
            .to_lowercase();
        for rest in text.split("create table").skip(1) {
            let name = rest
                .trim_start()
                .trim_start_matches("if not exists")
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .find(|w| !w.is_empty())
                .unwrap_or_default();
            let name = name.rsplit('.').next().unwrap_or(name).to_owned();
            if !name.is_empty() && !tables.contains(&name) {
                tables.push(name);
            }
        }
    }
    tables
}

/// `(line, table)` for each line of `text` whose SQL names one of `tables`.
fn sql_naming(text: &str, tables: &[String]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let lower = line.to_lowercase();
        for table in tables {
            for keyword in ["from", "join", "into", "update"] {
                let needle = format!("{keyword} {table}");
                if let Some(at) = lower.find(&needle) {
                    let after = lower[at + needle.len()..].chars().next();
                    let before = lower[..at].chars().last();
                    let word_end = !after.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    let word_start = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    if word_end && word_start {
                        found.push((n + 1, table.clone()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_sql_in_opsctl_names_a_services_table() {
    let tables = service_tables();
    for expected in [
        "reservations",
        "payments",
        "outbox",
        "processed_events",
        "notices",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "{expected} not found in {tables:?}"
        );
    }
    // The check itself catches what it is for.
    assert_eq!(
        sql_naming(
            "sqlx::query(\"SELECT id FROM reservations WHERE x\")",
            &tables
        ),
        [(1, "reservations".to_owned())]
    );
    assert!(sql_naming(
        "// the reservations_total gauge, from reservation-service",
        &tables
    )
    .is_empty());

    let mut sources = Vec::new();
    files(&repo().join("opsctl/src"), "rs", &mut sources);
    assert!(!sources.is_empty());
    let mut offences = Vec::new();
    for file in sources {
        let text = std::fs::read_to_string(&file).expect("source");
        for (line, table) in sql_naming(&text, &tables) {
            offences.push(format!("{}:{line} names `{table}`", file.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "opsctl must call the owning service's (or the messaging crate's) functions instead:\n{}",
        offences.join("\n")
    );
}
