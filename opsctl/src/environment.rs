//! The environment an operation acts on: its profile and settings, its
//! Region, where its audit trail goes and the AWS credentials to use. No
//! CLI type is in it: `ops/` takes this, and the CLI's `Context` (the
//! environment plus how to render) hands it over.

use std::path::PathBuf;

use ticketing_config::{Profile, Settings};

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

/// The chosen environment.
pub struct Environment {
    pub profile: Profile,
    pub settings: Settings,
    pub region: String,
    /// Whether the `--region` flag chose the region.
    pub region_explicit: bool,
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

impl Environment {
    /// `profile`'s settings, in `region` when one is named (else
    /// `AWS_REGION`, else the settings' own).
    pub fn load(
        profile: Profile,
        region: Option<String>,
    ) -> Result<Environment, ticketing_config::ConfigError> {
        let settings = ticketing_config::load(profile)?;
        let region_explicit = region.is_some();
        let region = region
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| settings.aws.region.clone());
        Ok(Environment {
            profile,
            settings,
            region,
            region_explicit,
            audit_file: audit_path(),
            credentials: None,
        })
    }
}

impl Environment {
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

pub(crate) fn complete_for(text: &str, profile: Profile, region: Option<&str>) -> String {
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
