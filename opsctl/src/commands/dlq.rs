//! `opsctl dlq list|show|replay`: the dead-letter topic, where a consumer
//! puts a message it gave up on (headers say which group, why and after
//! how many attempts).
//!
//! ```text
//! opsctl dlq list [--group event-service] [--all]   # --all: replayed ones too
//! opsctl dlq show 0:42
//! opsctl dlq replay [0:42 ...] [--group G] [--rate 10]            # plan
//! opsctl dlq replay [0:42 ...] [--group G] [--rate 10] --execute  # re-send
//! ```
//!
//! A replay re-sends each letter to the topic it came from, where every
//! group that reads the topic gets it: the plan says per group how many it
//! processed already (it skips them: consumers are idempotent) and how many
//! it has not. Each re-sent letter is marked, so a second replay repeats
//! nothing unless `--all` asks for it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ticketing_messaging::dead_letters::{DeadLetter, LetterId};

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::dlq::{self, Selection, READ_LIMIT};
use crate::ops::dlq_replay::LetterReplay;
use crate::{driver, output};

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// The letters by source topic, group, error and age, with a count
    /// per (topic, group, error).
    List(ListArgs),
    /// One letter whole: its headers and its payload.
    Show(ShowArgs),
    /// Re-send letters to their source topics (plan first).
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only letters of this consumer group (a service name).
    #[arg(long)]
    pub group: Option<String>,
    /// Replayed letters too.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The letter: OFFSET or PARTITION:OFFSET in the dead-letter topic.
    pub letter: LetterId,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Only these letters (OFFSET or PARTITION:OFFSET); default: every
    /// letter not replayed yet.
    pub letters: Vec<LetterId>,
    /// Only letters of this consumer group (a service name).
    #[arg(long)]
    pub group: Option<String>,
    /// Letters replayed before too.
    #[arg(long)]
    pub all: bool,
    /// Letters re-sent per second at most.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, command: DlqCommand) -> Result<ExitCode, OpsError> {
    match command {
        DlqCommand::List(args) => list(ctx, args).await,
        DlqCommand::Show(args) => show(ctx, args).await,
        DlqCommand::Replay(args) => replay(ctx, args).await,
    }
}

fn selection(
    ctx: &Context,
    group: Option<&str>,
    all: bool,
    ids: Vec<LetterId>,
) -> Result<Selection, OpsError> {
    Ok(Selection {
        ids,
        group: group.map(|g| dlq::group_name(ctx, g)).transpose()?,
        include_replayed: all,
    })
}

fn age(letter: &DeadLetter) -> String {
    letter.written_at.map_or("-".into(), |t| {
        let s = (chrono::Utc::now() - t).num_seconds().max(0);
        match s {
            0..=119 => format!("{s} s"),
            120..=7199 => format!("{} min", s / 60),
            _ => format!("{} h", s / 3600),
        }
    })
}

async fn list(ctx: &Context, args: ListArgs) -> Result<ExitCode, OpsError> {
    let chosen = selection(ctx, args.group.as_deref(), args.all, Vec::new())?;
    let letters = dlq::select(dlq::letters(ctx, READ_LIMIT).await?, &chosen)?;
    let mut counts: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for l in &letters {
        *counts
            .entry((l.source_topic.clone(), l.group.clone(), l.error.clone()))
            .or_default() += 1;
    }
    let summary: Vec<serde_json::Value> = counts
        .iter()
        .map(|((topic, group, error), n)| {
            serde_json::json!({"source_topic": topic, "group": group, "error": error, "letters": n})
        })
        .collect();
    output::emit(
        ctx.output,
        &serde_json::json!({"letters": letters, "summary": summary}),
        || {
            if letters.is_empty() {
                return "no dead letters\n".to_owned();
            }
            let rows: Vec<Vec<String>> = letters
                .iter()
                .map(|l| {
                    vec![
                        l.id.to_string(),
                        age(l),
                        format!(
                            "{}[{}]@{}",
                            l.source_topic,
                            l.source_partition.map_or("?".into(), |p| p.to_string()),
                            l.source_offset.map_or("?".into(), |o| o.to_string())
                        ),
                        l.group.clone(),
                        l.event_type
                            .clone()
                            .unwrap_or_else(|| "(not an event)".into()),
                        l.error.clone(),
                        l.attempts.map_or("-".into(), |a| a.to_string()),
                        if l.replayed { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "LETTER", "AGE", "SOURCE", "GROUP", "EVENT", "ERROR", "ATTEMPTS", "REPLAYED",
                ],
                &rows,
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(ctx: &Context, args: ShowArgs) -> Result<ExitCode, OpsError> {
    let chosen = Selection {
        ids: vec![args.letter],
        include_replayed: true,
        ..Selection::default()
    };
    let letters = dlq::select(dlq::letters(ctx, READ_LIMIT).await?, &chosen)?;
    let Some(letter) = letters.first() else {
        return Err(OpsError::usage(
            format!("the dead-letter topic has no letter {}", args.letter),
            "list them with `opsctl dlq list --all`",
        ));
    };
    let payload =
        serde_json::from_slice::<serde_json::Value>(&letter.payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&letter.payload).into_owned())
        });
    let headers: BTreeMap<&str, String> = letter
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let doc = serde_json::json!({"letter": letter, "headers": headers, "payload": payload});
    output::emit(ctx.output, &doc, || {
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    });
    Ok(ExitCode::SUCCESS)
}

async fn replay(ctx: &Context, args: ReplayArgs) -> Result<ExitCode, OpsError> {
    let chosen = selection(ctx, args.group.as_deref(), args.all, args.letters)?;
    let replay = LetterReplay::observe(ctx, &chosen, args.rate).await?;
    driver::run(ctx, &replay, &args.execute).await
}
