//! The imperative side: power, snapshots, rollback and migrate act on the server at once,
//! follow the task to its end, write an audit entry, and update the guest's file in the same
//! step so the next `/plan` does not undo what was just done.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Loaded;
use super::files::{edit_attribute, edit_import_id};
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::iac::sync::write_atomic;
use crate::iac::view::file_view;
use crate::iac::{Templates, terraform};
use crate::lang::{MigrateTo, Target};
use crate::model::{GuestKind, GuestStatus, PowerAction, guest_from_config};
use crate::pve::{Client, TaskProgress, Upid};
use crate::state::written::Written;
use crate::ui::{Item, Table};

fn kind_word(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "container",
    }
}

fn label(t: &Target) -> String {
    format!("{} {} (vmid {})", kind_word(t.kind), t.name, t.vmid)
}

/// A client for the active environment, with that environment's name and endpoint.
async fn client(ctx: &mut Ctx) -> Result<(Client, String, String), CommandError> {
    let client = ctx.client()?;
    let config = ctx.config()?;
    Ok((
        client,
        config.active.clone(),
        config.active_env().endpoint.clone(),
    ))
}

/// Follows a power, snapshot or migration task for up to 30 minutes: [`follow_task`].
async fn follow(
    ctx: &Ctx,
    client: &Client,
    upid: &Upid,
    what: &str,
    endpoint: &str,
) -> Result<(Duration, Vec<String>), CommandError> {
    follow_task(
        ctx,
        client,
        upid,
        what,
        endpoint,
        Duration::from_secs(30 * 60),
    )
    .await
}

/// Follows a task to its end (at most `limit`) with a spinner showing its last log line;
/// Ctrl-C stops waiting (the task itself keeps running on the server). Returns how long it
/// took and its log.
pub(crate) async fn follow_task(
    ctx: &Ctx,
    client: &Client,
    upid: &Upid,
    what: &str,
    endpoint: &str,
    limit: Duration,
) -> Result<(Duration, Vec<String>), CommandError> {
    let spinner = ctx.ui.spinner(what);
    let started = Instant::now();
    let result = client
        .wait_task(
            upid,
            limit,
            |p| match p {
                TaskProgress::Log(line) => spinner.set_message(&format!("{what}: {line}")),
                TaskProgress::Running(elapsed) => {
                    spinner.set_message(&format!("{what} ({} s)", elapsed.as_secs()));
                }
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
    drop(spinner);
    let outcome = result.map_err(|e| connect::pve_error(e, endpoint))?;
    Ok((started.elapsed(), outcome.log))
}

async fn audit(
    ctx: &mut Ctx,
    env: &str,
    action: &str,
    target: &Target,
    detail: &str,
) -> Result<(), CommandError> {
    let db = ctx.state().await?.clone();
    db.audit(
        env,
        action,
        &format!("{} {} {}", kind_word(target.kind), target.vmid, target.name),
        Some(detail),
    )
    .await?;
    Ok(())
}

/// Applies `edit` to the guest's file, if the workspace has one; returns the relative path
/// when the file changed.
fn update_file(
    root: &Path,
    loaded: &Loaded,
    vmid: u32,
    written: &mut Written,
    edit: impl Fn(&str) -> String,
) -> Result<Option<String>, CommandError> {
    let Some(file) = loaded.desired.file_of(vmid) else {
        return Ok(None);
    };
    let path = root.join(&file.path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CommandError::user(format!("cannot read {}: {e}", file.path))
            .hint("the server changed; run /sync --adopt to bring the file up to date")
    })?;
    let new = edit(&text);
    if new == text {
        return Ok(None);
    }
    write_atomic(&path, new.as_bytes(), written)?;
    Ok(Some(file.path.clone()))
}

/// Brings the inventory, specs and docs in line with the guest's updated file.
fn refresh_after(
    root: &Path,
    loaded: &Loaded,
    vmid: u32,
    written: &mut Written,
) -> Result<Vec<String>, CommandError> {
    let desired = crate::iac::desired::read_desired(root)?;
    let files: Vec<(String, crate::model::Guest)> = desired
        .files
        .iter()
        .map(|f| (f.ident.clone(), f.guest.clone()))
        .collect();
    let templates = Templates::with_overrides(Some(&root.join(".proxmox/templates")))?;
    super::files::refresh_generated(
        root,
        &templates,
        &loaded.snapshot,
        &files,
        &std::collections::BTreeSet::from([vmid]),
        &[],
        written,
    )
}

fn file_note(items: &mut Report, changed: Option<String>, what: &str) {
    if let Some(path) = changed {
        items.push(Item::Status(format!(
            "Updated {path} ({what}) so the next /plan keeps it."
        )));
    }
}

fn duration_text(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `start|stop|shutdown|reboot vm|container NAME`.
pub async fn power(
    ctx: &mut Ctx,
    loaded: &Loaded,
    action: PowerAction,
    target: &Target,
    yes: bool,
) -> Result<Report, CommandError> {
    let (word, done_word) = match action {
        PowerAction::Start => ("start", "started"),
        PowerAction::Stop => ("stop", "stopped"),
        PowerAction::Shutdown => ("shutdown", "shut down"),
        PowerAction::Reboot => ("reboot", "rebooted"),
    };
    if action != PowerAction::Start && !yes {
        let question = match action {
            PowerAction::Stop => format!("Stop {} now (like pulling the plug)?", label(target)),
            PowerAction::Shutdown => format!("Shut down {} now?", label(target)),
            _ => format!("Reboot {} now?", label(target)),
        };
        ctx.confirm(&question)?;
    }
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, env, endpoint) = client(ctx).await?;
    let upid = client
        .power(&target.node, target.kind, target.vmid, action)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let (took, _) = follow(
        ctx,
        &client,
        &upid,
        &format!("{word} {}", target.name),
        &endpoint,
    )
    .await?;
    audit(ctx, &env, word, target, upid.as_str()).await?;
    let mut items = vec![Item::Status(format!(
        "{} {done_word} on {} in {}.",
        label(target),
        target.node,
        duration_text(took)
    ))];
    let started = match action {
        PowerAction::Start => Some(true),
        PowerAction::Stop | PowerAction::Shutdown => Some(false),
        PowerAction::Reboot => None,
    };
    if let Some(started) = started {
        let changed = update_file(&root, loaded, target.vmid, &mut ctx.written, |text| {
            edit_attribute(text, "started", if started { "true" } else { "false" })
        })?;
        let refresh = changed.is_some();
        file_note(&mut items, changed, &format!("started = {started}"));
        if refresh {
            refresh_after(&root, loaded, target.vmid, &mut ctx.written)?;
        }
    }
    Ok(items)
}

/// `snapshot vm|container NAME [--name SNAP]`.
pub async fn snapshot(
    ctx: &mut Ctx,
    target: &Target,
    name: &str,
    description: Option<&str>,
) -> Result<Report, CommandError> {
    let (client, env, endpoint) = client(ctx).await?;
    let upid = client
        .create_snapshot(&target.node, target.kind, target.vmid, name, description)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let (took, _) = follow(
        ctx,
        &client,
        &upid,
        &format!("snapshot {} of {}", name, target.name),
        &endpoint,
    )
    .await?;
    audit(ctx, &env, "snapshot", target, &format!("{name} {upid}")).await?;
    Ok(vec![
        Item::Status(format!(
            "Snapshot {name} of {} taken in {}.",
            label(target),
            duration_text(took)
        )),
        Item::Hint(format!(
            "roll back with: rollback {} {} {name}",
            kind_word(target.kind),
            target.name
        )),
    ])
}

/// `snapshots vm|container NAME`.
pub async fn snapshots(ctx: &mut Ctx, target: &Target) -> Result<Report, CommandError> {
    let (client, _, endpoint) = client(ctx).await?;
    let list = client
        .snapshots(&target.node, target.kind, target.vmid)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let mut table = Table::new(&["name", "taken", "parent", "description"]);
    let mut values = Vec::new();
    for s in list.iter().filter(|s| s.name != "current") {
        let taken = s
            .snaptime
            .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        table.row(vec![
            s.name.clone(),
            taken.clone(),
            s.parent.clone().unwrap_or_default(),
            s.description.clone().unwrap_or_default().trim().to_string(),
        ]);
        values.push(serde_json::json!({
            "name": s.name,
            "taken": taken,
            "parent": s.parent,
            "description": s.description,
        }));
    }
    let count = values.len();
    Ok(vec![
        Item::Data {
            value: serde_json::Value::Array(values),
            table,
        },
        Item::Status(format!("{count} snapshot(s) of {}.", label(target))),
    ])
}

/// `rollback vm|container NAME SNAP`.
pub async fn rollback(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
    snapshot: &str,
    yes: bool,
) -> Result<Report, CommandError> {
    if !yes {
        ctx.confirm(&format!(
            "Roll {} back to snapshot {snapshot}? Changes since then are lost",
            label(target)
        ))?;
    }
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, env, endpoint) = client(ctx).await?;
    let upid = client
        .rollback_snapshot(&target.node, target.kind, target.vmid, snapshot)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let (took, _) = follow(
        ctx,
        &client,
        &upid,
        &format!("rollback of {} to {snapshot}", target.name),
        &endpoint,
    )
    .await?;
    audit(ctx, &env, "rollback", target, &format!("{snapshot} {upid}")).await?;
    let mut items = vec![Item::Status(format!(
        "{} rolled back to {snapshot} in {}.",
        label(target),
        duration_text(took)
    ))];
    // The file takes the configuration the rollback restored.
    let raw = client
        .guest_config(&target.node, target.kind, target.vmid)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let status = client
        .guest_status(&target.node, target.kind, target.vmid)
        .await
        .map(|s| GuestStatus::parse(&s.status))
        .unwrap_or(GuestStatus::Unknown);
    if let Some(file) = loaded.desired.file_of(target.vmid) {
        if !file.unmodelled.is_empty() || !file.expressions.is_empty() {
            items.push(Item::Warning(format!(
                "{} uses expressions or attributes the console does not model, so it was not rewritten; run /sync --adopt or edit it to match the restored configuration",
                file.path
            )));
        } else {
            let (mut live, _) = guest_from_config(
                target.vmid,
                &target.node,
                target.kind,
                status,
                file.guest.pool.clone(),
                &raw,
            );
            live = file_view(&live);
            let templates = Templates::with_overrides(Some(&root.join(".proxmox/templates")))?;
            let rendered = terraform::render_guest(
                &templates,
                &live,
                &file.ident,
                &loaded.desired.pool_idents,
            )?;
            let path = root.join(&file.path);
            if std::fs::read(&path).map_or(true, |old| old != rendered.text.as_bytes()) {
                write_atomic(&path, rendered.text.as_bytes(), &mut ctx.written)?;
                items.push(Item::Status(format!(
                    "Updated {} with the restored configuration so the next /plan keeps it.",
                    file.path
                )));
                refresh_after(&root, loaded, target.vmid, &mut ctx.written)?;
            }
        }
    }
    Ok(items)
}

/// `migrate vm|container NAME --to NODE`, or `--to-env ENV` (another cluster: see
/// [`crate::commands::remote_migrate`]).
pub async fn migrate(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
    to: &MigrateTo,
    yes: bool,
) -> Result<Report, CommandError> {
    let to = match to {
        MigrateTo::Node(node) => node.as_str(),
        MigrateTo::Env(remote) => {
            return crate::commands::remote_migrate::run(ctx, loaded, target, remote, yes).await;
        }
    };
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, env, endpoint) = client(ctx).await?;
    let running = client
        .guest_status(&target.node, target.kind, target.vmid)
        .await
        .map(|s| s.status == "running")
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    if running && target.kind == GuestKind::Lxc && !yes {
        ctx.confirm(&format!(
            "{} is running; a container restarts to migrate. Go on?",
            label(target)
        ))?;
    }
    let upid = client
        .migrate(&target.node, target.kind, target.vmid, to, running)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let (took, _) = follow(
        ctx,
        &client,
        &upid,
        &format!("migrate {} to {to}", target.name),
        &endpoint,
    )
    .await?;
    audit(
        ctx,
        &env,
        "migrate",
        target,
        &format!("{} -> {to} {upid}", target.node),
    )
    .await?;
    let mut items = vec![Item::Status(format!(
        "{} migrated from {} to {to}{} in {}.",
        label(target),
        target.node,
        if running { " (online)" } else { "" },
        duration_text(took)
    ))];
    let new_import = format!("{to}/{}", target.vmid);
    let changed = update_file(&root, loaded, target.vmid, &mut ctx.written, |text| {
        edit_import_id(
            &edit_attribute(text, "node_name", &crate::iac::filters::hcl_string(to)),
            &new_import,
        )
    })?;
    let refresh = changed.is_some();
    file_note(&mut items, changed, &format!("node_name = {to}"));
    if refresh {
        refresh_after(&root, loaded, target.vmid, &mut ctx.written)?;
    }
    Ok(items)
}
