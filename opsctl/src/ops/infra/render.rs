//! How `infra plan` and `infra deploy` show their plans: a table for
//! people, Markdown for a pull request's comment.

use crate::ops::infra::StackPlan;

pub fn render(plans: &[StackPlan]) -> String {
    let mut rows = Vec::new();
    for p in plans {
        if p.changes.is_empty() {
            rows.push(vec![
                p.stack.clone(),
                "no changes".into(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for c in &p.changes {
            rows.push(vec![
                p.stack.clone(),
                c.action.clone(),
                c.logical_id.clone(),
                c.resource_type.clone(),
                c.replacement.clone(),
            ]);
        }
    }
    let mut out = crate::table::table(
        &["STACK", "ACTION", "RESOURCE", "TYPE", "REPLACEMENT"],
        &rows,
    );
    for line in notes(plans) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What a plan says beside its changes: services a change would move back,
/// parameters kept from the stack.
fn notes(plans: &[StackPlan]) -> Vec<String> {
    let mut out = Vec::new();
    for p in plans {
        for d in &p.drift {
            out.push(format!(
                "{}: {} runs {}, the stack made {}: {}",
                p.stack,
                d.service,
                d.running,
                d.stack,
                if d.undone_by_this_change {
                    "THIS CHANGE MOVES IT BACK to the stack's revision (give --param ImageUri=<the image it runs> to keep it)"
                } else {
                    "this change leaves it running (a later change to its task definition would move it back)"
                }
            ));
        }
    }
    for p in plans.iter().filter(|p| !p.kept.is_empty()) {
        out.push(format!(
            "{}: kept from the stack (not given): {}",
            p.stack,
            p.kept.join(", ")
        ));
    }
    for p in plans {
        out.extend(p.notes.iter().map(|n| format!("{}: {n}", p.stack)));
    }
    out
}

/// The plan as a pull-request comment: a table per stack, replacements in
/// bold (a replaced resource is a new one: new address, new data).
pub fn markdown(plans: &[StackPlan], env: &str) -> String {
    let mut out = format!("### Infrastructure (`opsctl --env {env} infra plan`)\n\n");
    for p in plans {
        let verb = if p.exists { "update" } else { "create" };
        if p.changes.is_empty() {
            out.push_str(&format!("**{}**: no changes\n\n", p.stack));
            continue;
        }
        let replaced = p.changes.iter().filter(|c| c.replacement == "True").count();
        out.push_str(&format!(
            "**{}** ({verb}): {} change(s){}\n\n",
            p.stack,
            p.changes.len(),
            if replaced > 0 {
                format!(", **{replaced} replacement(s)**")
            } else {
                String::new()
            }
        ));
        let rows: Vec<Vec<String>> = p
            .changes
            .iter()
            .map(|c| {
                vec![
                    c.action.clone(),
                    format!("`{}`", c.logical_id),
                    c.resource_type.clone(),
                    match c.replacement.as_str() {
                        "True" => "**replaced**".to_owned(),
                        "Conditional" => "maybe replaced".to_owned(),
                        "" | "False" => String::new(),
                        other => other.to_owned(),
                    },
                ]
            })
            .collect();
        out.push_str(&crate::table::markdown_table(
            &["action", "resource", "type", "replacement"],
            &[],
            &rows,
        ));
        out.push('\n');
    }
    for line in notes(plans) {
        out.push_str(&format!("- {line}\n"));
    }
    out
}
