//! The driver of every change opsctl makes, a [`Procedure`] (or an
//! [`Operation`], a procedure of like changes): prints the plan (on stderr,
//! so stdout keeps the one document), records it, stops on an empty plan
//! or a dry run, confirms in prod, takes the change lock, runs the
//! procedure's steps on the runbook engine (the first failure stops the
//! rest and is recorded), and prints the result.

use std::process::ExitCode;

use crate::change::{Change, ExecuteArgs};
use crate::context::Context;
use crate::error::OpsError;
use crate::ops::operation::{Operation, Procedure, Stopped};
use crate::output::{self, OutputFormat};
use crate::runbook::Runbook;

/// Runs an observed operation through the change envelope: a procedure
/// that applies its changes in order ([`Changes`]).
pub async fn drive<O: Operation>(
    ctx: &Context,
    op: &O,
    execute: &ExecuteArgs,
) -> Result<ExitCode, OpsError> {
    run(ctx, &Changes(op), execute).await
}

/// An [`Operation`] as a [`Procedure`]: its changes applied one by one,
/// the first failure stopping the rest (the changes before it stand); a
/// `progress` entry for each change the operation reports.
struct Changes<'o, O>(&'o O);

/// What an operation's run prints: `{"changed": n}`, or its summary.
#[derive(serde::Serialize)]
struct Changed {
    changed: usize,
    #[serde(skip)]
    summary: String,
}

impl<O: Operation> Procedure for Changes<'_, O> {
    type Report = Changed;

    fn command(&self) -> &'static str {
        self.0.command()
    }

    fn doing(&self) -> String {
        self.0.doing()
    }

    fn plan(&self) -> serde_json::Value {
        serde_json::to_value(self.0.changes()).unwrap_or_default()
    }

    fn changes(&self) -> usize {
        self.0.changes().len()
    }

    fn render(&self) -> String {
        self.0.render()
    }

    async fn run(&self, book: &mut Runbook<'_>) -> Result<Changed, Stopped<Changed>> {
        let changes = self.0.changes();
        for (done, item) in changes.iter().enumerate() {
            if let Err(error) = self.0.apply(item).await {
                let detail =
                    serde_json::json!({"change": item, "error": error, "done_before": done});
                let error = OpsError::Failed(anyhow::anyhow!("{}", O::failure(item, &error)));
                return Err(Stopped::by(error, detail));
            }
            if let Some((detail, line)) = O::applied(item) {
                book.applying()
                    .progress(detail)
                    .map_err(|e| Stopped::by(e, serde_json::json!({"change": item})))?;
                eprintln!("{line}");
            }
        }
        Ok(Changed {
            changed: changes.len(),
            summary: self.0.summary(changes.len()),
        })
    }

    fn render_report(changed: &Changed) -> String {
        changed.summary.clone()
    }
}

/// Runs an observed procedure through the change envelope, its steps on
/// the runbook engine, and prints its report; exits with the problem code
/// when the report misses its aim.
pub async fn run<P: Procedure>(
    ctx: &Context,
    op: &P,
    execute: &ExecuteArgs,
) -> Result<ExitCode, OpsError> {
    Ok(match applied(ctx, op, execute).await? {
        Some(report) if P::failed(&report) || !P::met(&report) => {
            ExitCode::from(crate::error::EXIT_PROBLEM)
        }
        _ => ExitCode::SUCCESS,
    })
}

/// [`run`], handing back the report printed (none for a dry run or an
/// empty plan unless the procedure reports those too).
pub async fn applied<P: Procedure>(
    ctx: &Context,
    op: &P,
    execute: &ExecuteArgs,
) -> Result<Option<P::Report>, OpsError> {
    let document = op.plan_document();
    print_plan(ctx, op, document.as_ref(), execute.execute);
    if execute.execute {
        op.ready().await?;
    }
    let mut change = Change::new(ctx, op.command(), execute);
    if !op.takes_lock() {
        change = change.without_lock();
    }
    if op.prints_its_own_result() || document.is_some() {
        change = change.prints_its_own_result();
    }
    let Some(applying) = change.begin(&op.doing(), &op.plan(), op.changes())? else {
        let report = op.unchanged(op.changes() > 0);
        if let Some(report) = report.as_ref().filter(|_| op.prints_report()) {
            print_report(ctx, op, report);
        }
        return Ok(report);
    };
    let mut book = Runbook::new(&applying, op.label(), |step| op.resume(step))
        .resume_from(op.resume_from())
        .json(ctx.output == OutputFormat::Json);
    let result = op.run(&mut book).await;
    drop(book);
    match result {
        Ok(report) => {
            let detail = serde_json::to_value(&report).unwrap_or_default();
            match P::failed(&report) {
                true => applying.ended_with_failures(detail)?,
                false => applying.done(detail)?,
            }
            if op.prints_report() {
                print_report(ctx, op, &report);
            }
            if let Some(line) = op.after(&report) {
                eprintln!("{line}");
            }
            Ok(Some(report))
        }
        Err(stopped) => {
            let stopped = stopped.into_parts();
            if let Some(report) = stopped.report.as_ref().filter(|_| op.prints_report()) {
                print_report(ctx, op, report);
            }
            Err(applying.stopped(stopped.detail, stopped.error))
        }
    }
}

/// The report on stdout. A procedure whose plan is a document of its own
/// prints its progress as JSON lines, and its result as one line too (CI
/// logs and the ops task's log read line by line).
fn print_report<P: Procedure>(ctx: &Context, op: &P, report: &P::Report) {
    match (ctx.output, op.plan_document().is_some()) {
        (OutputFormat::Json, true) => match serde_json::to_string(report) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("error: output could not be encoded as JSON: {e}"),
        },
        _ => output::emit(ctx.output, report, || P::render_report(report)),
    }
}

/// The plan: on stderr for people; a plan that is a document of its own
/// goes to stdout (a dry run's one document with `--output json`, the
/// first progress line on stderr of a run that applies).
fn print_plan<P: Procedure>(
    ctx: &Context,
    op: &P,
    document: Option<&serde_json::Value>,
    execute: bool,
) {
    match (document, ctx.output) {
        (None, _) => eprint!("{}", op.render()),
        (Some(doc), OutputFormat::Json) if execute => eprintln!("{doc}"),
        (Some(doc), OutputFormat::Json) => println!("{doc}"),
        (Some(_), _) => print!("{}", op.render()),
    }
}
