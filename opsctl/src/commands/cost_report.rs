//! `opsctl cost report`: a month's actual spend from Cost Explorer, by
//! service, against the cost model; and `opsctl cost timeline`: the design's
//! free-tier-end checklist as dated actions with the command for each.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::Args;

use crate::args::SizeProfile;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::cost::{model, round2, Prices};
use crate::ops::cost_report::{checklist, compare, period, spend_by_service, Report};
use crate::output;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The month, `YYYY-MM` (default: this month so far, against the
    /// model's share for the days gone).
    #[arg(long)]
    pub month: Option<String>,
    /// The model to compare with.
    #[arg(long, value_parser = crate::args::one_of::<SizeProfile>(SizeProfile::NAMES), default_value = "mvp")]
    pub profile: SizeProfile,
    /// Compare with the optimised model.
    #[arg(long)]
    pub optimized: bool,
    /// A row more than this many percent above its model is flagged (and the
    /// exit code is 1).
    #[arg(long, default_value_t = 20.0)]
    pub over_percent: f64,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    /// The day the free tier ends, `YYYY-MM-DD`.
    #[arg(long)]
    pub free_tier_ends: String,
}

pub async fn report(ctx: &Context, args: ReportArgs) -> Result<ExitCode, OpsError> {
    let period = period(args.month.as_deref(), Utc::now().date_naive())?;
    let (start, end) = (period.start, period.end);
    let prices = Prices::load()?;
    let m = model(&prices, args.profile, args.optimized, 0.5)?;
    let (spend, estimated) = spend_by_service(ctx, start, end).await?;
    let model_rows: Vec<(String, f64)> = m
        .rows
        .iter()
        .map(|r| (r.item.to_owned(), r.monthly * period.model_share))
        .collect();
    let rows = compare(&spend, &model_rows, args.over_percent);
    let report = Report {
        month: period.label.clone(),
        estimated,
        actual_total: round2(rows.iter().map(|r| r.actual).sum()),
        model_total: round2(m.total * period.model_share),
        rows,
    };
    output::emit(ctx.output, &report, || render(&report));
    Ok(if report.rows.iter().any(|r| r.over) {
        ExitCode::from(EXIT_PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.item.clone(),
                format!("{:.2}", r.actual),
                format!("{:.2}", r.model),
                format!("{:+.2}", r.delta),
                if r.over { "OVER".into() } else { String::new() },
            ]
        })
        .collect();
    format!(
        "{}{}total ${:.2} actual against ${:.2} modelled\n",
        if report.estimated {
            format!(
                "{} (Cost Explorer marks the month as estimated)\n",
                report.month
            )
        } else {
            format!("{}\n", report.month)
        },
        output::table(&["ITEM", "ACTUAL $", "MODEL $", "DELTA", ""], &rows),
        report.actual_total,
        report.model_total
    )
}

pub fn timeline(ctx: &Context, args: TimelineArgs) -> Result<ExitCode, OpsError> {
    let ends = NaiveDate::parse_from_str(&args.free_tier_ends, "%Y-%m-%d").map_err(|_| {
        OpsError::usage(
            format!("--free-tier-ends `{}` is not a date", args.free_tier_ends),
            "write it as YYYY-MM-DD, for example --free-tier-ends 2027-01-12",
        )
    })?;
    let actions = checklist(ends);
    let today = Utc::now().date_naive();
    output::emit(ctx.output, &actions, || {
        let rows: Vec<Vec<String>> = actions
            .iter()
            .map(|a| {
                vec![
                    a.when.to_owned(),
                    a.date.to_string(),
                    if a.date < today {
                        "past".into()
                    } else {
                        format!("in {} d", (a.date - today).num_days())
                    },
                    a.action.to_owned(),
                    a.owner.to_owned(),
                    if a.required {
                        "required".into()
                    } else {
                        "recommended".into()
                    },
                    a.command.to_owned(),
                ]
            })
            .collect();
        output::table(
            &["WHEN", "DATE", "", "ACTION", "OWNER", "", "COMMAND"],
            &rows,
        )
    });
    Ok(ExitCode::SUCCESS)
}
