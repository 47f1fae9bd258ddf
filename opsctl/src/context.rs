//! What every command starts from: the chosen environment's settings and the
//! global flags.

use ticketing_config::{Profile, Settings};

use clap::{Args, ValueEnum};

use crate::error::CliError;
use crate::output::OutputFormat;

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
        let mut line = vec![
            "opsctl".to_owned(),
            "--env".to_owned(),
            self.profile.as_str().to_owned(),
        ];
        if self.region_explicit {
            line.push("--region".to_owned());
            line.push(self.region.clone());
        }
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
        })
    }
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
