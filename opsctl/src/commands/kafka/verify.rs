//! `opsctl kafka verify-segments`: check log segment files (record batch
//! v2) for corruption: local files, or with `--on-broker` on the broker
//! host itself through SSM (the DR runbook's integrity step, run from where
//! on-call sits).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use ticketing_kafka::segments::{verify_file, FileReport};

use super::VerifyArgs;
use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::segments_on_broker::{broker_path, read_output, script, Fetch, Release};
use crate::output;

/// One file's report, and the broker it was read on (`--on-broker`).
#[derive(Serialize)]
struct Verified {
    #[serde(skip_serializing_if = "Option::is_none")]
    broker: Option<String>,
    #[serde(flatten)]
    file: FileReport,
}

pub async fn verify_segments(ctx: &Context, args: VerifyArgs) -> Result<ExitCode, OpsError> {
    let verified = if args.on_broker {
        on_broker(ctx, &args).await?
    } else {
        local(args.paths).await?
    };
    let clean = verified.iter().all(|v| v.file.report.is_clean());
    output::emit(ctx.output, &verified, || render(&verified));
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

async fn local(paths: Vec<std::path::PathBuf>) -> Result<Vec<Verified>, OpsError> {
    tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|path| {
                verify_file(path)
                    .map(|file| Verified { broker: None, file })
                    .map_err(|e| {
                        OpsError::usage(
                            format!("{} cannot be read: {e}", path.display()),
                            "give the paths of segment files (the broker's <topic>-<partition>/*.log); on the broker host itself, add --on-broker",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| OpsError::Failed(e.into()))?
}

async fn on_broker(ctx: &Context, args: &VerifyArgs) -> Result<Vec<Verified>, OpsError> {
    let paths = args
        .paths
        .iter()
        .map(|p| {
            broker_path(&p.display().to_string()).map_err(|e| {
                OpsError::usage(
                    e,
                    "give segment paths on the broker, e.g. /var/lib/kafka/payment.events-0/00000000000000000000.log",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reference = match &args.image {
        Some(image) => image.clone(),
        None => crate::ops::segments_on_broker::deployed_release(ctx).await?,
    };
    let release = Release::parse(&reference)
        .map_err(|e| OpsError::usage(e, "pass --image HOST/REPO@sha256:<digest>"))?;
    eprintln!(
        "verifying {} file(s) on the broker(s) with {}@{} (SSM, one broker at a time)",
        paths.len(),
        release.repository,
        release.digest
    );
    let fetch = Fetch {
        scheme: "https",
        region: &ctx.region,
        release_dir: ticketing_catalog::aws::BROKER_RELEASE_DIR,
    };
    let shell = script(&release, &fetch, &paths)
        .map_err(|e| OpsError::usage(e, "pass --region with a Region name, e.g. ap-northeast-2"))?;
    let outputs = crate::aws::run_on_brokers_for_output(
        ctx,
        &shell,
        "opsctl kafka verify-segments --on-broker",
        Instant::now() + Duration::from_secs(args.timeout),
    )
    .await?;
    let mut verified = Vec::new();
    for (instance, stdout) in outputs {
        let (_, reports) = read_output(&stdout)
            .map_err(|e| OpsError::Failed(anyhow::anyhow!("broker {instance}: {e}")))?;
        verified.extend(reports.into_iter().map(|file| Verified {
            broker: Some(instance.clone()),
            file,
        }));
    }
    Ok(verified)
}

fn render(verified: &[Verified]) -> String {
    let rows: Vec<Vec<String>> = verified
        .iter()
        .map(|v| {
            let r = &v.file.report;
            vec![
                match &v.broker {
                    Some(b) => format!("{b}:{}", v.file.path),
                    None => v.file.path.clone(),
                },
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
    for v in verified {
        let f = &v.file;
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
}
