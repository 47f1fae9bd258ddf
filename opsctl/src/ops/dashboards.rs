//! What a dashboard body reads: the platform's metrics it references and
//! the dimension keys it reads each by, held to what the services publish
//! (pure; `commands/dashboards.rs` loads and applies the files).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use ticketing_catalog::metrics;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::operation::Operation;

/// Every `Custom/Ticketing` metric a dashboard body references, with the
/// dimension keys it reads it by (sorted): in metric rows (`[namespace,
/// name, key, value, ...]`) and in SEARCH expressions
/// (`{Custom/Ticketing,key,...} ... MetricName="name"`).
pub fn referenced_metrics(body: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let widgets = body["widgets"].as_array().cloned().unwrap_or_default();
    for w in widgets {
        let rows = w["properties"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for row in rows {
            let Some(cells) = row.as_array() else {
                continue;
            };
            if let (Some(ns), Some(name)) = (
                cells.first().and_then(Value::as_str),
                cells.get(1).and_then(Value::as_str),
            ) {
                if ns == metrics::NAMESPACE {
                    let strings: Vec<&str> = cells[2..].iter().map_while(Value::as_str).collect();
                    let mut keys: Vec<String> =
                        strings.chunks(2).map(|kv| kv[0].to_owned()).collect();
                    keys.sort();
                    out.push((name.to_owned(), keys));
                }
            }
            for cell in cells {
                let Some(expr) = cell["expression"].as_str() else {
                    continue;
                };
                let open = format!("{{{}", metrics::NAMESPACE);
                let Some(at) = expr.find(&open) else {
                    continue;
                };
                let schema = &expr[at + open.len()..];
                let mut keys: Vec<String> = schema[..schema.find('}').unwrap_or(0)]
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                keys.sort();
                let mut rest = expr;
                while let Some(at) = rest.find("MetricName=\"") {
                    rest = &rest[at + "MetricName=\"".len()..];
                    if let Some(end) = rest.find('"') {
                        out.push((rest[..end].to_owned(), keys.clone()));
                        rest = &rest[end..];
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Why a reference cannot show data: the code does not emit the metric,
/// or the services do not publish it with those dimensions (catalog
/// `dimension_sets`: CloudWatch matches a metric only by its exact set).
pub fn unpublished(name: &str, keys: &[String]) -> Option<String> {
    if !metrics::is_emitted(name) {
        return Some(format!("{name} (not emitted)"));
    }
    let published = metrics::dimension_sets(name).iter().any(|set| {
        let mut set: Vec<&str> = set.to_vec();
        set.sort_unstable();
        set == keys.iter().map(String::as_str).collect::<Vec<_>>()
    });
    (!published).then(|| {
        format!(
            "{name} by [{}] (published by {:?})",
            keys.join(","),
            metrics::dimension_sets(name)
        )
    })
}

/// A dashboard file, checked and rendered for a region.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub name: String,
    pub file: PathBuf,
    pub body: Value,
}

/// Reads and checks every `*.json` in `dir`.
pub fn load(dir: &Path, env: &str, region: &str) -> Result<Vec<Dashboard>, OpsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        OpsError::usage(
            format!("cannot read the dashboards folder {}: {e}", dir.display()),
            "run from the repository root or pass --dir",
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(OpsError::usage(
            format!("no dashboard JSON in {}", dir.display()),
            "pass --dir pointing at the repository's dashboards/ folder",
        ));
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            OpsError::usage(
                format!("cannot read {}: {e}", file.display()),
                "check the file",
            )
        })?;
        let body: Value =
            serde_json::from_str(&text.replace("{{region}}", region).replace("{{env}}", env))
                .map_err(|e| {
                    OpsError::usage(
                        format!("{} is not valid JSON: {e}", file.display()),
                        "fix the file; nothing was changed",
                    )
                })?;
        if !body["widgets"].is_array() {
            return Err(OpsError::usage(
                format!("{} has no `widgets` array", file.display()),
                "a CloudWatch dashboard body is {\"widgets\": [...]}",
            ));
        }
        let unknown: Vec<String> = referenced_metrics(&body)
            .into_iter()
            .filter_map(|(name, keys)| unpublished(&name, &keys))
            .collect();
        if !unknown.is_empty() {
            return Err(OpsError::usage(
                format!(
                    "{} references metric(s) the services do not publish that way: {}; nothing was changed",
                    file.display(),
                    unknown.join(", ")
                ),
                "use a name from ticketing_catalog::metrics (dotted, as the code emits it) with one of its dimension sets (ticketing_catalog::metrics::dimension_sets)",
            ));
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dashboard")
            .to_owned();
        out.push(Dashboard {
            name: format!("ticketing-{env}-{stem}"),
            file,
            body,
        });
    }
    Ok(out)
}

#[derive(Serialize, Debug, Clone)]
pub struct Item {
    pub dashboard: String,
    pub file: String,
    pub widgets: usize,
    /// `create`, `update` or `ok`.
    pub action: &'static str,
}

/// The dashboards of `dir` as this environment's, and what applying them
/// would do to each.
pub struct Planned {
    cw: aws_sdk_cloudwatch::Client,
    boards: Vec<Dashboard>,
    pub items: Vec<Item>,
}

/// Reads the dashboards of `dir` and compares each with the one deployed.
pub async fn plan(ctx: &Environment, dir: &Path) -> Result<Planned, OpsError> {
    let env = ctx.profile.as_str();
    let boards = load(dir, env, &ctx.region)?;
    let cw = aws_sdk_cloudwatch::Client::new(&crate::aws::sdk_config(ctx).await?);
    let mut items = Vec::new();
    for b in &boards {
        let deployed = cw.get_dashboard().dashboard_name(&b.name).send().await;
        let action = match deployed {
            Ok(d) => {
                let now: Option<Value> = d
                    .dashboard_body()
                    .and_then(|t| serde_json::from_str(t).ok());
                if now.as_ref() == Some(&b.body) {
                    "ok"
                } else {
                    "update"
                }
            }
            // AWS answers DashboardNotFound (moto: ResourceNotFound).
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_dashboard_not_found_error() || s.meta().code() == Some("ResourceNotFound")
                }) =>
            {
                "create"
            }
            Err(e) => {
                return Err(crate::aws::failed(
                    &format!("CloudWatch GetDashboard {} failed", b.name),
                    crate::aws::sdk_error(&e),
                ))
            }
        };
        items.push(Item {
            dashboard: b.name.clone(),
            file: b.file.display().to_string(),
            widgets: b.body["widgets"].as_array().map_or(0, Vec::len),
            action,
        });
    }
    Ok(Planned { cw, boards, items })
}

/// The dashboards for people: each one's file, widgets and what applying
/// does to it.
pub fn render(items: &[Item]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.dashboard.clone(),
                i.file.clone(),
                i.widgets.to_string(),
                if i.action == "ok" {
                    "ok".into()
                } else {
                    i.action.to_uppercase()
                },
            ]
        })
        .collect();
    crate::table::table(&["DASHBOARD", "FILE", "WIDGETS", "ACTION"], &rows)
}

impl Operation for Planned {
    type Change = Item;
    fn command(&self) -> &'static str {
        "dashboards apply"
    }
    fn doing(&self) -> String {
        "putting CloudWatch dashboards".to_owned()
    }

    fn changes(&self) -> Vec<&Item> {
        self.items.iter().filter(|i| i.action != "ok").collect()
    }

    fn render(&self) -> String {
        render(&self.items)
    }

    async fn apply(&self, item: &Item) -> Result<(), String> {
        put(self, item).await
    }

    fn failure(item: &Item, error: &str) -> String {
        format!("putting dashboard {} failed: {error}", item.dashboard)
    }

    fn summary(&self, done: usize) -> String {
        format!("put {done} dashboard(s)\n")
    }
}

/// Puts one planned dashboard: why CloudWatch refused it, if it did.
pub async fn put(planned: &Planned, item: &Item) -> Result<(), String> {
    let Some(board) = planned.boards.iter().find(|b| b.name == item.dashboard) else {
        return Ok(());
    };
    let put = planned
        .cw
        .put_dashboard()
        .dashboard_name(&board.name)
        .dashboard_body(board.body.to_string())
        .send()
        .await;
    match put {
        Ok(out) if out.dashboard_validation_messages().is_empty() => Ok(()),
        Ok(out) => Err(out
            .dashboard_validation_messages()
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m.data_path().unwrap_or("-"),
                    m.message().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")),
        Err(e) => Err(crate::aws::sdk_error(&e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_rows_and_search_expressions_are_both_read() {
        let body = serde_json::json!({"widgets": [{"properties": {"metrics": [
            ["Custom/Ticketing", "payment.success", "environment", "prod", {"label": "ok"}],
            ["AWS/RDS", "ReplicaLag"],
            [{"expression": "SEARCH('{Custom/Ticketing,schema,environment} environment=\"prod\" MetricName=\"outbox.backlog\"', 'Maximum', 60)"}]
        ]}}]});
        let env_schema = vec!["environment".to_owned(), "schema".to_owned()];
        assert_eq!(
            referenced_metrics(&body),
            vec![
                ("outbox.backlog".to_owned(), env_schema.clone()),
                ("payment.success".to_owned(), vec!["environment".to_owned()])
            ]
        );
        assert_eq!(unpublished("outbox.backlog", &env_schema), None);
        // Without the environment, CloudWatch would match nothing.
        assert!(unpublished("payment.success", &[]).is_some());
        assert!(unpublished("no.such.metric", &[]).is_some());
    }

    /// The repository's dashboards: valid, and every metric one the code
    /// emits (the list itself is held equal to the source by a catalog
    /// test).
    #[test]
    fn the_repository_s_dashboards_reference_only_emitted_metrics() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
        let boards = load(&dir, "prod", "ap-northeast-2").expect("dashboards load and check");
        let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
        for area in ["booking-flow", "payments", "kafka-outbox", "cost"] {
            assert!(
                names.contains(&format!("ticketing-prod-{area}").as_str()),
                "{names:?}"
            );
        }
        let all: Vec<String> = boards
            .iter()
            .flat_map(|b| referenced_metrics(&b.body))
            .map(|(name, _)| name)
            .collect();
        for m in [
            "payment.failure",
            "outbox.backlog",
            "consumer.lag",
            "consumer.dlq.total",
            "reservations.confirmed",
        ] {
            assert!(all.iter().any(|x| x == m), "{m} is on no dashboard");
        }
        assert!(!boards
            .iter()
            .any(|b| b.body.to_string().contains("{{region}}")
                || b.body.to_string().contains("{{env}}")));
    }
}
