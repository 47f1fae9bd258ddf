//! `opsctl users grant-organiser EMAIL` and `revoke-organiser EMAIL`: who
//! may create performances. The role is on the account (user-service's
//! `users.role`), set only here, never by sign-up; it takes effect at the
//! account's next login. Plan, `--execute`, audit, as every change.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::ExecuteArgs;
use crate::context::Context;
use crate::driver;
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
    let command = if grant {
        "users grant-organiser"
    } else {
        "users revoke-organiser"
    };
    let change = users::RoleChange {
        env: ctx,
        plan,
        command,
    };
    driver::drive(ctx, &change, &args.execute).await
}
