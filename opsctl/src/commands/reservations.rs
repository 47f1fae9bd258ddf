//! `opsctl reservations reconcile`: reservations still `PENDING` past a
//! threshold are checked with PortOne. A payment PortOne knows is re-announced
//! to the payment service's webhook through the gateway -- the same path
//! PortOne's own notification takes, so verification, events and the saga
//! do the rest (no state is poked directly). Unpaid ones are reported; the
//! expiry sweep cancels them at their expiry.
//!
//! ```text
//! opsctl reservations reconcile --older-than 15m            # plan
//! opsctl reservations reconcile --older-than 15m --execute  # re-announce
//! ```

use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::{Args, Subcommand};
use serde::Serialize;
use ticketing_catalog::ServiceName;
use ticketing_config::Secrets;
use ticketing_portone::{PaymentStatus, PortOne, PortOneError, WebhookNotice};
use uuid::Uuid;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::{CliError, EXIT_PROBLEM};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum ReservationsCommand {
    /// Check reservations still PENDING after `--older-than` with PortOne;
    /// re-announce the paid ones through the normal webhook path.
    Reconcile(ReconcileArgs),
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Only reservations created longer ago than this (e.g. 30s, 15m, 2h).
    #[arg(long, default_value = "15m", value_parser = parse_age)]
    pub older_than: Duration,
    /// At most this many reservations per run.
    #[arg(long, default_value_t = 500)]
    pub limit: i64,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// `30s`, `15m`, `2h`, `1d`.
pub fn parse_age(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not an age like 30s, 15m, 2h or 1d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{raw}` is not an age like 30s, 15m, 2h or 1d")),
    };
    Ok(Duration::from_secs(seconds))
}

pub async fn exec(ctx: &Context, command: ReservationsCommand) -> Result<ExitCode, CliError> {
    match command {
        ReservationsCommand::Reconcile(args) => reconcile(ctx, args).await,
    }
}

#[derive(Serialize, Clone)]
pub(crate) struct Line {
    reservation_id: Uuid,
    merchant_uid: String,
    age_seconds: i64,
    amount: i64,
    /// What PortOne says: paid, failed, cancelled, ready, or none.
    portone: String,
    imp_uid: Option<String>,
    /// What reconciliation does: announce (re-send the webhook) or report.
    action: &'static str,
    result: Option<String>,
}

/// The summary a reconcile run leaves (the DR runbook reports it too).
#[derive(Serialize, Default, Clone)]
pub(crate) struct Summary {
    pub pending: usize,
    pub announced: usize,
    pub unpaid: usize,
    pub failed: usize,
}

pub(crate) async fn plan(
    ctx: &Context,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<Line>, CliError> {
    let schema = ServiceName::ReservationService
        .schema()
        .unwrap_or("reservation_service");
    let pool = ticketing_db::lazy_pool(
        &ctx.settings.database,
        Secrets::database_password_from_env().as_ref(),
        Some(schema),
    )
    .map_err(|e| CliError::Failed(e.into()))?;
    let pending = reservation_service::repository::pending_older_than(&pool, older_than, limit)
        .await
        .map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "reading pending reservations: {e}; is PostgreSQL up? (opsctl status)"
            ))
        })?;
    pool.close().await;
    let portone = portone(ctx)?;
    let mut lines = Vec::new();
    for p in pending {
        let merchant = ticketing_portone::merchant_uid(p.id);
        let (state, imp_uid, action) = match portone.find_by_merchant_uid(&merchant).await {
            Ok(payment) => {
                let action = match payment.status {
                    PaymentStatus::Ready => "report",
                    _ => "announce",
                };
                (payment.status.as_str().to_owned(), Some(payment.imp_uid), action)
            }
            Err(PortOneError::NotFound { .. }) => ("none".to_owned(), None, "report"),
            Err(e) => {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "PortOne could not be asked about {merchant}: {e}; check `opsctl portone mode` and the keys"
                )))
            }
        };
        lines.push(Line {
            reservation_id: p.id,
            merchant_uid: merchant,
            age_seconds: (Utc::now() - p.created_at).num_seconds(),
            amount: p.amount,
            portone: state,
            imp_uid,
            action,
            result: None,
        });
    }
    Ok(lines)
}

fn portone(ctx: &Context) -> Result<PortOne, CliError> {
    // Only the PortOne keys: an operator's shell need not hold the others.
    let (key, secret) = Secrets::portone_from_env(ctx.profile)?;
    Ok(PortOne::new(
        reqwest::Client::new(),
        &ctx.settings.portone,
        key,
        secret,
    ))
}

/// Re-announces each `announce` line to the webhook behind the gateway.
pub(crate) async fn apply(ctx: &Context, lines: &mut [Line]) -> Result<Summary, CliError> {
    let url = ctx
        .settings
        .services
        .api_gateway
        .url
        .join("/webhooks/portone")
        .map_err(|e| CliError::Failed(e.into()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| CliError::Failed(e.into()))?;
    let mut summary = Summary {
        pending: lines.len(),
        ..Summary::default()
    };
    for line in lines.iter_mut() {
        let Some(imp_uid) = line.imp_uid.clone().filter(|_| line.action == "announce") else {
            summary.unpaid += 1;
            continue;
        };
        let notice = WebhookNotice {
            imp_uid,
            merchant_uid: line.merchant_uid.clone(),
            status: line.portone.clone(),
        };
        let answer = http.post(url.clone()).json(&notice).send().await;
        line.result = Some(match answer {
            Ok(r) if r.status().is_success() => {
                summary.announced += 1;
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                body["outcome"].as_str().unwrap_or("accepted").to_owned()
            }
            Ok(r) => {
                summary.failed += 1;
                format!("HTTP {}", r.status())
            }
            Err(e) => {
                summary.failed += 1;
                format!("unreachable: {e}")
            }
        });
    }
    Ok(summary)
}

fn render(lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.reservation_id.to_string(),
                format!("{} s", l.age_seconds),
                l.amount.to_string(),
                l.portone.clone(),
                l.action.to_owned(),
                l.result.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(
        &[
            "RESERVATION",
            "AGE",
            "AMOUNT",
            "PORTONE",
            "ACTION",
            "RESULT",
        ],
        &rows,
    )
}

async fn reconcile(ctx: &Context, args: ReconcileArgs) -> Result<ExitCode, CliError> {
    let mut lines = plan(ctx, args.older_than, args.limit).await?;
    let to_announce = lines.iter().filter(|l| l.action == "announce").count();
    eprintln!(
        "plan: {} reservation(s) PENDING for over {} s; {to_announce} known to PortOne will be re-announced to the payment service",
        lines.len(),
        args.older_than.as_secs()
    );
    let Some(applying) = Change::new(ctx, "reservations reconcile", &args.execute).begin(
        "re-announcing payments",
        &serde_json::json!({"older_than_seconds": args.older_than.as_secs(), "pending": lines.len(), "to_announce": to_announce, "reservations": lines}),
        to_announce,
    )?
    else {
        output::emit(ctx.output, &lines, || render(&lines));
        return Ok(ExitCode::SUCCESS);
    };
    let summary = apply(ctx, &mut lines).await?;
    let detail = serde_json::to_value(&summary).unwrap_or_default();
    if summary.failed == 0 {
        applying.done(detail)?;
    } else {
        applying.ended_with_failures(detail)?;
    }
    output::emit(
        ctx.output,
        &serde_json::json!({"summary": summary, "reservations": lines}),
        || {
            format!(
                "{}re-announced {}, unpaid {}, failed {}\n",
                render(&lines),
                summary.announced,
                summary.unpaid,
                summary.failed
            )
        },
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_and_nonsense_is_refused() {
        assert_eq!(parse_age("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_age("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_age("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert!(parse_age("15").is_err());
        assert!(parse_age("m").is_err());
        assert!(parse_age("-5m").is_err());
    }
}
