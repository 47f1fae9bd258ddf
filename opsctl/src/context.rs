//! What every command starts from: the chosen environment (the value
//! `ops/` takes) and the global flags that only the CLI needs (how to
//! render, how long to wait for the change lock).

use clap::{Args, ValueEnum};
use ticketing_config::Profile;

use crate::environment::{complete_for, Environment};
use crate::error::OpsError;
use crate::output::OutputFormat;

pub struct Context {
    /// The environment the operations act on.
    pub env: Environment,
    pub output: OutputFormat,
    /// How long a change waits for the environment's change lock
    /// (`--lock-wait`) before it gives up.
    pub lock_wait: std::time::Duration,
}

impl std::ops::Deref for Context {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        &self.env
    }
}

impl std::ops::DerefMut for Context {
    fn deref_mut(&mut self) -> &mut Environment {
        &mut self.env
    }
}

impl Context {
    pub fn load(global: &GlobalArgs) -> Result<Context, OpsError> {
        let env = Environment::load(Profile::from(global.env), global.region.clone())?;
        Ok(Context {
            env,
            output: global.output,
            lock_wait: global.lock_wait,
        })
    }
}

/// Makes every command a text names (`` `opsctl kafka lag` ``) a whole
/// one for this run's environment and region (`` `opsctl --env prod kafka
/// lag` ``): pasted, it lands where this run acted. Names that already
/// say `--env` are left alone.
pub fn complete_commands(text: &str, global: &GlobalArgs) -> String {
    complete_for(text, Profile::from(global.env), global.region.as_deref())
}

/// The flags every command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Environment to act on.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "local",
        env = "OPSCTL_ENV"
    )]
    pub env: EnvArg,
    /// AWS region (defaults to AWS_REGION, then the environment's
    /// configured region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Output format: `table` for people, `json` for CI.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "table",
        env = "OPSCTL_OUTPUT"
    )]
    pub output: OutputFormat,
    /// How long a change waits for the environment's change lock when
    /// another run holds it (e.g. 10m); without it, it is refused at once.
    #[arg(
        long,
        global = true,
        value_parser = crate::args::parse_age,
        default_value = "0s",
        env = "OPSCTL_LOCK_WAIT"
    )]
    pub lock_wait: std::time::Duration,
    /// More logging on stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvArg {
    Local,
    Dev,
    Prod,
}

impl From<EnvArg> for Profile {
    fn from(env: EnvArg) -> Profile {
        match env {
            EnvArg::Local => Profile::Local,
            EnvArg::Dev => Profile::Dev,
            EnvArg::Prod => Profile::Prod,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        global: GlobalArgs,
    }

    #[test]
    fn named_commands_become_whole_ones_for_this_environment() {
        let prod = Only::parse_from(["opsctl", "--env", "prod", "--region", "eu-west-1"]).global;
        assert_eq!(
            complete_commands(
                "see `opsctl kafka lag`, then `opsctl --env dev status`",
                &prod
            ),
            "see `opsctl --env prod --region eu-west-1 kafka lag`, then `opsctl --env dev status`"
        );
        let local = Only::parse_from(["opsctl"]).global;
        assert_eq!(
            complete_commands("no command here", &local),
            "no command here"
        );
    }
}
