//! `/resolve GUEST [FIELD] --take server|code`: settles a difference `/sync` left alone between
//! a guest's file and the server, usually a conflict (both sides changed since the last sync).
//!
//! `--take server` writes the server's value into the file, for those fields only (the rest
//! of the file, other hand edits included, stays as it is), and refreshes the guest's test
//! spec. `--take code` keeps the file and records the server's current value as the field's
//! base: the field then reads as a pending change and the next `/apply` sets the file's value
//! on the server. Without FIELD every conflicting field of the guest is settled; with FIELD any
//! differing field can be (drift included). The apply lock is held, as `/sync` holds it, and
//! the choice is written to the audit log.

use std::path::Path;

use serde_json::json;

use crate::commands::request::Take;
use crate::commands::workspace_state::{state_db, workspace_client};
use crate::commands::{Ctx, Report, connect, resource, sync_base};
use crate::error::CommandError;
use crate::iac::desired::{DesiredFile, read_workspace};
use crate::iac::drift::{
    FieldChange, FieldDrift, GuestBase, guest_changes, guest_fields, guest_from_fields, live_fields,
};
use crate::iac::sync::write_atomic;
use crate::iac::{Templates, spec, terraform};
use crate::model::Guest;
use crate::ui::{Item, Table};

/// What `/resolve` was asked.
#[derive(Debug, Clone)]
pub struct ResolveArgs {
    pub guest: String,
    pub field: Option<String>,
    /// `None`: ask the person at the console, showing both values of each field.
    pub take: Option<Take>,
}

/// Finds the guest's file by name, vmid or file identifier.
fn find_file<'a>(files: &'a [DesiredFile], who: &str) -> Result<&'a DesiredFile, CommandError> {
    let matches: Vec<&DesiredFile> = files
        .iter()
        .filter(|f| f.guest.name == who || f.ident == who || f.guest.vmid.to_string() == who)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(
            CommandError::user(format!("no guest called `{who}` in the workspace files"))
                .hint("give the guest's name or vmid as /drift lists it; nothing was changed"),
        ),
        many => Err(CommandError::user(format!(
            "{} guests match `{who}` ({})",
            many.len(),
            many.iter()
                .map(|f| format!("vmid {} in {}", f.guest.vmid, f.path))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("give the vmid instead; nothing was changed")),
    }
}

/// The differing fields to settle: FIELD if given, else every conflict.
fn pick(
    diffs: Vec<FieldDrift>,
    field: Option<&str>,
    who: &str,
) -> Result<Vec<FieldDrift>, CommandError> {
    let differing = || {
        diffs
            .iter()
            .map(|f| format!("{} ({})", f.field, describe(f.change)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(field) = field {
        return match diffs.iter().find(|f| f.field == field) {
            Some(f) => Ok(vec![f.clone()]),
            None if diffs.is_empty() => Err(CommandError::user(format!(
                "{who}: the file and the server agree; there is nothing to resolve"
            ))
            .hint("/drift lists what differs; nothing was changed")),
            None => Err(CommandError::user(format!(
                "{who}: `{field}` is the same in the file and on the server; it differs in {}",
                differing()
            ))
            .hint("name one of those fields; nothing was changed")),
        };
    }
    let conflicts: Vec<FieldDrift> = diffs
        .iter()
        .filter(|f| f.change == FieldChange::Conflict)
        .cloned()
        .collect();
    if conflicts.is_empty() {
        let e = CommandError::user(format!("{who} has no conflicts"));
        return Err(if diffs.is_empty() {
            e.hint("its file and the server agree; nothing was changed")
        } else {
            e.hint(format!(
                "it differs in {}; settle one with /resolve {who} FIELD --take server|code (nothing was changed)",
                differing()
            ))
        });
    }
    Ok(conflicts)
}

fn describe(change: FieldChange) -> &'static str {
    match change {
        FieldChange::Drift => "drift",
        FieldChange::Pending => "pending",
        FieldChange::Conflict => "conflict",
        FieldChange::Unknown => "side unknown",
    }
}

/// Writes the live values of `picked` into the guest's file and its test spec.
fn take_server(
    ctx: &mut Ctx,
    root: &Path,
    file: &DesiredFile,
    pool_idents: &std::collections::BTreeMap<String, String>,
    picked: &[FieldDrift],
) -> Result<Vec<String>, CommandError> {
    resource::check_rewritable(file)?;
    let mut fields = guest_fields(&file.guest);
    for f in picked {
        match &f.live {
            Some(v) => fields.insert(f.field.clone(), v.clone()),
            None => fields.remove(&f.field),
        };
    }
    let guest: Guest = guest_from_fields(file.guest.kind, file.guest.vmid, &fields);
    // The file must say exactly the server's value afterwards, or nothing is written.
    let written = guest_fields(&guest);
    if let Some(f) = picked
        .iter()
        .find(|f| written.get(&f.field) != f.live.as_ref())
    {
        return Err(CommandError::user(format!(
            "{}: the server's value of `{}` cannot be written into the file as it is",
            file.path, f.field
        ))
        .hint("edit the file by hand (or take every server value with /sync --adopt); nothing was changed"));
    }
    let templates = Templates::with_overrides(Some(&root.join(".proxmox/templates")))?;
    let rendered = terraform::render_guest(&templates, &guest, &file.ident, pool_idents)?;
    let text = if file.import_id.is_some() {
        rendered.text
    } else {
        resource::strip_import_block(&rendered.text)
    };
    let mut touched = Vec::new();
    let spec_rel = format!("tests/{}.yml", file.ident);
    for (rel, text) in [
        (file.path.clone(), text),
        (spec_rel, spec::render_spec(&templates, &guest)?),
    ] {
        let path = root.join(&rel);
        if std::fs::read(&path).map_or(true, |old| old != text.as_bytes()) {
            write_atomic(&path, text.as_bytes(), &mut ctx.written)?;
            touched.push(rel);
        }
    }
    Ok(touched)
}

/// Shows each picked field's value in the file and on the server and asks which side wins;
/// without a person at the terminal, says how to choose. Any answer but server or code
/// changes nothing.
fn ask_side(ctx: &mut Ctx, who: &str, picked: &[FieldDrift]) -> Result<Take, CommandError> {
    if !ctx.interactive {
        return Err(CommandError::user(format!(
            "/resolve {who} needs a side: nobody is at a terminal to ask"
        ))
        .hint("add --take server (the file takes the server's value) or --take code (the file stays; /apply sets it)"));
    }
    for f in picked {
        ctx.ui.render(&Item::Text(format!(
            "  {}: file {} / server {}",
            f.field,
            f.file.as_deref().unwrap_or("(not set)"),
            f.live.as_deref().unwrap_or("(not set)")
        )));
    }
    let answer = ctx
        .ui
        .ask(&format!("Which side wins for {who}? server or code"), None)
        .unwrap_or_default();
    match answer.trim() {
        "server" | "s" => Ok(Take::Server),
        "code" | "c" => Ok(Take::Code),
        other => Err(CommandError::user(format!(
            "`{other}` is neither server nor code; nothing was changed"
        ))
        .hint(format!(
            "run /resolve {who} again, or with --take server|code"
        ))),
    }
}

/// Runs `/resolve`.
pub async fn run(ctx: &mut Ctx, args: &ResolveArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    // It rewrites a file an apply or a sync may be writing: never at the same time.
    let lock_path = ctx.workspace()?.dot_dir().join("apply.lock");
    let _lock = crate::plan::lock::ApplyLock::acquire_for(&lock_path, "resolve").map_err(|e| {
        CommandError::user(e.to_string())
            .hint("wait for the running apply or sync in this workspace to finish, then run /resolve again")
    })?;
    let read = read_workspace(&root);
    let file =
        find_file(&read.state.files, &args.guest).map_err(|e| match read.problems.first() {
            Some(p) => e.hint(format!(
                "{p} (a guest in a file that cannot be read is not found)"
            )),
            None => e,
        })?;
    let who = format!("{} (vmid {})", file.guest.name, file.guest.vmid);
    let (client, endpoint) = workspace_client(ctx)?;
    let environment = ctx.config()?.active.clone();
    let db = state_db(ctx).await?;
    let spinner = ctx.ui.spinner(&format!("Reading {endpoint}"));
    let snapshot = client.discover(|_, _| {}).await;
    drop(spinner);
    let snapshot = snapshot.map_err(|e| connect::pve_error(e, &endpoint))?;
    let Some(live) = snapshot.guest(file.guest.vmid) else {
        return Err(CommandError::user(format!("{who} is not on the server"))
            .hint("/apply creates it if it is new, /sync --prune removes the file of a gone guest; nothing was changed"));
    };
    let mut bases = sync_base::load(&db, &environment).await?;
    let base = bases.get(&file.guest.vmid);
    let picked = pick(
        guest_changes(&file.guest, live, base),
        args.field.as_deref(),
        &who,
    )?;
    let take = match args.take {
        Some(take) => take,
        None => ask_side(ctx, &who, &picked)?,
    };
    let touched = match take {
        Take::Server => take_server(ctx, &root, file, &read.state.pool_idents, &picked)?,
        Take::Code => Vec::new(),
    };
    // Either way file and server now agree on the base of each field: the server's value.
    let mut next = base
        .cloned()
        .unwrap_or_else(|| GuestBase::merged(None, &guest_fields(&file.guest), &live_fields(live)));
    for f in &picked {
        next.settle(&f.field, f.live.as_deref());
    }
    bases.clear();
    bases.insert(file.guest.vmid, next);
    sync_base::save(&db, &environment, None, &bases, &[]).await?;
    let side = match take {
        Take::Server => "server",
        Take::Code => "code",
    };
    let names: Vec<&str> = picked.iter().map(|f| f.field.as_str()).collect();
    db.audit(
        &environment,
        "resolve",
        &format!("{} {}", file.guest.vmid, file.guest.name),
        Some(&format!("take {side}: {}", names.join(", "))),
    )
    .await?;
    // What the commit of the rewritten files says (`/history` lists it under the guest).
    ctx.change.subject = Some(format!(
        "resolve: {} {} take {side}",
        file.guest.name,
        names.join(", ")
    ));
    ctx.change.trailers.push((
        crate::workspace::git::trailer::GUEST,
        file.guest.name.clone(),
    ));
    Ok(report(file, &who, take, &picked, &touched))
}

fn report(
    file: &DesiredFile,
    who: &str,
    take: Take,
    picked: &[FieldDrift],
    touched: &[String],
) -> Report {
    let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
    let mut table = Table::new(&["field", "last sync", "server", "file", "now"]);
    for f in picked {
        let now = match take {
            Take::Server => format!("file takes {}", v(&f.live)),
            Take::Code => format!("file keeps {}; /apply sets it", v(&f.file)),
        };
        table.row(vec![
            f.field.clone(),
            v(&f.base),
            v(&f.live),
            v(&f.file),
            now,
        ]);
    }
    let mut items = vec![Item::Data {
        value: json!({
            "guest": file.guest.name,
            "vmid": file.guest.vmid,
            "file": file.path,
            "take": take,
            "fields": picked,
            "written": touched,
        }),
        table,
    }];
    let names: Vec<&str> = picked.iter().map(|f| f.field.as_str()).collect();
    match take {
        Take::Server => {
            items.push(Item::Status(format!(
                "{who}: {} now hold(s) the server's value in {}; nothing changed on the server.",
                names.join(", "),
                file.path
            )));
            if !touched.is_empty() {
                items.push(Item::Status(format!(
                    "Files written: {}.",
                    touched.join(", ")
                )));
            }
        }
        Take::Code => {
            items.push(Item::Status(format!(
                "{who}: {} keep(s) the file's value; {} is unchanged. The next /apply sets it on the server.",
                names.join(", "),
                file.path
            )));
            items.push(Item::Hint("/plan shows the change; /apply makes it".into()));
        }
    }
    items
}
