//! `/policy check [--on code|plan|live] [--format table|json|sarif|junit]`, and the policy
//! gate of `/plan` (violations a change would introduce) and `/apply` (refused while an
//! error-level rule fails on a guest the plan changes, unless `--override-policy RULE`, which
//! is recorded in the audit log). The rules and their evaluation live in [`crate::policy`];
//! this file picks the guests (files, plan or cluster) and their `.tf` locations.
//!
//! Why the gate looks only at guests the plan changes: an old violation elsewhere must not
//! block an unrelated apply (or the one that fixes it); `/policy check` shows those.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;

use crate::commands::workspace_state::{
    last_snapshot, make_plan, observe, state_db, workspace_client,
};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::model::Guest;
use crate::plan::{Action, Plan};
use crate::policy::{
    Extra, Outcome, Severity, Subject, evaluate, load_rules, report, resource_line,
};
use crate::state::StateDb;
use crate::ui::{Item, Table};

/// What `/policy check` runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum On {
    /// The guests as the `.tf` files say.
    #[default]
    Code,
    /// The guests the saved plan (made now) would create or change, as planned.
    Plan,
    /// The guests on the cluster now.
    Live,
}

/// How the outcome is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Sarif,
    Junit,
}

/// What `/policy` was asked.
#[derive(Debug, Clone, Default)]
pub struct PolicyArgs {
    pub on: On,
    pub format: Format,
}

/// Parses `--on`.
pub fn parse_on(word: Option<&str>) -> Result<On, CommandError> {
    Ok(match word {
        None | Some("code") => On::Code,
        Some("plan") => On::Plan,
        Some("live") => On::Live,
        Some(other) => {
            return Err(CommandError::cli(format!("`--on {other}`: say code, plan or live"))
                .hint("--on code checks the .tf files, --on plan what /apply would make, --on live the cluster"));
        }
    })
}

/// Parses `--format`.
pub fn parse_format(word: Option<&str>) -> Result<Format, CommandError> {
    Ok(match word {
        None | Some("table") => Format::Table,
        Some("json") => Format::Json,
        Some("sarif") => Format::Sarif,
        Some("junit") => Format::Junit,
        Some(other) => {
            return Err(CommandError::cli(format!(
                "`--format {other}`: say table, json, sarif or junit"
            ))
            .hint("sarif is for code-scanning tools, junit for CI test reports"));
        }
    })
}

/// The guests of the `.tf` files, each with its file and the line of its `resource` block.
struct CodeGuests {
    guests: Vec<(Guest, String, Option<usize>)>,
}

fn code_guests(root: &Path) -> Result<CodeGuests, CommandError> {
    let state = crate::iac::desired::read_desired(root).map_err(|e| {
        CommandError::user(format!("cannot read the workspace's .tf files: {e}"))
            .hint("fix the file named above and run /policy check again")
    })?;
    let guests = state
        .files
        .iter()
        .map(|f| {
            let line = std::fs::read_to_string(root.join(&f.path))
                .ok()
                .and_then(|text| resource_line(&text, &f.ident));
            (f.guest.clone(), f.path.clone(), line)
        })
        .collect();
    Ok(CodeGuests { guests })
}

fn located<'a>(code: &'a CodeGuests, g: &'a Guest) -> Subject<'a> {
    let found = code
        .guests
        .iter()
        .find(|(c, _, _)| (g.vmid != 0 && c.vmid == g.vmid) || c.name == g.name);
    Subject {
        guest: g,
        file: found.map(|(_, f, _)| f.clone()),
        line: found.and_then(|(_, _, l)| *l),
    }
}

/// Names of the guests a plan creates, changes or replaces.
fn changed_names(plan: &Plan) -> BTreeSet<String> {
    plan.actionable()
        .filter(|c| c.action != Action::Delete && c.node.is_some())
        .map(|c| c.name.clone())
        .collect()
}

/// Runs `/policy check`.
pub async fn run(ctx: &mut Ctx, args: &PolicyArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let rules = load_rules(&root);
    let code = code_guests(&root)?;
    let extra = Extra::default();
    let outcome = match args.on {
        On::Code => {
            let subjects: Vec<Subject> = code
                .guests
                .iter()
                .map(|(g, _, _)| located(&code, g))
                .collect();
            evaluate(&rules, &subjects, &extra)
        }
        On::Plan => {
            let (plan, _, _) = make_plan(ctx, false).await?;
            let names = changed_names(&plan);
            let subjects: Vec<Subject> = code
                .guests
                .iter()
                .filter(|(g, _, _)| names.contains(&g.name))
                .map(|(g, _, _)| located(&code, g))
                .collect();
            evaluate(&rules, &subjects, &extra)
        }
        On::Live => {
            let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
            let db = state_db(ctx).await?;
            let (client, _) = workspace_client(ctx)?;
            let (snapshot, _) = observe(&client, &db, &environment).await?;
            let subjects: Vec<Subject> =
                snapshot.guests.iter().map(|g| located(&code, g)).collect();
            evaluate(&rules, &subjects, &extra)
        }
    };
    let items = outcome_items(&outcome, args.format);
    let errors = outcome.failing_rules(Severity::Error);
    if errors.is_empty() {
        return Ok(items);
    }
    Err(CommandError::user(format!(
        "{} error-level polic{} failed: {}",
        errors.len(),
        if errors.len() == 1 { "y" } else { "ies" },
        failing_list(&errors)
    ))
    .hint("fix the guests' files (or the rule in policies/), then run /policy check again")
    .with_report(items))
}

fn failing_list(errors: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    errors
        .iter()
        .map(|(rule, guests)| format!("{rule} ({})", guests.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The report of an outcome in `format`.
fn outcome_items(outcome: &Outcome, format: Format) -> Report {
    let mut items = Vec::new();
    for p in &outcome.problems {
        items.push(Item::Warning(p.to_string()));
    }
    for (rule, why) in &outcome.skipped {
        items.push(Item::Status(format!("rule {rule} {why}")));
    }
    match format {
        Format::Sarif => items.push(Item::Text(
            serde_json::to_string_pretty(&report::sarif(outcome)).unwrap_or_default(),
        )),
        Format::Junit => items.push(Item::Text(report::junit(outcome))),
        Format::Json | Format::Table => {
            let mut table = Table::new(&["severity", "rule", "guest", "where", "description"]);
            for v in &outcome.violations {
                let at = match (&v.file, v.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}"),
                    (Some(f), None) => f.clone(),
                    _ => String::new(),
                };
                table.row(vec![
                    v.severity.as_str().into(),
                    v.rule.clone(),
                    v.guest.clone(),
                    at,
                    v.description.clone(),
                ]);
            }
            let value = json!({
                "rules": outcome.rules.iter().map(|r| json!({
                    "id": r.id, "severity": r.severity, "source": r.source, "line": r.line,
                })).collect::<Vec<_>>(),
                "checked": outcome.checked,
                "violations": outcome.violations,
                "problems": outcome.problems,
                "skipped": outcome.skipped,
            });
            items.push(Item::Data { value, table });
        }
    }
    let count = |s: Severity| {
        outcome
            .violations
            .iter()
            .filter(|v| v.severity == s)
            .count()
    };
    items.push(Item::Status(format!(
        "{} rules over {} guests: {} errors, {} warnings, {} notes.",
        outcome.rules.len(),
        outcome.checked,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )));
    items
}

/// The planned state of the guests `plan` changes, checked: the outcome on them.
fn planned_outcome(root: &Path, plan: &Plan) -> Result<Outcome, CommandError> {
    let rules = load_rules(root);
    let code = code_guests(root)?;
    let names = changed_names(plan);
    let subjects: Vec<Subject> = code
        .guests
        .iter()
        .filter(|(g, _, _)| names.contains(&g.name))
        .map(|(g, _, _)| located(&code, g))
        .collect();
    Ok(evaluate(&rules, &subjects, &Extra::default()))
}

/// `/plan`'s lines: the violations the change would introduce (on a changed guest, failing as
/// planned but not as the cluster has it now).
pub async fn plan_items(ctx: &mut Ctx, plan: &Plan, db: &StateDb) -> Report {
    // Only changed guests are judged: a plan without changes reads nothing more (at 10,000
    // guests, reading the files and the snapshot again cost a second).
    if plan.is_empty() {
        return Vec::new();
    }
    let Ok(root) = ctx.workspace().map(|w| w.root().to_path_buf()) else {
        return Vec::new();
    };
    let planned = match planned_outcome(&root, plan) {
        Ok(o) => o,
        Err(e) => {
            return vec![Item::Warning(format!(
                "policies not checked: {}",
                e.message
            ))];
        }
    };
    let live = last_snapshot(db).await.ok().map(|(s, _)| s);
    let rules = load_rules(&root);
    let before: BTreeSet<(String, String)> = match &live {
        Some(snapshot) => {
            let subjects: Vec<Subject> = snapshot
                .guests
                .iter()
                .filter(|g| changed_names(plan).contains(&g.name))
                .map(|g| Subject {
                    guest: g,
                    file: None,
                    line: None,
                })
                .collect();
            evaluate(&rules, &subjects, &Extra::default())
                .violations
                .into_iter()
                .map(|v| (v.rule, v.guest))
                .collect()
        }
        None => BTreeSet::new(),
    };
    let mut items = Vec::new();
    for v in planned
        .violations
        .iter()
        .filter(|v| !before.contains(&(v.rule.clone(), v.guest.clone())))
    {
        items.push(Item::Warning(format!(
            "policy {} ({}) would fail on {}: {}{}",
            v.rule,
            v.severity.as_str(),
            v.guest,
            v.description,
            if v.severity == Severity::Error {
                "; /apply refuses this unless --override-policy"
            } else {
                ""
            }
        )));
    }
    items
}

/// `/apply`'s gate: refuses while an error-level rule fails on a guest the plan changes,
/// listing every such rule with its guests, unless each is named in `overrides`; an override
/// is written to the audit log.
pub async fn gate(
    root: &Path,
    plan: &Plan,
    plan_id: i64,
    overrides: &[String],
    db: &StateDb,
    environment: &str,
) -> Result<Report, CommandError> {
    let outcome = planned_outcome(root, plan)?;
    let errors = outcome.failing_rules(Severity::Error);
    let known: BTreeSet<&str> = outcome.rules.iter().map(|r| r.id.as_str()).collect();
    for o in overrides {
        if !known.contains(o.as_str()) {
            return Err(
                CommandError::user(format!("--override-policy {o}: there is no rule {o}"))
                    .hint("/policy check lists the rules in force"),
            );
        }
    }
    let blocking: std::collections::BTreeMap<String, Vec<String>> = errors
        .iter()
        .filter(|(rule, _)| !overrides.contains(rule))
        .map(|(r, g)| (r.clone(), g.clone()))
        .collect();
    if !blocking.is_empty() {
        let list = blocking
            .iter()
            .map(|(rule, guests)| format!("  {rule}: {}", guests.join(", ")))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(CommandError::user(format!(
            "the plan breaks error-level policies; nothing was changed:\n{list}"
        ))
        .hint(format!(
            "fix the files and /plan again, or accept it with --override-policy {} (recorded in the audit log)",
            blocking.keys().cloned().collect::<Vec<_>>().join(",")
        )));
    }
    let mut items = Vec::new();
    let overridden: Vec<(&String, &Vec<String>)> = errors
        .iter()
        .filter(|(rule, _)| overrides.contains(rule))
        .collect();
    if !overridden.is_empty() {
        let detail = json!({
            "plan_id": plan_id,
            "rules": overridden.iter().map(|(r, g)| json!({ "rule": r, "guests": g })).collect::<Vec<_>>(),
        });
        db.audit(
            environment,
            "policy-override",
            &format!("plan {plan_id}"),
            Some(&detail.to_string()),
        )
        .await?;
        for (rule, guests) in overridden {
            items.push(Item::Warning(format!(
                "policy {rule} fails on {} and was overridden (--override-policy); recorded in the audit log",
                guests.join(", ")
            )));
        }
    }
    Ok(items)
}
