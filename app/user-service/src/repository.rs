//! The `users` table: every query on it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// An account as its owner sees it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A verified person's new account.
pub(crate) struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub name: Option<&'a str>,
    /// Keyed hashes of the person's CI and DI (never the values).
    pub identity_hash: &'a str,
    pub di_hash: Option<&'a str>,
}

/// Writes the account; when it was created. A taken email or a person who
/// already has an account fails a unique constraint ([`unique_violation`]).
pub(crate) async fn insert_user(
    db: &PgPool,
    user: &NewUser<'_>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, identity_hash, di_hash) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.name)
    .bind(user.identity_hash)
    .bind(user.di_hash)
    .fetch_one(db)
    .await
}

/// The constraint a unique violation names, if `e` is one.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// The id, password hash and role of the account with `email`.
pub(crate) async fn credentials(
    db: &PgPool,
    email: &str,
) -> Result<Option<(Uuid, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The role column's value for organisers.
pub const ORGANISER: &str = "organiser";

/// The account with `email` and whether it is an organiser; None when no
/// account has that address. (`opsctl users` plans with it.)
pub async fn organiser_status(
    db: &PgPool,
    email: &str,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    let row: Option<(Uuid, Option<String>)> =
        sqlx::query_as("SELECT id, role FROM users WHERE email = $1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(id, role)| (id, role.as_deref() == Some(ORGANISER))))
}

/// Makes the account with `email` an organiser (`on`) or a customer again;
/// true when a row changed. Takes effect at its next login.
pub async fn set_organiser(db: &PgPool, email: &str, on: bool) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE users SET role = $2 WHERE email = $1 AND role IS DISTINCT FROM $2")
            .bind(email.trim().to_lowercase())
            .bind(on.then_some(ORGANISER))
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Account `id`.
pub(crate) async fn account(db: &PgPool, id: Uuid) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, name, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
