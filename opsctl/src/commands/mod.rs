//! One module per command group.

pub mod alarms;
pub mod audit;
pub mod cost;
pub mod cost_diff;
pub mod cost_report;
pub mod cqrs;
pub mod dashboards;
pub mod deploy;
pub mod dlq;
pub mod infra;
pub mod kafka;
pub mod lock;
pub mod logs;
pub mod notice;
pub mod ops_task;
pub mod outbox;
pub mod portone;
pub mod queue;
pub mod reservations;
pub mod reserved;
pub mod secrets;
pub mod status;
pub mod trace;
pub mod users;
