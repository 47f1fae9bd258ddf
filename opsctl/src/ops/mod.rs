//! The operations behind the commands, with no clap and no printing: what
//! each command reads from the world, the pure plans computed from it, and
//! the thin I/O that applies them. Commands (`commands/`) parse arguments,
//! call these and render the results.

pub mod alarms;
pub mod cloudwatch;
pub mod consumer_lag;
pub mod cost;
pub mod cost_report;
pub mod cqrs;
pub mod dashboards;
pub mod db;
pub mod deploy;
pub mod dlq;
pub mod dlq_replay;
pub mod dr;
pub mod ecs;
pub mod failover;
pub mod guard;
pub mod image;
pub mod infra;
pub mod kafka;
pub mod kafka_reset;
pub mod kafka_restart;
pub mod lock_break;
pub mod logs;
pub mod notices;
pub mod operation;
pub mod ops_task;
pub mod outbox;
pub mod outbox_replay;
pub mod payments;
pub mod portone;
pub mod portone_mode;
pub mod portone_rollback;
pub mod profile;
pub mod queue;
pub mod reconcile;
pub mod reconcile_run;
pub mod reserved;
pub mod secrets;
pub mod segments_on_broker;
pub mod status;
pub mod trace;
pub mod users;
