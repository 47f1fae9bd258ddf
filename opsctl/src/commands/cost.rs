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
//! opsctl cost model --optimized --check-alarms   # do the billing alarms fit the forecast?
//! opsctl cost model --design                     # every figure of the design's cost section, checked
//! opsctl cost model --account-opened 2025-03-02 --month 2026-01   # after the free tier that account gets
//! ```

use std::process::ExitCode;

use clap::Args;

use crate::args::SizeProfile;
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::cost::design::Checked;
use crate::ops::cost::free_tier::FreeTier;
use crate::ops::cost::{AlarmCheck, Model, Prices};
use crate::output;

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[arg(long, value_parser = crate::args::one_of::<SizeProfile>(SizeProfile::NAMES), default_value = "mvp")]
    pub profile: SizeProfile,
    /// Apply the design's optimisations (Reserved Instances for RDS and
    /// ElastiCache, Spot for the broker, a Fargate Savings Plan, 7-day logs).
    #[arg(long)]
    pub optimized: bool,
    /// Differences below this many dollars are not called disagreements.
    #[arg(long, default_value_t = 0.5)]
    pub tolerance: f64,
    /// Hold the billing alarms' thresholds against the forecast: exit 1 when
    /// one would fire every month, with the thresholds that would not.
    #[arg(long)]
    pub check_alarms: bool,
    /// Every figure of the design's cost section, recomputed: the design's
    /// own arithmetic, the model's figure, and why they differ.
    #[arg(long, conflicts_with = "check_alarms")]
    pub design: bool,
    /// The day the AWS account was opened (YYYY-MM-DD): the bill of
    /// `--month` after the free tier that date gets (legacy 12-month offers
    /// before 2025-07-15, the credit-based plan from then).
    #[arg(long, value_parser = parse_day)]
    pub account_opened: Option<chrono::NaiveDate>,
    /// With --optimized: the reservation discounts from this region's
    /// offerings (RDS and ElastiCache 1-year No Upfront, fixed and recurring
    /// charges, as `opsctl reserved plan` reads them) and the Savings Plan's
    /// from Cost Explorer's recommendation, instead of the price file's
    /// dated committed rates. Needs AWS access.
    #[arg(long, requires = "optimized")]
    pub offerings: bool,
    /// The month to bill (YYYY-MM), with --account-opened; default: this month.
    #[arg(long, value_parser = parse_month, requires = "account_opened")]
    pub month: Option<chrono::NaiveDate>,
}

fn parse_day(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("`{s}` is not a date YYYY-MM-DD: {e}"))
}

fn parse_month(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|e| format!("`{s}` is not a month YYYY-MM: {e}"))
}

/// `opsctl cost model`.
pub async fn model_command(ctx: &Context, args: ModelArgs) -> Result<ExitCode, OpsError> {
    if args.tolerance < 0.0 {
        return Err(OpsError::usage(
            "--tolerance cannot be negative",
            "try --tolerance 0.5",
        ));
    }
    let prices = Prices::load()?;
    let measured = if args.offerings {
        let (found, notes) =
            crate::ops::reserved::aws::offering_discounts(ctx, &prices, args.profile).await?;
        for note in notes {
            eprintln!("{note}");
        }
        found
    } else {
        crate::ops::cost::Discounts::default()
    };
    let m = crate::ops::cost::model_with(
        &prices,
        args.profile,
        args.optimized,
        args.tolerance,
        &measured,
    )?;
    if let Some(opened) = args.account_opened {
        use chrono::Datelike;
        let month = args.month.unwrap_or_else(|| {
            let today = chrono::Utc::now().date_naive();
            today.with_day(1).unwrap_or(today)
        });
        let free = crate::ops::cost::free_tier::apply(&prices, &m, opened, month)?;
        let both = serde_json::json!({"model": &m, "free_tier": &free});
        output::emit(ctx.output, &both, || render_free_tier(&m, &free));
        return Ok(ExitCode::SUCCESS);
    }
    if args.design {
        let checked = crate::ops::cost::design::ledger(&prices)?;
        output::emit(ctx.output, &checked, || render_design(&checked));
        return Ok(ExitCode::SUCCESS);
    }
    if args.check_alarms {
        let checks = crate::ops::cost::check_alarms(m.total);
        let problem = checks.iter().any(AlarmCheck::is_problem);
        output::emit(ctx.output, &checks, || {
            render_alarm_checks(&checks, args.profile, args.optimized)
        });
        return Ok(if problem {
            ExitCode::from(crate::error::EXIT_PROBLEM)
        } else {
            ExitCode::SUCCESS
        });
    }
    output::emit(ctx.output, &m, || render_model(&m));
    Ok(ExitCode::SUCCESS)
}

fn render_free_tier(m: &Model, free: &FreeTier) -> String {
    let mut out = format!(
        "{} (month {} of the account): the model's ${:.2}\n",
        free.plan,
        free.month_index + 1,
        m.total
    );
    for (what, usd) in &free.offsets {
        out.push_str(&format!("  - ${usd:.2}  {what}\n"));
    }
    out.push_str(&format!("bill ${:.2}/month\n", free.bill));
    out
}

fn render_design(checked: &[Checked]) -> String {
    let show = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v}"));
    let rows: Vec<Vec<String>> = checked
        .iter()
        .map(|c| {
            vec![
                c.figure.to_owned(),
                show(c.arithmetic),
                show(c.model),
                if c.agrees {
                    "agrees".into()
                } else {
                    c.cause.clone()
                },
            ]
        })
        .collect();
    let differs = checked.iter().filter(|c| !c.agrees).count();
    format!(
        "{}{differs} of {} figures differ or cannot be recomputed\n",
        output::table(&["DESIGN", "ITS ARITHMETIC", "MODEL", "VERDICT"], &rows),
        checked.len()
    )
}

fn render_alarm_checks(checks: &[AlarmCheck], profile: SizeProfile, optimized: bool) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.alarm.to_owned(),
                format!("{:.0}", c.threshold_usd),
                format!("{:.0}", c.wanted_usd),
                format!("{:.0}", c.design_usd),
                format!("{:.2}", c.forecast_usd),
                format!("{:.0} %", c.headroom_percent),
                c.recommendation.clone(),
            ]
        })
        .collect();
    format!(
        "the {:?}{} forecast against the billing alarms (AWS/Billing is account-wide: add every environment the account runs)\n{}",
        profile,
        if optimized { " optimized" } else { "" },
        output::table(
            &["ALARM", "USD", "FORECAST ASKS", "DESIGN", "FORECAST", "HEADROOM", "VERDICT"],
            &rows
        )
    )
}

fn render_model(m: &Model) -> String {
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
    let mut out = format!(
        "prices reviewed {} (infra/prices/us-east-1.toml; {} of them not read from AWS on their date: see each entry's `checked`)\n",
        m.prices_reviewed, m.prices_unread
    );
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
    if let Some(other) = &m.other_layout {
        out.push_str(&format!(
            "compute layout {}; the {} layout ({} task(s) of {} vCPU x {} GB) would cost ${:.2}/month ({}${:.2})\n",
            m.layout,
            other.layout,
            other.tasks.count,
            f64::from(other.tasks.cpu) / 1024.0,
            f64::from(other.tasks.memory_mib) / 1024.0,
            other.total,
            if other.difference >= 0.0 { "+" } else { "-" },
            other.difference.abs()
        ));
    }
    for d in &m.disagreements {
        out.push_str(&format!("disagrees: {d}\n"));
    }
    out
}
