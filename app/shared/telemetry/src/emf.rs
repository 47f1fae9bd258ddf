//! The EMF recorder: every `metrics` call also lands here (through the
//! fan-out next to Prometheus), and a background thread writes what was
//! recorded as CloudWatch Embedded Metric Format documents every interval,
//! to the CloudWatch agent's TCP listener or to stdout.
//!
//! Why not a crate: `metrics_cloudwatch_embedded` turns every label into a
//! dimension and installs itself as the global recorder. CloudWatch needs
//! the dimension sets the readers query (the catalog's
//! [`ticketing_catalog::metrics::dimension_sets`]): labels such as
//! `pg_provider` must be summed away for the alarm's set and kept for the
//! dashboard's, and Prometheus must keep receiving the same calls. The
//! storage is `metrics-util`'s registry; the document format is
//! `ticketing-emf`.
//!
//! Per flush: counters are published as the increase since the last flush
//! (0 included, so a rate has both terms), gauges as their value,
//! histograms as the values recorded since (at most 100 per document).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use ticketing_catalog::metrics as catalog;
use ticketing_emf::{render, Metric, MAX_METRICS, MAX_VALUES};

/// Lines kept for the next flush when the agent cannot be reached.
const MAX_PENDING: usize = 10_000;

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Tcp(String),
}

impl Sink {
    /// `stdout` or `tcp://HOST:PORT`.
    pub fn parse(endpoint: &str) -> Option<Sink> {
        if endpoint == "stdout" {
            return Some(Sink::Stdout);
        }
        let addr = endpoint.strip_prefix("tcp://")?;
        addr.rsplit_once(':')
            .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            .map(|_| Sink::Tcp(addr.to_owned()))
    }
}

/// The recorder half: `metrics` handles backed by the registry.
#[derive(Clone)]
pub struct EmfRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// What documents carry besides the metrics.
#[derive(Debug, Clone)]
pub struct EmfConfig {
    /// The `environment` dimension's value.
    pub environment: String,
    /// `_aws.LogGroupName` for the CloudWatch agent.
    pub log_group: Option<String>,
}

/// The flushing half: turns the registry into documents.
pub struct Emf {
    registry: Arc<Registry<Key, AtomicStorage>>,
    config: EmfConfig,
    /// Each counter's value at the last flush.
    last: Mutex<HashMap<Key, u64>>,
    pending: Mutex<Vec<String>>,
    connection: Mutex<Option<TcpStream>>,
}

enum Value {
    Sum(f64),
    Samples(Vec<f64>),
}

impl Emf {
    pub fn new(config: EmfConfig) -> (Arc<Emf>, EmfRecorder) {
        let registry = Arc::new(Registry::atomic());
        let emf = Arc::new(Emf {
            registry: registry.clone(),
            config,
            last: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            connection: Mutex::new(None),
        });
        (emf, EmfRecorder { registry })
    }

    /// The documents for what was recorded since the last call.
    pub fn documents(&self, timestamp_ms: i64) -> Vec<String> {
        // (dimension keys, their values) -> metric name -> value
        type Groups = BTreeMap<(Vec<&'static str>, Vec<String>), BTreeMap<String, Value>>;
        let mut groups: Groups = BTreeMap::new();
        let environment = self.config.environment.as_str();
        let mut add = |key: &Key, value: Value| {
            let name = key.name();
            for set in catalog::dimension_sets(name) {
                let values: Vec<String> = set
                    .iter()
                    .map(|k| {
                        if *k == catalog::ENVIRONMENT {
                            environment.to_owned()
                        } else {
                            key.labels()
                                .find(|l| l.key() == *k)
                                .map(|l| l.value().to_owned())
                                .unwrap_or_else(|| "none".to_owned())
                        }
                    })
                    .collect();
                let metrics = groups.entry((set.to_vec(), values)).or_default();
                match (metrics.get_mut(name), &value) {
                    (Some(Value::Sum(total)), Value::Sum(v)) => *total += v,
                    (Some(Value::Samples(all)), Value::Samples(v)) => all.extend(v),
                    (Some(_), _) => {}
                    (None, Value::Sum(v)) => {
                        metrics.insert(name.to_owned(), Value::Sum(*v));
                    }
                    (None, Value::Samples(v)) => {
                        metrics.insert(name.to_owned(), Value::Samples(v.clone()));
                    }
                }
            }
        };
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            self.registry.visit_counters(|key, counter| {
                let now = counter.load(Ordering::Relaxed);
                let before = last.insert(key.clone(), now).unwrap_or(0);
                add(key, Value::Sum(now.saturating_sub(before) as f64));
            });
        }
        self.registry.visit_gauges(|key, gauge| {
            add(
                key,
                Value::Sum(f64::from_bits(gauge.load(Ordering::Relaxed))),
            );
        });
        self.registry.visit_histograms(|key, bucket| {
            let mut samples = Vec::new();
            bucket.clear_with(|values| samples.extend_from_slice(values));
            if !samples.is_empty() {
                add(key, Value::Samples(samples));
            }
        });

        let log_group = self.config.log_group.as_deref();
        let mut out = Vec::new();
        for ((keys, values), metrics) in groups {
            let properties: Vec<(&str, &str)> = keys
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            let doc = |batch: &[Metric]| {
                render(
                    catalog::NAMESPACE,
                    timestamp_ms,
                    &keys,
                    &properties,
                    batch,
                    log_group,
                )
            };
            let mut scalars = Vec::new();
            for (name, value) in metrics {
                match value {
                    Value::Sum(v) => scalars.push(Metric {
                        unit: catalog::unit(&name),
                        name,
                        values: vec![v],
                    }),
                    Value::Samples(samples) => {
                        for chunk in samples.chunks(MAX_VALUES) {
                            out.push(doc(&[Metric {
                                unit: catalog::unit(&name),
                                name: name.clone(),
                                values: chunk.to_vec(),
                            }]));
                        }
                    }
                }
            }
            for batch in scalars.chunks(MAX_METRICS) {
                out.push(doc(batch));
            }
        }
        out
    }

    /// Writes the documents of this interval (and any the agent missed
    /// before) to `sink`. Lines the agent cannot take are kept for the next
    /// flush, up to a bound.
    pub fn flush(&self, sink: &Sink) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.extend(self.documents(now));
        if pending.is_empty() {
            return;
        }
        let mut text = pending.join("\n");
        text.push('\n');
        let written = match sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            Sink::Tcp(addr) => {
                let mut connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
                let result = (|| {
                    if connection.is_none() {
                        let stream = TcpStream::connect(addr)?;
                        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
                        *connection = Some(stream);
                    }
                    match connection.as_mut() {
                        Some(stream) => stream.write_all(text.as_bytes()),
                        None => Ok(()),
                    }
                })();
                if result.is_err() {
                    *connection = None;
                }
                result
            }
        };
        match written {
            Ok(()) => pending.clear(),
            Err(e) => {
                let kept = pending.len().min(MAX_PENDING);
                let dropped = pending.len() - kept;
                let start = pending.len() - kept;
                pending.drain(..start);
                tracing::warn!(error = %e, kept, dropped, "EMF documents not delivered; kept for the next flush");
            }
        }
    }
}

/// Flushes `emf` to `sink` every `interval` on a thread of its own (not a
/// runtime's task: the recorder outlives any one runtime).
pub fn spawn_flusher(emf: Arc<Emf>, sink: Sink, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("emf-flush".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            emf.flush(&sink);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "the EMF flush thread could not start; no metrics reach CloudWatch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::new(*k, *v))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn counters_are_summed_into_each_dimension_set_as_increases() {
        let (emf, recorder) = Emf::new(EmfConfig {
            environment: "prod".into(),
            log_group: None,
        });
        let md = Metadata::new("t", metrics::Level::INFO, None);
        let fail_a = recorder.register_counter(
            &key(
                catalog::PAYMENT_FAILURE,
                &[("pg_provider", "html5_inicis"), ("error_code", "F1")],
            ),
            &md,
        );
        let fail_b = recorder.register_counter(
            &key(
                catalog::PAYMENT_FAILURE,
                &[("pg_provider", "html5_inicis"), ("error_code", "F2")],
            ),
            &md,
        );
        fail_a.increment(2);
        fail_b.increment(1);
        let data: Vec<_> = emf
            .documents(1)
            .iter()
            .flat_map(|d| ticketing_emf::parse(d).expect("valid EMF"))
            .collect();
        let total: Vec<_> = data
            .iter()
            .filter(|d| d.dimensions == vec![("environment".to_owned(), "prod".to_owned())])
            .collect();
        assert_eq!(total.len(), 1, "{data:?}");
        assert_eq!(total[0].values, vec![3.0]);
        let by_code = data.iter().filter(|d| d.dimensions.len() == 3).count();
        assert_eq!(by_code, 2, "the breakdown keeps error codes apart");
        // The next flush publishes the increase: 0, not 3 again.
        let again: Vec<_> = emf
            .documents(2)
            .iter()
            .flat_map(|d| ticketing_emf::parse(d).expect("valid"))
            .filter(|d| d.dimensions.len() == 1)
            .collect();
        assert_eq!(again[0].values, vec![0.0]);
    }

    #[test]
    fn histogram_samples_go_out_in_arrays_of_at_most_100() {
        let (emf, recorder) = Emf::new(EmfConfig {
            environment: "dev".into(),
            log_group: Some("/ecs/ticketing/api-gateway".into()),
        });
        let md = Metadata::new("t", metrics::Level::INFO, None);
        let h = recorder.register_histogram(
            &key(
                catalog::HTTP_REQUEST_DURATION,
                &[("service", "api-gateway")],
            ),
            &md,
        );
        for i in 0..250 {
            h.record(f64::from(i) / 1000.0);
        }
        let docs = emf.documents(1);
        assert_eq!(docs.len(), 3);
        let values: usize = docs
            .iter()
            .flat_map(|d| ticketing_emf::parse(d).expect("valid"))
            .map(|d| d.values.len())
            .sum();
        assert_eq!(values, 250);
        assert!(docs[0].contains("\"LogGroupName\":\"/ecs/ticketing/api-gateway\""));
        assert!(emf.documents(2).is_empty(), "samples are published once");
    }

    #[test]
    fn endpoints_are_stdout_or_tcp() {
        assert_eq!(Sink::parse("stdout"), Some(Sink::Stdout));
        assert_eq!(
            Sink::parse("tcp://127.0.0.1:25888"),
            Some(Sink::Tcp("127.0.0.1:25888".into()))
        );
        assert_eq!(Sink::parse("udp://x:1"), None);
        assert_eq!(Sink::parse("tcp://:1"), None);
    }
}
