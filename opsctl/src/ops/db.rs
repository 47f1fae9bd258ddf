//! Connections to the services' databases, each scoped to its schema; the
//! password only from the environment.

use ticketing_catalog::ServiceName;
use ticketing_config::Secrets;

use crate::environment::Environment;
use crate::error::OpsError;

/// A pool on `service`'s schema.
pub fn pool(ctx: &Environment, service: ServiceName) -> Result<sqlx::PgPool, OpsError> {
    let schema = service.schema().ok_or_else(|| {
        OpsError::usage(format!("{service} has no schema"), "pick another service")
    })?;
    ticketing_db::lazy_pool(
        &ctx.settings.database,
        Secrets::database_password_from_env().as_ref(),
        Some(schema),
    )
    .map_err(|e| OpsError::Failed(e.into()))
}
