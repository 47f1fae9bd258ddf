//! `opsctl cost diff --base REF`: the monthly cost of the footprint at a
//! base revision and in the working tree, per row, with the delta and why
//! (a template's size or a unit price); `--output markdown` for a pull
//! request comment (the plan workflow posts it).
//!
//! ```text
//! opsctl cost diff --base origin/main
//! opsctl cost diff --base HEAD~1 --profile scale-10x --optimized
//! opsctl --output markdown cost diff --base "$BASE_SHA"
//! ```

use std::process::ExitCode;

use clap::Args;

use crate::args::SizeProfile;
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::cost::diff::{self, Diff};
use crate::output::{self, usd};

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The revision to compare with: a commit, branch or tag (the pull
    /// request's base).
    #[arg(long)]
    pub base: String,
    /// The size profile (default: both, the MVP first).
    #[arg(long, value_parser = crate::args::one_of::<SizeProfile>(SizeProfile::NAMES))]
    pub profile: Option<SizeProfile>,
    /// Price each revision with the committed rates (`cost model --optimized`).
    #[arg(long)]
    pub optimized: bool,
}

fn signed(x: f64) -> String {
    let x = usd(x);
    if x.starts_with('-') || x == "0.00" {
        x
    } else {
        format!("+{x}")
    }
}

fn why(row: &diff::DiffRow) -> String {
    row.causes
        .iter()
        .map(|c| format!("{} {}: {} -> {}", c.kind, signed(c.usd), c.was, c.now))
        .collect::<Vec<_>>()
        .join("; ")
}

fn title(d: &Diff) -> String {
    format!(
        "{}{}: ${} -> ${} a month ({}) from {} to {}",
        d.profile.footprint().name,
        if d.optimized { " optimized" } else { "" },
        usd(d.base_total),
        usd(d.now_total),
        signed(d.delta),
        d.base_revision,
        d.now_revision
    )
}

fn rows(d: &Diff) -> Vec<Vec<String>> {
    d.rows
        .iter()
        .map(|r| {
            vec![
                r.item.to_owned(),
                usd(r.base),
                usd(r.now),
                signed(r.delta),
                why(r),
            ]
        })
        .collect()
}

const HEADERS: [&str; 5] = ["ITEM", "BASE", "NOW", "DELTA", "WHY"];

fn render(diffs: &[Diff]) -> String {
    let mut out = String::new();
    for d in diffs {
        out.push_str(&title(d));
        out.push('\n');
        if d.rows.is_empty() {
            out.push_str("no row changes\n");
        } else {
            out.push_str(&output::table(&HEADERS, &rows(d)));
        }
    }
    out
}

fn markdown(diffs: &[Diff]) -> String {
    let mut out = String::from("### Monthly cost (`opsctl cost diff`)\n\n");
    for d in diffs {
        out.push_str(&format!("**{}**\n\n", title(d)));
        if d.rows.is_empty() {
            out.push_str("No row changes.\n\n");
        } else {
            out.push_str(&output::markdown_table(
                &["item", "base USD", "now USD", "delta", "why"],
                &[false, true, true, true, false],
                &rows(d),
            ));
            out.push('\n');
        }
    }
    out.push_str("Prices from `infra/prices/us-east-1.toml` of each revision; sizes from the templates' `Size` mappings.\n");
    out
}

/// `opsctl cost diff`.
pub fn diff_command(ctx: &Context, args: DiffArgs) -> Result<ExitCode, OpsError> {
    let repo = diff::repository_root()?;
    let base = diff::inputs_at(&repo, &args.base)?;
    let now = diff::inputs_in_tree(&repo)?;
    let profiles = match args.profile {
        Some(p) => vec![p],
        None => vec![SizeProfile::Mvp, SizeProfile::Scale10x],
    };
    let diffs = profiles
        .into_iter()
        .map(|p| diff::diff(&base, &now, p, args.optimized))
        .collect::<Result<Vec<_>, _>>()?;
    output::emit_or_markdown(ctx.output, &diffs, || render(&diffs), || markdown(&diffs));
    Ok(ExitCode::SUCCESS)
}
