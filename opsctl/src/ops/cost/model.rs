//! The model itself: unit prices times the footprint, row by row.

use super::rows::{Discounts, Pricer};
use super::{round2, Model, Prices, Row};
use ticketing_catalog::footprint::Footprint;

use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

/// The rows of one footprint in its own layout.
pub(super) fn rows_for(
    p: &Prices,
    profile: SizeProfile,
    fp: &Footprint<'_>,
    optimized: bool,
    tolerance: f64,
    measured: &Discounts,
) -> Result<Model, OpsError> {
    let ecs = fp.ecs_tasks(fp.layout);
    let mut pricer = Pricer {
        p,
        fp,
        optimized,
        big: profile == SizeProfile::Scale10x,
        tasks: f64::from(ecs.count),
        cpu: f64::from(ecs.cpu) / 1024.0,
        mem: f64::from(ecs.memory_mib) / 1024.0,
        ecs,
        rows: Vec::new(),
    };
    pricer.data_rows(measured)?;
    pricer.compute_rows(profile, measured)?;
    pricer.observability_rows()?;
    pricer.account_rows()?;
    let rows = pricer.rows;
    let total = round2(rows.iter().map(|r| r.monthly).sum());
    let design_total = match (profile, optimized) {
        (SizeProfile::Mvp, false) => Some(71.39),
        (SizeProfile::Mvp, true) => Some(47.99),
        (SizeProfile::Scale10x, false) => Some(836.22),
        (SizeProfile::Scale10x, true) => None,
    };
    let mut disagreements = vec![format!(
        "ECS Fargate size: the design's {} per service is not a size Fargate offers; the model (and infra/) use {} tasks of {} vCPU x {} GB ({} layout)",
        if pricer.big { "2 vCPU x 1 GB" } else { "1 vCPU x 0.5 GB" },
        ecs.count,
        pricer.cpu,
        pricer.mem,
        ecs.layout,
    )];
    disagreements.extend(disagree(&rows, total, design_total, optimized, tolerance));
    Ok(Model {
        profile,
        optimized,
        prices_reviewed: p.reviewed.clone(),
        prices_unread: p.provenance().iter().filter(|e| e.4 != "read").count(),
        rows,
        total,
        design_total,
        disagreements,
        layout: fp.layout,
        other_layout: None,
    })
}

/// Where the unit prices and the design disagree by more than `tolerance`:
/// each row the design prices, its total, and its own rows' sum.
fn disagree(
    rows: &[Row],
    total: f64,
    design_total: Option<f64>,
    optimized: bool,
    tolerance: f64,
) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let d = r.design?;
            ((r.monthly - d).abs() > tolerance).then(|| {
                format!(
                    "{}: the design says ${d:.2}, the unit prices give ${:.2} ({})",
                    r.item, r.monthly, r.formula
                )
            })
        })
        .collect();
    if let Some(d) = design_total {
        let rows_sum: f64 = rows.iter().filter_map(|r| r.design).sum();
        if (total - d).abs() > tolerance {
            out.push(format!(
                "total: the design says ${d:.2}, the unit prices give ${total:.2}"
            ));
        }
        if !optimized && (rows_sum - d).abs() > tolerance && rows.iter().all(|r| r.design.is_some())
        {
            out.push(format!(
                "the design's own rows add up to ${rows_sum:.2}, not its total ${d:.2}"
            ));
        }
    }
    out
}
