//! `opsctl kafka verify-segments`: check log segment files (record batch
//! v2) for corruption.

use std::process::ExitCode;

use serde::Serialize;

use super::VerifyArgs;
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Serialize)]
struct FileReport {
    path: String,
    #[serde(flatten)]
    report: crate::segments::Report,
}

pub async fn verify_segments(ctx: &Context, args: VerifyArgs) -> Result<ExitCode, CliError> {
    let paths = args.paths;
    let reports = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for path in paths {
            let file = std::fs::File::open(&path).map_err(|e| {
                CliError::usage(
                    format!("{} cannot be read: {e}", path.display()),
                    "give the paths of segment files (the broker's <topic>-<partition>/*.log)",
                )
            })?;
            let reader = std::io::BufReader::with_capacity(1 << 20, file);
            let report = crate::segments::verify(reader).map_err(|e| {
                CliError::Failed(anyhow::anyhow!("reading {} failed: {e}", path.display()))
            })?;
            out.push(FileReport {
                path: path.display().to_string(),
                report,
            });
        }
        Ok::<_, CliError>(out)
    })
    .await
    .map_err(|e| CliError::Failed(e.into()))??;
    let clean = reports.iter().all(|r| r.report.is_clean());
    output::emit(ctx.output, &reports, || {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|f| {
                let r = &f.report;
                vec![
                    f.path.clone(),
                    r.bytes.to_string(),
                    r.batches.to_string(),
                    r.records.to_string(),
                    match (r.first_offset, r.last_offset) {
                        (Some(a), Some(b)) => format!("{a}..{b}"),
                        _ => "-".into(),
                    },
                    if r.is_clean() {
                        "ok".into()
                    } else {
                        format!("CORRUPT ({})", r.problems.len())
                    },
                ]
            })
            .collect();
        let mut out = output::table(
            &["FILE", "BYTES", "BATCHES", "RECORDS", "OFFSETS", "STATE"],
            &rows,
        );
        for f in &reports {
            for p in &f.report.problems {
                out.push_str(&format!(
                    "{} @ byte {}: {:?}: {}\n",
                    f.path, p.position, p.kind, p.detail
                ));
            }
            if f.report.invalid_tail_bytes > 0 {
                out.push_str(&format!(
                    "{}: {} invalid byte(s) after the last whole batch (valid up to byte {})\n",
                    f.path, f.report.invalid_tail_bytes, f.report.valid_bytes
                ));
            }
        }
        out
    });
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}
