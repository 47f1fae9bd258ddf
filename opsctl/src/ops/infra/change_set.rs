//! One CloudFormation change set: created for a layer's template and
//! parameters, then read back once CloudFormation has computed it.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter};

use super::{Change, Layer, ParamSource};
use crate::error::OpsError;

/// The change set to make: its stack, name, template and parameters.
pub struct ChangeSetRequest<'a> {
    pub stack: &'a str,
    pub name: &'a str,
    pub layer: Layer,
    /// An update of an existing stack (else a create).
    pub exists: bool,
    /// The stack is new: a failed change set leaves it to be removed.
    pub made_the_stack: bool,
    pub body: &'a str,
    pub params: Vec<Parameter>,
}

/// The parameters as CloudFormation takes them: given values, and the
/// stack's previous ones kept; defaults are left out.
pub fn parameters(sources: Vec<(String, ParamSource)>) -> Vec<Parameter> {
    sources
        .into_iter()
        .filter_map(|(key, source)| match source {
            ParamSource::Given { value } => Some(
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build(),
            ),
            ParamSource::Previous => Some(
                Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build(),
            ),
            ParamSource::Default => None,
        })
        .collect()
}

/// Creates the change set and waits until it is computed: its changes, or
/// `None` when the stack already is what the template says.
pub async fn make(
    cfn: &aws_sdk_cloudformation::Client,
    request: ChangeSetRequest<'_>,
    timeout: Duration,
) -> Result<Option<Vec<Change>>, OpsError> {
    let created = cfn
        .create_change_set()
        .stack_name(request.stack)
        .change_set_name(request.name)
        .change_set_type(match request.exists {
            true => ChangeSetType::Update,
            false => ChangeSetType::Create,
        })
        .template_body(request.body)
        .set_parameters(Some(request.params.clone()))
        // The pipeline's roles have names (the workflows name them):
        // CAPABILITY_NAMED_IAM (CloudFormation API Reference,
        // CreateChangeSet, Capabilities).
        .capabilities(match request.layer {
            Layer::Pipeline => Capability::CapabilityNamedIam,
            _ => Capability::CapabilityIam,
        })
        .send()
        .await;
    if let Err(e) = &created {
        // AWS makes a change set without changes and fails it ("didn't
        // contain changes", handled below); moto refuses to make one with
        // UpdateStack's "No updates are to be performed.". Both mean the
        // stack already is what the templates say.
        if crate::aws::sdk_error(e).contains("No updates are to be performed") {
            return Ok(None);
        }
    }
    created.map_err(|e| {
        OpsError::usage(
            format!(
                "CloudFormation refused the {} change set: {}",
                request.layer.name(),
                crate::aws::sdk_error(&e)
            ),
            "a missing parameter is passed with --param Key=Value; layers deploy in order network, data, kafka, observability, compute",
        )
    })?;
    wait_computed(cfn, &request, Instant::now() + timeout).await
}

async fn wait_computed(
    cfn: &aws_sdk_cloudformation::Client,
    request: &ChangeSetRequest<'_>,
    deadline: Instant,
) -> Result<Option<Vec<Change>>, OpsError> {
    let layer = request.layer.name();
    loop {
        let d = cfn
            .describe_change_set()
            .stack_name(request.stack)
            .change_set_name(request.name)
            .send()
            .await
            .map_err(crate::aws::call("CloudFormation DescribeChangeSet failed"))?;
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                return Ok(Some(d.changes().iter().filter_map(change).collect()));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = d.status_reason().unwrap_or_default().to_owned();
                let _ = cfn
                    .delete_change_set()
                    .stack_name(request.stack)
                    .change_set_name(request.name)
                    .send()
                    .await;
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(None);
                }
                if request.made_the_stack {
                    let _ = cfn.delete_stack().stack_name(request.stack).send().await;
                }
                return Err(OpsError::Failed(anyhow::anyhow!(
                    "the {layer} change set failed: {reason}"
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(OpsError::Failed(anyhow::anyhow!(
                "the {layer} change set was not ready in time"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn change(c: &aws_sdk_cloudformation::types::Change) -> Option<Change> {
    let r = c.resource_change()?;
    Some(Change {
        action: r
            .action()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
        resource_type: r.resource_type().unwrap_or_default().to_owned(),
        replacement: r
            .replacement()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
    })
}
