//! verify-full against a real PostgreSQL speaking TLS: the local stack's
//! server has a certificate for its configured host, signed by the stack's
//! own CA (infra/local/stack.sh, `make_pg_tls`). Needs the stack running.
//!
//! What the dev and prod profiles do against RDS (verify-full with the RDS
//! bundle) is what these cases do against the stack: the right CA and name
//! connect over TLS; another CA (the RDS bundle itself), another name, or a
//! missing CA file do not.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection};
use ticketing_config::{DatabaseSettings, DbSslMode, Profile, RDS_CA_BUNDLE_PATH};
use ticketing_db::{connect_options, DbError};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn local() -> (DatabaseSettings, PathBuf) {
    let settings = ticketing_config::load(Profile::Local).expect("local settings load");
    let ca = settings
        .stack
        .expect("the local profile has a [stack] section")
        .postgres_ca();
    assert!(
        ca.is_file(),
        "{} is missing: start the stack with infra/local/stack.sh start (it makes the CA)",
        ca.display()
    );
    (settings.database, ca)
}

fn with(
    mut db: DatabaseSettings,
    mode: DbSslMode,
    root: PathBuf,
    host: Option<&str>,
) -> DatabaseSettings {
    db.ssl_mode = mode;
    db.ssl_root_cert = Some(root);
    if let Some(host) = host {
        db.host = host.to_owned();
    }
    db
}

async fn connect(db: &DatabaseSettings) -> Result<PgConnection, String> {
    let options = connect_options(db, None, None).map_err(|e| e.to_string())?;
    PgConnection::connect_with(&options)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn verify_full_connects_over_tls_only_to_the_name_the_trusted_ca_signed() {
    let (db, ca) = local();

    // The stack's CA and its configured host: a TLS session.
    let good = with(db.clone(), DbSslMode::VerifyFull, ca.clone(), None);
    let mut conn = connect(&good)
        .await
        .unwrap_or_else(|e| panic!("verify-full with the stack's CA: {e}"));
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl");
    assert!(tls, "the verified connection is not TLS");
    let _ = conn.close().await;

    // RDS's CAs (the image's bundle) did not sign the stack's certificate.
    let rds = with(
        db.clone(),
        DbSslMode::VerifyFull,
        repo().join("infra/image/rds-ca-bundle.pem"),
        None,
    );
    let err = connect(&rds)
        .await
        .expect_err("a certificate no trusted CA signed must be refused");
    assert!(err.contains("invalid peer certificate"), "{err}");

    // The same server reached by a name its certificate does not carry.
    let other_name = with(db, DbSslMode::VerifyFull, ca, Some("localhost"));
    let err = connect(&other_name)
        .await
        .expect_err("a name the certificate does not carry must be refused");
    assert!(err.contains("not valid for name"), "{err}");
}

#[test]
fn a_missing_ca_file_is_said_before_any_connection() {
    let (db, _) = local();
    let missing = PathBuf::from("/nonexistent/rds-ca-bundle.pem");
    let db = with(db, DbSslMode::VerifyFull, missing.clone(), None);
    match connect_options(&db, None, None) {
        Err(DbError::RootCert { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected RootCert, got {other:?}"),
    }
    // Outside the image the bundle's path does not exist either; the error
    // names the setting to change.
    let err = DbError::RootCert {
        path: RDS_CA_BUNDLE_PATH.into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    };
    assert!(err
        .to_string()
        .contains("TICKETING__DATABASE__SSL_ROOT_CERT"));
}
