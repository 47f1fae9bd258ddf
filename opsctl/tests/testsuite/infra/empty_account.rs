//! The empty-account walk (issue 29): the lines of runbooks/deploy.md's
//! "From an empty account", in their order, into a moto server of this
//! test's own (an empty account: nothing another test made, nothing left
//! behind when it stops).
//!
//! Each line is carried out as far as moto can, and each step checks what it
//! needs from the steps before it, so a runbook that put a step before what
//! it needs fails here: the artifact is stored in the bucket the network
//! made, the kafka layer's brokers boot from the object stored under the
//! SHA-512 the runbook passes, compute names an image in the network's
//! repository and needs the secrets made.
//!
//! What moto cannot do, and what the walk does instead (infra/README.md,
//! "What the emulator deploys"):
//! - a stack made through a change set gets no outputs and so no exports
//!   (moto's `execute_change_set` never evaluates `Outputs`), and a change
//!   set resolves no `Fn::ImportValue`: after `infra deploy network` the walk
//!   registers the network's exports itself (its `Outputs`, evaluated on the
//!   physical ids moto gave), and the layers that import are refused when
//!   opsctl executes their change sets; the walk asserts that refusal (so it
//!   fails the day moto can) and creates the kafka layer with CreateStack;
//! - the data layer cannot be created at all (RDS `Endpoint.Address`,
//!   ElastiCache), so compute, which imports it, is planned, not created;
//! - the image push is not repeated here: `deploy.rs`
//!   (`push_only_pushes_the_image_for_the_first_compute_deploy...`) pushes
//!   to a registry standing in for ECR; the walk checks the repository it
//!   pushes to is the network's and is the one compute is given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::common;

/// moto puts every subnet of `!GetAZs ""` in us-east-1's zones.
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const ENV: &str = "prod";

/// The runbook's lines, with the shell's line continuations joined.
fn runbook_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks/deploy.md");
    let text = std::fs::read_to_string(&path).expect("runbooks/deploy.md");
    let section = text
        .split("### From an empty account")
        .nth(1)
        .expect("runbooks/deploy.md has a section `### From an empty account`");
    let block = section
        .split("```bash")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its first ```bash block");
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Splits a line on whitespace (the runbook's lines quote nothing).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

struct Walk {
    moto: common::PrivateMoto,
    audit: common::TempAudit,
    cfn: aws_sdk_cloudformation::Client,
    /// The shell variables the runbook sets (`SHA512=$(cat ...)`).
    vars: BTreeMap<String, String>,
    artifact_dir: PathBuf,
    http: reqwest::Client,
}

impl Walk {
    /// The runbook's placeholders, and its variables, as this account has them.
    fn fill(&self, word: &str) -> String {
        let mut w = word
            .replace("ACCOUNT", ACCOUNT)
            .replace("REGION", REGION)
            .replace("DIGEST", &"0".repeat(64))
            .replace("certificate/ID", "certificate/walk")
            .replace(
                "~/.cache/ticketing/artifacts",
                &self.artifact_dir.display().to_string(),
            );
        for (k, v) in &self.vars {
            w = w.replace(&format!("${k}"), v);
        }
        w
    }

    /// Runs an `opsctl` line against this account: the runbook's words, and
    /// what a test adds (the templates of this checkout, `--yes` for prod's
    /// confirmation, a timeout), with `env` in its environment.
    async fn opsctl(&self, line: &[String], env: &[(&str, &str)]) -> common::Run {
        assert_eq!(line[0], "opsctl");
        let mut args: Vec<String> = line[1..].iter().map(|w| self.fill(w)).collect();
        if args.iter().any(|a| a == "infra") {
            args.extend(["--dir".into(), super::TEMPLATES.into()]);
            args.extend(["--timeout".into(), "60".into()]);
        }
        if args.iter().any(|a| a == "--execute") {
            args.push("--yes".into());
        }
        let audit = self.audit.display().to_string();
        let mut vars = vec![
            ("AWS_ENDPOINT_URL", self.moto.url.as_str()),
            ("AWS_REGION", REGION),
            ("OPSCTL_AUDIT_LOG", audit.as_str()),
        ];
        vars.extend_from_slice(env);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::opsctl(&args, &vars).await
    }

    /// A request to S3 on this moto, path-style, as the harness's key
    /// (moto checks no signature, but refuses anonymous reads of a bucket
    /// whose public access is blocked, as the network's is).
    fn s3(&self, method: reqwest::Method, bucket: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/{bucket}/{key}", self.moto.url))
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20261124/{REGION}/s3/aws4_request, SignedHeaders=host, Signature=0",
                    common::HARNESS_KEY
                ),
            )
    }

    async fn stack_resources(&self, stack: &str) -> BTreeMap<String, String> {
        self.cfn
            .describe_stack_resources()
            .stack_name(stack)
            .send()
            .await
            .expect("DescribeStackResources")
            .stack_resources()
            .iter()
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_owned(),
                    r.physical_resource_id()?.to_owned(),
                ))
            })
            .collect()
    }

    async fn outputs(&self, stack: &str) -> BTreeMap<String, String> {
        let out = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .expect("DescribeStacks");
        out.stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn repository_uri(&self) -> Option<String> {
        let ecr = aws_sdk_ecr::Client::new(&self.moto.sdk(REGION).await);
        ecr.describe_repositories()
            .repository_names(format!("ticketing-{ENV}"))
            .send()
            .await
            .ok()?
            .repositories()
            .first()?
            .repository_uri()
            .map(str::to_owned)
    }

    /// What moto cannot do: it makes a stack through a change set without
    /// its outputs. The network's exports, registered by a stack of their
    /// own whose outputs are network.yaml's, evaluated on the ids moto gave.
    async fn register_network_exports(&self) {
        let template: Value = serde_yaml::from_str(
            &std::fs::read_to_string(format!("{}/network.yaml", super::TEMPLATES))
                .expect("network.yaml"),
        )
        .expect("network.yaml parses");
        let ids = self
            .stack_resources(&format!("ticketing-{ENV}-network"))
            .await;
        let repository = self
            .repository_uri()
            .await
            .expect("the network's repository");
        let eval = |v: &Value| evaluate(v, &ids, &repository);
        let mut outputs = serde_json::Map::new();
        for (name, output) in template["Outputs"]
            .as_mapping()
            .expect("network.yaml has Outputs")
        {
            let name = name.as_str().expect("an output's name");
            outputs.insert(
                name.to_owned(),
                serde_json::json!({
                    "Value": eval(&output["Value"]),
                    "Export": {"Name": eval(&output["Export"]["Name"])},
                }),
            );
        }
        let body = serde_json::json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        });
        super::create_stack(
            &self.cfn,
            &format!("ticketing-{ENV}-network-exports"),
            &body.to_string(),
            &[],
        )
        .await
        .expect("the network's exports");
    }
}

/// network.yaml's output forms, evaluated as CloudFormation would.
fn evaluate(v: &Value, ids: &BTreeMap<String, String>, repository: &str) -> String {
    let Value::Tagged(tagged) = v else {
        return v.as_str().expect("a literal string").to_owned();
    };
    let tag = tagged.tag.to_string();
    match (tag.as_str(), &tagged.value) {
        ("!Ref", Value::String(logical)) => ids
            .get(logical)
            .unwrap_or_else(|| panic!("no resource {logical}"))
            .clone(),
        ("!Sub", Value::String(s)) => s.replace("${Environment}", ENV),
        ("!GetAtt", Value::String(a)) if a == "ImageRepository.RepositoryUri" => {
            repository.to_owned()
        }
        ("!Join", Value::Sequence(parts)) => {
            let separator = parts[0].as_str().expect("a separator");
            parts[1]
                .as_sequence()
                .expect("a list")
                .iter()
                .map(|p| evaluate(p, ids, repository))
                .collect::<Vec<_>>()
                .join(separator)
        }
        _ => panic!(
            "the walk cannot evaluate {tag} {:?}: teach `evaluate`",
            tagged.value
        ),
    }
}

/// What moto says when opsctl executes the change set of a layer that
/// imports (see the module's comment); asserted so that the walk fails the
/// day moto resolves imports, and opsctl's message carries AWS's without
/// the SDK's raw response.
fn assert_moto_refuses_the_import(run: &common::Run, layer: &str) {
    assert_eq!(run.code, 3, "{layer}: {}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("deploying ticketing-{ENV}-{layer} failed: No export named ticketing-{ENV}-"))
            && run.stderr.contains("(ValidationError)"),
        "{layer}: moto's change sets resolve no imports; if they now do, walk this layer through opsctl: {}",
        run.stderr
    );
    for raw in ["SdkBody", "ErrorMetadata", "aws_request_id"] {
        assert!(
            !run.stderr.contains(raw),
            "the SDK's raw error: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn the_empty_account_walk_follows_the_deploy_runbook_s_order() {
    let moto = common::PrivateMoto::start().await;
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk(REGION).await);
    let artifact_dir =
        std::env::temp_dir().join(format!("walk-artifact-{}", uuid::Uuid::new_v4().simple()));
    let mut walk = Walk {
        moto,
        audit: common::temp_audit_log("walk"),
        cfn,
        vars: BTreeMap::new(),
        artifact_dir,
        http: reqwest::Client::new(),
    };
    let bucket = format!("ticketing-{ENV}-artifacts-{ACCOUNT}");
    let mut walked = Vec::new();

    for line in runbook_lines() {
        let w = words(&line);
        // `NAME=... opsctl ...`: the environment the runbook gives a command.
        let assignment = line.split_once("=$(").filter(|(name, _)| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        let env_names: Vec<String> = w
            .iter()
            .take_while(|x| assignment.is_none() && x.contains('=') && *x != "opsctl")
            .filter_map(|x| x.split_once('=').map(|(k, _)| k.to_owned()))
            .collect();
        let command = &w[env_names.len()..];
        let text = command.join(" ");
        let step = if text.contains("infra deploy network") {
            let run = walk.opsctl(command, &[]).await;
            assert_eq!(run.code, 0, "network: {}{}", run.stdout, run.stderr);
            walk.register_network_exports().await;
            "network"
        } else if text.starts_with("bash infra/kafka/build-artifact.sh") {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/kafka/build-artifact.sh");
            let out = std::process::Command::new("bash")
                .arg(script)
                .args(&command[2..])
                .arg("--out")
                .arg(&walk.artifact_dir)
                .output()
                .expect("build-artifact.sh runs");
            assert!(
                out.status.success(),
                "build-artifact.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            "build artifact"
        } else if let Some(("SHA512", value)) = assignment {
            let file = walk.fill(value.trim_start_matches("cat ").trim_end_matches(')'));
            let sha = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{file}: {e} (is the artifact built before?)"));
            let sha = sha.split_whitespace().next().expect("a digest").to_owned();
            assert_eq!(sha.len(), 128, "{sha}");
            walk.vars.insert("SHA512".into(), sha);
            "artifact digest"
        } else if text.starts_with("aws s3 cp") {
            // The AWS CLI's upload, as S3's PutObject (the CLI is not part
            // of the test's tools): the same bucket and key.
            let (source, target) = (walk.fill(&command[3]), walk.fill(&command[4]));
            let (target_bucket, key) = target
                .trim_start_matches("s3://")
                .split_once('/')
                .expect("s3://bucket/key");
            assert_eq!(target_bucket, bucket);
            let body = std::fs::read(&source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let put = walk
                .s3(reqwest::Method::PUT, target_bucket, key)
                .body(body)
                .send()
                .await
                .expect("PutObject");
            assert!(
                put.status().is_success(),
                "storing the artifact in {target_bucket}: {} (does the network layer, which makes the bucket, come first?)",
                put.status()
            );
            "store artifact"
        } else if text.contains("infra deploy data") {
            let run = walk.opsctl(command, &[]).await;
            assert_moto_refuses_the_import(&run, "data");
            let data = std::fs::read_to_string(format!("{}/data.yaml", super::TEMPLATES))
                .expect("data.yaml");
            let refused = super::create_stack(
                &walk.cfn,
                &format!("ticketing-{ENV}-data"),
                &data,
                &[("Environment", ENV)],
            )
            .await
            .expect_err("moto 5.2.5 cannot create the data layer; if it now can, walk it here");
            assert!(refused.contains("Endpoint"), "{refused}");
            "data"
        } else if text.contains("infra deploy kafka") {
            let run = walk.opsctl(command, &[]).await;
            assert_moto_refuses_the_import(&run, "kafka");
            // The same parameters, through CreateStack.
            let params: Vec<(String, String)> = command
                .windows(2)
                .filter(|p| p[0] == "--param")
                .filter_map(|p| {
                    let filled = walk.fill(&p[1]);
                    filled
                        .split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect();
            let mut given: Vec<(&str, &str)> = vec![("Environment", ENV)];
            given.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let template = std::fs::read_to_string(format!("{}/kafka.yaml", super::TEMPLATES))
                .expect("kafka.yaml");
            let outputs = super::create_stack(
                &walk.cfn,
                &format!("ticketing-{ENV}-kafka"),
                &template,
                &given,
            )
            .await
            .unwrap_or_else(|e| panic!("the kafka layer on the network's exports: {e}"));
            assert!(outputs.contains_key("BootstrapServers"), "{outputs:?}");
            // The brokers boot from the object the runbook stored.
            let user_data =
                launch_template_user_data(&walk.moto, &format!("ticketing-{ENV}-kafka")).await;
            let start = user_data
                .find("s3://")
                .expect("the user data fetches from S3");
            let url = user_data[start..]
                .split(['"', ' ', '\n'])
                .next()
                .expect("the artifact's address");
            let (b, key) = url
                .trim_start_matches("s3://")
                .split_once('/')
                .expect("bucket/key");
            assert_eq!(b, bucket, "{url}");
            let head = walk
                .s3(reqwest::Method::HEAD, b, key)
                .send()
                .await
                .expect("HeadObject");
            assert!(
                head.status().is_success(),
                "the brokers would boot from {url}, which is not stored ({}): store the artifact before the kafka layer",
                head.status()
            );
            "kafka"
        } else if text.contains("infra deploy observability") {
            let run = walk.opsctl(command, &[]).await;
            assert_eq!(run.code, 0, "observability: {}{}", run.stdout, run.stderr);
            "observability"
        } else if text.contains("secrets apply") {
            let values: Vec<(String, String)> = env_names
                .iter()
                .map(|k| {
                    // The mode the runbook gives (PortOne's keys do not
                    // say it; `secrets apply` checks it is a mode).
                    let value = match k.as_str() {
                        "PORTONE_MODE" => "production".to_owned(),
                        other => format!("walk-{}", other.to_lowercase()),
                    };
                    (k.clone(), value)
                })
                .collect();
            let env: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let run = walk.opsctl(command, &env).await;
            assert_eq!(run.code, 0, "secrets apply: {}{}", run.stdout, run.stderr);
            // The mode is no secret (the plan says it); the rest are.
            for (_, value) in values.iter().filter(|(k, _)| k != "PORTONE_MODE") {
                assert!(
                    !run.stdout.contains(value) && !run.stderr.contains(value),
                    "a secret was printed"
                );
            }
            "secrets apply"
        } else if text.contains("secrets plan") {
            let run = walk.opsctl(command, &[]).await;
            assert_eq!(run.code, 0, "secrets plan: {}{}", run.stdout, run.stderr);
            "secrets plan"
        } else if text.contains("deploy --push-only") {
            // Pushed in deploy.rs (see the module's comment); here: the
            // repository it pushes to exists, made by the network layer.
            let uri = walk.repository_uri().await;
            assert!(
                uri.as_deref()
                    .is_some_and(|u| u.ends_with(&format!("/ticketing-{ENV}"))),
                "the push needs the network's repository: {uri:?}"
            );
            "push"
        } else if text.contains("infra deploy compute") {
            let image = command
                .iter()
                .map(|w| walk.fill(w))
                .find_map(|w| w.strip_prefix("ImageUri=").map(str::to_owned))
                .expect("compute is given ImageUri");
            let repository = walk
                .repository_uri()
                .await
                .expect("the network's repository");
            assert!(
                image.starts_with(&format!("{repository}@sha256:")),
                "compute must name the image pushed to the network's repository by digest: {image} vs {repository}"
            );
            let plan_line: Vec<String> = command
                .iter()
                .filter(|w| *w != "--execute")
                .map(|w| {
                    if w == "deploy" {
                        "plan".to_owned()
                    } else {
                        w.clone()
                    }
                })
                .collect();
            let secrets = walk
                .opsctl(&words(&format!("opsctl --env {ENV} secrets plan")), &[])
                .await;
            assert_eq!(
                secrets.code, 0,
                "compute needs the secrets: {}",
                secrets.stderr
            );
            let mut json = vec!["opsctl".to_owned(), "--output".into(), "json".into()];
            json.extend(plan_line[1..].iter().cloned());
            let plan = walk.opsctl(&json, &[]).await;
            assert_eq!(
                plan.code, 1,
                "compute would be created: {}{}",
                plan.stdout, plan.stderr
            );
            let plans: Vec<serde_json::Value> = serde_json::from_str(&plan.stdout).expect("json");
            let bootstrap =
                walk.outputs(&format!("ticketing-{ENV}-kafka")).await["BootstrapServers"].clone();
            assert!(
                plans[0]["notes"]
                    .as_array()
                    .is_none_or(|n| n.iter().all(|n| !n
                        .as_str()
                        .unwrap_or("")
                        .contains("deploy the kafka layer first"))),
                "compute read the kafka stack's brokers ({bootstrap}): {}",
                plans[0]
            );
            let run = walk.opsctl(command, &[]).await;
            assert_moto_refuses_the_import(&run, "compute");
            "compute"
        } else {
            panic!("the walk does not know the runbook's line `{line}`: teach it");
        };
        walked.push(step);
    }
    let _ = std::fs::remove_dir_all(&walk.artifact_dir);

    // Every layer and step the runbook has, each once.
    assert_eq!(
        walked,
        [
            "network",
            "build artifact",
            "artifact digest",
            "store artifact",
            "data",
            "kafka",
            "observability",
            "secrets apply",
            "secrets plan",
            "push",
            "compute"
        ],
        "the walk went through the runbook's lines in this order"
    );
    // Changes made are in the audit log: network, observability, secrets.
    let log = std::fs::read_to_string(&*walk.audit).expect("audit");
    assert!(
        log.lines()
            .filter(|l| l.contains("\"phase\":\"done\""))
            .count()
            >= 3,
        "{log}"
    );
}

/// The user data of the newest version of launch template `name`, decoded.
async fn launch_template_user_data(moto: &common::PrivateMoto, name: &str) -> String {
    let form = [
        ("Action", "DescribeLaunchTemplateVersions"),
        ("Version", "2016-11-15"),
        ("LaunchTemplateName", name),
        ("LaunchTemplateVersion.1", "$Latest"),
    ];
    let xml = moto.query("ec2", &form).await;
    let start = xml.find("<userData>").expect("user data") + "<userData>".len();
    let end = xml[start..].find("</userData>").expect("its end") + start;
    let bytes = aws_smithy_types::base64::decode(xml[start..end].trim()).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}
