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

    /// A value that may be `!FindInMap [Map, Top, Second]`, evaluated
    /// against `template`'s Mappings; any other as [`Scope::eval`].
    fn eval_in(&self, v: &Value, template: &Value) -> String {
        match v {
            Value::Tagged(t) if t.tag == "!FindInMap" => {
                let keys: Vec<String> = t
                    .value
                    .as_sequence()
                    .expect("!FindInMap's list")
                    .iter()
                    .map(|k| self.eval(k))
                    .collect();
                let found =
                    &template["Mappings"][keys[0].as_str()][keys[1].as_str()][keys[2].as_str()];
                self.eval(found)
            }
            other => self.eval(other),
        }
    }

    /// Whether condition expression `v` of `template` holds (Fn::Equals,
    /// Fn::Not, Fn::And, Fn::Or, Condition).
    fn holds(&self, v: &Value, template: &Value) -> bool {
        let Value::Tagged(t) = v else {
            panic!("this test cannot evaluate the condition {v:?}")
        };
        let list = || t.value.as_sequence().cloned().unwrap_or_default();
        if t.tag == "!Equals" {
            let l = list();
            self.eval_in(&l[0], template) == self.eval_in(&l[1], template)
        } else if t.tag == "!Not" {
            !self.holds(&list()[0], template)
        } else if t.tag == "!And" {
            list().iter().all(|c| self.holds(c, template))
        } else if t.tag == "!Or" {
            list().iter().any(|c| self.holds(c, template))
        } else if t.tag == "!Condition" {
            self.condition(&self.eval(&t.value), template)
        } else {
            panic!("this test cannot evaluate the condition {}", t.tag)
        }
    }

    /// Whether `template`'s condition `name` holds.
    pub fn condition(&self, name: &str, template: &Value) -> bool {
        let expr = &template["Conditions"][name];
        assert!(!expr.is_null(), "the template has no condition {name}");
        self.holds(expr, template)
    }

    /// This scope with the template's parameter defaults for the
    /// parameters it does not set (`SizeProfile`: mvp).
    fn with_defaults(&self, template: &Value) -> Scope {
        let mut parameters = self.parameters.clone();
        for (name, p) in template["Parameters"].as_mapping().into_iter().flatten() {
            if let (Some(name), Some(default)) = (name.as_str(), p.get("Default")) {
                parameters
                    .entry(name.to_owned())
                    .or_insert_with(|| self.eval(default));
            }
        }
        Scope {
            environment: self.environment.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            parameters,
            exports: self.exports.clone(),
        }
    }

    /// Every task definition of compute.yaml under `repo` that the scope's
    /// parameters create (`SizeProfile` picks the compute layout; the
    /// template's default when unset), rendered.
    pub fn task_definitions(&self, repo: &Path) -> Vec<Container> {
        let path = repo.join("infra/templates/compute.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let template: Value = serde_yaml::from_str(&text).expect("compute.yaml is YAML");
        let scope = self.with_defaults(&template);
        scope.render(&template)
    }

    fn render(&self, template: &Value) -> Vec<Container> {
        let mut out = Vec::new();
        for (_, resource) in template["Resources"].as_mapping().expect("Resources") {
            if resource["Type"].as_str() != Some("AWS::ECS::TaskDefinition") {
                continue;
            }
            if let Some(condition) = resource["Condition"].as_str() {
                if !self.condition(condition, template) {
                    continue;
                }
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
            // An entry may be `!If [Condition, entry, !Ref AWS::NoValue]`.
            let pairs = |v: &Value, value: &str| -> Vec<(String, String)> {
                v.as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| match e {
                        Value::Tagged(t) if t.tag == "!If" => {
                            let name = self.eval(&t.value[0]);
                            self.condition(&name, template).then(|| t.value[1].clone())
                        }
                        other => Some(other.clone()),
                    })
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
