//! What every command starts from: the chosen environment's settings and the
//! global flags.

use std::path::PathBuf;

use ticketing_config::{Profile, Settings};

use clap::{Args, ValueEnum};

use crate::error::CliError;
use crate::output::OutputFormat;

/// The variable that names the audit log file.
pub const AUDIT_LOG_VAR: &str = "OPSCTL_AUDIT_LOG";

/// The audit log file.
pub fn audit_path() -> PathBuf {
    if let Some(path) = std::env::var_os(AUDIT_LOG_VAR) {
        return PathBuf::from(path);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("opsctl").join("audit.jsonl")
}

pub struct Context {
    pub profile: Profile,
    pub settings: Settings,
    pub region: String,
    /// Whether the `--region` flag chose the region.
    pub region_explicit: bool,
    pub output: OutputFormat,
    /// How long a change waits for the environment's change lock
    /// (`--lock-wait`) before it gives up.
    pub lock_wait: std::time::Duration,
    /// The local audit log file (`OPSCTL_AUDIT_LOG`, else the user's
    /// state directory): read once here, so nothing later looks at the
    /// process environment for it.
    pub audit_file: std::path::PathBuf,
    /// AWS credentials to use instead of the SDK's default chain (the
    /// environment, `AWS_PROFILE`, SSO, the task role): `None` from the
    /// command line; set by code that embeds opsctl's operations (the
    /// tests, against moto).
    pub credentials: Option<aws_credential_types::Credentials>,
}

impl Context {
    /// The `environment` dimension the platform's metrics carry in this
    /// environment: `telemetry.environment`, else the profile (the
    /// services use the same rule).
    pub fn metrics_environment(&self) -> String {
        self.settings
            .telemetry
            .environment
            .clone()
            .unwrap_or_else(|| self.profile.as_str().to_owned())
    }

    /// The opsctl command line that runs `words` again where this run was
    /// pointed: its `--env`, and its `--region` when one was given, each
    /// word quoted for a POSIX shell. Hints print it whole, so pasting one
    /// never lands on another environment.
    pub fn command_line<S: AsRef<str>>(&self, words: &[S]) -> String {
        let region = self.region_explicit.then_some(self.region.as_str());
        let mut line = invocation(self.profile, region);
        line.extend(words.iter().map(|w| w.as_ref().to_owned()));
        line.iter()
            .map(|w| {
                // Only NUL cannot be quoted, and no OS argument holds one.
                let clean = w.replace('\0', "");
                shlex::try_quote(&clean)
                    .map(|quoted| quoted.into_owned())
                    .unwrap_or(clean)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `text` with every command it names made whole for this run
    /// ([`complete_commands`]).
    pub fn complete(&self, text: &str) -> String {
        complete_for(
            text,
            self.profile,
            self.region_explicit.then_some(self.region.as_str()),
        )
    }

    pub fn load(global: &GlobalArgs) -> Result<Context, CliError> {
        let profile = Profile::from(global.env);
        let settings = ticketing_config::load(profile)?;
        let region = global
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| settings.aws.region.clone());
        Ok(Context {
            profile,
            settings,
            region,
            region_explicit: global.region.is_some(),
            output: global.output,
            lock_wait: global.lock_wait,
            audit_file: audit_path(),
            credentials: None,
        })
    }
}

/// `opsctl --env <env>` and `--region <region>` when one was given: how
/// a command for the same place starts.
fn invocation(profile: Profile, region: Option<&str>) -> Vec<String> {
    let mut line = vec![
        "opsctl".to_owned(),
        "--env".to_owned(),
        profile.as_str().to_owned(),
    ];
    if let Some(region) = region {
        line.push("--region".to_owned());
        line.push(region.to_owned());
    }
    line
}

/// Makes every command a text names (`` `opsctl kafka lag` ``) a whole
/// one for this run's environment and region (`` `opsctl --env prod kafka
/// lag` ``): pasted, it lands where this run acted. Names that already
/// say `--env` are left alone.
pub fn complete_commands(text: &str, global: &GlobalArgs) -> String {
    complete_for(text, Profile::from(global.env), global.region.as_deref())
}

fn complete_for(text: &str, profile: Profile, region: Option<&str>) -> String {
    let start = invocation(profile, region).join(" ");
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find("`opsctl ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "`opsctl ".len()..];
        if after.starts_with("--env") {
            out.push_str("`opsctl ");
        } else {
            out.push('`');
            out.push_str(&start);
            out.push(' ');
        }
        rest = after;
    }
    out.push_str(rest);
    out
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
