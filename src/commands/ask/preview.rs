//! What a proposed command would do, shown before it is confirmed. A command that edits the
//! files (create, set, delete, clone) runs for real in a scratch copy of the workspace — the
//! same language, templates and plan code as the real run, nothing approximated — and the
//! copy's `/plan --offline` is the plan shown; the copy is removed afterwards and the real
//! workspace is not touched. A command that acts on the cluster at once has no file plan: the
//! preview says what it acts on. `/apply` shows the plan it would carry out.

use std::path::{Path, PathBuf};

use super::line::Proposed;
use crate::commands::access::Access;
use crate::commands::request::Request;
use crate::commands::workspace_state::make_plan;
use crate::commands::{Ctx, resource};
use crate::error::CommandError;
use crate::lang::Verb;
use crate::plan::render::render_text;
use crate::plan::{Change, Plan};
use crate::ui::{Item, OutputFormat, Ui, Verbosity};

/// The items that show what `proposed` would do.
pub async fn preview(ctx: &mut Ctx, proposed: &Proposed) -> Vec<Item> {
    let verb = match &proposed.request {
        Request::Resource { verb, .. } => crate::commands::registry::operation_verb(
            &crate::commands::registry::verb_operation(verb),
        ),
        _ => None,
    };
    let in_scratch = matches!(
        verb,
        Some(Verb::Create | Verb::Set | Verb::Delete | Verb::Clone)
    ) || matches!(proposed.request, Request::Apply(_));
    if in_scratch {
        return match scratch_plan(ctx, proposed).await {
            Ok(items) => items,
            Err(e) => {
                let mut items = vec![Item::Warning(format!(
                    "`{}` would fail: {}",
                    proposed.line, e.message
                ))];
                items.extend(e.hints.into_iter().map(Item::Hint));
                items
            }
        };
    }
    let what = match proposed.access {
        Access::Cluster => "it acts on the cluster as soon as you confirm; it makes no file plan",
        Access::Files => {
            "it rewrites workspace files from what it reads; it is not previewed (see /help for what it does)"
        }
        _ => "it changes nothing",
    };
    let mut items = vec![Item::Status(format!("`{}`: {what}.", proposed.line))];
    let risk = match verb {
        Some(Verb::Stop) => Some("a hard stop: the guest loses what it has not written to disk"),
        Some(Verb::Shutdown | Verb::Reboot) => {
            Some("the guest's services stop until it is up again")
        }
        Some(Verb::Rollback) => Some("the guest loses everything that changed since that snapshot"),
        Some(Verb::Migrate) => Some("the guest moves to another node"),
        _ => None,
    };
    if let Some(risk) = risk {
        items.push(Item::Warning(format!("`{}`: {risk}", proposed.line)));
    }
    items
}

/// Runs `proposed` in a scratch copy of the workspace and returns its own report and the
/// changes it adds to the plan (the copy's offline plan after it, less the plan before it).
async fn scratch_plan(ctx: &mut Ctx, proposed: &Proposed) -> Result<Vec<Item>, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let scratch = Scratch::copy_of(&root)?;
    let mut sctx = Ctx::new(
        Ui::new(OutputFormat::Table, Verbosity::Quiet),
        scratch.root(),
        false,
    );
    if let Some(env) = ctx.active_env_name() {
        sctx.set_env("PROXMOX_MPC_ENV", &env);
    }
    let (before, _, _) = make_plan(&mut sctx, true).await?;
    let mut items = Vec::new();
    let Request::Resource { verb, request } = &proposed.request else {
        // `/apply`: the plan it would carry out, as it stands.
        items.push(Item::Status(format!(
            "`{}` would carry out this plan (made offline, against the last sync):",
            proposed.line
        )));
        items.push(Item::Text(render_text(&before).trim_end().to_string()));
        return Ok(items);
    };
    let v =
        crate::commands::registry::operation_verb(&crate::commands::registry::verb_operation(verb))
            .ok_or_else(|| CommandError::internal(format!("`{verb}` is not a resource verb")))?;
    let report = resource::run_syntax(&mut sctx, request.syntax(v)?).await?;
    // The command's own one-line summary (`+ vm web-03 (vmid 117) on pve2: ...`); its
    // "Files written" and hints speak of the scratch folder.
    items.extend(report.into_iter().filter(|i| {
        matches!(i, Item::Text(t) | Item::Status(t) if t.starts_with(['+', '-', '~']) || t.starts_with("Chose"))
    }));
    let (after, _, _) = make_plan(&mut sctx, true).await?;
    let added: Vec<Change> = after
        .actionable()
        .filter(|c| {
            !before
                .actionable()
                .any(|b| b.action == c.action && b.name == c.name && b.fields == c.fields)
        })
        .cloned()
        .collect();
    let own = Plan {
        changes: added,
        notes: Vec::new(),
        ..after.clone()
    };
    items.push(Item::Status(format!(
        "The plan `{}` makes (offline, against the last sync, from a scratch copy; your workspace is unchanged):",
        proposed.line
    )));
    items.push(Item::Text(render_text(&own).trim_end().to_string()));
    if !before.is_empty() {
        let c = after.counts();
        items.push(Item::Status(format!(
            "With the changes already pending, the whole plan would have {} to add, {} to change, {} to destroy.",
            c.add, c.change, c.destroy
        )));
    }
    drop(sctx);
    drop(scratch);
    Ok(items)
}

/// A copy of a workspace in a private temporary folder, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Copies the workspace's files and state (not its git history, console history or logs).
    fn copy_of(root: &Path) -> Result<Self, CommandError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("proxmox-mpc-ask-{}-{stamp}", std::process::id()));
        let shown = dir.display().to_string();
        let fail = |e: std::io::Error| {
            CommandError::internal(format!(
                "cannot make a scratch copy of the workspace in {shown}: {e}"
            ))
            .hint("check that the temporary folder is writable (TMPDIR)")
        };
        // The copy holds the workspace's files: only this user may read it.
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(fail)?;
        let scratch = Scratch { dir };
        copy_tree(root, &scratch.dir, true).map_err(fail)?;
        Ok(scratch)
    }

    fn root(&self) -> PathBuf {
        self.dir.clone()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_tree(from: &Path, to: &Path, top: bool) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let skip = (top && name == ".git")
            || name == "history"
            || name.ends_with(".log")
            || name == "secrets";
        if skip {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target, false)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
