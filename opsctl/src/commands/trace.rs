//! `opsctl trace <reservation id | merchant_uid | imp_uid | event id>`:
//! one booking's timeline across the reservation, its orders, the saga's
//! outbox rows and topics, each consumer group, the dead-letter topic and
//! PortOne, ending in a verdict ("paid at PortOne, PaymentSucceeded unsent
//! for 4 min: outbox relay"). Exit 1 when the booking is stuck.

use std::process::ExitCode;

use clap::Args;

use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::trace::{resolve, trace, Subject, Trace};
use crate::output;

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A reservation id, its order's merchant_uid, PortOne's imp_uid, or
    /// the id of one of its events.
    pub id: String,
}

pub async fn exec(ctx: &Context, args: TraceArgs) -> Result<ExitCode, OpsError> {
    let subject = Subject::parse(&args.id)?;
    let reservation = resolve(ctx, &subject).await?;
    let found = trace(ctx, reservation).await?;
    output::emit(ctx.output, &found, || render(&found));
    Ok(if found.verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

fn render(t: &Trace) -> String {
    let mut out = format!("reservation {}", t.reservation_id);
    match &t.reservation {
        Some(r) => out.push_str(&format!(
            ": {} ({} seat(s), {}){}\n",
            r.status.as_str(),
            r.seat_ids.len(),
            r.amount,
            r.cancel_reason
                .as_deref()
                .map(|c| format!(", cancelled: {c}"))
                .unwrap_or_default()
        )),
        None => out.push_str(": not found\n"),
    }
    if let Some(e) = &t.portone_error {
        out.push_str(&format!("{e}\n"));
    }
    if let Some(e) = &t.kafka_error {
        out.push_str(&format!(
            "Kafka not read (where each event sits and the dead letters are unknown): {e}\n"
        ));
    }
    let rows: Vec<Vec<String>> = t
        .timeline
        .iter()
        .map(|e| {
            vec![
                e.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                e.source.clone(),
                e.what.clone(),
            ]
        })
        .collect();
    out.push_str(&output::table(&["AT (UTC)", "WHERE", "WHAT"], &rows));
    for e in &t.events {
        for (group, letter, error) in &e.dead_letters {
            out.push_str(&format!(
                "dead letter {letter}: {} given up by {group}: {error}\n",
                e.row.event_type
            ));
        }
    }
    out.push_str(&format!(
        "verdict: {}{}\n",
        if t.verdict.ok { "" } else { "STUCK: " },
        t.verdict.line
    ));
    out
}
