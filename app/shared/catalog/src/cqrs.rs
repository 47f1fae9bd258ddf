//! The design's CQRS decision table: five metrics, their thresholds, and the
//! phase the rules call for.

use crate::metrics;

/// Where a CQRS metric is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A platform metric in `Custom/Ticketing` (Average over the window).
    Custom(&'static str),
    /// Misses over lookups of the platform's Redis cache (event-service's
    /// seat maps and events), from its own counters summed over the window.
    CacheMissRate {
        hits: &'static str,
        misses: &'static str,
    },
    /// `AWS/ApplicationELB` `TargetResponseTime` p95 (seconds).
    AlbP95,
    /// `AWS/RDS` `ReplicaLag` Maximum, in seconds.
    RdsReplicaLag,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub threshold: f64,
    pub source: Source,
    /// The source's value times this is in `unit` (a per-second gauge
    /// against a per-minute threshold: 60; ALB seconds as ms: 1000).
    pub scale: f64,
}

pub const TRIGGERS: [Trigger; 5] = [
    Trigger {
        key: "event_reads_tps",
        label: "event reads TPS",
        unit: "req/s",
        threshold: 1000.0,
        source: Source::Custom(metrics::EVENTS_READ_TPS),
        scale: 1.0,
    },
    Trigger {
        key: "cache_miss_rate",
        label: "cache miss rate",
        unit: "%",
        threshold: 20.0,
        source: Source::CacheMissRate {
            hits: metrics::EVENTS_CACHE_HIT,
            misses: metrics::EVENTS_CACHE_MISS,
        },
        scale: 1.0,
    },
    Trigger {
        key: "seat_query_p95",
        label: "seat query P95",
        unit: "ms",
        threshold: 500.0,
        source: Source::AlbP95,
        scale: 1000.0,
    },
    Trigger {
        key: "read_replica_lag",
        label: "read replica lag",
        unit: "s",
        threshold: 10.0,
        source: Source::RdsReplicaLag,
        scale: 1.0,
    },
    Trigger {
        key: "reservation_search_per_min",
        label: "reservation search",
        unit: "req/min",
        threshold: 10_000.0,
        source: Source::Custom(metrics::RESERVATIONS_SEARCH_TPS),
        // A per-second gauge against the design's per-minute threshold.
        scale: 60.0,
    },
];

/// Above this many event reads per second, full CQRS regardless of count.
pub const FULL_CQRS_TPS: f64 = 2000.0;

/// The phase the rules call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Nothing exceeded: stay as is.
    Current,
    /// One or more exceeded: add a read replica.
    ReadReplica,
    /// Three or more exceeded, or event reads above 2000 TPS: full CQRS.
    FullCqrs,
    /// All five exceeded: CQRS with event sourcing.
    EventSourcing,
}

impl Phase {
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Current => "no change: the single database serves reads and writes",
            Phase::ReadReplica => "add an RDS read replica for queries",
            Phase::FullCqrs => "full CQRS: separate read models fed by events",
            Phase::EventSourcing => "CQRS with event sourcing",
        }
    }
}

/// The decision: `exceeded` thresholds out of five, and the event reads TPS.
pub fn decide(exceeded: usize, event_reads_tps: f64) -> Phase {
    if exceeded >= TRIGGERS.len() {
        Phase::EventSourcing
    } else if exceeded >= 3 || event_reads_tps > FULL_CQRS_TPS {
        Phase::FullCqrs
    } else if exceeded >= 1 {
        Phase::ReadReplica
    } else {
        Phase::Current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_custom_triggers_read_a_published_dimension_set() {
        // `opsctl cqrs check` reads them by the environment alone.
        for t in TRIGGERS {
            let names = match t.source {
                Source::Custom(name) => vec![name],
                Source::CacheMissRate { hits, misses } => vec![hits, misses],
                _ => vec![],
            };
            for name in names {
                assert!(metrics::is_emitted(name), "{name}");
                assert!(
                    metrics::dimension_sets(name).contains(&&[metrics::ENVIRONMENT][..]),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn the_rules_of_the_design() {
        assert_eq!(decide(0, 100.0), Phase::Current);
        assert_eq!(decide(1, 100.0), Phase::ReadReplica);
        assert_eq!(decide(2, 1500.0), Phase::ReadReplica);
        assert_eq!(decide(1, 2500.0), Phase::FullCqrs);
        assert_eq!(decide(3, 0.0), Phase::FullCqrs);
        assert_eq!(decide(5, 0.0), Phase::EventSourcing);
    }
}
