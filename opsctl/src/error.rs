//! What can stop an operation, with a hint on what to do: the caller's
//! input or configuration (usage), the world (failed), or another run
//! holding the environment's change lock. The CLI maps each to its exit
//! code (`exit_code`); the codes commands return themselves are here too.

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
pub enum OpsError {
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

impl OpsError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> OpsError {
        OpsError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            OpsError::Config(_) => Some(
                "check config/<env>.toml and TICKETING__* environment variables; see README.md",
            ),
            OpsError::Usage { hint, .. } => hint.as_deref(),
            OpsError::Failed(_) => None,
            OpsError::Locked { hint, .. } => Some(hint),
        }
    }
}

/// The process exit code for an operation that stopped with `e`.
pub fn exit_code(e: &OpsError) -> u8 {
    match e {
        OpsError::Config(_) | OpsError::Usage { .. } => EXIT_USAGE,
        OpsError::Failed(_) => EXIT_FAILED,
        OpsError::Locked { .. } => EXIT_LOCKED,
    }
}
