//! CloudWatch alarms and their SNS topics.

pub mod apply;
pub mod compare;
pub mod group;
pub mod plan;
pub mod size;
pub mod spec;
pub mod subscribers;
