//! Which value each parameter of a template gets in a change set: given on
//! the command line, kept from the stack, or the template's default (pure),
//! and the one value another stack gives (the kafka stack's output, read).

use serde::Serialize;

use super::{stack_name, Layer};
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

/// The parameters a template declares (top-level `Parameters:` keys).
pub fn declared_parameters(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in template.lines() {
        if line.starts_with("Parameters:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') && !line.trim().is_empty() {
                break;
            }
            if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                if !name.starts_with(' ') {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

/// Where a declared parameter's value comes from in a change set.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ParamSource {
    /// Given on the command line (or by opsctl: `Environment`,
    /// `SizeProfile`).
    Given { value: String },
    /// Not given, and the stack has it: `UsePreviousValue`, so a deploy
    /// without `--param DomainName=...` keeps the domain instead of resetting
    /// it to the template's default. (CloudFormation API Reference,
    /// "Parameter": "During a stack update, use the existing parameter value
    /// that the stack is using for a given parameter key.")
    Previous,
    /// Not given, and nothing to keep: the template's default.
    Default,
}

/// Where each declared parameter's value comes from: what is `given`, else
/// the stack's previous value when the stack exists and has the key, else
/// the template's default. Pure; `stack_has` is `None` for a new stack.
pub fn parameter_sources(
    declared: &[String],
    stack_has: Option<&[String]>,
    given: &[(String, String)],
) -> Vec<(String, ParamSource)> {
    declared
        .iter()
        .map(|key| {
            let source = match given.iter().rev().find(|(k, _)| k == key) {
                Some((_, value)) => ParamSource::Given {
                    value: value.clone(),
                },
                None if stack_has.is_some_and(|has| has.contains(key)) => ParamSource::Previous,
                None => ParamSource::Default,
            };
            (key.clone(), source)
        })
        .collect()
}

/// A new stack's environment-specific defaults (`defaults`: the catalog's,
/// e.g. each environment's own address ranges) in place of the template's,
/// where the value would be the template's default; `--param` still wins.
/// Only for a stack being created: one that exists keeps its values, and a
/// parameter a newer template adds takes the template's default there
/// (prod's ranges in a VPC made with dev's would not fit). Pure.
pub fn with_environment_defaults(
    sources: Vec<(String, ParamSource)>,
    defaults: &[(&str, &str)],
) -> Vec<(String, ParamSource)> {
    sources
        .into_iter()
        .map(|(key, source)| {
            let source = match (source, defaults.iter().find(|(k, _)| *k == key)) {
                (ParamSource::Default, Some((_, value))) => ParamSource::Given {
                    value: (*value).to_owned(),
                },
                (source, _) => source,
            };
            (key, source)
        })
        .collect()
}

/// [`parameter_sources`] for a stack of `env`, with the environment's own
/// defaults (the catalog's address ranges) when the stack is new.
pub fn sources_in(
    env: &str,
    declared: &[String],
    stack_has: Option<&[String]>,
    given: &[(String, String)],
) -> Vec<(String, ParamSource)> {
    let sources = parameter_sources(declared, stack_has, given);
    match stack_has {
        None => with_environment_defaults(sources, ticketing_catalog::network::ranges(env)),
        Some(_) => sources,
    }
}

/// The parameters a change set is given: the environment, the size
/// profile only when one was chosen, and the `--param`s. Pure. Only a
/// profile given is sent: otherwise a stack keeps its own
/// (UsePreviousValue, see [`parameter_sources`]) and a new stack takes the
/// template's default; sending the default every time had shrunk 10x stacks
/// updated without --profile (the replica deleted, brokers replaced).
pub fn given_parameters(
    env: &str,
    declared: &[String],
    profile: Option<SizeProfile>,
    params: &[(String, String)],
) -> Vec<(String, String)> {
    let mut given = vec![("Environment".to_owned(), env.to_owned())];
    if let Some(profile) = profile {
        if declared.iter().any(|p| p == "SizeProfile") {
            given.push((
                "SizeProfile".to_owned(),
                profile.footprint().name.to_owned(),
            ));
        }
    }
    given.extend(params.iter().cloned());
    given
}

/// The compute layer's parameter for the brokers: the kafka stack's output
/// `BootstrapServers` (not an export: it changes with the size, and an
/// imported export cannot change).
pub const KAFKA_BOOTSTRAP_PARAMETER: &str = "KafkaBootstrapServers";

/// What the parameters given (except the environment) would replace in an
/// existing stack, as plan notes ([`super::replacement`]). Pure.
pub fn predicted_replacements(body: &str, given: &[(String, String)]) -> Vec<String> {
    let Ok(template) = serde_yaml::from_str::<serde_yaml::Value>(body) else {
        return Vec::new();
    };
    let changed: Vec<&str> = given
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "Environment")
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let replaced = super::replacement::predict(&template, &changed);
    super::replacement::describe(&changed, &replaced)
}

/// The kafka layer's parameter naming the broker artifact the brokers boot
/// from (kafka-broker/<sha512>.tgz in the network layer's artifact bucket).
pub const KAFKA_ARTIFACT_PARAMETER: &str = "KafkaArtifactSha512";

/// A new kafka stack needs the artifact's SHA-512 (it has no default: a
/// broker must never boot from an unpinned artifact); an existing one keeps
/// its own. Pure: the error says how to build, store and pass it.
pub fn require_kafka_artifact(
    env: &str,
    sources: &[(String, ParamSource)],
) -> Result<(), OpsError> {
    if sources
        .iter()
        .any(|(k, s)| k == KAFKA_ARTIFACT_PARAMETER && *s == ParamSource::Default)
    {
        return Err(OpsError::usage(
            format!("a new kafka stack needs --param {KAFKA_ARTIFACT_PARAMETER}=<sha512>: the brokers boot only from a pinned artifact"),
            format!("build it (infra/kafka/build-artifact.sh), store it as s3://ticketing-{env}-artifacts-<account id>/kafka-broker/<sha512>.tgz (aws s3 cp; <sha512> is in kafka-broker.tgz.sha512 beside it), then pass that SHA-512"),
        ));
    }
    Ok(())
}

/// Where the compute layer's brokers come from in a change set.
#[derive(Debug, PartialEq)]
enum Bootstrap {
    /// The template does not declare [`KAFKA_BOOTSTRAP_PARAMETER`], or it
    /// was given.
    NotNeeded,
    /// The kafka stack's output.
    FromKafka(String),
    /// No kafka stack, or one without the output, yet: the layers' order
    /// deploys it first.
    KafkaMissing { stack: String },
}

/// What the kafka stack's output says, for a template that declares
/// [`KAFKA_BOOTSTRAP_PARAMETER`] and was not given it. A missing stack is
/// [`Bootstrap::KafkaMissing`]; any other AWS error (credentials,
/// throttling) is an error, never taken for a missing stack.
async fn kafka_bootstrap(
    cfn: &aws_sdk_cloudformation::Client,
    env: &str,
    declared: &[String],
    given: &[(String, String)],
) -> Result<Bootstrap, OpsError> {
    if !declared.iter().any(|p| p == KAFKA_BOOTSTRAP_PARAMETER)
        || given.iter().any(|(k, _)| k == KAFKA_BOOTSTRAP_PARAMETER)
    {
        return Ok(Bootstrap::NotNeeded);
    }
    let kafka = stack_name(env, Layer::Kafka);
    let output = super::describe_stack(cfn, &kafka).await?.and_then(|s| {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some("BootstrapServers"))
            .and_then(|o| o.output_value().map(str::to_owned))
    });
    Ok(match output {
        Some(bootstrap) => Bootstrap::FromKafka(bootstrap),
        None => Bootstrap::KafkaMissing { stack: kafka },
    })
}

/// Adds the compute layer's brokers to `given` (see [`Bootstrap`]): from
/// the kafka stack; without one, a plan uses a stand-in and returns the
/// note that says so, a deploy is refused with the command to run first.
pub(super) async fn pass_kafka_bootstrap(
    cfn: &aws_sdk_cloudformation::Client,
    env: &str,
    declared: &[String],
    given: &mut Vec<(String, String)>,
    deploying: bool,
) -> Result<Vec<String>, OpsError> {
    match kafka_bootstrap(cfn, env, declared, given).await? {
        Bootstrap::NotNeeded => Ok(Vec::new()),
        Bootstrap::FromKafka(bootstrap) => {
            given.push((KAFKA_BOOTSTRAP_PARAMETER.to_owned(), bootstrap));
            Ok(Vec::new())
        }
        Bootstrap::KafkaMissing { stack } if !deploying => {
            given.push((
                KAFKA_BOOTSTRAP_PARAMETER.to_owned(),
                "kafka-not-deployed:9092".to_owned(),
            ));
            Ok(vec![format!(
                "{KAFKA_BOOTSTRAP_PARAMETER} planned as `kafka-not-deployed:9092`: {stack} has no output BootstrapServers yet; deploy the kafka layer first (the layers' order), and compute's deploy reads it"
            )])
        }
        Bootstrap::KafkaMissing { stack } => Err(OpsError::usage(
            format!("{stack} has no output BootstrapServers for the compute layer's {KAFKA_BOOTSTRAP_PARAMETER}"),
            format!("deploy the kafka layer first (opsctl --env {env} infra deploy kafka --execute), or give --param {KAFKA_BOOTSTRAP_PARAMETER}=HOST:9092"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parameters_not_given_keep_the_stacks_values_and_new_stacks_take_defaults() {
        let declared = keys(&["Environment", "DomainName", "UseSpot", "CertificateArn"]);
        let given = vec![
            ("Environment".to_owned(), "prod".to_owned()),
            ("UseSpot".to_owned(), "true".to_owned()),
        ];
        let has = keys(&["Environment", "DomainName", "UseSpot"]);
        let update = parameter_sources(&declared, Some(&has), &given);
        assert_eq!(
            update,
            vec![
                (
                    "Environment".into(),
                    ParamSource::Given {
                        value: "prod".into()
                    }
                ),
                ("DomainName".into(), ParamSource::Previous),
                (
                    "UseSpot".into(),
                    ParamSource::Given {
                        value: "true".into()
                    }
                ),
                // Declared by a newer template, unknown to the stack.
                ("CertificateArn".into(), ParamSource::Default),
            ]
        );
        let create = parameter_sources(&declared, None, &given);
        assert_eq!(create[1], ("DomainName".into(), ParamSource::Default));
        // The last of repeated --param wins.
        let twice = vec![
            ("UseSpot".to_owned(), "true".to_owned()),
            ("UseSpot".to_owned(), "false".to_owned()),
        ];
        let last = parameter_sources(&keys(&["UseSpot"]), None, &twice);
        assert_eq!(
            last[0].1,
            ParamSource::Given {
                value: "false".into()
            }
        );
    }
}

#[cfg(test)]
mod artifact_tests {
    use super::*;

    #[test]
    fn a_new_kafka_stack_without_the_artifact_is_refused_and_an_existing_one_keeps_its_own() {
        let declared = vec![
            "Environment".to_owned(),
            KAFKA_ARTIFACT_PARAMETER.to_owned(),
        ];
        let given = vec![("Environment".to_owned(), "prod".to_owned())];
        let new = parameter_sources(&declared, None, &given);
        let refused = require_kafka_artifact("prod", &new).expect_err("refused");
        let text = format!("{refused:?}");
        assert!(
            text.contains("build-artifact.sh") && text.contains("ticketing-prod-artifacts"),
            "{text}"
        );
        let existing = parameter_sources(&declared, Some(&declared), &given);
        assert!(require_kafka_artifact("prod", &existing).is_ok());
        let mut with = given.clone();
        with.push((KAFKA_ARTIFACT_PARAMETER.to_owned(), "ab".repeat(64)));
        assert!(require_kafka_artifact("prod", &parameter_sources(&declared, None, &with)).is_ok());
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn a_new_network_stack_takes_its_environments_ranges_and_an_existing_one_keeps_its_own() {
        let declared = vec!["Environment".to_owned(), "VpcCidr".to_owned()];
        let given = vec![("Environment".to_owned(), "prod".to_owned())];
        let prod = ticketing_catalog::network::ranges("prod");
        let new = with_environment_defaults(parameter_sources(&declared, None, &given), prod);
        assert_eq!(
            new[1].1,
            ParamSource::Given {
                value: "10.30.0.0/16".into()
            }
        );
        let existing =
            with_environment_defaults(parameter_sources(&declared, Some(&declared), &given), prod);
        assert_eq!(
            existing[1].1,
            ParamSource::Previous,
            "a VPC is never re-addressed"
        );
        let mut chosen = given.clone();
        chosen.push(("VpcCidr".to_owned(), "10.99.0.0/16".to_owned()));
        let chosen = with_environment_defaults(parameter_sources(&declared, None, &chosen), prod);
        assert_eq!(
            chosen[1].1,
            ParamSource::Given {
                value: "10.99.0.0/16".into()
            }
        );
    }
}
