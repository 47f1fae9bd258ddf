//! Telemetry shared by every process: `tracing` logs and the recorders of
//! the `metrics` facade: Prometheus (`/metrics`) and, where
//! `telemetry.emf_endpoint` is set, CloudWatch Embedded Metric Format
//! (`emf`), both fed by the same calls through `metrics-util`'s fan-out.
//!
//! Metric names follow the design document (`payment.success`,
//! `events.read.tps`, ...); the Prometheus exporter renders the dots as
//! underscores.

pub mod emf;
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
    #[error("telemetry.emf_endpoint `{0}` is not `stdout` or `tcp://HOST:PORT`")]
    EmfEndpoint(String),
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
static EMF: OnceLock<(std::sync::Arc<emf::Emf>, emf::Sink)> = OnceLock::new();

/// Installs the process-wide recorders: Prometheus always, EMF too when
/// `telemetry.emf_endpoint` is set (documents every
/// `emf_interval_seconds`, dimension `environment` = `telemetry.environment`
/// or `profile`). A second call keeps the first installation.
pub fn init_metrics(
    settings: &TelemetrySettings,
    profile: &str,
) -> Result<&'static PrometheusHandle, TelemetryError> {
    let sink = match settings.emf_endpoint.as_deref() {
        Some(endpoint) => Some(
            emf::Sink::parse(endpoint)
                .ok_or_else(|| TelemetryError::EmfEndpoint(endpoint.to_owned()))?,
        ),
        None => None,
    };
    let wants_emf = sink.is_some();
    let handle = PROMETHEUS.get_or_init(|| {
        let prometheus = PrometheusBuilder::new().build_recorder();
        let handle = prometheus.handle();
        let installed = match sink {
            Some(sink) => {
                let (emf, recorder) = emf::Emf::new(emf::EmfConfig {
                    environment: settings
                        .environment
                        .clone()
                        .unwrap_or_else(|| profile.to_owned()),
                    log_group: settings.emf_log_group.clone(),
                });
                emf::spawn_flusher(
                    emf.clone(),
                    sink.clone(),
                    std::time::Duration::from_secs(settings.emf_interval_seconds.max(1)),
                );
                let _ = EMF.set((emf, sink));
                let fanout = metrics_util::layers::FanoutBuilder::default()
                    .add_recorder(prometheus)
                    .add_recorder(recorder)
                    .build();
                metrics::set_global_recorder(fanout).is_ok()
            }
            None => metrics::set_global_recorder(prometheus).is_ok(),
        };
        if !installed {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    });
    if wants_emf && EMF.get().is_none() {
        tracing::warn!("telemetry.emf_endpoint is set but the recorders were installed before without it; no EMF from this process");
    }
    Ok(handle)
}

/// Writes the EMF documents recorded since the last flush now (a stopping
/// process calls it so its last interval is not lost). No-op without EMF.
pub fn flush_metrics() {
    if let Some((emf, sink)) = EMF.get() {
        emf.flush(sink);
    }
}

/// The process-wide Prometheus recorder, installed on first use (without
/// EMF, unless [`init_metrics`] ran first). In the all-in-one process the
/// six services share it, and every metric carries a `service` label where
/// the emitter knows it.
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
            emf_endpoint: None,
            emf_interval_seconds: 60,
            environment: None,
            emf_log_group: None,
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
