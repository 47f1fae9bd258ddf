//! PostgreSQL access: one instance, one schema per service (ADR-001).
//!
//! A service's pool sets `search_path` to its schema, so its queries and its
//! migration history (`_sqlx_migrations`) live there and nowhere else.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::PgPool;
use ticketing_config::{DatabaseSettings, DbSslMode};
use ticketing_health::Probe;

pub use sqlx;

mod text_column;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "schema name `{0}` is not a plain identifier (lower-case letters, digits, underscores)"
    )]
    BadSchema(String),
    #[error("PostgreSQL at {host}:{port} did not accept a connection within {waited:?}: {source}")]
    Unreachable {
        host: String,
        port: u16,
        waited: Duration,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the CA certificates for database.ssl_root_cert at {path} cannot be read: {source}; \
         point TICKETING__DATABASE__SSL_ROOT_CERT at a PEM file of the CAs that signed the \
         server's certificate"
    )]
    RootCert {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating schema `{schema}` failed: {source}")]
    CreateSchema {
        schema: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrations of schema `{schema}` failed: {source}")]
    Migrate {
        schema: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// Connection options for `database`, scoped to `schema` when given.
pub fn connect_options(
    settings: &DatabaseSettings,
    password: Option<&SecretString>,
    schema: Option<&str>,
) -> Result<PgConnectOptions, DbError> {
    let mut options = PgConnectOptions::new()
        .host(&settings.host)
        .port(settings.port)
        .username(&settings.user)
        .database(&settings.name)
        .application_name("ticketing")
        .ssl_mode(ssl_mode(settings.ssl_mode));
    if let Some(path) = &settings.ssl_root_cert {
        // sqlx reads the file at each connection; a missing one is said here,
        // at start, rather than as every connection's failure.
        std::fs::metadata(path).map_err(|source| DbError::RootCert {
            path: path.clone(),
            source,
        })?;
        options = options.ssl_root_cert(path);
    }
    if let Some(password) = password {
        options = options.password(password.expose_secret());
    }
    if let Some(schema) = schema {
        check_identifier(schema)?;
        options = options.options([("search_path", schema)]);
    }
    Ok(options)
}

fn ssl_mode(mode: DbSslMode) -> PgSslMode {
    match mode {
        DbSslMode::Disable => PgSslMode::Disable,
        DbSslMode::Allow => PgSslMode::Allow,
        DbSslMode::Prefer => PgSslMode::Prefer,
        DbSslMode::Require => PgSslMode::Require,
        DbSslMode::VerifyCa => PgSslMode::VerifyCa,
        DbSslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

/// A pool that connects on first use, so a service starts (and reports
/// not-ready) while PostgreSQL is down.
pub fn lazy_pool(
    settings: &DatabaseSettings,
    password: Option<&SecretString>,
    schema: Option<&str>,
) -> Result<PgPool, DbError> {
    let options = connect_options(settings, password, schema)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.connect_timeout())
        .connect_lazy_with(options))
}

/// Opens `n` of the pool's connections now and returns them to it, so the
/// first requests find them ready (a lazy pool opens each on first use:
/// a TLS handshake and SCRAM authentication, milliseconds of CPU each,
/// all at once when a sale opens on a fresh task). A database that does
/// not answer is left to the requests and the readiness check.
pub async fn warm(pool: &PgPool, n: u32) {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..n {
        let pool = pool.clone();
        opening.spawn(async move { pool.acquire().await });
    }
    let mut open = Vec::new();
    while let Some(done) = opening.join_next().await {
        match done {
            Ok(Ok(connection)) => open.push(connection),
            Ok(Err(e)) => tracing::debug!(error = %e, "a pool connection was not opened ahead"),
            Err(e) => tracing::debug!(error = %e, "opening a pool connection ahead stopped"),
        }
    }
    tracing::debug!(opened = open.len(), "pool warmed");
}

/// Creates the schema if needed and applies the service's migrations, waiting
/// up to `wait` for PostgreSQL to come up.
pub async fn migrate(
    pool: &PgPool,
    settings: &DatabaseSettings,
    schema: &str,
    migrator: &Migrator,
    wait: Duration,
) -> Result<(), DbError> {
    check_identifier(schema)?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut delay = Duration::from_millis(100);
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => break,
            Err(source) if tokio::time::Instant::now() >= deadline => {
                return Err(DbError::Unreachable {
                    host: settings.host.clone(),
                    port: settings.port,
                    waited: wait,
                    source,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    // The identifier was checked above, so quoting it is enough.
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(pool)
        .await
        .map_err(|source| DbError::CreateSchema {
            schema: schema.to_owned(),
            source,
        })?;
    migrator
        .run(pool)
        .await
        .map_err(|source| DbError::Migrate {
            schema: schema.to_owned(),
            source,
        })?;
    Ok(())
}

/// A readiness probe: `SELECT 1` over the pool.
pub fn probe(name: impl Into<String>, pool: PgPool) -> Probe {
    Probe::new(name, move || {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| None)
                .map_err(|e| describe(&e))
        }
    })
}

fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "no connection within the acquire timeout".to_owned(),
        sqlx::Error::Io(io) => format!("connection failed: {io}"),
        other => other.to_string(),
    }
}

fn check_identifier(schema: &str) -> Result<(), DbError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(DbError::BadSchema(schema.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        assert!(check_identifier("user_service").is_ok());
        assert!(check_identifier("t_0a1b").is_ok());
        for bad in ["", "User", "a;drop", "1abc", "a\"b", &"x".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad} accepted");
        }
    }
}
