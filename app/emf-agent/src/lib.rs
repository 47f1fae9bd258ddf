//! The local stand-in for the CloudWatch agent's EMF listener (in AWS the
//! agent runs as a sidecar in every task and listens on tcp:25888): reads
//! Embedded Metric Format documents, one per line, from each connection,
//! checks each against the format's rules (`ticketing_emf::parse`; a bad
//! document is logged and skipped, as CloudWatch would not extract it) and
//! publishes its metrics with `PutMetricData`, one datum per dimension set,
//! to the AWS emulator on this machine.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedSender;

/// PutMetricData takes at most 1000 data per request.
const MAX_DATA: usize = 1000;

/// What the agent saw, for a test to inspect: every line, and whether it
/// was valid.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub valid: Result<(), String>,
}

/// Accepts connections until the listener fails; each is served on a task
/// of its own.
pub async fn serve(
    listener: TcpListener,
    cloudwatch: aws_sdk_cloudwatch::Client,
    tap: Option<UnboundedSender<Seen>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, cloudwatch.clone(), tap.clone()));
            }
            Err(e) => {
                tracing::error!(error = %e, "the EMF listener stopped");
                return;
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    cloudwatch: aws_sdk_cloudwatch::Client,
    tap: Option<UnboundedSender<Seen>>,
) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "an EMF connection failed");
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let parsed = ticketing_emf::parse(&line);
        if let Some(tap) = &tap {
            let _ = tap.send(Seen {
                line: line.clone(),
                valid: parsed.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            });
        }
        match parsed {
            Ok(data) => {
                if let Err(e) = publish(&cloudwatch, &data).await {
                    tracing::warn!(error = %e, "PutMetricData failed; these metrics are lost");
                }
            }
            Err(e) => tracing::warn!(error = %e, "not a valid EMF document; skipped"),
        }
    }
}

/// Publishes the data of one document (grouped by namespace).
pub async fn publish(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    data: &[ticketing_emf::Datum],
) -> Result<(), String> {
    let mut by_namespace: std::collections::BTreeMap<&str, Vec<MetricDatum>> = Default::default();
    for d in data {
        for value in &d.values {
            let mut datum = MetricDatum::builder()
                .metric_name(&d.name)
                .value(*value)
                .timestamp(DateTime::from_millis(d.timestamp_ms))
                .set_unit(d.unit.as_deref().map(StandardUnit::from));
            for (k, v) in &d.dimensions {
                datum = datum.dimensions(Dimension::builder().name(k).value(v).build());
            }
            by_namespace
                .entry(d.namespace.as_str())
                .or_default()
                .push(datum.build());
        }
    }
    for (namespace, data) in by_namespace {
        for chunk in data.chunks(MAX_DATA) {
            cloudwatch
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())?;
        }
    }
    Ok(())
}
