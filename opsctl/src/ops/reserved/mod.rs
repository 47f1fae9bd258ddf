//! Reserved Instances (RDS, ElastiCache) and the Compute Savings Plan.

pub mod aws;
pub mod inventory;
pub mod plan;
pub mod purchase;
