//! `opsctl kafka reset-offsets`: move a stopped group's committed offsets,
//! saving the previous ones first.

use std::process::ExitCode;

use ticketing_kafka::PartitionLag;

use super::{ResetArgs, ResetTo};
use crate::change::{Applying, Change};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::kafka::{
    ensure_group_stopped, groups, read_saved, reset_plan, sample, saved_offsets, unreachable,
    write_saved, ResetTarget, SavedOffsets,
};
use crate::output;

pub async fn reset_offsets(ctx: &Context, args: ResetArgs) -> Result<ExitCode, OpsError> {
    let (group, topics) = groups(ctx, Some(&args.group))?
        .into_iter()
        .next()
        .ok_or_else(|| OpsError::usage("no group chosen", "name one with --group"))?;
    let current: Vec<PartitionLag> = sample(ctx, &[(group.clone(), topics.clone())])
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let plan = reset_plan(&group, &current, target(ctx, &args, &group, &topics).await?)?;
    output::emit(
        ctx.output,
        &serde_json::json!({"group": group, "plan": plan, "execute": args.execute.execute}),
        || render_plan(&group, &plan),
    );
    // Kafka moves the offsets of a group only while it has no members:
    // checked before anything is confirmed or recorded as started.
    if args.execute.execute {
        ensure_group_stopped(ctx, &group).await?;
    } else {
        eprintln!("the group's consumers must be stopped before --execute");
    }
    let Some(applying) = Change::new(ctx, "kafka reset-offsets", &args.execute)
        .prints_its_own_result()
        .begin(
            "moving consumer offsets",
            &serde_json::json!({"group": group, "plan": plan}),
            plan.len(),
        )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let saved = saved_offsets(&group, &current);
    let path = save_restore_point(&args, &group, &saved, &applying)?;
    // Whole in the trail too: the restore point outlives this machine's
    // (or the ops task's) disk (`--from-audit`).
    applying.progress(serde_json::json!({
        "saved_to": path.as_ref().map(|p| p.display().to_string()),
        "saved_offsets": saved,
    }))?;
    let targets: Vec<(String, i32, i64)> = plan
        .iter()
        .map(|l| (l.topic.clone(), l.partition, l.new))
        .collect();
    if let Err(e) = ticketing_kafka::commit_offsets(&ctx.settings.kafka, &group, &targets).await {
        let detail = serde_json::json!({"group": group, "error": e.to_string()});
        let message = unreachable(ctx, e);
        return Err(applying.failed(detail, message));
    }
    applying.done(serde_json::json!({"group": group, "moved": plan.len()}))?;
    let restore = ctx.complete(&format!(
        "`opsctl kafka reset-offsets --group {} --from-audit --execute`",
        args.group
    ));
    match &path {
        Some(path) => eprintln!(
            "offsets moved; the previous ones are in {} and the audit trail (restore with --from-file {} or {restore})",
            path.display(),
            path.display()
        ),
        None => eprintln!("offsets moved; the previous ones are in the audit trail (restore with {restore})"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the flags say the offsets go.
async fn target(
    ctx: &Context,
    args: &ResetArgs,
    group: &str,
    topics: &[String],
) -> Result<ResetTarget, OpsError> {
    Ok(match (&args.from_file, args.to) {
        _ if args.from_audit => ResetTarget::Saved(from_audit(ctx, group).await?),
        (Some(path), _) => ResetTarget::Saved(read_saved(path)?),
        (None, Some(ResetTo::Earliest)) => ResetTarget::Earliest,
        (None, Some(ResetTo::Latest)) => ResetTarget::Latest,
        (None, Some(ResetTo::Offset)) => ResetTarget::Offset(args.offset.unwrap_or_default()),
        (None, Some(ResetTo::Datetime)) => {
            let raw = args.datetime.as_deref().unwrap_or_default();
            let at = chrono::DateTime::parse_from_rfc3339(raw)
                .map_err(|e| {
                    OpsError::usage(
                        format!("--datetime `{raw}` is not a time: {e}"),
                        "use RFC 3339, e.g. 2026-11-24T01:00:00Z",
                    )
                })?
                .with_timezone(&chrono::Utc);
            ResetTarget::Resolved(
                ticketing_kafka::offsets_for_time(&ctx.settings.kafka, topics, at)
                    .await
                    .map_err(|e| unreachable(ctx, e))?,
            )
        }
        (None, None) => {
            return Err(OpsError::usage(
                "nothing to reset to",
                "give --to or --from-file",
            ))
        }
    })
}

fn render_plan(group: &str, plan: &[crate::ops::kafka::ResetLine]) -> String {
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|l| {
            vec![
                l.topic.clone(),
                l.partition.to_string(),
                l.current.map_or("-".into(), |c| c.to_string()),
                l.new.to_string(),
            ]
        })
        .collect();
    format!(
        "group {group}\n{}",
        output::table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows)
    )
}

/// Writes the previous offsets to `--save-to` (or a dated file here). In
/// the ops task nothing on disk lasts (its root is read-only): the audit
/// trail alone keeps the restore point there, unless `--save-to`.
fn save_restore_point(
    args: &ResetArgs,
    group: &str,
    saved: &SavedOffsets,
    applying: &Applying,
) -> Result<Option<std::path::PathBuf>, OpsError> {
    let path = args.save_to.clone().or_else(|| {
        (!crate::ops::ops_task::inside_vpc()).then(|| {
            std::path::PathBuf::from(format!(
                "opsctl-offsets-{group}-{}.json",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ))
        })
    });
    if let Some(path) = &path {
        if let Err(e) = write_saved(path, saved) {
            return Err(applying.failed(
                serde_json::json!({"group": group, "error": e.to_string()}),
                format!(
                    "the previous offsets cannot be saved to {}: {e}; pick a writable --save-to; nothing was moved",
                    path.display()
                ),
            ));
        }
    }
    Ok(path)
}

/// How far back `--from-audit` looks for the saved offsets.
const AUDIT_LOOKBACK_SECONDS: i64 = 90 * 86_400;

/// The offsets the group's newest `--execute` recorded in the trail.
async fn from_audit(ctx: &Context, group: &str) -> Result<SavedOffsets, OpsError> {
    let (source, entries) = crate::audit::read_trail(ctx, AUDIT_LOOKBACK_SECONDS).await?;
    entries
        .iter()
        .rev()
        .filter(|e| e.command == "kafka reset-offsets")
        .filter_map(|e| serde_json::from_value::<SavedOffsets>(e.detail.get("saved_offsets")?.clone()).ok())
        .find(|saved| saved.group == group)
        .ok_or_else(|| {
            OpsError::usage(
                format!("{source} holds no offsets saved for group `{group}` in the last 90 days"),
                "restore from the file the --execute wrote with --from-file, or name the offsets with --to",
            )
        })
}
