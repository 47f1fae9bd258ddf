//! The metrics the code emits (the `metrics` crate's names, dotted as in the
//! design document). The services expose them on `/metrics` (Prometheus
//! renders the dots as underscores); in AWS the collector publishes them to
//! CloudWatch under [`NAMESPACE`] with these names. Alarms, dashboards and
//! `opsctl cqrs check` may reference only names listed here, and a test
//! holds this list equal to the names the source code really emits.

/// CloudWatch namespace of the platform's own metrics.
pub const NAMESPACE: &str = "Custom/Ticketing";

pub const PAYMENT_SUCCESS: &str = "payment.success";
pub const PAYMENT_FAILURE: &str = "payment.failure";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";
pub const EVENTS_READ_TPS: &str = "events.read.tps";
pub const EVENTS_CACHE_HIT: &str = "events.cache.hit";
pub const EVENTS_CACHE_MISS: &str = "events.cache.miss";
pub const RESERVATIONS_SEARCH_TPS: &str = "reservations.search.tps";
pub const RESERVATIONS_HOLD_CREATED: &str = "reservations.hold.created";
pub const RESERVATIONS_HOLD_REJECTED: &str = "reservations.hold.rejected";
pub const RESERVATIONS_CONFIRMED: &str = "reservations.confirmed";
pub const RESERVATIONS_EXPIRED: &str = "reservations.expired";
pub const QUEUE_ADMITTED: &str = "queue.admitted.total";
pub const GATEWAY_RATE_LIMITED: &str = "gateway.rate_limited";
/// Seat-map reads the gateway answered, by `cache` (`hit`: from its
/// micro-cache; `miss`: fetched from event-service or passed on).
pub const GATEWAY_SEAT_MAP_READS: &str = "gateway.seat_map.reads";
/// Seat maps the gateway dropped because a hold through it changed them.
pub const GATEWAY_SEAT_MAP_DROPPED: &str = "gateway.seat_map.dropped";
pub const HTTP_REQUESTS: &str = "http.requests.total";
pub const HTTP_REQUEST_DURATION: &str = "http.request.duration.seconds";
pub const CONSUMER_MESSAGES: &str = "consumer.messages.total";
pub const CONSUMER_DLQ: &str = "consumer.dlq.total";
pub const CONSUMER_LAG: &str = "consumer.lag";
/// How long the oldest record a group has not processed has waited (0
/// when caught up): the lag in time, what a stall looks like.
pub const CONSUMER_LAG_SECONDS: &str = "consumer.lag.seconds";
pub const OUTBOX_PUBLISHED: &str = "outbox.published.total";
pub const OUTBOX_PUBLISH_ERRORS: &str = "outbox.publish.errors.total";
pub const OUTBOX_BACKLOG: &str = "outbox.backlog";
pub const OUTBOX_OLDEST_UNSENT_AGE: &str = "outbox.oldest_unsent.age.seconds";
pub const OUTBOX_COMMIT_TO_PUBLISH: &str = "outbox.commit_to_publish.seconds";
pub const OUTBOX_REPLAYED: &str = "outbox.replayed.total";

/// Every name above.
pub const EMITTED: &[&str] = &[
    PAYMENT_SUCCESS,
    PAYMENT_FAILURE,
    PAYMENT_REFUNDED,
    EVENTS_READ_TPS,
    EVENTS_CACHE_HIT,
    EVENTS_CACHE_MISS,
    RESERVATIONS_SEARCH_TPS,
    RESERVATIONS_HOLD_CREATED,
    RESERVATIONS_HOLD_REJECTED,
    RESERVATIONS_CONFIRMED,
    RESERVATIONS_EXPIRED,
    QUEUE_ADMITTED,
    GATEWAY_RATE_LIMITED,
    GATEWAY_SEAT_MAP_READS,
    GATEWAY_SEAT_MAP_DROPPED,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    CONSUMER_MESSAGES,
    CONSUMER_DLQ,
    CONSUMER_LAG,
    CONSUMER_LAG_SECONDS,
    OUTBOX_PUBLISHED,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_UNSENT_AGE,
    OUTBOX_COMMIT_TO_PUBLISH,
    OUTBOX_REPLAYED,
];

/// The CloudWatch agent's EMF listener (its default, tcp:25888): the
/// sidecar in every task listens here and the dev and prod profiles'
/// `telemetry.emf_endpoint` names it.
pub const EMF_AGENT_PORT: u16 = 25888;

/// The dimension every metric carries in CloudWatch: the environment that
/// emitted it (`telemetry.environment`, by default the profile), so that
/// `dev` and `prod` in one account never mix in an alarm.
pub const ENVIRONMENT: &str = "environment";

/// The dimension sets a metric is published with in CloudWatch (each set
/// is a metric of its own there): how the alarms, dashboards and `opsctl
/// cqrs check` read it, and nothing finer, since every set is billed as a
/// custom metric. Labels of an emission that no set names are summed over
/// (a gauge is published with all its labels, so nothing is summed).
/// `opsctl/tests/testsuite/fast/infra_consistency.rs` and the dashboards check hold every
/// reader to these.
pub fn dimension_sets(name: &str) -> &'static [&'static [&'static str]] {
    match name {
        // The failure-rate alarm and the payments dashboard's breakdown.
        PAYMENT_FAILURE => &[&[ENVIRONMENT], &[ENVIRONMENT, "error_code", "pg_provider"]],
        RESERVATIONS_HOLD_REJECTED => &[&[ENVIRONMENT], &[ENVIRONMENT, "reason"]],
        // The gateway cache's hit ratio.
        GATEWAY_SEAT_MAP_READS => &[&[ENVIRONMENT], &[ENVIRONMENT, "cache"]],
        OUTBOX_BACKLOG | OUTBOX_OLDEST_UNSENT_AGE => &[&[ENVIRONMENT, "schema"]],
        CONSUMER_LAG => &[&[ENVIRONMENT, "group", "partition", "topic"]],
        // The consumer-lag alarm (the oldest of each group's partitions).
        CONSUMER_LAG_SECONDS => &[&[ENVIRONMENT, "group"]],
        _ => &[&[ENVIRONMENT]],
    }
}

/// The CloudWatch unit of a metric (EMF `Unit`; CloudWatch API Reference,
/// "MetricDatum").
pub fn unit(name: &str) -> &'static str {
    if name.ends_with(".seconds") {
        "Seconds"
    } else if name.ends_with(".tps") {
        "Count/Second"
    } else {
        "Count"
    }
}

/// Whether the code emits `name` (under [`NAMESPACE`]).
pub fn is_emitted(name: &str) -> bool {
    EMITTED.contains(&name)
}

/// The name on a Prometheus `/metrics` page.
pub fn prometheus_name(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Metric names written as string literals at emission sites:
    /// `counter!("..."`, `gauge!("..."`, `histogram!("..."` (whitespace
    /// allowed) and `RateGauge::start("..."`.
    fn emitted_in(source: &str, found: &mut BTreeSet<String>) {
        for marker in ["counter!(", "gauge!(", "histogram!(", "RateGauge::start("] {
            let mut rest = source;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                let arg = rest.trim_start();
                if let Some(quoted) = arg.strip_prefix('"') {
                    if let Some(end) = quoted.find('"') {
                        found.insert(quoted[..end].to_owned());
                    }
                }
            }
        }
    }

    fn walk(dir: &Path, found: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                // Tests and benches do not emit production metrics.
                if name != "tests" && name != "benches" && name != "target" {
                    walk(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    // Drop in-file unit tests.
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    emitted_in(code, found);
                }
            }
        }
    }

    #[test]
    fn the_list_is_exactly_what_the_source_emits() {
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut found = BTreeSet::new();
        walk(&app, &mut found);
        assert!(found.len() > 10, "the scan found too little: {found:?}");
        let listed: BTreeSet<String> = super::EMITTED.iter().map(|s| (*s).to_owned()).collect();
        let unlisted: Vec<_> = found.difference(&listed).collect();
        let not_emitted: Vec<_> = listed.difference(&found).collect();
        assert!(
            unlisted.is_empty() && not_emitted.is_empty(),
            "emitted but not listed in ticketing_catalog::metrics: {unlisted:?}; listed but not emitted: {not_emitted:?}"
        );
    }

    #[test]
    fn every_dimension_set_names_the_environment_and_fits_cloudwatch() {
        for name in super::EMITTED {
            for set in super::dimension_sets(name) {
                assert_eq!(set.first(), Some(&super::ENVIRONMENT), "{name}: {set:?}");
                // EMF: at most 9 keys in a dimension set.
                assert!(set.len() <= 9, "{name}: {set:?}");
                let mut sorted = set.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), set.len(), "{name}: a key twice");
            }
        }
    }

    #[test]
    fn prometheus_names_use_underscores() {
        assert_eq!(super::prometheus_name("payment.success"), "payment_success");
    }
}
