//! What a dashboard body reads: the platform's metrics it references and
//! the dimension keys it reads each by, held to what the services publish
//! (pure; `commands/dashboards.rs` loads and applies the files).

use serde_json::Value;
use ticketing_catalog::metrics;

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
}
