//! Every `opsctl` command line in `runbooks/*.md` parses with the real CLI
//! definition, so a runbook cannot name a command, flag or value the tool
//! does not have.

use clap::Parser;
use opsctl::Cli;

/// Splits a command line on whitespace, honouring single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            (_, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `opsctl ...` lines inside fenced code blocks.
fn command_lines(markdown: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside && trimmed.starts_with("opsctl ") {
            out.push(trimmed.to_owned());
        }
    }
    out
}

#[test]
fn every_command_line_in_the_runbooks_parses_with_the_real_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("runbooks/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for line in command_lines(&text) {
            // `a && b`: each part is a command.
            for part in line.split("&&").map(str::trim) {
                checked += 1;
                if let Err(e) = Cli::try_parse_from(words(part)) {
                    failures.push(format!("{}: `{part}`: {e}", path.display()));
                }
            }
        }
        if path.file_name().is_some_and(|n| n != "README.md") {
            for section in [
                "## Meaning",
                "## Impact",
                "## Diagnosis",
                "## Mitigation",
                "## Verification",
                "## Escalation",
            ] {
                if !text.contains(section) {
                    failures.push(format!("{}: no `{section}` section", path.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 60, "only {checked} command lines found");
}

#[test]
fn a_wrong_command_line_would_be_caught() {
    assert!(Cli::try_parse_from(words("opsctl kafka restart --no-such-flag")).is_err());
    assert!(Cli::try_parse_from(words("opsctl outbox replay --rate 'ten'")).is_err());
    assert_eq!(words("opsctl a 'b c' \"d\""), ["opsctl", "a", "b c", "d"]);
}

#[test]
fn every_command_of_the_free_tier_timeline_parses() {
    let ends = chrono::NaiveDate::from_ymd_opt(2027, 1, 12).expect("date");
    for action in opsctl::ops::cost_report::checklist(ends) {
        for part in action.command.split("&&").map(str::trim) {
            assert!(
                Cli::try_parse_from(words(part)).is_ok(),
                "{}: `{part}`",
                action.when
            );
        }
    }
}
