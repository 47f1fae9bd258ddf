//! The 10x high-availability drill (`opsctl kafka failover-drill`).

pub mod drill;
pub mod plan;
pub mod runbook;
