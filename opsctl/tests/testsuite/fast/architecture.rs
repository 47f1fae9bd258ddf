//! opsctl's structure, checked from its sources:
//! - it works with the services' data only through the services' own crates
//!   (their repository functions) and the messaging crate: no SQL in opsctl
//!   names a table a service's migrations create, so a schema change cannot
//!   break opsctl without the compiler seeing it;
//! - its modules import each other without cycles (`cli.rs`, which names
//!   every command, is imported by nothing);
//! - README's command table is the CLI's commands and flags (issue 27);
//! - and, for the workspace's other half, every crate under `app/` has no
//!   module import cycle and no service depends on another service.

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

/// The module a source file is (`commands/portone/mod.rs` -> `commands::portone`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The modules `text` (the source of `module`) refers to: `crate::a::b`
/// paths (braced lists included) and `super::` paths, each resolved to the
/// longest known module.
fn references(module: &str, text: &str, modules: &[String]) -> Vec<String> {
    let mut paths = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let parent = module
        .rsplit_once("::")
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let path: String = rest
                .chars()
                .take_while(|c| {
                    c.is_alphanumeric()
                        || *c == '_'
                        || *c == ':'
                        || *c == '{'
                        || *c == '}'
                        || *c == ','
                        || *c == ' '
                        || *c == '\n'
                })
                .collect();
            let path = path.split(';').next().unwrap_or_default();
            let joined = |p: &str| {
                if base.is_empty() {
                    p.to_owned()
                } else {
                    format!("{base}::{p}")
                }
            };
            if let Some((head, list)) = path.split_once('{') {
                let head = head.trim().trim_end_matches("::");
                for item in list.split('}').next().unwrap_or_default().split(',') {
                    let item = item.trim();
                    if !item.is_empty() {
                        paths.push(joined(&format!("{head}::{item}")));
                    }
                }
            } else {
                let end = path.find([' ', '\n', ',', '}']).unwrap_or(path.len());
                paths.push(joined(&path[..end]));
            }
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let path = path.replace(' ', "");
        let found = modules
            .iter()
            .filter(|m| path == **m || path.starts_with(&format!("{m}::")))
            .max_by_key(|m| m.len());
        if let Some(m) = found {
            if m != module && !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
}

/// The modules of the crate whose sources are in `src` (its root, `lib` or
/// `main`, aside), each with the modules it refers to.
fn module_graph(src: &Path) -> Vec<(String, Vec<String>)> {
    let mut sources = Vec::new();
    files(src, "rs", &mut sources);
    let modules: Vec<String> = sources
        .iter()
        .map(|f| module_of(src, f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph = Vec::new();
    for file in &sources {
        let module = module_of(src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source");
        graph.push((module.clone(), references(&module, &text, &modules)));
    }
    graph
}

fn find_cycle(graph: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &[(String, Vec<String>)],
        stack: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        stack.push(node.to_owned());
        let edges = graph
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
        for next in edges {
            if let Some(cycle) = visit(&next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    for (node, _) in graph {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn opsctl_modules_import_each_other_without_cycles_and_nothing_imports_the_cli() {
    let graph = module_graph(&repo().join("opsctl/src"));
    assert!(
        graph.iter().any(|(m, _)| m == "commands::kafka"),
        "{graph:?}"
    );
    // The checker sees what it is for.
    let planted = vec![
        ("a".to_owned(), vec!["b".to_owned()]),
        ("b".to_owned(), vec!["a".to_owned()]),
    ];
    assert!(find_cycle(&planted).is_some());
    assert_eq!(
        references(
            "x::y",
            "use crate::commands::{kafka, dr};\nuse super::z;",
            &[
                "commands::kafka".into(),
                "commands::dr".into(),
                "x::z".into()
            ]
        ),
        ["commands::kafka", "commands::dr", "x::z"]
    );

    for (module, edges) in &graph {
        assert!(
            !edges.contains(&"cli".to_owned()),
            "{module} imports cli.rs"
        );
    }
    assert!(
        graph
            .iter()
            .any(|(m, e)| m == "cli" && e.contains(&"commands::kafka".to_owned())),
        "the graph was read: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle in opsctl: {}", cycle.join(" -> "));
    }

    // The layers: ops (the operations) never reaches up into commands; a
    // command reaches another group's command only through ops.
    let group = |m: &str| m.split("::").take(2).collect::<Vec<_>>().join("::");
    for (module, edges) in &graph {
        for edge in edges {
            if module.starts_with("ops") {
                assert!(
                    !edge.starts_with("commands"),
                    "{module} (ops) imports {edge} (a command)"
                );
            }
            if module.starts_with("commands::") && edge.starts_with("commands::") {
                assert_eq!(
                    group(module),
                    group(edge),
                    "{module} reaches into another command group's {edge}; share it through ops/"
                );
            }
        }
    }
}

#[test]
fn opsctl_files_stay_short_and_ops_does_not_print_or_parse_arguments() {
    let src = repo().join("opsctl/src");
    let mut sources = Vec::new();
    files(&src, "rs", &mut sources);
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("source");
        let lines = text.lines().count();
        assert!(
            lines <= 400,
            "{} has {lines} lines; split it by responsibility (arguments and rendering in commands/, operations in ops/)",
            file.display()
        );
        if module_of(&src, file).starts_with("ops") {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                assert!(
                    !["println!", "eprintln!", "print!(", "eprint!("]
                        .iter()
                        .any(|p| code.contains(p)),
                    "{}:{} prints; ops return what they found and the command renders it",
                    file.display(),
                    n + 1
                );
                // Arguments are the commands' business (issue 27): an
                // operation takes values, never clap's types.
                assert!(
                    !code.contains("clap::") && !code.contains("use clap"),
                    "{}:{} names clap; parse arguments in commands/ and pass ops the values",
                    file.display(),
                    n + 1
                );
                // Nor the CLI's own types: ops take the `Environment`
                // and return `OpsError` (issue 27).
                let cli = [
                    "crate::cli",
                    "crate::commands",
                    "crate::context",
                    "crate::args",
                    "crate::output",
                    "Context",
                    "GlobalArgs",
                    "EnvArg",
                    "OutputFormat",
                    "ExecuteArgs",
                ];
                if let Some(name) = cli.iter().find(|name| names_word(code, name)) {
                    panic!(
                        "{}:{} names the CLI's `{name}`; ops take the Environment and values",
                        file.display(),
                        n + 1
                    );
                }
            }
        }
    }
}

/// Whether `code` names `word` as a whole word or path.
fn names_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !part(before) && !part(after)
    })
}

/// Whether a line of code formats an error as debug text: `{e:?}` and the
/// like, or the SDK's `DisplayErrorContext`, which prints the raw response
/// whole (a 1.5 KB dump inside a table cell, once).
fn prints_debug_error(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or_default();
    [
        "{e:?}",
        "{e:#?}",
        "{err:?}",
        "{error:?}",
        "DisplayErrorContext",
    ]
    .iter()
    .any(|p| code.contains(p))
        || (code.contains("{:?}")
            && [", e)", ", err)", ", error)"]
                .iter()
                .any(|p| code.contains(p)))
}

/// No SDK debug text in any output (issue 31): AWS errors go through
/// `aws::sdk_error` (the operation, the code and the message), and no
/// code outside tests formats an error as debug text.
#[test]
fn no_error_is_printed_as_debug_text() {
    assert!(prints_debug_error(r#"format!("push failed: {e:?}")"#));
    assert!(prints_debug_error(r#"format!("{:?}", e)"#));
    assert!(prints_debug_error("DisplayErrorContext(&e)"));
    assert!(!prints_debug_error(r#"format!("{e}: {}", sdk_error(&e))"#));
    assert!(!prints_debug_error("/// never DisplayErrorContext"));
    let mut sources = Vec::new();
    files(&repo().join("opsctl/src"), "rs", &mut sources);
    let mut found = Vec::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if prints_debug_error(line) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "errors printed as debug text (use aws::sdk_error or Display): {found:#?}"
    );
}

/// Every crate under `app/` (the services, the shared building blocks, the
/// platform binary): their directories.
fn app_crates() -> Vec<PathBuf> {
    let mut manifests = Vec::new();
    files(&repo().join("app"), "toml", &mut manifests);
    let mut crates: Vec<PathBuf> = manifests
        .iter()
        .filter(|m| m.file_name().is_some_and(|n| n == "Cargo.toml"))
        .filter_map(|m| m.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("src").is_dir())
        .collect();
    crates.sort();
    crates
}

#[test]
fn app_modules_import_each_other_without_cycles_and_services_never_import_services() {
    let crates = app_crates();
    assert!(crates.len() >= 20, "the app crates were found: {crates:?}");
    let services = [
        "api-gateway",
        "user-service",
        "event-service",
        "queue-service",
        "reservation-service",
        "payment-service",
    ];
    let mut checked_modules = 0;
    for dir in &crates {
        let graph = module_graph(&dir.join("src"));
        checked_modules += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            panic!("import cycle in {}: {}", dir.display(), cycle.join(" -> "));
        }
        // A service depends on shared crates, never on another service.
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| services.contains(&n.as_str())) {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
            for other in services.iter().filter(|s| **s != name) {
                assert!(
                    !manifest.lines().any(|l| l.trim_start().starts_with(other)),
                    "{name} depends on {other}: services talk over HTTP and Kafka only"
                );
            }
        }
    }
    // The split services were read module by module.
    assert!(checked_modules >= 20, "{checked_modules} modules checked");
}

/// `commands/` turns arguments into options and renders; the I/O is in
/// `ops/` (Cargo's `commands/` and `ops/`). A command that names an AWS
/// SDK, the database, HTTP, Kafka, Redis or the filesystem does I/O itself.
#[test]
fn commands_do_no_io_of_their_own() {
    let dir = repo().join("opsctl/src/commands");
    let mut sources = Vec::new();
    files(&dir, "rs", &mut sources);
    assert!(sources.len() >= 20, "{} command sources", sources.len());
    let io = [
        "aws_sdk_",
        "sqlx",
        "reqwest",
        "rdkafka",
        "redis",
        "std::fs",
        "tokio::fs",
        // An SDK call through a client value names no type.
        ".send()",
    ];
    let mut found = Vec::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(name) = io.iter().find(|name| code.contains(*name)) {
                found.push(format!("{}:{}: {name}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "commands/ doing I/O (move it into ops/): {found:#?}"
    );
}

/// Every change goes through the one driver (issue 27): it alone opens
/// the change envelope, so the plan, the dry run, the lock, the
/// confirmation and the audit entries are written once.
#[test]
fn only_the_driver_opens_a_change() {
    let src = repo().join("opsctl/src");
    let mut sources = Vec::new();
    files(&src, "rs", &mut sources);
    let allowed = [src.join("driver.rs"), src.join("change.rs")];
    let mut found = Vec::new();
    for file in sources.iter().filter(|f| !allowed.contains(f)) {
        let text = std::fs::read_to_string(file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("Change::new(") || code.contains(".begin(") {
                found.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a change opened outside driver.rs (give the driver an Operation or a Procedure): {found:#?}"
    );
}

/// `infra/local/test.sh` runs the unit tests before it starts the stack,
/// skipping modules named `on_the_stack` (run after it). A unit test that
/// makes a test environment on the stack outside such a module would fail
/// the fast tier on a machine where the stack is not running yet.
#[test]
fn unit_tests_that_need_the_stack_live_in_on_the_stack_modules() {
    let harness = ["testkit", "e2e"];
    let mut sources = Vec::new();
    for dir in app_crates().into_iter().filter(|d| {
        !d.file_name()
            .is_some_and(|n| harness.iter().any(|h| n == *h))
    }) {
        files(&dir.join("src"), "rs", &mut sources);
    }
    files(&repo().join("opsctl/src"), "rs", &mut sources);
    assert!(sources.len() > 100, "{} sources", sources.len());
    let mut on_the_stack = 0;
    let mut outside = Vec::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("source");
        let Some(tests) = text.find("#[cfg(test)]") else {
            continue;
        };
        let needs_stack = ["TestEnv", "PrivateRedis", "PrivateBroker", "PrivateCluster"]
            .iter()
            .any(|t| text[tests..].contains(t));
        if !needs_stack {
            continue;
        }
        if text[tests..].contains("mod on_the_stack") {
            on_the_stack += 1;
        } else {
            outside.push(file.display().to_string());
        }
    }
    assert!(
        outside.is_empty(),
        "unit tests on the stack outside an `on_the_stack` module: {outside:#?}"
    );
    // event-service's seat states are tested on the stack.
    assert!(on_the_stack >= 1, "no on_the_stack module was found");
}

/// The command paths and flags one cell of README's opsctl table names:
/// each backticked command (`logs retention plan\|apply [--exclude P]`,
/// several per cell when separated by commas), alternatives expanded.
fn documented(cell: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for (i, code) in cell.split('`').enumerate() {
        if i % 2 == 0 || code.trim().is_empty() {
            continue;
        }
        let words: Vec<String> = code
            .replace("\\|", "|")
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_owned())
            .collect();
        let flags: Vec<String> = words
            .iter()
            .flat_map(|w| w.split('|'))
            .filter(|w| w.starts_with("--"))
            .map(|w| w.split('=').next().unwrap_or(w).to_owned())
            .collect();
        // The leading words in lower case are the command path; a word of
        // alternatives (`plan|apply`) is one path per alternative.
        let mut paths: Vec<Vec<String>> = vec![Vec::new()];
        for word in &words {
            let alternatives: Vec<&str> = word.split('|').collect();
            if !alternatives.iter().all(|a| {
                !a.is_empty()
                    && a.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !a.starts_with('-')
            }) {
                break;
            }
            paths = paths
                .iter()
                .flat_map(|p| {
                    alternatives.iter().map(move |a| {
                        let mut p = p.clone();
                        p.push((*a).to_owned());
                        p
                    })
                })
                .collect();
        }
        for path in paths {
            out.push((path, flags.clone()));
        }
    }
    out
}

/// Every leaf command of opsctl's CLI, as its path of names.
fn leaf_commands(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push(path.clone());
    }
    for sub in subs {
        path.push(sub.get_name().to_owned());
        leaf_commands(sub, path, out);
        path.pop();
    }
}

/// README's opsctl command table and `cli.rs` agree: every command the CLI
/// has is in the table, every command the table names exists, and every
/// flag the table gives a command is one that command (or opsctl itself)
/// takes.
#[test]
fn the_readme_command_table_is_the_cli() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## opsctl")
        .nth(1)
        .expect("README has an opsctl section");
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| command | what it does |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() > 20, "the command table was not found");
    let cli = opsctl::Cli::command();
    let global: Vec<String> = cli
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let mut named: Vec<Vec<String>> = Vec::new();
    let mut problems = Vec::new();
    for row in &table {
        let cell = row.split(" | ").next().unwrap_or_default();
        for (path, flags) in documented(cell) {
            // Walk the CLI by the path's names.
            let mut cmd = &cli;
            let mut found = true;
            let mut walked = Vec::new();
            for name in &path {
                if let Some(sub) = cmd.find_subcommand(name) {
                    cmd = sub;
                    walked.push(name.clone());
                    continue;
                }
                // A value of the command's positional argument
                // (`alarms plan billing`): the path ends before it.
                let a_value = cmd.get_positionals().any(|arg| {
                    arg.get_possible_values()
                        .iter()
                        .any(|v| v.get_name() == name.as_str())
                });
                if !a_value {
                    problems.push(format!(
                        "README names `{}`, which opsctl does not have",
                        path.join(" ")
                    ));
                    found = false;
                }
                break;
            }
            let path = walked;
            if !found || path.is_empty() {
                continue;
            }
            // The flags of the command and of its subcommands (a row may
            // give `plan|apply` one flag list).
            let mut takes: Vec<String> = global.clone();
            let mut stack = vec![cmd];
            while let Some(c) = stack.pop() {
                takes.extend(
                    c.get_arguments()
                        .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
                );
                stack.extend(c.get_subcommands());
            }
            for flag in flags {
                if !takes.contains(&flag) {
                    problems.push(format!(
                        "README gives `{}` the flag {flag}, which it does not take",
                        path.join(" ")
                    ));
                }
            }
            named.push(path);
        }
    }
    let mut leaves = Vec::new();
    leaf_commands(&cli, &mut Vec::new(), &mut leaves);
    for leaf in leaves {
        // Documented as itself or through its parent (`logs retention`
        // covering `plan` and `apply` is written with both names).
        if !named.iter().any(|n| leaf.starts_with(n)) {
            problems.push(format!(
                "`opsctl {}` is not in README's command table",
                leaf.join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_table_cell_gives_each_command_path_and_its_flags() {
    let got = documented("`logs retention plan\\|apply [--exclude PATTERN]`");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, ["logs", "retention", "plan"]);
    assert_eq!(got[1].0, ["logs", "retention", "apply"]);
    assert_eq!(got[0].1, ["--exclude"]);
    let got = documented("`notice end ID\\|--template T`, `notice list`");
    assert_eq!(got[0].0, ["notice", "end"]);
    assert_eq!(got[0].1, ["--template"]);
    assert_eq!(got[1].0, ["notice", "list"]);
}
