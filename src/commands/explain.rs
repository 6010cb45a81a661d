//! `/explain [error|plan]`: the last error (a failed `/test` included) or the last plan, in
//! words, with the commands to try next. The console keeps its last failure in state.db's
//! session table ([`remember`]); offline the explanation is the project's own message, its
//! hints and the commands they name; with `ai:` in config.yml the model adds a few sentences,
//! given the error or the plan as JSON data. Suggested commands are shown, never run.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::commands::ask::{Model, request_of_line};
use crate::commands::request::ExplainRequest;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::plan::{Action, Plan};
use crate::state::PlanStatus;
use crate::ui::Item;

/// The session key the console's last failure is kept under.
pub const LAST_ERROR_KEY: &str = "explain.last_error";

/// How much of a failure's output is kept (the first lines say what failed).
const KEPT_OUTPUT: usize = 4000;

/// A failed console line, as `/explain` reads it back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub line: String,
    pub message: String,
    pub hints: Vec<String>,
    /// The output the failure came with (a failed `/test`'s FAILED lines), shortened.
    pub output: String,
    pub at: String,
}

/// Records a failed console line for `/explain`, in the workspace's state.db (secrets this
/// process has seen are masked). Does nothing outside a workspace, and writes no file for a
/// failure that reported nothing (a typo); never fails the line.
pub async fn remember(ctx: &mut Ctx, line: &str, output: &[Item], error: &CommandError) {
    if ctx.workspace_opt().is_none() || line.trim_start().starts_with("/explain") {
        return;
    }
    let mut text = String::new();
    for item in output {
        if let Item::Text(t) | Item::Warning(t) | Item::Status(t) = item {
            text.push_str(t);
            text.push('\n');
        }
    }
    if text.len() > KEPT_OUTPUT {
        let cut = (0..=KEPT_OUTPUT)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n…");
    }
    let failure = Failure {
        line: ctx.redact(line),
        message: ctx.redact(&error.message),
        hints: error.hints.iter().map(|h| ctx.redact(h)).collect(),
        output: ctx.redact(&text),
        at: crate::state::now(),
    };
    let Ok(value) = serde_json::to_string(&failure) else {
        return;
    };
    // Where the failed command opened the database already; or where it ran and reported (a
    // failed /test) in a workspace that has one. A typo or a broken config writes no file.
    let reported = !output.is_empty() && error.kind == crate::error::ErrorKind::User;
    let exists = ctx
        .workspace_opt()
        .is_some_and(|w| w.state_db_path().is_file());
    if ctx.state_if_open().is_none() && !(reported && exists) {
        return;
    }
    if let Ok(db) = ctx.state().await {
        let _ = db.session_set(LAST_ERROR_KEY, &value).await;
    }
}

/// Runs `/explain`.
pub async fn run(ctx: &mut Ctx, request: &ExplainRequest) -> Result<Report, CommandError> {
    match request.what.as_deref().unwrap_or("error") {
        "error" | "test" | "last" => explain_error(ctx).await,
        "plan" => explain_plan(ctx).await,
        other => Err(CommandError::cli(format!(
            "`/explain {other}`: say error or plan"
        ))
        .hint("/explain explains the last error (a failed /test included); /explain plan the last plan")),
    }
}

async fn explain_error(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let stored = ctx.state().await?.session_get(LAST_ERROR_KEY).await?;
    let Some(failure) = stored.and_then(|s| serde_json::from_str::<Failure>(&s).ok()) else {
        return Ok(vec![
            Item::Status(
                "Nothing to explain: no console command has failed in this workspace yet.".into(),
            ),
            Item::Hint("/explain plan explains the last plan".into()),
        ]);
    };
    let mut text = format!(
        "`{}` failed ({}):\n  {}",
        failure.line, failure.at, failure.message
    );
    let failed_lines: Vec<&str> = failure
        .output
        .lines()
        .filter(|l| l.contains("FAILED") || l.contains("failed"))
        .take(10)
        .collect();
    if !failed_lines.is_empty() {
        text.push_str("\nWhat failed:");
        for l in failed_lines {
            text.push_str(&format!("\n  {}", l.trim()));
        }
    }
    if !failure.hints.is_empty() {
        text.push_str("\nWhat to do (the command's own hints):");
        for h in &failure.hints {
            text.push_str(&format!("\n  - {h}"));
        }
    }
    let commands = named_commands(&failure.hints);
    if !commands.is_empty() {
        text.push_str("\nCommands to try:");
        for c in &commands {
            text.push_str(&format!("\n  {c}"));
        }
    }
    let mut items = vec![Item::Text(text)];
    let subject = json!({ "kind": "error", "failure": failure });
    items.extend(model_words(ctx, &subject).await?);
    Ok(items)
}

async fn explain_plan(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let db = ctx.state().await?;
    let stored = db
        .latest_plan_with(&[
            PlanStatus::Pending,
            PlanStatus::Applying,
            PlanStatus::Applied,
            PlanStatus::Failed,
        ])
        .await?;
    let Some(stored) = stored else {
        return Ok(vec![
            Item::Status("Nothing to explain: this workspace has no plan yet.".into()),
            Item::Hint("/plan makes one".into()),
        ]);
    };
    let plan: Plan = serde_json::from_str(&stored.data).map_err(|e| {
        CommandError::internal(format!(
            "plan #{} in state.db is unreadable: {e}",
            stored.id
        ))
        .hint("run /plan to make a new one")
    })?;
    let counts = plan.counts();
    let mut text = format!(
        "Plan #{} ({}, {}): {} to add, {} to change, {} to destroy.",
        stored.id, stored.created_at, stored.status, counts.add, counts.change, counts.destroy
    );
    for change in plan.actionable() {
        let what = match change.action {
            Action::Create => "is created; nothing existing is touched",
            Action::Update => "is changed in place",
            Action::Replace => "is destroyed and created again: its disks' data is lost",
            Action::Delete => "is destroyed with its disks: this cannot be undone",
            Action::NoOp => continue,
        };
        let fields: Vec<&str> = change
            .fields
            .iter()
            .map(|f| f.key.as_str())
            .take(6)
            .collect();
        text.push_str(&format!(
            "\n  - {} {}{}",
            change.name,
            what,
            if fields.is_empty() || change.action != Action::Update {
                String::new()
            } else {
                format!(" ({})", fields.join(", "))
            }
        ));
    }
    let next = match stored.status {
        PlanStatus::Pending if plan.is_empty() => "nothing to apply; /plan again after a change",
        PlanStatus::Pending => {
            "/apply carries it out (it asks first); /diff shows the file changes"
        }
        PlanStatus::Applying => "/apply resumes it; finished steps are not repeated",
        PlanStatus::Failed => {
            "/apply --target NAME retries one guest; /history show plan-N shows the journal"
        }
        _ => "it was applied; /history lists what changed",
    };
    text.push_str(&format!("\nNext: {next}"));
    let mut items = vec![Item::Text(text)];
    let subject = json!({ "kind": "plan", "summary": stored.summary, "status": stored.status.as_str(), "plan": plan });
    items.extend(model_words(ctx, &subject).await?);
    Ok(items)
}

/// With a model configured, its short explanation of `subject`, labelled as the model's.
async fn model_words(ctx: &mut Ctx, subject: &serde_json::Value) -> Result<Report, CommandError> {
    let Some(model) = Model::from_config(ctx)? else {
        return Ok(Vec::new());
    };
    let answer = model.explain(subject).await?;
    Ok(answer
        .text
        .map(|t| vec![Item::Text(format!("The model's explanation:\n{t}"))])
        .unwrap_or_default())
}

/// The console commands a hint names (`/sync --adopt`, `/apply`), each checked by the parser.
fn named_commands(hints: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for hint in hints {
        for part in hint.split(['(', ')', ';', ',', '`']) {
            let Some(start) = part.find('/') else {
                continue;
            };
            let candidate: String = part[start..]
                .split_whitespace()
                .take_while(|w| {
                    w.starts_with('/')
                        || w.starts_with('-')
                        || w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
                .collect::<Vec<_>>()
                .join(" ");
            // Only what the console would take as a command, and only its first word when the
            // rest is prose ("/sync to import").
            let line = if request_of_line(&candidate).is_ok() {
                candidate
            } else {
                candidate
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            if request_of_line(&line).is_ok() && !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}
