//! `/rollback [ID] [--yes]`: the WORKSPACE rollback. Brings the workspace's files (terraform/,
//! ansible/, tests/, docs/) back to how they were after a history entry, as a new commit, and
//! makes and saves the plan that would bring the cluster back; `/apply` carries it out. (A
//! guest's own snapshot rollback is the resource command `rollback vm NAME SNAP`, the
//! operation `snapshot-rollback`.)
//!
//! Without an id it undoes the last apply: the files go back to the newest commit before that
//! apply's commit at which the files and the cluster agreed (a sync, an apply or `/init`).
//!
//! Refused, with nothing changed: an unknown id; a workspace without git history; files to
//! restore that have uncommitted changes (named); a plan that would shrink a disk; a plan that
//! would re-create a guest an apply destroyed (its disks and data are gone: the files alone
//! cannot bring them back) unless `--recreate-empty` says to create it empty.

use std::path::Path;

use crate::commands::history::{find_commit, git_next_step, workspace_log};
use crate::commands::plan::plan_items;
use crate::commands::workspace_state::{make_plan, read_desired, save_plan};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::plan::{Action, Plan};
use crate::state::written::Written;
use crate::ui::Item;
use crate::workspace::LAYOUT_DIRS;
use crate::workspace::git::{LogEntry, Repo, Status, trailer};

/// What `/rollback` was asked.
#[derive(Debug, Clone, Default)]
pub struct RollbackArgs {
    /// A history entry: a commit id, `plan-N` or `snapshot-N`; the last apply when absent.
    pub id: Option<String>,
    pub yes: bool,
    /// Roll back even when a destroyed guest would be created again, empty.
    pub recreate_empty: bool,
}

/// Each restored path with its bytes before the rollback (`None`: it did not exist).
type Saved = Vec<(String, Option<Vec<u8>>)>;

/// The commits after which the files and the cluster agreed.
const AGREED: [&str; 3] = ["sync", "apply", "init"];

/// The entry to roll back to, and why (for the message).
fn choose_target<'a>(
    repo: &Repo,
    log: &'a [LogEntry],
    id: Option<&str>,
) -> Result<(&'a LogEntry, String), CommandError> {
    if let Some(id) = id {
        let entry = find_commit(repo, log, id).ok_or_else(|| {
            CommandError::user(format!("there is no history entry `{id}` to roll back to"))
                .hint("/history lists the entries with their ids (a commit id, plan-N or snapshot-N); nothing was changed")
        })?;
        return Ok((
            entry,
            format!("back to {} [{}]", entry.subject, entry.short()),
        ));
    }
    let operation = |e: &LogEntry| e.trailer(trailer::OPERATION).map(str::to_string);
    let Some(last) = log
        .iter()
        .position(|e| operation(e).as_deref() == Some("apply"))
    else {
        return Err(CommandError::user("there is no apply in the workspace's history to undo")
            .hint("/history lists the entries; /rollback ID brings the files back to how they were after one of them; nothing was changed"));
    };
    let before = log[last + 1..]
        .iter()
        .find(|e| operation(e).is_some_and(|o| AGREED.contains(&o.as_str())))
        .ok_or_else(|| {
            CommandError::user(format!(
                "nothing in the history comes before {} ({}) to roll back to",
                log[last].short(),
                log[last].subject
            ))
            .hint("/history lists the entries; nothing was changed")
        })?;
    Ok((
        before,
        format!(
            "undo {} [{}], back to {} [{}]",
            log[last].subject,
            log[last].short(),
            before.subject,
            before.short()
        ),
    ))
}

/// Writes each path as it is in commit `sha` (removing it when the commit has none); returns
/// what was there before, to put back if the rollback is refused.
fn restore(
    repo: &Repo,
    root: &Path,
    sha: &str,
    paths: &[String],
    written: &mut Written,
) -> Result<Saved, CommandError> {
    let mut before = Vec::new();
    for rel in paths {
        let path = root.join(rel);
        before.push((rel.clone(), std::fs::read(&path).ok()));
        let wanted = repo.file_at(sha, rel).map_err(|e| {
            CommandError::user(format!("cannot read {rel} from commit {sha}: {e}"))
                .hint("check the repository with `git status`")
        })?;
        match wanted {
            Some(bytes) => crate::iac::sync::write_atomic(&path, &bytes, written)?,
            None => {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|e| {
                        CommandError::user(format!("cannot remove {rel}: {e}"))
                            .hint("check that the workspace folder is writable")
                    })?;
                }
                written.note_removed(&path);
            }
        }
    }
    Ok(before)
}

/// Puts the files back as [`restore`] found them.
fn put_back(root: &Path, before: &Saved) {
    let mut ignored = Written::new();
    for (rel, bytes) in before {
        let path = root.join(rel);
        // Best effort: the refusal that follows names the files either way.
        match bytes {
            Some(b) => {
                let _ = crate::iac::sync::write_atomic(&path, b, &mut ignored);
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Guests the plan would create that an apply destroyed (or whose file says they existed):
/// their disks and data are gone, the files alone cannot bring them back.
async fn destroyed_recreations(
    ctx: &mut Ctx,
    root: &Path,
    plan: &Plan,
) -> Result<Vec<String>, CommandError> {
    let creates: Vec<_> = plan
        .actionable()
        .filter(|c| c.action == Action::Create && c.resource != crate::plan::ResourceKind::Pool)
        .collect();
    if creates.is_empty() {
        return Ok(Vec::new());
    }
    let imported = read_desired(root)?.imported;
    let db = crate::commands::workspace_state::state_db(ctx).await?;
    let destroyed = db.destroyed().await?;
    let mut out = Vec::new();
    for c in creates {
        let quoted = format!("\"{}\"", c.name);
        let by_apply = destroyed.iter().rev().find(|d| d.target.contains(&quoted));
        let vmid = c.vmid.filter(|v| imported.contains(v));
        let how = match (by_apply, vmid) {
            (Some(d), _) => format!("destroyed by plan {}", d.plan_id),
            (None, Some(v)) => format!("vmid {v} existed and is gone"),
            (None, None) => continue,
        };
        out.push(format!(
            "{} {} ({how}): /apply would create a new, empty {}; its disks and their data are not restored",
            c.resource.as_str(),
            c.name,
            c.name
        ));
    }
    Ok(out)
}

/// The paths (relative to the workspace) that differ between `target` and `HEAD` in the
/// generated folders; refused, naming them, when any has changes not committed.
fn files_to_restore(repo: &Repo, target: &LogEntry) -> Result<Vec<(Status, String)>, CommandError> {
    let git_err = |e: crate::workspace::git::GitError| {
        CommandError::user(format!("git cannot compare the files: {e}"))
            .hint("check the repository with `git status`; nothing was changed")
    };
    let changes = repo
        .diff(&target.sha, "HEAD", &LAYOUT_DIRS)
        .map_err(git_err)?;
    let dirty: Vec<String> = repo
        .uncommitted(&LAYOUT_DIRS)
        .map_err(git_err)?
        .into_iter()
        .filter(|p| changes.iter().any(|(_, c)| c == p))
        .collect();
    if !dirty.is_empty() {
        return Err(CommandError::user(format!(
            "these files have changes that are not committed, and the rollback would overwrite them: {}",
            dirty.join(", ")
        ))
        .hint("commit them (git commit) or discard them (git restore FILE), then run /rollback again; nothing was changed"));
    }
    Ok(changes)
}

/// Refuses a plan the restored files cannot carry out (a disk shrink) or that would re-create
/// a destroyed guest without `--recreate-empty`; returns the warnings of an accepted
/// re-creation.
async fn judge(
    ctx: &mut Ctx,
    root: &Path,
    target: &LogEntry,
    plan: &Plan,
    recreate_empty: bool,
) -> Result<Vec<String>, CommandError> {
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        return Err(CommandError::user(format!(
            "the files as they were after {} cannot be applied: {}; PVE never shrinks a disk (the data past the smaller size would be lost)",
            target.short(),
            refusals.join("; ")
        ))
        .hint("roll back to a later entry, or change the file by hand keeping the larger size; nothing was changed"));
    }
    let lost = destroyed_recreations(ctx, root, plan).await?;
    if !lost.is_empty() && !recreate_empty {
        return Err(CommandError::user(format!(
            "the files alone cannot roll this back: {}",
            lost.join("; ")
        ))
        .hint("restore the guest from a backup (qmrestore / pct restore) and run /sync, or pass --recreate-empty to roll the files back and create it empty; nothing was changed"));
    }
    Ok(lost)
}

/// What the rollback's commit says: the entry it went back to, why, and the plan.
fn note_commit(ctx: &mut Ctx, target: &LogEntry, why: &str, plan_id: i64, plan: &Plan) {
    ctx.change.subject = Some(format!(
        "rollback to {} ({})",
        target.short(),
        target.subject
    ));
    ctx.change.body.push(why.to_string());
    ctx.change.body.push(format!(
        "plan {plan_id} brings the cluster back: {}",
        crate::commands::commit::plan_summary(plan)
    ));
    ctx.change
        .trailers
        .push((trailer::ROLLBACK_TO, target.sha.clone()));
    for c in plan.actionable() {
        ctx.change.trailers.push((trailer::GUEST, c.name.clone()));
    }
}

/// Runs `/rollback`.
pub async fn run(ctx: &mut Ctx, args: &RollbackArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    // A rollback rewrites the files an apply writes back: never both at once.
    let _lock = crate::commands::role::lock(ctx, "rollback").await?;
    let (repo, log) = workspace_log(ctx, None).map_err(|e| {
        CommandError::user(format!(
            "the workspace has no git history to roll back: {e}"
        ))
        .hint(format!("{}; nothing was changed", git_next_step(&e)))
    })?;
    let (target, why) = choose_target(&repo, &log, args.id.as_deref())?;
    let changes = files_to_restore(&repo, target)?;
    if changes.is_empty() {
        return Ok(vec![
            Item::Status(format!(
                "The files are already as they were after {} ({}); nothing to roll back.",
                target.short(),
                target.subject
            )),
            Item::Hint("/plan shows whether the cluster matches them".into()),
        ]);
    }
    let paths: Vec<String> = changes.iter().map(|(_, p)| p.clone()).collect();
    let removed = changes.iter().filter(|(s, _)| *s == Status::Added).count();
    let restored = changes.len() - removed;
    if !args.yes {
        ctx.confirm(&format!(
            "Roll the files back: {why}? {restored} file(s) restored, {removed} removed: {}",
            paths.join(", ")
        ))?;
    }
    let saved = ctx.written.clone();
    let before = restore(&repo, &root, &target.sha, &paths, &mut ctx.written)?;
    // Anything refused from here on puts the files back as they were: nothing changed.
    let judged = match make_plan(ctx, false).await {
        Ok((plan, db, _)) => judge(ctx, &root, target, &plan, args.recreate_empty)
            .await
            .map(|lost| (plan, db, lost)),
        Err(e) => Err(e.hint("the files were put back as they were; nothing was changed")),
    };
    let (plan, db, lost) = match judged {
        Ok(judged) => judged,
        Err(e) => {
            put_back(&root, &before);
            ctx.written = saved;
            return Err(e);
        }
    };
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let plan_id = save_plan(&db, &environment, &plan).await?;
    note_commit(ctx, target, &why, plan_id, &plan);
    let mut items = vec![Item::Status(format!(
        "Rolled the files back: {why}; {restored} file(s) restored, {removed} removed."
    ))];
    items.extend(lost.into_iter().map(Item::Warning));
    items.extend(plan_items(ctx, &plan, false, Some(plan_id)));
    Ok(items)
}
