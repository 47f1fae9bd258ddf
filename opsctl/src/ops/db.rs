//! Connections to the services' databases, each scoped to its schema; the
//! password only from the environment.

use ticketing_catalog::ServiceName;
use ticketing_config::Secrets;

use crate::context::Context;
use crate::error::CliError;

/// A pool on `service`'s schema.
pub fn pool(ctx: &Context, service: ServiceName) -> Result<sqlx::PgPool, CliError> {
    let schema = service.schema().ok_or_else(|| {
        CliError::usage(format!("{service} has no schema"), "pick another service")
    })?;
    ticketing_db::lazy_pool(
        &ctx.settings.database,
        Secrets::database_password_from_env().as_ref(),
        Some(schema),
    )
    .map_err(|e| CliError::Failed(e.into()))
}
