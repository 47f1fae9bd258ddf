//! The organiser role on an account (user-service's `users.role`), read
//! and set through user-service's own repository functions.

use serde::Serialize;
use ticketing_catalog::ServiceName;
use user_service::repository::{organiser_status, set_organiser};

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::db::pool;
use crate::ops::operation::Operation;

/// A role change for one account: pure once read.
#[derive(Serialize, Debug)]
pub struct RolePlan {
    pub email: String,
    pub user: String,
    pub from: &'static str,
    pub to: &'static str,
    /// The account has the role already.
    #[serde(skip)]
    pub unchanged: bool,
}

pub fn role(organiser: bool) -> &'static str {
    if organiser {
        "organiser"
    } else {
        "customer"
    }
}

/// Reads the account with `email` and plans making it an organiser
/// (`grant`) or a customer.
pub async fn plan(ctx: &Environment, email: &str, grant: bool) -> Result<RolePlan, OpsError> {
    let db = pool(ctx, ServiceName::UserService)?;
    let found = organiser_status(&db, email).await.map_err(|e| {
        OpsError::Failed(anyhow::anyhow!(
            "reading the users table failed: {e}; check the database settings and TICKETING_DATABASE_PASSWORD"
        ))
    })?;
    db.close().await;
    let Some((user, organiser)) = found else {
        return Err(OpsError::usage(
            format!("no account has the address {email}"),
            "check the address; the person signs up first",
        ));
    };
    Ok(RolePlan {
        email: email.trim().to_lowercase(),
        user: user.to_string(),
        from: role(organiser),
        to: role(grant),
        unchanged: organiser == grant,
    })
}

/// Sets the role the plan names: whether a row changed.
pub async fn apply(ctx: &Environment, plan: &RolePlan) -> Result<bool, String> {
    let db = pool(ctx, ServiceName::UserService).map_err(|e| e.to_string())?;
    let changed = set_organiser(&db, &plan.email, plan.to == role(true))
        .await
        .map_err(|e| e.to_string());
    db.close().await;
    changed
}

/// A role change, with the environment to reach user-service's database.
pub struct RoleChange<'a> {
    pub env: &'a Environment,
    pub plan: RolePlan,
    pub command: &'static str,
}

impl Operation for RoleChange<'_> {
    type Change = RolePlan;
    fn command(&self) -> &'static str {
        self.command
    }

    fn doing(&self) -> String {
        format!("making {} {}", self.plan.email, self.plan.to)
    }

    fn changes(&self) -> Vec<&RolePlan> {
        if self.plan.unchanged {
            Vec::new()
        } else {
            vec![&self.plan]
        }
    }

    fn render(&self) -> String {
        let p = &self.plan;
        let note = if p.unchanged {
            " (already)"
        } else {
            "; takes effect at the account's next login"
        };
        format!("{} ({}): {} -> {}{note}\n", p.email, p.user, p.from, p.to)
    }

    async fn apply(&self, plan: &RolePlan) -> Result<(), String> {
        apply(self.env, plan).await.map(|_| ())
    }

    fn failure(plan: &RolePlan, error: &str) -> String {
        format!("changing the role of {} failed: {error}", plan.email)
    }

    fn summary(&self, _done: usize) -> String {
        format!("{} is now {}\n", self.plan.email, self.plan.to)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn roles_are_named_for_people() {
        assert_eq!(super::role(true), "organiser");
        assert_eq!(super::role(false), "customer");
    }
}
