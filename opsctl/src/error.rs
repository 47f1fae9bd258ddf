//! Errors that carry their exit code and a hint on what to do.

/// Something was wrong with the arguments or the configuration.
pub const EXIT_USAGE: u8 = 2;
/// The command could not do its job.
pub const EXIT_FAILED: u8 = 3;
/// The command ran and found a problem (something down, drift, corruption).
pub const EXIT_PROBLEM: u8 = 1;
/// Another run holds the environment's change lock; nothing was changed
/// (a pipeline may try again later).
pub const EXIT_LOCKED: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("configuration: {0}")]
    Config(#[from] ticketing_config::ConfigError),
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    /// The environment's change lock is held by another run.
    #[error("{message}")]
    Locked { message: String, hint: String },
}

impl CliError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage { .. } => EXIT_USAGE,
            CliError::Failed(_) => EXIT_FAILED,
            CliError::Locked { .. } => EXIT_LOCKED,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            CliError::Config(_) => Some(
                "check config/<env>.toml and TICKETING__* environment variables; see README.md",
            ),
            CliError::Usage { hint, .. } => hint.as_deref(),
            CliError::Failed(_) => None,
            CliError::Locked { hint, .. } => Some(hint),
        }
    }
}
