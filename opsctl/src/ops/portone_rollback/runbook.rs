//! `portone rollback` and `portone switch-back` as [`Procedure`]s: their
//! steps in order on the runbook engine, the first failure stopping the
//! rest; the report (`report.rs`) printed also when a step failed.

use std::time::Duration;

use ticketing_catalog::ecs as on_ecs;
use ticketing_catalog::portone as names;

use super::report::{render, Report};
use super::{observe, Request, Target};
use crate::environment::Environment;
use crate::error::OpsError;
use crate::ops::ecs::{describe, redeploy, tag, wait_stable};
use crate::ops::guard;
use crate::ops::notices::{end_template, post_template};
use crate::ops::operation::{Procedure, Stopped};
use crate::ops::payments::FailureRate;
use crate::ops::portone::{payment_service, put_secret, read_keys, save_live_keys, PaymentService};
use crate::runbook::Runbook;

/// What to do after a step of a rollback or switch-back failed.
fn after_failure() -> String {
    "the steps before it stand (see the audit log)".to_owned()
}

/// A planned rollback of the payment service, or the switch back.
pub struct PaymentRunbook<'a> {
    env: &'a Environment,
    report: Report,
    notify_customers: bool,
    timeout: Duration,
    kind: Kind,
}

/// Which of the two, and what each found before anything changes.
enum Kind {
    Rollback {
        target: Target,
        guard_sales: bool,
        /// Why the failure rate is not in the plan, if it is not.
        rate_warning: Option<String>,
    },
    SwitchBack {
        service: PaymentService,
        live_keys: String,
        running: String,
    },
}

/// How a rollback runs (from `portone rollback`'s flags).
pub struct RollbackOptions {
    pub request: Request,
    pub notify_customers: bool,
    pub timeout: Duration,
    /// The window, in minutes, of the failure rate the plan shows.
    pub rate_window: u32,
}

impl<'a> PaymentRunbook<'a> {
    /// Finds the revision to restore (and the test keys, when asked)
    /// before anything changes.
    pub async fn rollback(
        env: &'a Environment,
        o: RollbackOptions,
    ) -> Result<PaymentRunbook<'a>, OpsError> {
        let target = observe(env, &o.request).await?;
        let rate = measured_rate(env, o.rate_window).await;
        let report = Report {
            skipped: target.choice.skipped.clone(),
            test_keys: o.request.test_keys,
            failure_rate: rate.as_ref().ok().cloned(),
            ..Report::before(
                target.env,
                target.host.name(),
                &target.cluster,
                &target.from,
                &target.choice.target.arn,
            )
        };
        Ok(PaymentRunbook {
            env,
            report,
            notify_customers: o.notify_customers,
            timeout: o.timeout,
            kind: Kind::Rollback {
                target,
                guard_sales: o.request.guard_sales,
                rate_warning: rate.err(),
            },
        })
    }

    /// The rollback's steps, in order, stopping at the first that fails.
    async fn rollback_steps(&self, book: &mut Runbook<'_>, t: &Target) -> Result<(), OpsError> {
        if self.notify_customers {
            book.step("tell customers", async {
                post_template(self.env, &ticketing_catalog::notices::PAYMENT_PAUSED)
                    .await
                    .map(|n| format!("notice {} posted (payment-paused)", n.id))
            })
            .await?;
        }
        book.step("mark the running revision failed", async {
            tag(&t.ecs, &t.from, on_ecs::ROLLOUT_FAILED)
                .await
                .map(|()| {
                    format!(
                        "{} tagged FAILED",
                        t.from.rsplit('/').next().unwrap_or(&t.from)
                    )
                })
        })
        .await?;
        if let Some(test) = &t.test_keys {
            let main = names::secret_name(t.env);
            let live = names::live_keys_secret_name(t.env);
            book.step("save the live keys", save_live_keys(&t.sm, &main, &live))
                .await?;
            book.step("switch to the test keys", async {
                put_secret(&t.sm, &main, test)
                    .await
                    .map(|()| format!("{main} now holds the test keys"))
            })
            .await?;
        }
        let to = &t.choice.target;
        book.step("update the service", async {
            redeploy(&t.ecs, &t.cluster, t.host.name(), Some(&to.arn))
                .await
                .map(|()| format!("forced a new deployment of revision {}", to.revision))
        })
        .await?;
        book.step(
            "wait until stable",
            wait_stable(
                &t.ecs,
                &t.cluster,
                t.host.name(),
                &to.arn,
                self.timeout,
                |_| {},
            ),
        )
        .await?;
        book.step("record the revision as good", async {
            tag(&t.ecs, &to.arn, on_ecs::ROLLOUT_COMPLETED)
                .await
                .map(|()| "tagged COMPLETED".to_owned())
        })
        .await
    }
}

/// Measured, not assumed: the rate the alarm computes, next to the
/// runbook's trigger; or the warning that it could not be read. An
/// emergency rollback does not wait on it.
async fn measured_rate(env: &Environment, window: u32) -> Result<FailureRate, String> {
    crate::ops::payments::failure_rate_of(env, window)
        .await
        .map_err(|e| format!("warning: the payment failure rate could not be read ({e}); the rollback does not depend on it"))
}

/// Ends a run: its report (steps and guard filled in), or the report with
/// the failure.
fn ended(
    mut report: Report,
    book: &Runbook<'_>,
    result: Result<(), OpsError>,
) -> Result<Report, Stopped<Report>> {
    report.executed = true;
    report.steps = book.log().to_vec();
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(Stopped::with_report(error, report)),
    }
}

impl<'a> PaymentRunbook<'a> {
    /// Reads the saved live keys and the running revision before anything
    /// changes.
    pub async fn switch_back(
        env: &'a Environment,
        notify_customers: bool,
        timeout: Duration,
    ) -> Result<PaymentRunbook<'a>, OpsError> {
        let service = payment_service(env).await?;
        let live = names::live_keys_secret_name(service.env);
        let live_keys = read_keys(&service.sm, &live, "production").await?;
        let described = describe(&service.ecs, &service.cluster, service.host.name()).await?;
        let running = described.task_definition().unwrap_or_default().to_owned();
        let report = Report::before(
            service.env,
            service.host.name(),
            &service.cluster,
            &running,
            &running,
        );
        Ok(PaymentRunbook {
            env,
            report,
            notify_customers,
            timeout,
            kind: Kind::SwitchBack {
                service,
                live_keys,
                running,
            },
        })
    }

    /// The switch back's steps, in order, stopping at the first that fails.
    async fn switch_back_steps(
        &self,
        book: &mut Runbook<'_>,
        service: &PaymentService,
        live_keys: &str,
        running: &str,
    ) -> Result<(), OpsError> {
        let PaymentService {
            ecs,
            sm,
            cluster,
            host,
            env,
        } = service;
        let main = names::secret_name(env);
        book.step("put the live keys back", async {
            put_secret(sm, &main, live_keys)
                .await
                .map(|()| format!("{main} holds the live keys"))
        })
        .await?;
        book.step("restart the tasks", async {
            redeploy(ecs, cluster, host.name(), None)
                .await
                .map(|()| "forced a new deployment".to_owned())
        })
        .await?;
        book.step(
            "wait until stable",
            wait_stable(ecs, cluster, host.name(), running, self.timeout, |_| {}),
        )
        .await?;
        if self.notify_customers {
            book.step("end the customer notice", async {
                end_template(self.env, &ticketing_catalog::notices::PAYMENT_PAUSED)
                    .await
                    .map(|ended| format!("{} payment-paused notice(s) ended", ended.len()))
            })
            .await?;
        }
        Ok(())
    }
}

impl Procedure for PaymentRunbook<'_> {
    type Report = Report;

    fn command(&self) -> &'static str {
        match self.kind {
            Kind::Rollback { .. } => "portone rollback",
            Kind::SwitchBack { .. } => "portone switch-back",
        }
    }

    fn doing(&self) -> String {
        match self.kind {
            Kind::Rollback { .. } => "rolling back the payment service".into(),
            Kind::SwitchBack { .. } => "switching PortOne back to live keys".into(),
        }
    }

    fn plan(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Rollback { .. } => serde_json::to_value(&self.report).unwrap_or_default(),
            Kind::SwitchBack { service, .. } => serde_json::json!({
                "secret": names::secret_name(service.env),
                "from": names::live_keys_secret_name(service.env),
            }),
        }
    }

    fn changes(&self) -> usize {
        1
    }

    fn render(&self) -> String {
        match &self.kind {
            Kind::Rollback {
                guard_sales,
                rate_warning,
                ..
            } => self.render_rollback(*guard_sales, rate_warning.as_deref()),
            Kind::SwitchBack { service, .. } => self.render_switch_back(service),
        }
    }

    fn label(&self) -> &'static str {
        match self.kind {
            Kind::Rollback { .. } => "rollback",
            Kind::SwitchBack { .. } => "switch-back",
        }
    }

    fn resume(&self, _step: &str) -> String {
        after_failure()
    }

    fn prints_its_own_result(&self) -> bool {
        true
    }

    fn unchanged(&self, _dry_run: bool) -> Option<Report> {
        Some(self.report.clone())
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Report, Stopped<Report>> {
        let mut report = self.report.clone();
        let result = match &self.kind {
            Kind::Rollback {
                target,
                guard_sales,
                ..
            } => {
                let budget = self.timeout + Duration::from_secs(600);
                let guard = guard::begin_for(self.env, *guard_sales, budget, book.applying())
                    .await
                    .map_err(|e| Stopped::by(e, serde_json::json!({"step": "guard sales"})))?;
                let result = self.rollback_steps(book, target).await;
                report.guard = guard::end(guard).await;
                result
            }
            Kind::SwitchBack {
                service,
                live_keys,
                running,
            } => {
                self.switch_back_steps(book, service, live_keys, running)
                    .await
            }
        };
        ended(report, book, result)
    }

    /// A run that was not executed printed its plan (the same report) on
    /// stderr already.
    fn render_report(report: &Report) -> String {
        match report.executed {
            true => render(report),
            false => String::new(),
        }
    }

    fn after(&self, report: &Report) -> Option<String> {
        report.test_keys.then(|| format!(
            "payments now run on PortOne's test keys; once fixed, switch back: opsctl --env {} portone switch-back --execute",
            report.env
        ))
    }
}

impl PaymentRunbook<'_> {
    fn render_rollback(&self, guard_sales: bool, rate_warning: Option<&str>) -> String {
        let mut out = rate_warning.map(|w| format!("{w}\n")).unwrap_or_default();
        out.push_str(&render(&self.report));
        if guard_sales {
            out.push_str("first, sales are guarded: admission paused, open holds kept open (extended by the outage's length at the end)\n");
        }
        if self.notify_customers {
            out.push_str(&format!(
                "first, customers are told: the {} notice (`opsctl notice post`)\n",
                ticketing_catalog::notices::PAYMENT_PAUSED.name
            ));
        }
        out
    }

    fn render_switch_back(&self, service: &PaymentService) -> String {
        let env = service.env;
        format!(
            "{} <- the live keys saved in {}; restart {} on {}{}\n",
            names::secret_name(env),
            names::live_keys_secret_name(env),
            service.host.name(),
            service.cluster,
            if self.notify_customers {
                "; then end the payment-paused notice to customers"
            } else {
                ""
            }
        )
    }
}
