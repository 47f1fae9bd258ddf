//! The environment's size as its kafka stack has it: what the Kafka
//! metrics-missing alarm's threshold depends on.

use crate::environment::Environment;
use crate::error::OpsError;

/// How many brokers the environment runs: its kafka stack's `SizeProfile`
/// (the footprint of that size), the MVP's one when there is no kafka stack
/// (the local stack, or before the layer exists).
pub async fn kafka_brokers(ctx: &Environment, env: &str) -> Result<u32, OpsError> {
    use ticketing_catalog::footprint;
    let sdk = crate::aws::sdk_config(ctx).await?;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = crate::ops::infra::describe_stack(&cfn, &format!("ticketing-{env}-kafka")).await?;
    let size = stack.as_ref().and_then(|s| {
        s.parameters()
            .iter()
            .find(|p| p.parameter_key() == Some("SizeProfile"))
            .and_then(|p| p.parameter_value())
            .map(str::to_owned)
    });
    Ok(match size {
        Some(name) => footprint::PROFILES
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.brokers)
            .ok_or_else(|| {
                OpsError::Failed(anyhow::anyhow!(
                    "the kafka stack ticketing-{env}-kafka has SizeProfile {name}, which opsctl does not know; update opsctl"
                ))
            })?,
        None => footprint::MVP.brokers,
    })
}
