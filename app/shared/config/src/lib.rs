//! Typed, layered configuration.
//!
//! Layers, later ones win:
//! 1. defaults written in this crate (`#[serde(default)]`),
//! 2. the profile file `config/<profile>.toml` (compiled into the binary, so a
//!    container needs no files on disk),
//! 3. an optional extra file named by `TICKETING_CONFIG_FILE`,
//! 4. environment variables `TICKETING__SECTION__KEY` (for example
//!    `TICKETING__DATABASE__PORT=5433`).
//!
//! Secrets are never read from files: see [`Secrets`].

mod secrets;
mod settings;

pub use secrets::{SecretString, Secrets};
pub use settings::*;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Environment variable that selects the profile of a service process.
pub const PROFILE_ENV: &str = "TICKETING_PROFILE";
/// Environment variable naming an extra TOML file layered over the profile.
pub const CONFIG_FILE_ENV: &str = "TICKETING_CONFIG_FILE";
/// Prefix of environment variables that override settings.
pub const ENV_PREFIX: &str = "TICKETING";
/// Separator between prefix, section and key in those variables.
pub const ENV_SEPARATOR: &str = "__";

/// Deployment profile: `local` (one machine), `dev` and `prod` (AWS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Local,
    Dev,
    Prod,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Local, Profile::Dev, Profile::Prod];

    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Local => "local",
            Profile::Dev => "dev",
            Profile::Prod => "prod",
        }
    }

    /// The profile file, as shipped in `config/`.
    pub const fn file_contents(self) -> &'static str {
        match self {
            Profile::Local => include_str!("../../../../config/local.toml"),
            Profile::Dev => include_str!("../../../../config/dev.toml"),
            Profile::Prod => include_str!("../../../../config/prod.toml"),
        }
    }

    /// Reads `TICKETING_PROFILE`; `local` when unset.
    pub fn from_env() -> Result<Profile, ConfigError> {
        match std::env::var(PROFILE_ENV) {
            Ok(value) => value.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Profile::Local),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ConfigError::UnknownProfile("<not valid UTF-8>".to_owned()))
            }
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownProfile(s.to_owned()))
    }
}

/// What can go wrong while loading configuration. Every message names the key
/// and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "unknown profile `{0}`: expected one of local, dev, prod (set {PROFILE_ENV} or --env)"
    )]
    UnknownProfile(String),

    #[error(
        "invalid configuration for profile `{profile}`: {detail}\n  \
         fix it in config/{profile}.toml, in {CONFIG_FILE_ENV}, or with an environment variable \
         such as {ENV_PREFIX}__DATABASE__PORT=5432 (section and key in capitals, joined by `__`)"
    )]
    Invalid { profile: Profile, detail: String },

    #[error("invalid value for `{key}`: {problem}; expected {expected}")]
    Value {
        key: String,
        problem: String,
        expected: String,
    },

    #[error("missing secret: environment variable {var} is not set ({purpose}); secrets are read only from the environment")]
    MissingSecret {
        var: &'static str,
        purpose: &'static str,
    },

    #[error("secret {var} is too short: at least {min} bytes are needed in profile `{profile}`")]
    WeakSecret {
        var: &'static str,
        min: usize,
        profile: Profile,
    },
}

/// Loads the settings of `profile` from all layers, reading the process
/// environment.
pub fn load(profile: Profile) -> Result<Settings, ConfigError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_from(profile, &vars)
}

/// Loads the settings of `profile` with `vars` standing for the process
/// environment (tests pass their own).
pub fn load_from(profile: Profile, vars: &[(String, String)]) -> Result<Settings, ConfigError> {
    let invalid = |e: config::ConfigError| ConfigError::Invalid {
        profile,
        detail: e.to_string(),
    };
    let mut builder = config::Config::builder().add_source(config::File::from_str(
        profile.file_contents(),
        config::FileFormat::Toml,
    ));
    if let Some((_, path)) = vars.iter().find(|(k, _)| k == CONFIG_FILE_ENV) {
        builder = builder.add_source(config::File::with_name(path).required(true));
    }
    let overrides: config::Map<String, String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
        .cloned()
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .try_parsing(true)
            .source(Some(overrides)),
    );
    let settings: Settings = builder
        .build()
        .map_err(invalid)?
        .try_deserialize()
        .map_err(invalid)?;
    if settings.profile != profile {
        return Err(ConfigError::Value {
            key: "profile".to_owned(),
            problem: format!(
                "the layers say `{}` but profile `{profile}` was asked for",
                settings.profile
            ),
            expected: format!("`{profile}` (the profile key may not be overridden)"),
        });
    }
    settings.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests;
