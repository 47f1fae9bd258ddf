//! `opsctl cost model`: the design's monthly cost tables computed from unit
//! prices (hourly rates x hours per month, storage, logs) kept in one price
//! file (`infra/prices/us-east-1.toml`, with its date and source), every row
//! printed with its formula, the totals, and where the design document's own
//! figures disagree with the computation.
//!
//! ```text
//! opsctl cost model                          # MVP after the free tier
//! opsctl cost model --optimized              # with RI, Spot, Savings Plans, shorter log retention
//! opsctl cost model --profile scale-10x
//! ```

use std::process::ExitCode;

use clap::Args;

use crate::args::SizeProfile;
use crate::context::Context;
use crate::error::CliError;
use crate::ops::cost::{model, Prices};
use crate::output;

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[arg(long, value_enum, default_value = "mvp")]
    pub profile: SizeProfile,
    /// Apply the design's optimisations (Reserved Instances for RDS and
    /// ElastiCache, Spot for the broker, a Fargate Savings Plan, 7-day logs).
    #[arg(long)]
    pub optimized: bool,
    /// Differences below this many dollars are not called disagreements.
    #[arg(long, default_value_t = 0.5)]
    pub tolerance: f64,
}

/// `opsctl cost model`.
pub async fn model_command(ctx: &Context, args: ModelArgs) -> Result<ExitCode, CliError> {
    if args.tolerance < 0.0 {
        return Err(CliError::usage(
            "--tolerance cannot be negative",
            "try --tolerance 0.5",
        ));
    }
    let prices = Prices::load()?;
    let m = model(&prices, args.profile, args.optimized, args.tolerance)?;
    output::emit(ctx.output, &m, || {
        let rows: Vec<Vec<String>> = m
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.item.to_owned(),
                    r.spec.clone(),
                    format!("{:.2}", r.monthly),
                    r.design.map_or("-".into(), |d| format!("{d:.2}")),
                    r.formula.clone(),
                ]
            })
            .collect();
        let mut out = format!("prices of {} ({})\n", m.prices_date, m.prices_source);
        out.push_str(&output::table(
            &["ITEM", "SPEC", "USD/MONTH", "DESIGN", "FORMULA"],
            &rows,
        ));
        out.push_str(&format!(
            "total ${:.2}/month{}\n",
            m.total,
            m.design_total
                .map_or(String::new(), |d| format!(" (the design says ${d:.2})"))
        ));
        for d in &m.disagreements {
            out.push_str(&format!("disagrees: {d}\n"));
        }
        out
    });
    Ok(ExitCode::SUCCESS)
}
