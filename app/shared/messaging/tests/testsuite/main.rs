//! The messaging crate's integration tests, one binary: the backbone (outbox,
//! relay, consumers, DLQ) and replay, on the local stack's PostgreSQL and Kafka.

mod backbone;
mod common;
mod replay;
