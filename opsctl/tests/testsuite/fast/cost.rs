//! `opsctl cost model` through the real binary: JSON for every profile, and a
//! clear refusal of an unknown one.

fn opsctl(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(args)
        .output()
        .expect("opsctl runs")
}

#[test]
fn the_model_is_computed_for_each_profile_and_names_the_design_s_disagreements() {
    for profile in ["mvp", "scale-10x"] {
        let out = opsctl(&["--output", "json", "cost", "model", "--profile", profile]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let rows = model["rows"].as_array().expect("rows");
        assert!(rows.len() >= 5);
        let sum: f64 = rows.iter().filter_map(|r| r["monthly"].as_f64()).sum();
        assert!((sum - model["total"].as_f64().expect("total")).abs() < 0.01);
        assert_eq!(model["prices_reviewed"], "2026-12-02");
    }
    let table = opsctl(&["cost", "model"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("disagrees: ECS Fargate"), "{text}");
    let bad = opsctl(&["cost", "model", "--profile", "huge"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scale-10x"));
}

/// Every resource type the templates create is priced by a row of the
/// model, or listed as free with the reason; every entry of the price file
/// says where its number comes from and as of when.
#[test]
fn every_billable_resource_of_the_templates_is_priced_and_every_price_has_a_source() {
    use opsctl::ops::cost::{model, Prices, FREE_TYPES, PRICED_TYPES};
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/templates");
    let mut types = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&templates).expect("templates") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        for (_, resource) in doc["Resources"].as_mapping().expect("Resources") {
            types.insert(resource["Type"].as_str().expect("Type").to_owned());
        }
    }
    let priced: std::collections::BTreeSet<&str> = PRICED_TYPES.iter().map(|(t, _)| *t).collect();
    let free: std::collections::BTreeSet<&str> = FREE_TYPES.iter().map(|(t, _)| *t).collect();
    assert!(priced.is_disjoint(&free));
    let unpriced: Vec<&String> = types
        .iter()
        .filter(|t| !priced.contains(t.as_str()) && !free.contains(t.as_str()))
        .collect();
    assert!(
        unpriced.is_empty(),
        "billable resources the cost model does not price (add a row, or list them as free with the reason): {unpriced:?}"
    );
    let prices = Prices::load().expect("prices");
    for profile in [
        opsctl::args::SizeProfile::Mvp,
        opsctl::args::SizeProfile::Scale10x,
    ] {
        for optimized in [false, true] {
            let m =
                model(&prices, profile, optimized, 0.5).expect("every price the model uses exists");
            for (kind, row) in PRICED_TYPES {
                assert!(
                    m.rows.iter().any(|r| r.item == *row),
                    "{kind} is priced by row {row}, which the {profile:?} model lacks"
                );
            }
        }
    }
    for (kind, key, source, as_of, checked) in prices.provenance() {
        assert!(!source.trim().is_empty(), "{kind} {key} has no source");
        assert!(
            chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").is_ok(),
            "{kind} {key}: as_of {as_of:?} is not a date"
        );
        assert!(
            ["read", "transcribed", "design", "recalled"].contains(&checked),
            "{kind} {key}: checked {checked:?}"
        );
    }
    // A committed rate (reservation, Spot, Savings Plan) is keyed by the
    // on-demand rate it replaces, and is below it: the discount is derived
    // from the two, per class.
    for (table, map) in [
        ("reserved_1y_no_upfront", &prices.reserved_1y_no_upfront),
        ("spot", &prices.spot),
        (
            "savings_plan_1y_no_upfront",
            &prices.savings_plan_1y_no_upfront,
        ),
    ] {
        for (key, p) in map {
            let on_demand = prices
                .hourly(key)
                .unwrap_or_else(|_| panic!("{table} {key} has no on-demand rate"));
            assert!(
                p.usd > 0.0 && p.usd < on_demand,
                "{table} {key}: ${} is not below on-demand ${on_demand}",
                p.usd
            );
        }
    }
}

/// Every money figure, percentage and multiplier of the design's cost
/// section is recomputed: it agrees (within its printed precision) or the
/// ledger names the input or the arithmetic that makes it differ, or why it
/// cannot be recomputed. A figure left out fails here. The section in the
/// repository is the design document's, verbatim.
#[test]
fn every_figure_of_the_design_s_cost_section_is_checked() {
    use opsctl::ops::cost::design::{ledger, SECTION};
    use opsctl::ops::cost::Prices;
    let checked = ledger(&Prices::load().expect("prices")).expect("ledger");
    for c in &checked {
        assert!(
            c.agrees || !c.cause.trim().is_empty(),
            "{} at {:?}: differs without a cause",
            c.figure,
            c.at
        );
        assert!(
            SECTION.lines().any(|l| l.contains(c.at)),
            "{:?} is not in the design's section",
            c.at
        );
    }
    // Every figure of every line: `$` amounts (and ranges), percentages,
    // multipliers.
    let figure = |text: &str, start: usize| -> Option<(usize, String)> {
        let bytes = text.as_bytes();
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_digit() || bytes[end] == b'.' || bytes[end] == b',')
        {
            end += 1;
        }
        if end == start {
            return None;
        }
        let mut number = text[start..end].trim_end_matches('.').to_owned();
        let rest = &text[start + number.len()..];
        if start > 0 && bytes[start - 1] == b'$' {
            // A range: $12-17.
            if let Some(tail) = rest.strip_prefix('-') {
                let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
                if !digits.is_empty() {
                    number = format!("{number}-{digits}");
                }
            }
            return Some((end, format!("${number}")));
        }
        if rest.starts_with('%') {
            return Some((end, format!("{number}%")));
        }
        if rest.starts_with('배') {
            return Some((end, format!("{number}배")));
        }
        None
    };
    let mut missing = Vec::new();
    for line in SECTION.lines() {
        let mut found: Vec<String> = Vec::new();
        let mut i = 0;
        while i < line.len() {
            let starts_number = line.as_bytes()[i].is_ascii_digit()
                && (i == 0
                    || !line.as_bytes()[i - 1].is_ascii_digit() && line.as_bytes()[i - 1] != b'.');
            if starts_number {
                if let Some((end, f)) = figure(line, i) {
                    found.push(f);
                    i = end;
                    continue;
                }
            }
            i += line[i..].chars().next().map_or(1, char::len_utf8);
        }
        let mut wanted: std::collections::BTreeMap<&str, usize> = Default::default();
        for f in &found {
            *wanted.entry(f.as_str()).or_default() += 1;
        }
        for (f, n) in wanted {
            let covered = checked
                .iter()
                .filter(|c| c.figure == f && line.contains(c.at))
                .count();
            if covered < n {
                missing.push(format!("{f} x{n} in {line:?}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "figures no one checks:\n{}",
        missing.join("\n")
    );
    // The section is the design document's own, where the document is.
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed");
    if let Ok(entries) = std::fs::read_dir(&seed) {
        let design: String = entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        assert!(
            design.contains(SECTION.trim_end()),
            "infra/prices/design-cost-section.txt is not the design's section verbatim"
        );
    }
}

/// The bill of a month after the free tier the account's start date gets,
/// through the binary.
#[test]
fn the_free_tier_follows_the_account_s_start_date() {
    let legacy = opsctl(&[
        "--output",
        "json",
        "cost",
        "model",
        "--account-opened",
        "2025-03-02",
        "--month",
        "2025-05",
    ]);
    assert_eq!(
        legacy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&legacy.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&legacy.stdout).expect("json");
    assert_eq!(json["free_tier"]["plan"], "legacy 12-month free tier");
    let bill = json["free_tier"]["bill"].as_f64().expect("bill");
    let total = json["model"]["total"].as_f64().expect("total");
    assert!(bill < total, "{bill} < {total}");
    let credits = opsctl(&[
        "--output",
        "json",
        "cost",
        "model",
        "--account-opened",
        "2025-09-02",
        "--month",
        "2025-09",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&credits.stdout).expect("json");
    assert_eq!(
        json["free_tier"]["bill"], 0.0,
        "the first month is on the credits"
    );
    let before = opsctl(&[
        "cost",
        "model",
        "--account-opened",
        "2025-09-02",
        "--month",
        "2025-08",
    ]);
    assert_eq!(before.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&before.stderr).contains("before the account was opened"));
}

/// The README's and the free-tier runbook's cost blocks are the commands'
/// own output.
#[test]
fn the_docs_cost_tables_are_generated_by_the_commands() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stale = Vec::new();
    for (doc, blocks) in [
        (
            "README.md",
            vec![
                vec!["cost", "model"],
                vec!["cost", "model", "--optimized", "--check-alarms"],
            ],
        ),
        (
            "runbooks/free-tier-timeline.md",
            vec![
                vec![
                    "cost",
                    "model",
                    "--account-opened",
                    "2025-01-12",
                    "--month",
                    "2025-06",
                ],
                vec![
                    "cost",
                    "model",
                    "--account-opened",
                    "2026-01-12",
                    "--month",
                    "2027-02",
                ],
                vec!["cost", "model", "--optimized"],
            ],
        ),
    ] {
        let path = root.join(doc);
        let mut text = std::fs::read_to_string(&path).expect(doc);
        for args in blocks {
            let marker = format!("<!-- generated: opsctl {} -->\n```text\n", args.join(" "));
            let start = text
                .find(&marker)
                .unwrap_or_else(|| panic!("{doc} has no block {marker:?}"))
                + marker.len();
            let end = start
                + text[start..]
                    .find("```\n<!-- end -->")
                    .expect("the block's end");
            let out = opsctl(&args);
            let fresh = String::from_utf8_lossy(&out.stdout).into_owned();
            if text[start..end] != fresh {
                stale.push(format!("{doc}: {}", args.join(" ")));
                text.replace_range(start..end, &fresh);
            }
        }
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, text).expect("doc written");
        }
    }
    if std::env::var_os("UPDATE_DOCS").is_none() {
        assert!(
            stale.is_empty(),
            "stale generated blocks {stale:?}: UPDATE_DOCS=1 cargo test -p opsctl --test testsuite fast::cost"
        );
    }
}

/// A git repository of the test's own holding the inputs `cost diff`
/// reads (the sized templates and the price file) as this tree has them,
/// committed as the base; removed when dropped.
struct DiffRepo(std::path::PathBuf);

impl DiffRepo {
    fn new() -> DiffRepo {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!("cost-diff-{}", uuid::Uuid::new_v4().simple()));
        for path in [
            "infra/templates/data.yaml",
            "infra/templates/kafka.yaml",
            "infra/templates/compute.yaml",
            "infra/prices/us-east-1.toml",
        ] {
            let to = dir.join(path);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("dirs");
            std::fs::copy(root.join(path), &to).expect("copy");
        }
        let repo = DiffRepo(dir);
        repo.git(&["init", "-q"]);
        repo.git(&["add", "."]);
        repo.git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "base",
        ]);
        repo
    }

    fn git(&self, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn edit(&self, path: &str, from: &str, to: &str) {
        let p = self.0.join(path);
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains(from), "{path} has no `{from}`");
        std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
    }

    fn diff(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("opsctl runs")
    }
}

impl Drop for DiffRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mvp(diffs: &serde_json::Value) -> &serde_json::Value {
    diffs
        .as_array()
        .expect("a diff per profile")
        .iter()
        .find(|d| d["profile"] == "mvp")
        .expect("the mvp diff")
}

#[test]
fn cost_diff_prices_a_template_change_and_a_price_change_with_exact_deltas() {
    let repo = DiffRepo::new();
    // Nothing changed: no row moves.
    let same = repo.diff(&["--output", "json", "cost", "diff", "--base", "HEAD"]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let same: serde_json::Value = serde_json::from_slice(&same.stdout).expect("json");
    assert_eq!(
        mvp(&same)["rows"].as_array().map(Vec::len),
        Some(0),
        "{same}"
    );
    assert_eq!(mvp(&same)["delta"], 0.0);

    // A template change: the MVP's broker t2.micro -> m5.large.
    // EC2 Kafka: 1 x $0.0116/h x 730 h + (20 + 8) GB x $0.08 = $10.71
    // before, 1 x $0.096/h x 730 h + 28 GB x $0.08 = $72.32 after: +$61.61.
    repo.edit(
        "infra/templates/kafka.yaml",
        "InstanceType: t2.micro",
        "InstanceType: m5.large",
    );
    // A price change: the hosted zone $0.50 -> $0.90 a month: +$0.40.
    repo.edit(
        "infra/prices/us-east-1.toml",
        "[monthly.\"route53:hosted_zone\"]\nusd = 0.50",
        "[monthly.\"route53:hosted_zone\"]\nusd = 0.90",
    );
    let out = repo.diff(&["--output", "json", "cost", "diff", "--base", "HEAD"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diffs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let d = mvp(&diffs);
    let rows = d["rows"].as_array().expect("rows");
    let row = |item: &str| {
        rows.iter()
            .find(|r| r["item"] == item)
            .unwrap_or_else(|| panic!("no row {item}: {d}"))
    };
    let kafka = row("EC2 Kafka");
    assert_eq!(
        (kafka["base"].as_f64(), kafka["now"].as_f64()),
        (Some(10.71), Some(72.32))
    );
    assert_eq!(kafka["delta"], 61.61);
    assert_eq!(kafka["causes"].as_array().map(Vec::len), Some(1));
    assert_eq!(kafka["causes"][0]["kind"], "template");
    assert!(
        kafka["causes"][0]["now"]
            .as_str()
            .unwrap_or_default()
            .contains("m5.large"),
        "{kafka}"
    );
    let route53 = row("Route 53");
    assert_eq!(route53["delta"], 0.4);
    assert_eq!(route53["causes"][0]["kind"], "prices");
    assert_eq!(rows.len(), 2, "only the two rows moved: {d}");
    assert_eq!(d["delta"], 62.01);
    // The 10x profile's broker did not change; the zone's price did.
    let big = diffs
        .as_array()
        .and_then(|a| a.iter().find(|d| d["profile"] == "scale-10x"))
        .expect("10x");
    assert_eq!(big["delta"], 0.4, "{big}");

    // For a pull request comment.
    let md = repo.diff(&[
        "--output",
        "markdown",
        "cost",
        "diff",
        "--base",
        "HEAD",
        "--profile",
        "mvp",
    ]);
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(
        text.contains("| EC2 Kafka | 10.71 | 72.32 | +61.61 | template +61.61: t2.micro"),
        "{text}"
    );
    assert!(
        text.contains("| Route 53 | 1.50 | 1.90 | +0.40 | prices +0.40:"),
        "{text}"
    );

    // A revision that does not exist: a usage error that says what to give.
    let bad = repo.diff(&["cost", "diff", "--base", "no-such-ref"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fetch-depth: 0"));
}
