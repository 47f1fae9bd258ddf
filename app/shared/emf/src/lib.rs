//! CloudWatch Embedded Metric Format (EMF) documents: one JSON object per
//! line whose `_aws` member tells CloudWatch which of its members are
//! metrics and which are dimensions (CloudWatch User Guide,
//! "Specification: Embedded metric format").
//!
//! [`render`] writes one document; [`parse`] reads one back and checks the
//! specification's rules (the local agent forwards only what CloudWatch
//! would accept, and tests hold the services' output to them):
//! `_aws.Timestamp` and `_aws.CloudWatchMetrics` present; each directive has
//! a namespace, a non-empty list of dimension sets of at most 9 keys each
//! (a set may be empty), and at most 100 metric definitions; every
//! dimension named is a string member of the root, every metric a number or
//! an array of at most 100 numbers.

use serde::Serialize;
use serde_json::{Map, Value};

/// The most metric definitions in one directive, and values in one array.
pub const MAX_METRICS: usize = 100;
pub const MAX_VALUES: usize = 100;
/// The most dimension keys in one dimension set.
pub const MAX_DIMENSIONS: usize = 9;

/// A document that breaks the specification.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmfError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("`_aws` is missing or not an object")]
    NoMetadata,
    #[error("`_aws.Timestamp` is missing or not an integer (milliseconds since the epoch)")]
    NoTimestamp,
    #[error("`_aws.CloudWatchMetrics` is missing or not an array")]
    NoDirectives,
    #[error("a metric directive {0}")]
    BadDirective(String),
    #[error("dimension `{0}` is not a string member of the root")]
    BadDimension(String),
    #[error("metric `{0}` is not a number or an array of at most 100 numbers")]
    BadMetric(String),
}

/// One metric with one dimension set's values, as CloudWatch stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub name: String,
    pub unit: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub values: Vec<f64>,
    pub timestamp_ms: i64,
}

/// A metric of a document: its name, unit and value(s).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub unit: &'static str,
    pub values: Vec<f64>,
}

#[derive(Serialize)]
struct Definition<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Unit")]
    unit: &'a str,
}

/// One document: `metrics` with one dimension set (`dimensions`, whose
/// values are among `properties`), at `timestamp_ms`. `log_group` names
/// where the CloudWatch agent writes it (`_aws.LogGroupName`, read by the
/// agent). A metric with one value is written as a number, more as an
/// array (the caller keeps arrays within [`MAX_VALUES`]).
pub fn render(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[&str],
    properties: &[(&str, &str)],
    metrics: &[Metric],
    log_group: Option<&str>,
) -> String {
    let definitions: Vec<Definition<'_>> = metrics
        .iter()
        .map(|m| Definition {
            name: &m.name,
            unit: m.unit,
        })
        .collect();
    let mut aws = Map::new();
    aws.insert("Timestamp".into(), timestamp_ms.into());
    aws.insert(
        "CloudWatchMetrics".into(),
        serde_json::json!([{
            "Namespace": namespace,
            "Dimensions": [dimensions],
            "Metrics": definitions,
        }]),
    );
    if let Some(group) = log_group {
        aws.insert("LogGroupName".into(), group.into());
    }
    let mut root = Map::new();
    root.insert("_aws".into(), Value::Object(aws));
    for (k, v) in properties {
        root.insert((*k).to_owned(), (*v).into());
    }
    for m in metrics {
        let value = match m.values.as_slice() {
            [one] => serde_json::json!(one),
            many => serde_json::json!(many),
        };
        root.insert(m.name.clone(), value);
    }
    Value::Object(root).to_string()
}

/// Reads one document and checks it; returns every (metric, dimension set)
/// it defines.
pub fn parse(line: &str) -> Result<Vec<Datum>, EmfError> {
    let root: Value = serde_json::from_str(line).map_err(|e| EmfError::NotJson(e.to_string()))?;
    let root = root
        .as_object()
        .ok_or_else(|| EmfError::NotJson("the root is not an object".into()))?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or(EmfError::NoMetadata)?;
    let timestamp_ms = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or(EmfError::NoTimestamp)?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or(EmfError::NoDirectives)?;
    let mut out = Vec::new();
    for d in directives {
        let namespace = d
            .get("Namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .ok_or_else(|| EmfError::BadDirective("has no namespace".into()))?;
        let sets = d
            .get("Dimensions")
            .and_then(Value::as_array)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EmfError::BadDirective("has no dimension sets".into()))?;
        let metrics = d
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or_else(|| EmfError::BadDirective("has no metrics".into()))?;
        if metrics.len() > MAX_METRICS {
            return Err(EmfError::BadDirective(format!(
                "defines {} metrics (at most {MAX_METRICS})",
                metrics.len()
            )));
        }
        let mut resolved_sets = Vec::new();
        for set in sets {
            let keys = set.as_array().ok_or_else(|| {
                EmfError::BadDirective("has a dimension set that is not an array".into())
            })?;
            if keys.len() > MAX_DIMENSIONS {
                return Err(EmfError::BadDirective(format!(
                    "has a dimension set of {} keys (at most {MAX_DIMENSIONS})",
                    keys.len()
                )));
            }
            let mut dims = Vec::new();
            for key in keys {
                let key = key
                    .as_str()
                    .ok_or_else(|| EmfError::BadDimension(key.to_string()))?;
                let value = root
                    .get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| EmfError::BadDimension(key.to_owned()))?;
                dims.push((key.to_owned(), value.to_owned()));
            }
            resolved_sets.push(dims);
        }
        for m in metrics {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| EmfError::BadDirective("has a metric without a name".into()))?;
            let unit = m.get("Unit").and_then(Value::as_str).map(str::to_owned);
            let values = match root.get(name) {
                Some(Value::Number(n)) => {
                    vec![n.as_f64().ok_or_else(|| EmfError::BadMetric(name.into()))?]
                }
                Some(Value::Array(items)) if items.len() <= MAX_VALUES => items
                    .iter()
                    .map(|v| v.as_f64().ok_or_else(|| EmfError::BadMetric(name.into())))
                    .collect::<Result<_, _>>()?,
                _ => return Err(EmfError::BadMetric(name.into())),
            };
            for dims in &resolved_sets {
                out.push(Datum {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    unit: unit.clone(),
                    dimensions: dims.clone(),
                    values: values.clone(),
                    timestamp_ms,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_document_parses_back_to_its_data() {
        let line = render(
            "Custom/Ticketing",
            1_700_000_000_000,
            &["environment"],
            &[("environment", "prod")],
            &[
                Metric {
                    name: "payment.success".into(),
                    unit: "Count",
                    values: vec![3.0],
                },
                Metric {
                    name: "http.request.duration.seconds".into(),
                    unit: "Seconds",
                    values: vec![0.1, 0.2],
                },
            ],
            Some("/ecs/ticketing/payment-service"),
        );
        let data = parse(&line).expect("valid");
        assert_eq!(data.len(), 2);
        assert_eq!(data[0].name, "payment.success");
        assert_eq!(data[0].values, vec![3.0]);
        assert_eq!(
            data[0].dimensions,
            vec![("environment".into(), "prod".into())]
        );
        assert_eq!(data[1].values, vec![0.1, 0.2]);
        assert_eq!(data[1].unit.as_deref(), Some("Seconds"));
    }

    #[test]
    fn documents_that_break_the_specification_are_refused() {
        assert_eq!(
            parse("[1]").unwrap_err(),
            EmfError::NotJson("the root is not an object".into())
        );
        assert_eq!(parse(r#"{"a":1}"#).unwrap_err(), EmfError::NoMetadata);
        assert_eq!(
            parse(r#"{"_aws":{"CloudWatchMetrics":[]}}"#).unwrap_err(),
            EmfError::NoTimestamp
        );
        let dims_missing = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["env"]],"Metrics":[{"Name":"m"}]}]},"m":1}"#;
        assert_eq!(
            parse(dims_missing).unwrap_err(),
            EmfError::BadDimension("env".into())
        );
        let not_a_number = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":"x"}"#;
        assert_eq!(
            parse(not_a_number).unwrap_err(),
            EmfError::BadMetric("m".into())
        );
        let no_sets = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[]}]}}"#;
        assert!(matches!(parse(no_sets), Err(EmfError::BadDirective(_))));
        // An empty dimension set is allowed.
        let empty_set = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":2}"#;
        assert_eq!(parse(empty_set).expect("valid")[0].dimensions, vec![]);
        let ten: Vec<String> = (0..10).map(|i| format!("\"d{i}\"")).collect();
        let too_many = format!(
            r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"N","Dimensions":[[{}]],"Metrics":[]}}]}}}}"#,
            ten.join(",")
        );
        assert!(matches!(parse(&too_many), Err(EmfError::BadDirective(_))));
    }
}
