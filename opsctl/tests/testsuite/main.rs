//! opsctl's integration tests, one binary (cargo's testsuite layout): one
//! module a command or concern. `fast` needs no stack; the rest run on the
//! local stack and moto server.

mod common;
/// The fast tier: needs no stack; `infra/local/test.sh` runs it first.
mod fast {
    mod architecture;
    mod cost;
    mod function_lengths;
    mod infra_consistency;
    mod segments;
}
mod alarms;
mod cost_report;
mod cqrs;
mod dashboards;
mod deploy;
mod dlq;
mod dr_drill;
mod envelope;
mod failover;
mod infra;
mod kafka;
mod logs;
mod metrics;
mod notice;
mod ops_task;
mod outbox;
mod portone;
mod portone_rollback;
mod queue;
mod reconcile;
mod reserved;
mod restart;
mod runbooks;
mod secrets;
mod segments_on_broker;
mod status;
mod trace;
mod users;
