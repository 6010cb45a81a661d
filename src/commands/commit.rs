//! Every change an operation makes to the workspace's files becomes one git commit
//! ([`crate::workspace::git`]) of exactly the paths it wrote: [`prepare`] before the operation
//! runs, [`settle`] after it (with the hashes recorded in `state.db` as before). A person's own
//! uncommitted edits are never part of it.
//!
//! The message says what and why: the operation's own subject when it gave one
//! ([`crate::commands::context::ChangeNote`]: `sync: 2 new, 1 drift adopted (web-01 memory)`),
//! else one made from the request (`create vm web-01`; `apply plan 3: 1 added (web-01)`), then
//! the console's trailers (operation, origin, actor, plan or snapshot) that `/history` and
//! `/rollback` read back. Secrets this process has seen are replaced before anything is
//! written. Without git, outside a repository, or with `git.auto_commit: false`, the operation
//! still succeeds; the first two say so in a warning.

use std::collections::BTreeMap;

use crate::commands::context::ChangeNote;
use crate::commands::request::{FlagValue, Request, ResourceRequest};
use crate::commands::sync::SyncRun;
use crate::commands::{Ctx, Report, workspace_state};
use crate::error::CommandError;
use crate::iac::sync::GuestOutcome;
use crate::plan::Plan;
use crate::ui::Item;
use crate::workspace::git::{GitError, Identity, Repo, trailer};

/// What [`prepare`] learnt before the operation ran.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    /// The operation's registry name (the `Proxmox-Mpc-Operation` trailer).
    operation: String,
    /// The subject made from the request, used when the operation gives none.
    subject: String,
    /// The request's flags worth keeping in the body (a resource command's).
    body: Vec<String>,
    /// For an apply: the newest audit entry before it ran, to find the one it writes.
    audit_before: Option<i64>,
}

/// Notes what the request is about, before it runs.
pub async fn prepare(ctx: &mut Ctx, request: &Request) -> Pending {
    ctx.change = ChangeNote::default();
    let operation = request.name();
    let (subject, body) = match request {
        Request::Resource { verb, request } => resource_subject(verb, request),
        _ => (operation.clone(), Vec::new()),
    };
    let audit_before = if matches!(request, Request::Apply(_)) && ctx.workspace_opt().is_some() {
        match workspace_state::state_db(ctx).await {
            Ok(db) => db.last_audit_id().await.ok(),
            Err(_) => None,
        }
    } else {
        None
    };
    Pending {
        operation,
        subject,
        body,
        audit_before,
    }
}

/// Notes a resource-command line (the console's own path, which builds no [`Request`]).
pub fn prepare_line(ctx: &mut Ctx, line: &str) -> Pending {
    ctx.change = ChangeNote::default();
    let word = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (subject, body) = match crate::lang::parse_syntax(line) {
        Ok(syntax) => {
            resource_subject(syntax.verb.as_str(), &ResourceRequest::from_syntax(&syntax))
        }
        // A line that does not parse writes nothing; its words are subject enough.
        Err(_) => (line.trim().to_string(), Vec::new()),
    };
    Pending {
        operation: crate::commands::registry::verb_operation(&word),
        subject,
        body,
        audit_before: None,
    }
}

/// A resource command's subject (`create vm web-01`: verb, kind, the guest, further words)
/// and its flags for the body.
fn resource_subject(verb: &str, request: &ResourceRequest) -> (String, Vec<String>) {
    let mut words = vec![verb.to_string()];
    words.extend(request.kind.iter().cloned());
    // `create` names its guest with a flag (`--name web-01`).
    let named = match request.flags.get("name") {
        Some(FlagValue::Value(n)) => Some(n.clone()),
        _ => None,
    };
    words.extend(request.name.clone().or(named));
    words.extend(request.args.iter().cloned());
    (words.join(" "), flag_lines(&request.flags))
}

/// A resource request's flags as one body line (`--memory 2G --start`).
fn flag_lines(flags: &BTreeMap<String, FlagValue>) -> Vec<String> {
    let words: Vec<String> = flags
        .iter()
        .flat_map(|(name, value)| match value {
            FlagValue::Switch(true) => vec![format!("--{name}")],
            FlagValue::Switch(false) => Vec::new(),
            FlagValue::Value(v) => vec![format!("--{name} {v}")],
            FlagValue::Repeated(vs) => vs.iter().map(|v| format!("--{name} {v}")).collect(),
        })
        .collect();
    if words.is_empty() {
        Vec::new()
    } else {
        vec![format!("flags: {}", words.join(" "))]
    }
}

/// After the operation: records the written files' hashes in `state.db`, commits the paths
/// it wrote, and adds one line saying so (or a warning why not) to its report.
pub async fn settle(
    ctx: &mut Ctx,
    pending: Pending,
    result: Result<Report, CommandError>,
) -> Result<Report, CommandError> {
    let Some(root) = ctx.workspace_opt().map(|w| w.root().to_path_buf()) else {
        workspace_state::record_written(ctx).await?;
        return result;
    };
    let mut paths = ctx.written.paths_under(&root);
    workspace_state::record_written(ctx).await?;
    let mut note = std::mem::take(&mut ctx.change);
    paths.append(&mut note.paths);
    if let Some(before) = pending.audit_before {
        apply_note(ctx, before, &mut note).await;
    }
    // A `/test --junit` report is an artifact of a run, not the workspace's code.
    if (paths.is_empty() && !note.always) || pending.operation == "test" {
        return result;
    }
    let item = commit(ctx, &pending, note, &paths);
    match (result, item) {
        (Ok(mut report), Some(item)) => {
            report.push(item);
            Ok(report)
        }
        (Err(mut e), Some(item)) => {
            e.output.push(item);
            Err(e)
        }
        (result, None) => result,
    }
}

/// Makes the commit; returns the report line about it (`None` when there was nothing to
/// commit or committing is turned off).
fn commit(ctx: &mut Ctx, pending: &Pending, note: ChangeNote, paths: &[String]) -> Option<Item> {
    let settings = ctx.config().map(|c| c.git.clone()).unwrap_or_default();
    if !settings.auto_commit {
        return None;
    }
    let root = ctx.workspace_opt()?.root().to_path_buf();
    let repo = match Repo::open(&root) {
        Ok(repo) => repo,
        Err(e) => return Some(not_committed(&e, paths.len())),
    };
    if let Some(what) = repo.operation_in_progress() {
        return Some(Item::Warning(format!(
            "the files were written but not committed: the repository is in the middle of {what}; finish it, then commit them: {}",
            paths.join(" ")
        )));
    }
    let message = ctx.redact(&message(ctx, pending, note.clone(), &repo));
    let fallback = settings
        .author
        .as_deref()
        .and_then(Identity::parse)
        .unwrap_or_else(Identity::fallback);
    match repo.commit_paths(paths, &message, &fallback, note.always) {
        Ok(Some(done)) => {
            let short = &done.sha[..done.sha.len().min(crate::workspace::git::SHORT)];
            let subject = message.lines().next().unwrap_or_default();
            Some(Item::Status(match done.files.len() {
                // An apply that changed only the cluster: the commit marks the moment.
                0 => format!("Recorded in git ({short}, no file changed): {subject}"),
                1 => format!("Committed 1 file to git ({short}): {subject}"),
                n => format!("Committed {n} files to git ({short}): {subject}"),
            }))
        }
        Ok(None) => None,
        Err(e) => Some(Item::Warning(format!(
            "the files were written but the git commit failed: {e}; commit them by hand: git commit -- {}",
            paths.join(" ")
        ))),
    }
}

/// The warning when git cannot record the change.
fn not_committed(e: &GitError, files: usize) -> Item {
    let next = match e {
        GitError::Missing(_) => {
            "install git to record every change as a commit (or set git.auto_commit false)"
        }
        GitError::NotARepo { .. } => {
            "run `git init` in the workspace to record every change as a commit (or /config set git.auto_commit false)"
        }
        _ => "check the repository with `git status`",
    };
    Item::Warning(format!(
        "{files} file(s) were written but not committed: {e}; {next}"
    ))
}

/// The whole message: subject, body, trailers.
fn message(ctx: &Ctx, pending: &Pending, note: ChangeNote, repo: &Repo) -> String {
    let subject = note.subject.unwrap_or_else(|| pending.subject.clone());
    let mut body = pending.body.clone();
    body.extend(note.body);
    let mut trailers: Vec<(&str, String)> = vec![
        (trailer::OPERATION, pending.operation.clone()),
        (trailer::ORIGIN, ctx.origin.clone()),
        (trailer::ACTOR, actor()),
        (trailer::WORKSPACE, repo.workspace_prefix()),
    ];
    trailers.extend(note.trailers);
    let mut out = subject;
    out.push('\n');
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body.join("\n"));
        out.push('\n');
    }
    out.push('\n');
    for (k, v) in trailers {
        // A value is one line: a trailer never spills into the next.
        out.push_str(&format!("{k}: {}\n", v.replace('\n', " ")));
    }
    out
}

/// The login name of the person running the console.
pub fn actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// For an apply: the audit entry it wrote names the plan; the plan names what changed. An
/// apply that carried out a plan is committed even when it wrote no file, so the history has
/// the point where the cluster matched the files.
async fn apply_note(ctx: &mut Ctx, before: i64, note: &mut ChangeNote) {
    let Ok(db) = workspace_state::state_db(ctx).await else {
        return;
    };
    let Ok(Some(entry)) = db.audit_after(before, "apply").await else {
        return;
    };
    let detail: serde_json::Value = entry
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let Some(plan_id) = detail["plan_id"].as_i64() else {
        return;
    };
    let plan: Option<Plan> = match db.plan(plan_id).await {
        Ok(Some(stored)) => serde_json::from_str(&stored.data).ok(),
        _ => None,
    };
    let outcome = detail["outcome"].as_str().unwrap_or("applied");
    let mut subject = format!("apply plan {plan_id}");
    if outcome != "applied" {
        subject.push_str(&format!(
            " ({outcome}: {} done, {} failed)",
            detail["done"].as_u64().unwrap_or(0),
            detail["failed"].as_u64().unwrap_or(0)
        ));
    }
    if let Some(plan) = &plan {
        subject.push_str(&format!(": {}", plan_summary(plan)));
        let names: Vec<String> = plan.actionable().map(|c| c.name.clone()).collect();
        subject.push_str(&names_suffix(&names));
        for c in plan.actionable() {
            note.trailers.push((trailer::GUEST, c.name.clone()));
        }
    }
    if let Some(steps) = detail["steps"].as_array() {
        note.body
            .extend(steps.iter().filter_map(|s| s.as_str()).map(str::to_string));
    }
    note.subject = Some(subject);
    note.trailers.push((trailer::PLAN, plan_id.to_string()));
    note.always = true;
}

/// `1 added, 2 changed` (only the counts that are not zero; `no changes` when all are).
pub fn plan_summary(plan: &Plan) -> String {
    let c = plan.counts();
    let parts: Vec<String> = [
        (c.add, "added"),
        (c.change, "changed"),
        (c.destroy, "destroyed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(", ")
    }
}

/// ` (a, b, c)` or ` (a, b, c and 4 more)`; empty for no names.
pub fn names_suffix(names: &[String]) -> String {
    const SHOWN: usize = 3;
    if names.is_empty() {
        return String::new();
    }
    let shown = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        format!(" ({shown} and {} more)", names.len() - SHOWN)
    } else {
        format!(" ({shown})")
    }
}

/// What a sync tells its commit: `sync: 2 new, 1 drift adopted (web-01 memory)`, the files it
/// wrote, removed or moved, and the snapshot it recorded.
pub fn sync_note(run: &SyncRun) -> ChangeNote {
    let report = &run.report;
    let mut parts = Vec::new();
    let mut body = Vec::new();
    let mut trailers = Vec::new();
    let mut by_outcome: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for g in &report.guests {
        let (key, entry) = match &g.outcome {
            GuestOutcome::New => ("new", g.name.clone()),
            GuestOutcome::Adopted(fields) => {
                let fields: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                ("adopted", format!("{} {}", g.name, fields.join(" ")))
            }
            GuestOutcome::Pruned => ("pruned", g.name.clone()),
            _ => continue,
        };
        by_outcome.entry(key).or_default().push(entry);
        if key != "new" || report.guests.len() <= 20 {
            trailers.push((trailer::GUEST, g.name.clone()));
        }
    }
    for (key, words) in [
        ("new", "new"),
        ("adopted", "drift adopted"),
        ("pruned", "pruned"),
    ] {
        if let Some(names) = by_outcome.get(key) {
            let mut part = format!("{} {words}", names.len());
            if key != "new" {
                part.push_str(&names_suffix(names));
            }
            parts.push(part);
            body.push(format!("{words}: {}", names.join(", ")));
        }
    }
    if !report.moved.is_empty() {
        parts.push(format!("{} moved into terraform/", report.moved.len()));
    }
    if parts.is_empty() {
        parts.push(format!("{} files refreshed", report.written.len()));
    }
    let mut paths: Vec<String> = report
        .written
        .iter()
        .chain(&report.removed)
        .cloned()
        .collect();
    for (from, to) in &report.moved {
        paths.push(from.clone());
        paths.push(to.clone());
    }
    if let Some(serial) = run.serial {
        body.push(format!("snapshot {serial}"));
        trailers.push((trailer::SNAPSHOT, serial.to_string()));
    }
    ChangeNote {
        subject: Some(format!("sync: {}", parts.join(", "))),
        body,
        trailers,
        paths,
        always: false,
    }
}

/// `/init`'s part: makes the workspace a git repository (or joins the one it is in) and
/// commits what `/init` wrote there (`paths`, relative to the workspace). Returns the report
/// lines; without git the workspace works as before, with a warning.
pub fn init_repository(ctx: &mut Ctx, endpoint: &str, paths: &[String]) -> Vec<Item> {
    let Some(root) = ctx.workspace_opt().map(|w| w.root().to_path_buf()) else {
        return Vec::new();
    };
    let auto = ctx.config().map(|c| c.git.auto_commit).unwrap_or(true);
    if !auto {
        return Vec::new();
    }
    let mut items = Vec::new();
    match Repo::init_or_join(&root) {
        Ok((_, true)) => items.push(Item::Status(
            "Made the workspace a git repository: every change the console makes to the files is a commit (/history lists them).".into(),
        )),
        Ok((repo, false)) => items.push(Item::Status(format!(
            "The workspace is inside the git repository {}: the console commits its changes there, only the files it writes.",
            repo.top().display()
        ))),
        Err(e) => {
            items.push(Item::Warning(format!(
                "the workspace is not under git ({e}); install git and run `git init` here to record every change as a commit"
            )));
            return items;
        }
    }
    let pending = Pending {
        operation: "init".into(),
        subject: format!("init: workspace for {endpoint}"),
        body: Vec::new(),
        audit_before: None,
    };
    let note = ChangeNote {
        always: false,
        ..ChangeNote::default()
    };
    items.extend(commit(ctx, &pending, note, paths));
    items
}
