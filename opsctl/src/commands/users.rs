//! `opsctl users grant-organiser EMAIL` and `revoke-organiser EMAIL`: who
//! may create performances. The role is on the account (user-service's
//! `users.role`), set only here, never by sign-up; it takes effect at the
//! account's next login. Plan, `--execute`, audit, as every change.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use ticketing_catalog::ServiceName;
use user_service::repository::{organiser_status, set_organiser};

use crate::change::{self, Change, ExecuteArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::ops::db::pool;

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

#[derive(Serialize, Debug)]
struct RolePlan {
    email: String,
    user: String,
    from: &'static str,
    to: &'static str,
}

fn role(organiser: bool) -> &'static str {
    if organiser {
        "organiser"
    } else {
        "customer"
    }
}

pub async fn exec(ctx: &Context, command: UsersCommand) -> Result<ExitCode, CliError> {
    let (args, grant) = match command {
        UsersCommand::GrantOrganiser(args) => (args, true),
        UsersCommand::RevokeOrganiser(args) => (args, false),
    };
    let db = pool(ctx, ServiceName::UserService)?;
    let db_error = |e: sqlx::Error| {
        CliError::Failed(anyhow::anyhow!(
            "reading the users table failed: {e}; check the database settings and TICKETING_DATABASE_PASSWORD"
        ))
    };
    let Some((user, organiser)) = organiser_status(&db, &args.email).await.map_err(db_error)?
    else {
        return Err(CliError::usage(
            format!("no account has the address {}", args.email),
            "check the address; the person signs up first",
        ));
    };
    let plan = RolePlan {
        email: args.email.trim().to_lowercase(),
        user: user.to_string(),
        from: role(organiser),
        to: role(grant),
    };
    eprintln!(
        "{} ({}): {} -> {}{}",
        plan.email,
        plan.user,
        plan.from,
        plan.to,
        if organiser == grant {
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
        usize::from(organiser != grant),
    )?
    else {
        return Ok(change::unchanged(ctx.output));
    };
    match set_organiser(&db, &plan.email, grant).await {
        Ok(changed) => applying.finish(
            ctx.output,
            usize::from(changed),
            format!("{} is now {}\n", plan.email, plan.to),
        ),
        Err(e) => Err(applying.failed(
            serde_json::json!({"email": plan.email, "error": e.to_string()}),
            format!("changing the role of {} failed: {e}", plan.email),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn roles_are_named_for_people() {
        assert_eq!(super::role(true), "organiser");
        assert_eq!(super::role(false), "customer");
    }
}
