//! The change lock of an environment: in `dev` and `prod` one change at a
//! time, whoever makes it (an engineer, another engineer, the pipeline).
//!
//! The lock is one item, keyed by the environment, in the environment's
//! DynamoDB table (`ticketing_catalog::aws::change_lock_table`, made on
//! first use). Taking it is one `PutItem` with the condition
//! `attribute_not_exists(environment) OR expires_at < :now`. DynamoDB
//! evaluates a condition and writes in one atomic step: "If the condition
//! expression evaluates to true, the operation succeeds; otherwise, the
//! operation fails" ("Condition expressions", Amazon DynamoDB Developer
//! Guide, Expressions.ConditionExpressions.html), and "individual write
//! operations ... are atomic and always operate on the most recent version
//! of the item, regardless of concurrency" ("Best practices for handling
//! concurrent updates", BestPractices_ImplementingVersionControl.html). So
//! of two callers racing, exactly one write lands; the other gets
//! `ConditionalCheckFailedException` and is told who holds the lock (read
//! with `ConsistentRead`, since a default `GetItem` is eventually
//! consistent: "Working with items", WorkingWithItems.html).
//!
//! The holder keeps the lock alive: a heartbeat moves `expires_at`
//! [`LEASE`] ahead every [`HEARTBEAT`], conditioned on its own token, so a
//! run killed mid-change frees the environment one lease later, and a lock
//! someone broke is never renewed by its old holder. Release is a
//! `DeleteItem` conditioned on the same token.

use std::collections::HashMap;
use std::time::Duration;

mod held;
mod table;
pub use held::HeldLock;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;
use ticketing_config::Profile;

use crate::audit::blocking;
use crate::environment::Environment;

/// How long a lock lives without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(15 * 60);
/// How often the holder renews it.
pub const HEARTBEAT: Duration = Duration::from_secs(60);
/// How often a caller that waits (`--lock-wait`) asks again.
const RETRY: Duration = Duration::from_secs(2);

/// Who holds an environment's lock, and for what.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Holder {
    /// The holder's AWS identity (an ARN).
    pub owner: String,
    /// The holder's local user name.
    pub user: String,
    /// The opsctl command holding it (`"deploy"`).
    pub command: String,
    pub started: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// Whether its lease ran out (the holder stopped without releasing).
    pub stale: bool,
    #[serde(skip)]
    token: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) running `{}` since {}",
            self.owner,
            self.user,
            self.command,
            self.started.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the {env} change lock is held by {holder}")]
    Held { env: String, holder: Box<Holder> },
    #[error("DynamoDB {operation} on {table}: {message}")]
    Aws {
        operation: &'static str,
        table: String,
        message: String,
    },
}

/// One environment's lock table.
#[derive(Clone, Debug)]
pub struct LockTable {
    env: &'static str,
    table: String,
    region: String,
    endpoint: Option<String>,
    credentials: Option<aws_credential_types::Credentials>,
}

impl LockTable {
    /// The environment's lock; `None` for `local` (one machine, no team).
    pub fn of(ctx: &Environment) -> Option<LockTable> {
        let env = match ctx.profile {
            Profile::Dev => "dev",
            Profile::Prod => "prod",
            _ => return None,
        };
        Some(LockTable {
            env,
            table: ticketing_catalog::aws::change_lock_table(env),
            region: ctx.region.clone(),
            endpoint: crate::aws::endpoint(ctx),
            credentials: ctx.credentials.clone(),
        })
    }

    pub fn env(&self) -> &str {
        self.env
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) async fn client(&self) -> Client {
        Client::new(
            &crate::aws::config_loader(
                self.endpoint.as_deref(),
                &self.region,
                self.credentials.as_ref(),
            )
            .load()
            .await,
        )
    }

    pub(crate) fn aws(&self, operation: &'static str, message: String) -> LockError {
        LockError::Aws {
            operation,
            table: self.table.clone(),
            message,
        }
    }

    /// Takes the lock for `command`, asking again every few seconds for up
    /// to `wait` while another holds it (`on_wait` hears of the holder
    /// once). The lock is released when the returned value is dropped.
    pub fn acquire(
        &self,
        owner: &str,
        user: &str,
        command: &str,
        wait: Duration,
        on_wait: impl Fn(&Holder),
    ) -> Result<HeldLock, LockError> {
        let token = uuid::Uuid::now_v7().to_string();
        let give_up = std::time::Instant::now() + wait;
        let mut told = false;
        loop {
            let this = self.clone();
            let attempt = blocking(async {
                let client = this.client().await;
                this.try_put(&client, owner, user, command, &token).await
            })
            .map_err(|e| self.aws("PutItem", e))?;
            match attempt {
                Ok(()) => return Ok(HeldLock::new(self.clone(), token)),
                Err(LockError::Held { holder, .. }) if std::time::Instant::now() < give_up => {
                    if !told {
                        on_wait(&holder);
                        told = true;
                    }
                    std::thread::sleep(RETRY);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_put(
        &self,
        client: &Client,
        owner: &str,
        user: &str,
        command: &str,
        token: &str,
    ) -> Result<(), LockError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let put = || {
            client
                .put_item()
                .table_name(&self.table)
                .item("environment", s(self.env))
                .item("owner", s(owner))
                .item("user", s(user))
                .item("command", s(command))
                .item("started", s(&now.to_rfc3339()))
                .item("expires_at", n(expires.timestamp()))
                .item("token", s(token))
                .condition_expression("attribute_not_exists(environment) OR expires_at < :now")
                .expression_attribute_values(":now", n(now.timestamp()))
                .send()
        };
        let mut made = false;
        loop {
            match put().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let service = e.as_service_error();
                    if service.is_some_and(|s| s.is_conditional_check_failed_exception()) {
                        return match self.read(client).await? {
                            Some(holder) => Err(LockError::Held {
                                env: self.env.to_owned(),
                                holder: Box::new(holder),
                            }),
                            // Released between the two calls: ask again.
                            None => {
                                Box::pin(self.try_put(client, owner, user, command, token)).await
                            }
                        };
                    }
                    if service.is_some_and(|s| s.is_resource_not_found_exception()) && !made {
                        self.make_table(client).await?;
                        made = true;
                        continue;
                    }
                    return Err(self.aws("PutItem", crate::aws::sdk_error(&e)));
                }
            }
        }
    }

    async fn read(&self, client: &Client) -> Result<Option<Holder>, LockError> {
        let got = client
            .get_item()
            .table_name(&self.table)
            .key("environment", s(self.env))
            .consistent_read(true)
            .send()
            .await;
        match got {
            Ok(out) => Ok(out.item().map(holder_of)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.aws("GetItem", crate::aws::sdk_error(&e))),
        }
    }

    /// Who holds the lock now, if anyone (a stale holder too, marked so).
    pub fn status(&self) -> Result<Option<Holder>, LockError> {
        let this = self.clone();
        blocking(async move { this.read(&this.client().await).await })
            .map_err(|e| self.aws("GetItem", e))?
    }

    /// Removes the lock whoever holds it, but only the holder `seen` (so a
    /// lock taken again since it was looked at is left alone). `Ok(false)`
    /// when the lock had changed hands or was gone.
    pub fn break_lock(&self, seen: &Holder) -> Result<bool, LockError> {
        let this = self.clone();
        let token = seen.token.clone();
        blocking(async move {
            let client = this.client().await;
            match this.delete(&client, &token).await {
                Ok(()) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(this.aws("DeleteItem", crate::aws::sdk_error(&e))),
            }
        })
        .map_err(|e| self.aws("DeleteItem", e))?
    }

    pub(crate) async fn delete(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<
        (),
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
        >,
    > {
        client
            .delete_item()
            .table_name(&self.table)
            .key("environment", s(self.env))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await
            .map(|_| ())
    }
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn holder_of(item: &HashMap<String, AttributeValue>) -> Holder {
    let text = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let expires = item
        .get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .unwrap_or_default();
    Holder {
        owner: text("owner"),
        user: text("user"),
        command: text("command"),
        started: DateTime::parse_from_rfc3339(&text("started"))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default(),
        stale: expires < Utc::now(),
        expires,
        token: text("token"),
    }
}
