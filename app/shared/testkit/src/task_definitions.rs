//! The task definitions of `infra/templates/compute.yaml`, rendered as
//! CloudFormation would render them for one environment: parameters,
//! pseudo parameters and other stacks' exports substituted. Tests run what
//! they render as containers (the services in `app/ticketing`, the ops task
//! in `opsctl`), so what ships is what runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

/// The first container of one task definition, rendered.
#[derive(Debug, Clone)]
pub struct Container {
    pub family: String,
    pub name: String,
    pub entry_point: Vec<String>,
    pub command: Vec<String>,
    pub environment: Vec<(String, String)>,
    /// `(variable, ValueFrom)`.
    pub secrets: Vec<(String, String)>,
    /// The health check command, `CMD` first; empty when there is none.
    pub health: Vec<String>,
    pub stop_timeout: Option<u64>,
    pub user: String,
    pub read_only: bool,
    pub container_port: Option<u16>,
    pub log_group: String,
    pub log_stream_prefix: String,
}

/// What CloudFormation would substitute: the stack's parameters, pseudo
/// parameters and other stacks' exports.
pub struct Scope {
    pub environment: String,
    pub region: String,
    pub account: String,
    pub parameters: BTreeMap<String, String>,
    pub exports: BTreeMap<String, String>,
}

impl Scope {
    fn var(&self, name: &str, locals: &BTreeMap<String, String>) -> String {
        match name {
            "Environment" => self.environment.clone(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            other => locals
                .get(other)
                .or_else(|| self.parameters.get(other))
                .cloned()
                .unwrap_or_else(|| {
                    panic!("the template names ${{{other}}}, which this test does not know")
                }),
        }
    }

    fn sub(&self, template: &str, locals: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').expect("closing brace") + at;
            out.push_str(&self.var(&rest[at + 2..end], locals));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A value of the template with its intrinsic functions evaluated.
    pub fn eval(&self, v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Tagged(t) if t.tag == "!Ref" => self.var(&self.eval(&t.value), &BTreeMap::new()),
            Value::Tagged(t) if t.tag == "!Sub" => match &t.value {
                Value::Sequence(parts) => {
                    let template = self.eval(&parts[0]);
                    let locals = parts[1]
                        .as_mapping()
                        .expect("!Sub variables")
                        .iter()
                        .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), self.eval(v)))
                        .collect();
                    self.sub(&template, &locals)
                }
                other => self.sub(&self.eval(other), &BTreeMap::new()),
            },
            Value::Mapping(m) if m.contains_key("Fn::ImportValue") => {
                let name = self.eval(&m["Fn::ImportValue"]);
                self.exports.get(&name).cloned().unwrap_or_else(|| {
                    panic!("the template imports {name}, which this test does not provide")
                })
            }
            other => panic!("this test cannot evaluate {other:?}"),
        }
    }

    /// Every task definition of compute.yaml under `repo`, rendered.
    pub fn task_definitions(&self, repo: &Path) -> Vec<Container> {
        let path = repo.join("infra/templates/compute.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let template: Value = serde_yaml::from_str(&text).expect("compute.yaml is YAML");
        let mut out = Vec::new();
        for (_, resource) in template["Resources"].as_mapping().expect("Resources") {
            if resource["Type"].as_str() != Some("AWS::ECS::TaskDefinition") {
                continue;
            }
            let p = &resource["Properties"];
            let c = &p["ContainerDefinitions"][0];
            let words = |v: &Value| -> Vec<String> {
                v.as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|w| self.eval(w))
                    .collect()
            };
            let pairs = |v: &Value, value: &str| -> Vec<(String, String)> {
                v.as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|e| (self.eval(&e["Name"]), self.eval(&e[value])))
                    .collect()
            };
            let options = &c["LogConfiguration"]["Options"];
            out.push(Container {
                family: self.eval(&p["Family"]),
                name: self.eval(&c["Name"]),
                entry_point: words(&c["EntryPoint"]),
                command: words(&c["Command"]),
                environment: pairs(&c["Environment"], "Value"),
                secrets: pairs(&c["Secrets"], "ValueFrom"),
                health: words(&c["HealthCheck"]["Command"]),
                stop_timeout: c["StopTimeout"].as_u64(),
                user: self.eval(&c["User"]),
                read_only: c["ReadonlyRootFilesystem"].as_bool() == Some(true),
                container_port: c["PortMappings"][0]["ContainerPort"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok()),
                log_group: self.eval(&options["awslogs-group"]),
                log_stream_prefix: self.eval(&options["awslogs-stream-prefix"]),
            });
        }
        out
    }
}

/// ECS's `ValueFrom` for a JSON key of a secret,
/// `<secret arn>:<json key>:<stage>:<version>`: the secret's ARN and the key.
pub fn secret_key(value_from: &str) -> (String, String) {
    let mut parts = value_from.rsplitn(4, ':');
    let (_version, _stage) = (parts.next(), parts.next());
    let key = parts.next().expect("json key").to_owned();
    let arn = parts.next().expect("secret arn").to_owned();
    (arn, key)
}

/// What ECS gives a container for a `ValueFrom` naming a JSON key of a
/// secret: the key's value, read from `sm` (the emulator) by the secret's
/// ARN, else by its name (an ARN without the random suffix).
pub async fn resolve_value_from(sm: &aws_sdk_secretsmanager::Client, value_from: &str) -> String {
    let (arn, key) = secret_key(value_from);
    let name = arn.split(":secret:").nth(1).unwrap_or(&arn).to_owned();
    let found = match sm.get_secret_value().secret_id(&arn).send().await {
        Ok(found) => found,
        Err(_) => sm
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ECS could not read {value_from}: {e:?}")),
    };
    let json: serde_json::Value =
        serde_json::from_str(found.secret_string().expect("a string secret")).expect("JSON");
    json[key.as_str()]
        .as_str()
        .unwrap_or_else(|| panic!("secret {name} has no key `{key}` ({value_from})"))
        .to_owned()
}
