//! Per-second rates as gauges, for the design's TPS metrics
//! (`events.read.tps`, `reservations.search.tps`): the gauge holds the number
//! of events counted in the last full second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Counts events; a background task turns the count into a per-second gauge.
#[derive(Clone)]
pub struct RateGauge {
    name: &'static str,
    count: Arc<AtomicU64>,
}

impl RateGauge {
    /// Starts publishing `name` every second until `shutdown`.
    pub fn start(name: &'static str, shutdown: CancellationToken) -> RateGauge {
        let gauge = RateGauge {
            name,
            count: Arc::new(AtomicU64::new(0)),
        };
        let worker = gauge.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        let n = worker.count.swap(0, Ordering::Relaxed);
                        metrics::gauge!(worker.name).set(n as f64);
                    }
                }
            }
        });
        gauge
    }

    /// Counts one event.
    pub fn hit(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}
