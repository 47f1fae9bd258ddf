//! The lock while it is held: its lease renewed, released at the end.

use std::sync::mpsc;

use aws_sdk_dynamodb::Client;
use chrono::Utc;

use super::{n, s, LockTable, HEARTBEAT, LEASE};
use crate::audit::blocking;

impl LockTable {
    /// Moves the lease ahead, if `token` still holds the lock.
    async fn renew(&self, client: &Client, token: &str) -> Result<(), String> {
        let expires = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
        client
            .update_item()
            .table_name(&self.table)
            .key("environment", s(self.env))
            .update_expression("SET expires_at = :expires")
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":expires", n(expires.timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("DynamoDB UpdateItem: {}", crate::aws::sdk_error(&e)))
    }
}

/// The lock, held: renewed by a heartbeat thread, released when dropped.
pub struct HeldLock {
    table: LockTable,
    token: String,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

impl HeldLock {
    pub(super) fn new(table: LockTable, token: String) -> HeldLock {
        let (stop, stopped) = mpsc::channel::<()>();
        let beat_table = table.clone();
        let beat_token = token.clone();
        let heartbeat = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                let (table, token) = (beat_table.clone(), beat_token.clone());
                let renewed = blocking(async move {
                    let client = table.client().await;
                    table.renew(&client, &token).await
                });
                if let Err(e) | Ok(Err(e)) = renewed {
                    eprintln!(
                        "warning: the {} change lock could not be renewed ({e}); it expires {} minutes after the last renewal",
                        beat_table.env,
                        LEASE.as_secs() / 60
                    );
                }
            }
        });
        HeldLock {
            table,
            token,
            stop: Some(stop),
            heartbeat: Some(heartbeat),
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(beat) = self.heartbeat.take() {
            let _ = beat.join();
        }
        let (table, token) = (self.table.clone(), self.token.clone());
        let released = blocking(async move {
            let client = table.client().await;
            table
                .delete(&client, &token)
                .await
                .map_err(|e| crate::aws::sdk_error(&e))
        });
        if let Err(e) | Ok(Err(e)) = released {
            eprintln!(
                "warning: the {} change lock was not released ({e}); it frees itself by {} minutes from now, or: opsctl --env {} lock break --execute",
                self.table.env,
                LEASE.as_secs() / 60,
                self.table.env
            );
        }
    }
}
