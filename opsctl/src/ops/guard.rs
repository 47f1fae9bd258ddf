//! `--guard-sales` for the runbooks of an outage of ours (`kafka dr`,
//! `portone rollback`): customers must not lose what the outage keeps them
//! from finishing. Before the first step the waiting rooms stop admitting
//! (every performance: the saga or the payments of all of them are down)
//! and every open hold is pushed out by the runbook's whole time budget,
//! so none expires while the runbook runs; at the end, whether the steps
//! succeeded or not, each hold still open ends at its original end plus
//! the outage's length (the time the guard was up) and admission resumes
//! (unless it was paused before the guard). A run that dies in between
//! leaves the holds at the budget's end and admission paused: safe for
//! customers, and the audit log says what to undo.

use std::time::Duration;

use chrono::{DateTime, Utc};
use queue_service::controls::Scope;
use reservation_service::holds::{self, OpenHold};
use serde::Serialize;
use sqlx::PgPool;
use ticketing_catalog::ServiceName;
use ticketing_redis::Redis;

use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::queue::{plan, Action, Rooms};

/// A guard that is up: what to put back at its end.
pub struct SalesGuard {
    started: DateTime<Utc>,
    rooms: Rooms,
    was_paused: bool,
    db: PgPool,
    redis: Redis,
    holds: Vec<OpenHold>,
    /// The command that resumes admission, for a report that could not.
    resume: String,
}

/// What a guard did, for the runbook's report.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct GuardReport {
    /// How long admission was paused (the outage's length as guarded).
    pub paused_seconds: f64,
    pub admission_resumed: bool,
    /// Open holds found at the start, and those moved at the end (the rest
    /// were paid or cancelled meanwhile).
    pub holds_open: usize,
    pub holds_extended: usize,
    pub extended_by_seconds: i64,
    /// What could not be done (the report says it; the runbook's own
    /// outcome stands).
    pub problems: Vec<String>,
}

impl GuardReport {
    /// One line on what the guard did (and what it could not).
    pub fn summary(&self) -> String {
        let mut line = format!(
            "sales guarded for {:.1} s: {} of {} open hold(s) extended by {} s; admission {}",
            self.paused_seconds,
            self.holds_extended,
            self.holds_open,
            self.extended_by_seconds,
            if self.admission_resumed {
                "resumed"
            } else {
                "NOT resumed"
            }
        );
        for p in &self.problems {
            line.push_str(&format!("\n  {p}"));
        }
        line
    }
}

fn data_plane(ctx: &Environment, what: &str, e: impl std::fmt::Display) -> OpsError {
    OpsError::Failed(anyhow::anyhow!(
        "--guard-sales could not {what}: {e}; the guard was taken down again and the runbook did not start. Without the guard, pause by hand: {}",
        ctx.command_line(&["queue", "pause", "--all", "--execute"])
    ))
}

/// Whether this run can guard sales: the waiting rooms and the holds are
/// in the data plane, which in dev and prod only the VPC reaches. Checked
/// when the plan is made, before anything changes.
pub fn check(ctx: &Environment) -> Result<(), OpsError> {
    if ctx.profile != ticketing_config::Profile::Local && !crate::ops::ops_task::inside_vpc() {
        return Err(OpsError::usage(
            "--guard-sales changes the waiting rooms and the holds, which only the VPC reaches",
            format!(
                "run the runbook from inside the VPC, or guard by hand first: {} (it runs in the ops task)",
                ctx.command_line(&["queue", "pause", "--all", "--execute"])
            ),
        ));
    }
    Ok(())
}

/// `--guard-sales` for a change being applied: the guard begun (for
/// `budget`), or `None` when not asked for. A guard that cannot begin
/// fails the change.
pub async fn begin_for(
    ctx: &Environment,
    wanted: bool,
    budget: Duration,
    applying: &crate::change::Applying,
) -> Result<Option<SalesGuard>, OpsError> {
    if !wanted {
        return Ok(None);
    }
    match begin(ctx, budget).await {
        Ok(g) => Ok(Some(g)),
        Err(e) => Err(applying.failed(serde_json::json!({"guard": e.to_string()}), e)),
    }
}

/// Ends the guard, if there is one: what it did.
pub async fn end(guard: Option<SalesGuard>) -> Option<GuardReport> {
    match guard {
        Some(g) => Some(g.end().await),
        None => None,
    }
}

/// Puts the guard up: pauses admission everywhere and pushes every open
/// hold's end out by `budget`.
pub async fn begin(ctx: &Environment, budget: Duration) -> Result<SalesGuard, OpsError> {
    check(ctx)?;
    let rooms = Rooms::connect(ctx)?;
    let before = rooms.observe(Scope::All).await?;
    let pause = plan(Scope::All, before, Action::Pause);
    rooms.apply(&pause).await?;
    // From here on the guard is up: a failure takes it down again (the
    // holds moved so far back to their ends, admission resumed) before
    // the error is returned, so nothing is left half-guarded.
    let redis = match Redis::new(&ctx.settings.redis) {
        Ok(r) => r,
        Err(e) => {
            let _ = rooms
                .apply(&plan(Scope::All, pause.after, Action::Resume))
                .await;
            return Err(data_plane(ctx, "reach Redis", e));
        }
    };
    let db = crate::ops::db::pool(ctx, ServiceName::ReservationService)?;
    let mut guard = SalesGuard {
        started: Utc::now(),
        rooms,
        was_paused: before.paused,
        db,
        redis,
        holds: Vec::new(),
        resume: ctx.command_line(&["queue", "resume", "--all", "--execute"]),
    };
    let open = match holds::open(&guard.db, guard.started).await {
        Ok(open) => open,
        Err(e) => {
            guard.end().await;
            return Err(data_plane(ctx, "read the open holds", e));
        }
    };
    let budget = chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::hours(1));
    for hold in open {
        if let Err(e) =
            holds::move_end(&guard.db, &guard.redis, &hold, hold.expires_at + budget).await
        {
            guard.end().await;
            return Err(data_plane(ctx, "extend the open holds", e));
        }
        guard.holds.push(hold);
    }
    Ok(guard)
}

impl SalesGuard {
    /// Takes the guard down: each hold still open ends its outage's length
    /// after its original end; admission resumes. Never fails: what it
    /// could not do is in the report.
    pub async fn end(self) -> GuardReport {
        let outage = Utc::now() - self.started;
        let mut report = GuardReport {
            paused_seconds: outage.num_milliseconds() as f64 / 1000.0,
            holds_open: self.holds.len(),
            extended_by_seconds: outage.num_seconds(),
            ..GuardReport::default()
        };
        for hold in &self.holds {
            match holds::move_end(&self.db, &self.redis, hold, hold.expires_at + outage).await {
                Ok(true) => report.holds_extended += 1,
                Ok(false) => {}
                Err(e) => report
                    .problems
                    .push(format!("hold {} keeps its guard-time end: {e}", hold.id)),
            }
        }
        if self.was_paused {
            report
                .problems
                .push("admission was paused before the guard and stays paused".into());
        } else {
            let resume = async {
                let now = self.rooms.observe(Scope::All).await?;
                self.rooms
                    .apply(&plan(Scope::All, now, Action::Resume))
                    .await
            };
            match resume.await {
                Ok(()) => report.admission_resumed = true,
                Err(e) => report.problems.push(format!(
                    "admission is still paused ({e}); resume it: {}",
                    self.resume
                )),
            }
        }
        self.db.close().await;
        report
    }
}
