//! `opsctl users grant-organiser EMAIL` and `revoke-organiser EMAIL`: who
//! may create performances. The role is on the account (user-service's
//! `users.role`), set only here, never by sign-up; it takes effect at the
//! account's next login. Plan, `--execute`, audit, as every change.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::users;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Let the account with EMAIL create performances.
    GrantOrganiser(RoleArgs),
    /// Make the account with EMAIL a customer again.
    RevokeOrganiser(RoleArgs),
}

#[derive(Args, Debug)]
pub struct RoleArgs {
    /// The account's e-mail address (as it signed up).
    pub email: String,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub async fn exec(ctx: &Context, command: UsersCommand) -> Result<ExitCode, OpsError> {
    let (args, grant) = match command {
        UsersCommand::GrantOrganiser(args) => (args, true),
        UsersCommand::RevokeOrganiser(args) => (args, false),
    };
    let plan = users::plan(ctx, &args.email, grant).await?;
    eprintln!(
        "{} ({}): {} -> {}{}",
        plan.email,
        plan.user,
        plan.from,
        plan.to,
        if plan.unchanged {
            " (already)"
        } else {
            "; takes effect at the account's next login"
        }
    );
    let command = if grant {
        "users grant-organiser"
    } else {
        "users revoke-organiser"
    };
    let Some(applying) = Change::new(ctx, command, &args.execute).begin(
        &format!("making {} {}", plan.email, plan.to),
        &plan,
        usize::from(!plan.unchanged),
    )?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    match users::apply(ctx, &plan).await {
        Ok(changed) => applying.finish(
            ctx.output,
            usize::from(changed),
            format!("{} is now {}\n", plan.email, plan.to),
        ),
        Err(e) => Err(applying.failed(
            serde_json::json!({"email": plan.email, "error": e}),
            format!("changing the role of {} failed: {e}", plan.email),
        )),
    }
}
