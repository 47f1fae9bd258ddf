//! The compute layouts priced side by side: the model of a footprint in
//! its own layout (combined at mvp, split at 10x), with the other layout's
//! bill beside it, so `cost model` shows what the layout saves or costs.

use ticketing_catalog::footprint::{ComputeLayout, Footprint};

use super::model::rows_for;
use super::rows::Discounts;
use super::{round2, Model, Prices};
use crate::error::OpsError;
use crate::ops::profile::SizeProfile;

/// Computes the monthly model: pure, from the price file alone.
pub fn model(
    p: &Prices,
    profile: SizeProfile,
    optimized: bool,
    tolerance: f64,
) -> Result<Model, OpsError> {
    model_with(p, profile, optimized, tolerance, &Discounts::default())
}

/// [`model`] with measured reservation discounts.
pub fn model_with(
    p: &Prices,
    profile: SizeProfile,
    optimized: bool,
    tolerance: f64,
    measured: &Discounts,
) -> Result<Model, OpsError> {
    model_for(
        p,
        profile,
        &profile.footprint(),
        optimized,
        tolerance,
        measured,
    )
}

/// [`model_with`] for a given footprint of the profile (`cost diff`: the
/// one the templates of a revision describe), in the footprint's compute
/// layout, with the other layout's bill beside it.
pub fn model_for(
    p: &Prices,
    profile: SizeProfile,
    fp: &Footprint<'_>,
    optimized: bool,
    tolerance: f64,
    measured: &Discounts,
) -> Result<Model, OpsError> {
    let mut model = rows_for(p, profile, fp, optimized, tolerance, measured)?;
    let other = match fp.layout {
        ComputeLayout::Combined => ComputeLayout::Split,
        ComputeLayout::Split => ComputeLayout::Combined,
    };
    let priced = rows_for(
        p,
        profile,
        &Footprint {
            layout: other,
            ..*fp
        },
        optimized,
        tolerance,
        measured,
    )?;
    model.other_layout = Some(super::LayoutBill {
        layout: other,
        tasks: fp.ecs_tasks(other),
        total: priced.total,
        difference: round2(priced.total - model.total),
    });
    Ok(model)
}
