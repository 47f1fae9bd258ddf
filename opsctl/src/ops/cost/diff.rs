//! `opsctl cost diff --base REF`: the footprint's monthly cost at a base
//! revision and now, row by row, with the delta and its cause: the
//! templates (a size in a `Size` mapping changed) or the price file (a unit
//! price changed). What Infracost shows on a Terraform pull request.
//!
//! The model's code is this build's; its inputs are each revision's: the
//! sizes the templates' `Size` mappings give the profile (data, kafka,
//! compute) and the price file. The cause of a row's delta is found by
//! pricing three states: base templates with base prices, the new templates
//! with base prices (the template's share), the new templates with the new
//! prices (the prices' share).

use std::path::Path;

use serde::Serialize;
use ticketing_catalog::footprint::ComputeLayout;
use ticketing_catalog::footprint::Footprint;

use super::{model_for, Discounts, Model, Prices};
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

/// The templates that size the footprint, and the price file, by path in
/// the repository.
pub const SIZED_TEMPLATES: [&str; 3] = [
    "infra/templates/data.yaml",
    "infra/templates/kafka.yaml",
    "infra/templates/compute.yaml",
];
pub const PRICE_FILE: &str = "infra/prices/us-east-1.toml";

/// What one revision gives the model: its templates' texts (in the order of
/// [`SIZED_TEMPLATES`]) and its price file.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub revision: String,
    pub templates: [String; 3],
    pub prices: String,
}

/// The sizes a revision's templates give one profile: the values of their
/// `Mappings: Size: <profile>`. Counts the templates decide by condition
/// (a read replica, three brokers) are the catalog's, which
/// `opsctl/tests/testsuite/fast/infra_consistency.rs` holds the templates to.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    pub db_class: String,
    pub db_storage_gb: u32,
    pub cache_node_type: String,
    pub cache_nodes: u32,
    pub broker_instance_type: String,
    pub broker_volume_gb: u32,
    pub replication_factor: u32,
    pub task_cpu: u32,
    pub task_memory_mib: u32,
    pub tasks_per_service: u32,
    /// The compute layout: split where a revision predates the `Layout`
    /// value (six tasks was all it knew).
    pub layout: ComputeLayout,
    pub combined_task_cpu: u32,
    pub combined_task_memory_mib: u32,
}

/// A mapping value as text (the templates write numbers quoted or not).
fn value(size: &serde_yaml::Value, key: &str, template: &str) -> Result<String, String> {
    match &size[key] {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{template} has no Size mapping value {key}")),
    }
}

fn number(size: &serde_yaml::Value, key: &str, template: &str) -> Result<u32, String> {
    let text = value(size, key, template)?;
    text.parse()
        .map_err(|_| format!("{template}: Size {key} is `{text}`, not a whole number"))
}

impl Sizes {
    /// Reads the `Size` mappings: pure.
    pub fn from_templates(profile: SizeProfile, texts: &[String; 3]) -> Result<Sizes, String> {
        let name = profile.footprint().name;
        let mut sizes = Vec::new();
        for (path, text) in SIZED_TEMPLATES.iter().zip(texts) {
            let doc: serde_yaml::Value =
                serde_yaml::from_str(text).map_err(|e| format!("{path} does not parse: {e}"))?;
            let size = doc["Mappings"]["Size"][name].clone();
            if size.is_null() {
                return Err(format!("{path} has no Mappings: Size: {name}"));
            }
            sizes.push((path, size));
        }
        let (data, kafka, compute) = (&sizes[0], &sizes[1], &sizes[2]);
        Ok(Sizes {
            db_class: value(&data.1, "DbClass", data.0)?,
            db_storage_gb: number(&data.1, "StorageGb", data.0)?,
            cache_node_type: value(&data.1, "CacheNodeType", data.0)?,
            cache_nodes: number(&data.1, "CacheNodes", data.0)?,
            broker_instance_type: value(&kafka.1, "InstanceType", kafka.0)?,
            broker_volume_gb: number(&kafka.1, "VolumeGb", kafka.0)?,
            replication_factor: number(&kafka.1, "ReplicationFactor", kafka.0)?,
            task_cpu: number(&compute.1, "Cpu", compute.0)?,
            task_memory_mib: number(&compute.1, "Memory", compute.0)?,
            tasks_per_service: number(&compute.1, "TasksPerService", compute.0)?,
            layout: match value(&compute.1, "Layout", compute.0) {
                Ok(text) => text.parse().map_err(|e| format!("{}: {e}", compute.0))?,
                Err(_) => ComputeLayout::Split,
            },
            combined_task_cpu: number(&compute.1, "CombinedCpu", compute.0)
                .unwrap_or(profile.footprint().combined_task_cpu),
            combined_task_memory_mib: number(&compute.1, "CombinedMemory", compute.0)
                .unwrap_or(profile.footprint().combined_task_memory_mib),
        })
    }

    /// The profile's footprint with these sizes.
    pub fn footprint(&self, profile: SizeProfile) -> Footprint<'_> {
        Footprint {
            rds_class: &self.db_class,
            rds_storage_gb: self.db_storage_gb,
            redis_node_type: &self.cache_node_type,
            redis_nodes: self.cache_nodes,
            broker_instance_type: &self.broker_instance_type,
            broker_ebs_gb: self.broker_volume_gb,
            kafka_replication_factor: self.replication_factor,
            task_cpu: self.task_cpu,
            task_memory_mib: self.task_memory_mib,
            tasks_per_service: self.tasks_per_service,
            layout: self.layout,
            combined_task_cpu: self.combined_task_cpu,
            combined_task_memory_mib: self.combined_task_memory_mib,
            ..profile.footprint()
        }
    }
}

/// Why a row moved.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Cause {
    /// `template` or `prices`.
    pub kind: &'static str,
    pub usd: f64,
    pub was: String,
    pub now: String,
}

/// One row of the diff.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DiffRow {
    pub item: &'static str,
    pub base: f64,
    pub now: f64,
    pub delta: f64,
    pub causes: Vec<Cause>,
}

/// One profile's diff.
#[derive(Serialize, Debug, Clone)]
pub struct Diff {
    pub profile: SizeProfile,
    pub optimized: bool,
    pub base_revision: String,
    pub now_revision: String,
    pub base_total: f64,
    pub now_total: f64,
    pub delta: f64,
    /// Only the rows that moved.
    pub rows: Vec<DiffRow>,
}

impl Diff {
    pub fn changed(&self) -> bool {
        !self.rows.is_empty() || self.delta.abs() >= 0.005
    }
}

fn price(
    inputs: &Inputs,
    templates: &Inputs,
    profile: SizeProfile,
    optimized: bool,
) -> Result<Model, OpsError> {
    let prices = Prices::parse(&inputs.prices).map_err(|e| {
        OpsError::Failed(anyhow::anyhow!(
            "{PRICE_FILE} at {} does not parse: {e}",
            inputs.revision
        ))
    })?;
    let sizes = Sizes::from_templates(profile, &templates.templates)
        .map_err(|e| OpsError::Failed(anyhow::anyhow!("at {}: {e}", templates.revision)))?;
    model_for(
        &prices,
        profile,
        &sizes.footprint(profile),
        optimized,
        0.5,
        &Discounts::default(),
    )
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The diff of one profile: pure, from the two revisions' inputs.
pub fn diff(
    base: &Inputs,
    now: &Inputs,
    profile: SizeProfile,
    optimized: bool,
) -> Result<Diff, OpsError> {
    let before = price(base, base, profile, optimized)?;
    // The new templates at the old prices: the templates' share.
    let resized = price(base, now, profile, optimized)?;
    let after = price(now, now, profile, optimized)?;
    let mut rows = Vec::new();
    for ((b, r), a) in before.rows.iter().zip(&resized.rows).zip(&after.rows) {
        let mut causes = Vec::new();
        let by_template = cents(r.monthly - b.monthly);
        if by_template != 0.0 || r.spec != b.spec {
            causes.push(Cause {
                kind: "template",
                usd: by_template,
                was: b.spec.clone(),
                now: r.spec.clone(),
            });
        }
        let by_prices = cents(a.monthly - r.monthly);
        if by_prices != 0.0 {
            causes.push(Cause {
                kind: "prices",
                usd: by_prices,
                was: r.formula.clone(),
                now: a.formula.clone(),
            });
        }
        if !causes.is_empty() {
            rows.push(DiffRow {
                item: a.item,
                base: b.monthly,
                now: a.monthly,
                delta: cents(a.monthly - b.monthly),
                causes,
            });
        }
    }
    Ok(Diff {
        profile,
        optimized,
        base_revision: base.revision.clone(),
        now_revision: now.revision.clone(),
        base_total: before.total,
        now_total: after.total,
        delta: cents(after.total - before.total),
        rows,
    })
}

/// The inputs at a git revision (`git show REV:PATH`), read in `repo`.
pub fn inputs_at(repo: &Path, revision: &str) -> Result<Inputs, OpsError> {
    let show = |path: &str| -> Result<String, OpsError> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            // `--end-of-options`: a revision starting with `-` is a name,
            // never an option of git's.
            .args(["show", "--end-of-options", &format!("{revision}:{path}")])
            .output()
            .map_err(|e| OpsError::Failed(anyhow::anyhow!("git could not be run: {e}")))?;
        if !out.status.success() {
            return Err(OpsError::usage(
                format!(
                    "git has no {path} at `{revision}`: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                "give a commit, branch or tag of this repository that has the templates (in CI fetch the base branch: actions/checkout with fetch-depth: 0)",
            ));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| OpsError::Failed(anyhow::anyhow!("{path} at {revision} is not UTF-8")))
    };
    Ok(Inputs {
        revision: revision.to_owned(),
        templates: [
            show(SIZED_TEMPLATES[0])?,
            show(SIZED_TEMPLATES[1])?,
            show(SIZED_TEMPLATES[2])?,
        ],
        prices: show(PRICE_FILE)?,
    })
}

/// The inputs in the working tree at `repo`.
pub fn inputs_in_tree(repo: &Path) -> Result<Inputs, OpsError> {
    let read = |path: &str| -> Result<String, OpsError> {
        std::fs::read_to_string(repo.join(path)).map_err(|e| {
            OpsError::usage(
                format!("cannot read {path}: {e}"),
                "run inside a clone of this repository",
            )
        })
    };
    Ok(Inputs {
        revision: "working tree".into(),
        templates: [
            read(SIZED_TEMPLATES[0])?,
            read(SIZED_TEMPLATES[1])?,
            read(SIZED_TEMPLATES[2])?,
        ],
        prices: read(PRICE_FILE)?,
    })
}

/// The repository holding the current directory (`git rev-parse`).
pub fn repository_root() -> Result<std::path::PathBuf, OpsError> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| OpsError::Failed(anyhow::anyhow!("git could not be run: {e}")))?;
    if !out.status.success() {
        return Err(OpsError::usage(
            "the current directory is not in a git repository",
            "run `opsctl cost diff` inside a clone of this repository",
        ));
    }
    Ok(std::path::PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Inputs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        inputs_in_tree(&root).expect("the repository's inputs")
    }

    #[test]
    fn the_templates_sizes_are_the_catalogs() {
        let now = here();
        for profile in [SizeProfile::Mvp, SizeProfile::Scale10x] {
            let sizes = Sizes::from_templates(profile, &now.templates).expect("sizes");
            assert_eq!(sizes.footprint(profile), profile.footprint(), "{profile:?}");
        }
    }

    #[test]
    fn the_same_inputs_differ_in_nothing() {
        let now = here();
        let d = diff(&now, &now, SizeProfile::Mvp, false).expect("diff");
        assert!(!d.changed(), "{d:?}");
        assert_eq!(d.base_total, d.now_total);
    }

    #[test]
    fn a_broken_mapping_is_named() {
        let mut now = here();
        now.templates[1] = now.templates[1].replace("InstanceType: t2.micro", "Instance: t2.micro");
        let err = Sizes::from_templates(SizeProfile::Mvp, &now.templates).expect_err("no type");
        assert!(
            err.contains("kafka.yaml has no Size mapping value InstanceType"),
            "{err}"
        );
    }
}
