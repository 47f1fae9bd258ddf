//! Telemetry shared by every process: `tracing` logs and a Prometheus
//! recorder for the `metrics` facade.
//!
//! Metric names follow the design document (`payment.success`,
//! `events.read.tps`, ...); the Prometheus exporter renders the dots as
//! underscores.

mod rate;

pub use rate::RateGauge;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ticketing_config::{LogFormat, TelemetrySettings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter `{directive}` in telemetry.log_level: {source}; expected a tracing filter such as `info` or `info,sqlx=warn`")]
    Filter {
        directive: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Installs the global `tracing` subscriber. `RUST_LOG`, when set, wins over
/// `telemetry.log_level`. Calling it again is harmless (the first one stays).
pub fn init_logging(settings: &TelemetrySettings) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => parse_filter(&directive)?,
        _ => parse_filter(&settings.log_level)?,
    };
    let registry = tracing_subscriber::registry().with(filter);
    // A second initialisation (tests, or opsctl after a service) keeps the first.
    let _already_set = match settings.log_format {
        // Colours only for a person at a terminal: a log redirected to a
        // file (the local launcher's) or shipped by a log driver stays plain.
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    Ok(())
}

fn parse_filter(directive: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directive)
        .map_err(|source| TelemetryError::Filter {
            directive: directive.to_owned(),
            source,
        })
}

/// Logging for tests: silent unless `TEST_LOG` is set.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .with(fmt::layer().with_test_writer())
            .try_init();
    }
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. In the
/// all-in-one process the six services share it, and every metric carries a
/// `service` label where the emitter knows it.
pub fn metrics_handle() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// Renders all metrics in the Prometheus text format.
pub fn render_metrics() -> String {
    let handle = metrics_handle();
    handle.run_upkeep();
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_the_setting() {
        let settings = TelemetrySettings {
            log_format: LogFormat::Pretty,
            log_level: "info,=[".into(),
        };
        let err = init_logging(&settings).expect_err("bad filter");
        assert!(err.to_string().contains("telemetry.log_level"), "{err}");
    }

    #[test]
    fn recorded_counters_are_rendered() {
        let _ = metrics_handle();
        metrics::counter!("telemetry.selftest", "service" => "unit").increment(3);
        let text = render_metrics();
        assert!(
            text.contains("telemetry_selftest{service=\"unit\"} 3"),
            "{text}"
        );
    }
}
