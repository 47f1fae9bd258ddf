//! The AWS footprint per size profile: instance classes, counts and sizes.
//! The cost model, `opsctl reserved` and the CloudFormation templates (by a
//! consistency test) all read these.

/// A size profile of the design: the MVP, and ten times its traffic.
///
/// The names borrow for `'a`: the catalog's profiles are `'static`; a
/// footprint read from the templates at some revision (`opsctl cost diff`)
/// borrows from what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint<'a> {
    pub name: &'a str,
    pub rds_class: &'a str,
    /// Primary plus read replicas.
    pub rds_instances: u32,
    pub rds_storage_gb: u32,
    pub redis_node_type: &'a str,
    /// Primary plus replicas.
    pub redis_nodes: u32,
    pub broker_instance_type: &'a str,
    pub brokers: u32,
    pub broker_ebs_gb: u32,
    pub kafka_replication_factor: u32,
    pub tasks_per_service: u32,
    /// Fargate task size in CPU units (1024 = 1 vCPU) and MiB of one
    /// service's task in the split layout; only combinations Fargate
    /// accepts (see [`fargate_accepts`]).
    pub task_cpu: u32,
    pub task_memory_mib: u32,
    /// How the six services run on ECS at this size.
    pub layout: ComputeLayout,
    /// The size of the combined layout's task (all six services in one
    /// process): two thirds of the six split tasks' CPU and memory, since
    /// one process shares a runtime, its idle time and its buffers. At 10x
    /// it is what the cost model prices beside the split layout it runs.
    pub combined_task_cpu: u32,
    pub combined_task_memory_mib: u32,
    /// Log data ingested per month, GB (the design's 5 GB for the MVP;
    /// ten times that at 10x). A usage assumption of the cost model.
    pub logs_ingested_gb: u32,
    /// Average ALB capacity units in use, LCU (one LCU is 25 new
    /// connections/s, 3,000 active connections, 1 GB/h or 1,000 rule
    /// evaluations/s). A usage assumption of the cost model.
    pub alb_average_lcu: u32,
}

/// Each broker instance's root volume (gp3, GB), apart from its data volume
/// (`broker_ebs_gb`): the same at every size (kafka.yaml's launch template,
/// checked by opsctl/tests/testsuite/fast/infra_consistency.rs); the cost model prices both.
pub const BROKER_ROOT_GB: u32 = 8;

/// The MVP. The design writes "1 vCPU x 0.5 GB" per task, which Fargate
/// does not offer (1 vCPU starts at 2 GB); 0.25 vCPU x 0.5 GB keeps the
/// memory and is the smallest valid size.
pub const MVP: Footprint<'static> = Footprint {
    name: "mvp",
    rds_class: "db.t3.micro",
    rds_instances: 1,
    rds_storage_gb: 20,
    // Not the design's cache.t2.micro: new ElastiCache clusters can no
    // longer be created with T2 node types, nor T2 reservations bought
    // (ElastiCache User Guide, "Supported node types"). T3 is the current
    // x86 burstable type at the same size.
    redis_node_type: "cache.t3.micro",
    redis_nodes: 1,
    broker_instance_type: "t2.micro",
    brokers: 1,
    broker_ebs_gb: 20,
    kafka_replication_factor: 1,
    tasks_per_service: 1,
    task_cpu: 256,
    task_memory_mib: 512,
    // One task for the six: $54 of six tasks and five public IPv4
    // addresses fewer (issue 34); the whole platform already serves the
    // booking benches from one process on two cores.
    layout: ComputeLayout::Combined,
    combined_task_cpu: 1024,
    combined_task_memory_mib: 2048,
    logs_ingested_gb: 5,
    alb_average_lcu: 1,
};

/// Ten times the traffic. The design's "2 vCPU x 1 GB" is not a Fargate
/// size either (2 vCPU starts at 4 GB): 2 vCPU x 4 GB.
pub const SCALE_10X: Footprint<'static> = Footprint {
    name: "scale-10x",
    rds_class: "db.r5.large",
    rds_instances: 2,
    rds_storage_gb: 20,
    redis_node_type: "cache.r5.large",
    redis_nodes: 2,
    broker_instance_type: "m5.large",
    brokers: 3,
    broker_ebs_gb: 20,
    kafka_replication_factor: 2,
    tasks_per_service: 3,
    task_cpu: 2048,
    task_memory_mib: 4096,
    // At ten times the traffic the services scale apart.
    layout: ComputeLayout::Split,
    combined_task_cpu: 8192,
    combined_task_memory_mib: 16384,
    logs_ingested_gb: 50,
    alb_average_lcu: 10,
};

pub const PROFILES: [Footprint<'static>; 2] = [MVP, SCALE_10X];

/// How the six services are laid out on ECS (compute.yaml's `Layout`
/// mapping value and its `Combined` condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeLayout {
    /// All six in one process (`ticketing serve`): one ECS service,
    /// [`crate::ecs::COMBINED_SERVICE`], behind the same ALB rule and
    /// health checks, the services calling each other on the loopback.
    Combined,
    /// One ECS service per service, found by name through Cloud Map.
    Split,
}

impl ComputeLayout {
    pub const ALL: [ComputeLayout; 2] = [ComputeLayout::Combined, ComputeLayout::Split];

    /// As the template's mapping writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComputeLayout::Combined => "combined",
            ComputeLayout::Split => "split",
        }
    }
}

impl std::fmt::Display for ComputeLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ComputeLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComputeLayout::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a compute layout; expected combined or split"))
    }
}

/// The Fargate tasks a footprint runs in one layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EcsTasks {
    pub layout: ComputeLayout,
    /// Tasks in all.
    pub count: u32,
    /// CPU units and MiB of each.
    pub cpu: u32,
    pub memory_mib: u32,
}

impl Footprint<'_> {
    /// The tasks this footprint runs in `layout`: six services of
    /// `tasks_per_service` each when split; `tasks_per_service` tasks of
    /// the combined size when combined.
    pub fn ecs_tasks(&self, layout: ComputeLayout) -> EcsTasks {
        match layout {
            ComputeLayout::Split => EcsTasks {
                layout,
                count: self.tasks_per_service * crate::ServiceName::ALL.len() as u32,
                cpu: self.task_cpu,
                memory_mib: self.task_memory_mib,
            },
            ComputeLayout::Combined => EcsTasks {
                layout,
                count: self.tasks_per_service,
                cpu: self.combined_task_cpu,
                memory_mib: self.combined_task_memory_mib,
            },
        }
    }
}

/// Whether Fargate (Linux) offers `cpu` units with `memory` MiB.
pub fn fargate_accepts(cpu: u32, memory: u32) -> bool {
    let gb = |g: u32| g * 1024;
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1..=4).any(|g| gb(g) == memory),
        1024 => (2..=8).any(|g| gb(g) == memory),
        2048 => (4..=16).any(|g| gb(g) == memory),
        4096 => (8..=30).any(|g| gb(g) == memory),
        8192 => (16..=60).step_by(4).any(|g| gb(g) == memory),
        16384 => (32..=120).step_by(8).any(|g| gb(g) == memory),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combined_task_holds_two_thirds_of_the_split_tasks() {
        for p in PROFILES {
            let split = p.ecs_tasks(ComputeLayout::Split);
            let combined = p.ecs_tasks(ComputeLayout::Combined);
            assert_eq!(split.count, 6 * combined.count, "{}", p.name);
            assert_eq!(combined.cpu * 3, split.cpu * 6 * 2, "{}", p.name);
            assert_eq!(
                combined.memory_mib * 3,
                split.memory_mib * 6 * 2,
                "{}",
                p.name
            );
        }
        assert_eq!(MVP.layout, ComputeLayout::Combined);
        assert_eq!(SCALE_10X.layout, ComputeLayout::Split);
        for layout in ComputeLayout::ALL {
            assert_eq!(layout.as_str().parse(), Ok(layout));
            assert_eq!(
                serde_json::to_value(layout).ok(),
                Some(serde_json::Value::from(layout.as_str()))
            );
        }
        assert!("both".parse::<ComputeLayout>().is_err());
    }

    #[test]
    fn every_profile_uses_a_size_fargate_accepts() {
        for p in PROFILES {
            assert!(fargate_accepts(p.task_cpu, p.task_memory_mib), "{}", p.name);
            assert!(
                fargate_accepts(p.combined_task_cpu, p.combined_task_memory_mib),
                "{}",
                p.name
            );
        }
        // The design's literal sizes are not offered.
        assert!(!fargate_accepts(1024, 512));
        assert!(!fargate_accepts(2048, 1024));
    }
}
