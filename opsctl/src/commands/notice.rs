//! `opsctl notice post|end|list`: the runbooks' "tell customers" step. A
//! notice is posted to the platform's `POST /api/notices` through the
//! gateway with a short-lived operator token that opsctl mints with the
//! access-token signing key (`JWT_SIGNING_KEY`, from the environment only);
//! customers see it at `GET /api/notices`.
//!
//! ```text
//! opsctl notice post --template booking-delay             # the plan
//! opsctl notice post --template booking-delay --execute   # post it
//! opsctl notice end --template booking-delay --execute    # end every active one
//! opsctl notice list
//! ```

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use ticketing_catalog::notices::{self, Template};
use uuid::Uuid;

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
use crate::error::OpsError;
use crate::ops::notices::{Api, Ending, Notice, Posting};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum NoticeCommand {
    /// Post a notice to customers (plan; `--execute` posts it).
    Post(PostArgs),
    /// End active notices: one by id, or every one from a template.
    End(EndArgs),
    /// The notices customers see now.
    List,
}

#[derive(Args, Debug)]
pub struct PostArgs {
    /// One of the design's messages: booking-delay (Kafka recovery),
    /// payment-paused (PortOne rollback).
    #[arg(long, value_parser = template_arg)]
    pub template: Template,
    /// End it by itself at this time (RFC 3339); otherwise it stays until
    /// `opsctl notice end`.
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

#[derive(Args, Debug)]
pub struct EndArgs {
    /// The notice to end.
    #[arg(required_unless_present = "template", conflicts_with = "template")]
    pub id: Option<Uuid>,
    /// End every active notice posted from this template.
    #[arg(long, value_parser = template_arg)]
    pub template: Option<Template>,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

fn template_arg(raw: &str) -> Result<Template, String> {
    notices::template(raw).ok_or_else(|| {
        let names: Vec<&str> = notices::TEMPLATES.iter().map(|t| t.name).collect();
        format!("no template `{raw}`; expected one of {}", names.join(", "))
    })
}

pub async fn exec(ctx: &Context, command: NoticeCommand) -> Result<ExitCode, OpsError> {
    match command {
        NoticeCommand::List => list(ctx).await,
        NoticeCommand::Post(args) => post(ctx, args).await,
        NoticeCommand::End(args) => end(ctx, args).await,
    }
}

fn render(notices: &[Notice]) -> String {
    if notices.is_empty() {
        return "no active notice\n".to_owned();
    }
    let rows: Vec<Vec<String>> = notices
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.template.clone().unwrap_or_default(),
                n.severity.clone(),
                n.flows.join(","),
                n.starts_at.to_rfc3339(),
                n.message_en.clone(),
            ]
        })
        .collect();
    output::table(
        &["ID", "TEMPLATE", "SEVERITY", "FLOWS", "SINCE", "MESSAGE"],
        &rows,
    )
}

async fn list(ctx: &Context) -> Result<ExitCode, OpsError> {
    let notices = Api::new(ctx, false)?.active().await?;
    output::emit(ctx.output, &notices, || render(&notices));
    Ok(ExitCode::SUCCESS)
}

async fn post(ctx: &Context, args: PostArgs) -> Result<ExitCode, OpsError> {
    if args.until.is_some_and(|u| u <= Utc::now()) {
        return Err(OpsError::usage(
            "--until is in the past",
            "give a time after now, or leave it out and end the notice with `opsctl notice end`",
        ));
    }
    let posting = Posting::plan(ctx, &args.template, args.until);
    driver::run(ctx, &posting, &args.execute).await
}

async fn end(ctx: &Context, args: EndArgs) -> Result<ExitCode, OpsError> {
    let ending = Ending::observe(ctx, args.id, args.template.as_ref()).await?;
    driver::drive(ctx, &ending, &args.execute).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::notices::body;

    #[test]
    fn a_template_body_carries_its_messages_and_flows() {
        let b = body(&notices::PAYMENT_PAUSED, None);
        assert_eq!(b["template"], "payment-paused");
        assert_eq!(b["flows"], serde_json::json!(["payment"]));
        assert!(b.get("ends_at").is_none());
        let until = Utc::now() + chrono::Duration::hours(1);
        assert!(body(&notices::BOOKING_DELAY, Some(until))
            .get("ends_at")
            .is_some());
        assert!(template_arg("nope").is_err_and(|e| e.contains("booking-delay")));
    }
}
