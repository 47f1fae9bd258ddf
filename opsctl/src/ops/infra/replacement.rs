//! Which resources a parameter change replaces, predicted from
//! CloudFormation's own data: the registry schemas' `createOnlyProperties`
//! (a change to one replaces the resource), vendored for the templates'
//! types in `infra/registry/create-only.json` (generated from the schemas
//! cfn-lint ships; a test regenerates it). moto's change sets report no
//! replacement, so `opsctl infra plan` prints this prediction, and a test
//! fails when a parameter the runbooks tell people to change would replace
//! a resource that holds something that cannot move.
//!
//! The prediction is by dependency: a value that mentions (`Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::If`'s condition) a changed parameter, a
//! condition that depends on one, or a resource that changes, may change.
//! It is conservative: a value that mentions a changed parameter but comes
//! out the same is still reported.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_yaml::Value;

const CREATE_ONLY: &str = include_str!("../../../../infra/registry/create-only.json");

/// One predicted replacement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replacement {
    pub resource: String,
    /// The create-only property whose value changes.
    pub property: String,
    /// What it mentions that changes (parameters, conditions, resources).
    pub because: Vec<String>,
    /// Set when the resource holds something a replacement cannot carry
    /// over (see [`cannot_move`]).
    pub holds: Option<String>,
}

/// The vendored table: resource type -> its create-only properties.
pub fn create_only() -> BTreeMap<String, Vec<String>> {
    serde_json::from_str(CREATE_ONLY).unwrap_or_default()
}

/// Names a value mentions: parameters, conditions, resources (a resource's
/// attribute counts as the resource).
fn mentions(v: &Value, out: &mut BTreeSet<String>) {
    fn sub(text: &str, out: &mut BTreeSet<String>) {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            if !name.starts_with('!') && !name.starts_with("AWS::") {
                out.insert(name.split('.').next().unwrap_or(name).to_owned());
            }
            rest = &rest[start + end..];
        }
    }
    let intrinsic = |kind: &str, arg: &Value, out: &mut BTreeSet<String>| match kind {
        "Ref" | "Condition" => {
            if let Some(name) = arg.as_str().filter(|n| !n.starts_with("AWS::")) {
                out.insert(name.to_owned());
            }
        }
        "GetAtt" => match arg {
            Value::String(s) => {
                out.insert(s.split('.').next().unwrap_or(s).to_owned());
            }
            Value::Sequence(seq) => {
                if let Some(r) = seq.first().and_then(Value::as_str) {
                    out.insert(r.to_owned());
                }
            }
            _ => {}
        },
        "Sub" => match arg {
            Value::String(s) => sub(s, out),
            Value::Sequence(seq) => {
                let mut inner = BTreeSet::new();
                if let Some(s) = seq.first().and_then(Value::as_str) {
                    sub(s, &mut inner);
                }
                let vars = seq.get(1).and_then(Value::as_mapping);
                for name in inner {
                    if !vars.is_some_and(|m| m.contains_key(name.as_str())) {
                        out.insert(name);
                    }
                }
                if let Some(vars) = vars {
                    vars.values().for_each(|v| mentions(v, out));
                }
            }
            _ => {}
        },
        "If" => {
            if let Value::Sequence(seq) = arg {
                if let Some(c) = seq.first().and_then(Value::as_str) {
                    out.insert(c.to_owned());
                }
                seq.iter().skip(1).for_each(|v| mentions(v, out));
            }
        }
        _ => mentions(arg, out),
    };
    match v {
        Value::Tagged(t) => intrinsic(t.tag.to_string().trim_start_matches('!'), &t.value, out),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().expect("one entry");
            match k.as_str() {
                Some(key) if key == "Ref" || key == "Condition" || key.starts_with("Fn::") => {
                    intrinsic(key.trim_start_matches("Fn::"), arg, out)
                }
                _ => mentions(arg, out),
            }
        }
        Value::Mapping(m) => m.values().for_each(|v| mentions(v, out)),
        Value::Sequence(s) => s.iter().for_each(|v| mentions(v, out)),
        _ => {}
    }
}

fn mentioned(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    mentions(v, &mut out);
    out
}

/// What a replacement of `resource` could not carry over, if anything: an
/// address or interface others name, a volume's or database's data, a
/// bucket or repository and what is in it, an output other stacks import,
/// or a fixed network interface the instance holds as one of its own
/// devices (the new instance cannot attach it while the old one has it).
pub fn cannot_move(template: &Value, resource: &str) -> Option<String> {
    let r = &template["Resources"][resource];
    let kind = r["Type"].as_str().unwrap_or_default();
    let fixed = match kind {
        "AWS::EC2::NetworkInterface" => Some("a network interface (its address)"),
        "AWS::EC2::EIP" => Some("an Elastic IP (its address)"),
        "AWS::EC2::Volume" => Some("a volume (its data)"),
        "AWS::RDS::DBInstance" => Some("a database (its data)"),
        "AWS::S3::Bucket" => Some("a bucket (its objects)"),
        "AWS::ECR::Repository" => Some("a repository (its images)"),
        _ => None,
    };
    if let Some(what) = fixed {
        return Some(format!("{resource} is {what}"));
    }
    if kind == "AWS::EC2::Instance" {
        let held: Vec<String> = r["Properties"]["NetworkInterfaces"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter(|n| !n["NetworkInterfaceId"].is_null())
            .flat_map(|n| mentioned(&n["NetworkInterfaceId"]))
            .collect();
        if !held.is_empty() {
            return Some(format!(
                "{resource} holds the fixed network interface {} as its own device",
                held.join(", ")
            ));
        }
    }
    let exported = template["Outputs"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, o)| !o["Export"].is_null() && mentioned(&o["Value"]).contains(resource))
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    (!exported.is_empty()).then(|| {
        format!(
            "{resource} is exported ({}): other stacks import it",
            exported.join(", ")
        )
    })
}

/// The resources of `template` that a change of the `changed` parameters
/// replaces, each with the create-only property that changes.
pub fn predict(template: &Value, changed: &[&str]) -> Vec<Replacement> {
    let table = create_only();
    let mut moving: BTreeSet<String> = changed.iter().map(|s| (*s).to_owned()).collect();
    let conditions = template["Conditions"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    let resources = template["Resources"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    // Until nothing more changes: conditions on changed names, resources
    // whose properties mention them.
    loop {
        let before = moving.len();
        for (name, body) in conditions.iter().chain(resources.iter()) {
            let Some(name) = name.as_str() else { continue };
            let body = if resources.contains_key(name) {
                &body["Properties"]
            } else {
                body
            };
            if !moving.contains(name) && !mentioned(body).is_disjoint(&moving) {
                moving.insert(name.to_owned());
            }
        }
        if moving.len() == before {
            break;
        }
    }
    let mut out = Vec::new();
    for (name, r) in &resources {
        let Some(name) = name.as_str() else { continue };
        let kind = r["Type"].as_str().unwrap_or_default();
        for property in table.get(kind).into_iter().flatten() {
            let top = property.split('/').next().unwrap_or(property);
            let value = &r["Properties"][top];
            if value.is_null() {
                continue;
            }
            let because: Vec<String> = mentioned(value).intersection(&moving).cloned().collect();
            if !because.is_empty() {
                out.push(Replacement {
                    resource: name.to_owned(),
                    property: top.to_owned(),
                    because,
                    holds: cannot_move(template, name),
                });
            }
        }
    }
    out
}

/// One line per replaced resource, for the plan's notes.
pub fn describe(changed: &[&str], replacements: &[Replacement]) -> Vec<String> {
    replacements
        .iter()
        .map(|r| {
            let mut line = format!(
                "if {} changes: replaces {} ({} changes, through {})",
                changed.join(", "),
                r.resource,
                r.property,
                r.because.join(", ")
            );
            if let Some(holds) = &r.holds {
                line.push_str(&format!("; REFUSED BY AWS OR LOSES STATE: {holds}"));
            }
            line
        })
        .collect()
}
