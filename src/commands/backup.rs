//! Backups of guests: `backup` (a vzdump task, followed to its end), `backups` (the backup
//! volumes on the cluster's backup storages, with sizes and ages), `restore` (a backup as a new
//! guest, whose file is written with its import block like any imported guest) and
//! `forget-backup` (removes one backup volume). `/test --restore-drill` lives in [`drill`].
//!
//! Everything acts on the cluster at once and writes an audit entry; the refusals a user can
//! cause (an unknown volid, a storage without `backup` content, a name or VMID already taken,
//! a locked guest) are checked before anything is changed.

pub mod drill;

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::commands::request::{
    BackupRequest, BackupsRequest, ForgetBackupRequest, RestoreRequest,
};
use crate::commands::{Ctx, Report, connect, workspace_state};
use crate::error::CommandError;
use crate::model::GuestKind;
use crate::pve::{Client, Params, PveError, Upid, params};
use crate::ui::{Item, Table};

/// A live guest, as `/cluster/resources` lists it.
#[derive(Debug, Clone)]
pub struct LiveGuest {
    pub vmid: u32,
    pub name: String,
    pub kind: GuestKind,
    pub node: String,
    pub lock: Option<String>,
    pub running: bool,
}

impl LiveGuest {
    pub fn label(&self) -> String {
        format!(
            "{} {} (vmid {})",
            kind_word(self.kind),
            self.name,
            self.vmid
        )
    }
}

/// One backup volume.
#[derive(Debug, Clone, Serialize)]
pub struct BackupVolume {
    pub volid: String,
    pub storage: String,
    pub vmid: u32,
    /// `qemu` or `lxc`.
    pub kind: String,
    /// The guest's name when it still exists.
    pub guest: Option<String>,
    pub size: u64,
    /// Creation time, seconds since the epoch.
    pub ctime: u64,
    pub age_seconds: u64,
    pub notes: String,
    pub protected: bool,
}

pub(crate) fn kind_word(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "container",
    }
}

/// `vm`, `container` (`ct`, `lxc`) as a guest kind.
pub(crate) fn parse_kind(word: &str) -> Result<GuestKind, CommandError> {
    match word.to_ascii_lowercase().as_str() {
        "vm" | "qemu" => Ok(GuestKind::Qemu),
        "container" | "ct" | "lxc" => Ok(GuestKind::Lxc),
        other => Err(CommandError::user(format!(
            "`{other}` is not a guest kind: say vm or container"
        ))
        .hint("e.g. backup vm web-01 --storage nas")),
    }
}

pub(crate) fn pve(e: PveError, endpoint: &str) -> CommandError {
    connect::pve_error(e, endpoint)
}

/// Every guest the cluster has now.
pub(crate) async fn live_guests(
    client: &Client,
    endpoint: &str,
) -> Result<Vec<LiveGuest>, CommandError> {
    let resources = client
        .cluster_resources(Some("vm"))
        .await
        .map_err(|e| pve(e, endpoint))?;
    Ok(resources
        .into_iter()
        .filter_map(|r| {
            let kind = GuestKind::parse(&r.kind)?;
            let vmid = r.vmid?;
            Some(LiveGuest {
                vmid,
                name: r.name.unwrap_or_default(),
                kind,
                node: r.node.unwrap_or_default(),
                lock: r.lock.filter(|l| !l.is_empty()),
                running: r.status.as_deref() == Some("running"),
            })
        })
        .collect())
}

/// The live guest `name` (or vmid) of `kind`; a clear error when there is none or several.
pub(crate) fn find_guest<'a>(
    guests: &'a [LiveGuest],
    kind: GuestKind,
    name: &str,
) -> Result<&'a LiveGuest, CommandError> {
    let hits: Vec<&LiveGuest> = guests
        .iter()
        .filter(|g| g.name == name || name.parse::<u32>().is_ok_and(|v| v == g.vmid))
        .collect();
    match hits.as_slice() {
        [one] if one.kind == kind => Ok(one),
        [one] => Err(CommandError::user(format!(
            "{name} is a {}, not a {}",
            kind_word(one.kind),
            kind_word(kind)
        ))
        .hint(format!("say `{} {name}`", kind_word(one.kind)))),
        [] => Err(CommandError::user(format!(
            "there is no {} {name} on the cluster",
            kind_word(kind)
        ))
        .hint("`list vms` and `list containers` show the guests; a name is case-sensitive")),
        many => Err(CommandError::user(format!(
            "{} guests are named {name} ({})",
            many.len(),
            many.iter()
                .map(|g| g.vmid.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("name the guest by its vmid")),
    }
}

/// Follows a backup, restore or removal task (up to 6 hours: a large backup takes long).
pub(crate) async fn follow(
    ctx: &Ctx,
    client: &Client,
    upid: &Upid,
    what: &str,
    endpoint: &str,
) -> Result<(Duration, Vec<String>), CommandError> {
    let limit = Duration::from_secs(6 * 60 * 60);
    crate::commands::resource::follow_task(ctx, client, upid, what, endpoint, limit).await
}

async fn audit(
    ctx: &mut Ctx,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), CommandError> {
    let env = ctx.config()?.active.clone();
    let db = workspace_state::state_db(ctx).await?;
    db.audit(&env, action, target, Some(detail)).await?;
    Ok(())
}

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn bool_of(v: &Value) -> bool {
    v.as_bool().unwrap_or(false) || u64_of(v) == Some(1)
}

/// Reads (kind, vmid) from a backup volid's name: `...vzdump-qemu-100-...`.
pub(crate) fn volid_guest(volid: &str) -> Option<(GuestKind, u32)> {
    let name = volid.rsplit('/').next()?;
    let rest = name.strip_prefix("vzdump-")?;
    let (kind, rest) = match rest.split_once('-')? {
        ("qemu", r) => (GuestKind::Qemu, r),
        ("lxc", r) => (GuestKind::Lxc, r),
        _ => return None,
    };
    Some((kind, rest.split('-').next()?.parse().ok()?))
}

/// A node's storages that take backups: (storage, shared).
async fn backup_storages(
    client: &Client,
    node: &str,
    endpoint: &str,
) -> Result<Vec<(String, bool)>, CommandError> {
    let storages = client.storages(node).await.map_err(|e| pve(e, endpoint))?;
    Ok(storages
        .into_iter()
        .filter(|s| {
            s.content
                .as_deref()
                .is_some_and(|c| c.split(',').any(|c| c.trim() == "backup"))
        })
        .map(|s| (s.storage, s.shared))
        .collect())
}

/// The backup volumes of `storage` seen from `node`, optionally only those of `vmid`.
async fn storage_backups(
    client: &Client,
    node: &str,
    storage: &str,
    vmid: Option<u32>,
    endpoint: &str,
) -> Result<Vec<BackupVolume>, CommandError> {
    let mut query: Params = params([("content", "backup")]);
    if let Some(v) = vmid {
        query.push(("vmid".into(), v.to_string()));
    }
    let path = format!("/nodes/{node}/storage/{storage}/content");
    let entries: Vec<Value> = client
        .get(&path, query)
        .await
        .map_err(|e| pve(e, endpoint))?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    Ok(entries
        .iter()
        .filter_map(|e| {
            let volid = e.get("volid")?.as_str()?.to_string();
            let (kind, named_vmid) = volid_guest(&volid)?;
            let ctime = e.get("ctime").and_then(u64_of).unwrap_or(0);
            Some(BackupVolume {
                storage: storage.to_string(),
                vmid: e
                    .get("vmid")
                    .and_then(u64_of)
                    .map_or(named_vmid, |v| v as u32),
                kind: kind.as_str().to_string(),
                guest: None,
                size: e.get("size").and_then(u64_of).unwrap_or(0),
                ctime,
                age_seconds: now.saturating_sub(ctime),
                notes: e
                    .get("notes")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                protected: e.get("protected").is_some_and(bool_of),
                volid,
            })
        })
        .collect())
}

/// Every backup volume on the cluster (shared storages once), newest first.
pub(crate) async fn all_backups(
    client: &Client,
    guests: &[LiveGuest],
    vmid: Option<u32>,
    only_storage: Option<&str>,
    endpoint: &str,
) -> Result<Vec<BackupVolume>, CommandError> {
    let nodes = client.nodes().await.map_err(|e| pve(e, endpoint))?;
    let mut seen_shared = std::collections::BTreeSet::new();
    let mut out: Vec<BackupVolume> = Vec::new();
    for node in nodes
        .iter()
        .filter(|n| n.status.as_deref() != Some("offline"))
    {
        for (storage, shared) in backup_storages(client, &node.node, endpoint).await? {
            if only_storage.is_some_and(|s| s != storage) {
                continue;
            }
            if shared && !seen_shared.insert(storage.clone()) {
                continue;
            }
            out.extend(storage_backups(client, &node.node, &storage, vmid, endpoint).await?);
        }
    }
    for b in &mut out {
        b.guest = guests
            .iter()
            .find(|g| g.vmid == b.vmid)
            .map(|g| g.name.clone());
    }
    out.sort_by(|a, b| b.ctime.cmp(&a.ctime).then(a.volid.cmp(&b.volid)));
    Ok(out)
}

fn size_text(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / MIB).max(1.0))
    }
}

pub(crate) fn age_text(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// `backup vm|container NAME [--storage S] [--mode M] [--compress C] [--notes TEXT]`.
pub async fn backup(ctx: &mut Ctx, r: &BackupRequest) -> Result<Report, CommandError> {
    let kind = parse_kind(&r.kind)?;
    let mode = r.mode.clone().unwrap_or_else(|| "snapshot".into());
    if !["snapshot", "suspend", "stop"].contains(&mode.as_str()) {
        return Err(
            CommandError::user(format!("`--mode {mode}` is not a backup mode"))
                .hint("say --mode snapshot (default, no downtime), suspend or stop"),
        );
    }
    let compress = r.compress.clone().unwrap_or_else(|| "zstd".into());
    if !["0", "gzip", "lzo", "zstd"].contains(&compress.as_str()) {
        return Err(
            CommandError::user(format!("`--compress {compress}` is not a compression"))
                .hint("say --compress zstd (default), gzip, lzo or 0 (none)"),
        );
    }
    ctx.workspace()?;
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let default_storage = ctx.config()?.active_env().defaults.storage.clone();
    let guests = live_guests(&client, &endpoint).await?;
    let guest = find_guest(&guests, kind, &r.name)?.clone();
    if let Some(lock) = &guest.lock {
        return Err(CommandError::user(format!(
            "{} is locked ({lock}): PVE does not back up a locked guest",
            guest.label()
        ))
        .hint(format!(
            "wait for the task holding the lock to end; a stale lock is cleared on {} with `{} unlock {}`",
            guest.node,
            if kind == GuestKind::Qemu { "qm" } else { "pct" },
            guest.vmid
        )));
    }
    let usable = backup_storages(&client, &guest.node, &endpoint).await?;
    let storage = pick_storage(
        &client,
        &guest,
        r.storage.as_deref(),
        default_storage,
        &usable,
        &endpoint,
    )
    .await?;
    if !r.yes {
        ctx.confirm(&format!(
            "Back up {} to {storage} (mode {mode}) now?",
            guest.label()
        ))?;
    }
    let before: Vec<String> =
        storage_backups(&client, &guest.node, &storage, Some(guest.vmid), &endpoint)
            .await?
            .into_iter()
            .map(|b| b.volid)
            .collect();
    let mut body = params([
        ("vmid", guest.vmid.to_string()),
        ("storage", storage.clone()),
        ("mode", mode.clone()),
        ("compress", compress),
    ]);
    // PVE's web UI fills in the guest's name when nobody writes notes; so do we.
    let notes = r.notes.clone().unwrap_or_else(|| "{{guestname}}".into());
    body.push(("notes-template".into(), notes));
    if r.protected {
        body.push(("protected".into(), "1".into()));
    }
    let path = format!("/nodes/{}/vzdump", guest.node);
    let value = client
        .write(Method::POST, &path, body)
        .await
        .map_err(|e| pve(e, &endpoint))?;
    let upid: Upid = value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        CommandError::internal(format!("vzdump answered {value} instead of a task id"))
    })?;
    let (took, _) = follow(
        ctx,
        &client,
        &upid,
        &format!("backup {}", guest.name),
        &endpoint,
    )
    .await?;
    let after =
        storage_backups(&client, &guest.node, &storage, Some(guest.vmid), &endpoint).await?;
    let made = after
        .into_iter()
        .filter(|b| !before.contains(&b.volid))
        .max_by_key(|b| b.ctime)
        .ok_or_else(|| {
            CommandError::internal(format!(
                "the backup task {} ended well but no new backup of {} is on {storage}",
                upid.as_str(),
                guest.label()
            ))
        })?;
    audit(
        ctx,
        "backup",
        &format!("{} {} {}", kind_word(kind), guest.vmid, guest.name),
        &made.volid,
    )
    .await?;
    let mut table = Table::new(&["volid", "size", "took"]);
    table.row(vec![
        made.volid.clone(),
        size_text(made.size),
        format!("{:.1} s", took.as_secs_f64()),
    ]);
    Ok(vec![
        Item::Status(format!(
            "Backed up {} to {} ({}) in {:.1} s.",
            guest.label(),
            made.volid,
            size_text(made.size),
            took.as_secs_f64()
        )),
        Item::Data {
            value: json!({
                "volid": made.volid, "storage": storage, "vmid": guest.vmid, "guest": guest.name,
                "size": made.size, "ctime": made.ctime, "mode": mode, "task": upid.as_str(),
                "seconds": took.as_secs_f64(),
            }),
            table,
        },
    ])
}

/// The backup storage: `--storage` (which must take backups on the guest's node), else the
/// configured default storage when it takes backups, else the first one that does.
async fn pick_storage(
    client: &Client,
    guest: &LiveGuest,
    wanted: Option<&str>,
    default: Option<String>,
    usable: &[(String, bool)],
    endpoint: &str,
) -> Result<String, CommandError> {
    let names: Vec<&str> = usable.iter().map(|(s, _)| s.as_str()).collect();
    let list = if names.is_empty() {
        "none on this node".to_string()
    } else {
        names.join(", ")
    };
    match wanted {
        Some(s) if names.contains(&s) => Ok(s.to_string()),
        Some(s) => {
            let exists = client
                .storages(&guest.node)
                .await
                .map_err(|e| pve(e, endpoint))?
                .iter()
                .any(|x| x.storage == s);
            let why = if exists {
                format!("storage {s} has no `backup` content")
            } else {
                format!("there is no storage {s} on node {}", guest.node)
            };
            Err(CommandError::user(format!("{why}: {} cannot be backed up there", guest.label()))
                .hint(format!(
                    "storages that take backups on {}: {list}; or add `backup` to {s}'s content (Datacenter > Storage); nothing was changed",
                    guest.node
                )))
        }
        None => default
            .filter(|d| names.contains(&d.as_str()))
            .or_else(|| names.first().map(|s| s.to_string()))
            .ok_or_else(|| {
                CommandError::user(format!(
                    "no storage on node {} takes backups",
                    guest.node
                ))
                .hint("add `backup` to a storage's content (Datacenter > Storage), then name it with --storage")
            }),
    }
}

/// `backups [vm|container NAME] [--storage S]`.
pub async fn backups(ctx: &mut Ctx, r: &BackupsRequest) -> Result<Report, CommandError> {
    ctx.workspace()?;
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let guests = live_guests(&client, &endpoint).await?;
    let vmid = match (&r.kind, &r.name) {
        (Some(kind), Some(name)) => {
            let kind = parse_kind(kind)?;
            match find_guest(&guests, kind, name) {
                Ok(g) => Some(g.vmid),
                // a guest that is gone still has its backups, by vmid
                Err(e) => Some(name.parse::<u32>().map_err(|_| e)?),
            }
        }
        (Some(_), None) => {
            return Err(
                CommandError::user("`backups` needs the guest's name after its kind")
                    .hint("e.g. backups vm web-01, or `backups` for every guest"),
            );
        }
        _ => None,
    };
    let list = all_backups(&client, &guests, vmid, r.storage.as_deref(), &endpoint).await?;
    let mut table = Table::new(&["volid", "guest", "size", "age", "notes", "protected"]);
    for b in &list {
        table.row(vec![
            b.volid.clone(),
            match &b.guest {
                Some(n) => format!("{n} ({})", b.vmid),
                None => format!("{} (gone)", b.vmid),
            },
            size_text(b.size),
            age_text(b.age_seconds),
            b.notes.clone(),
            if b.protected {
                "yes".into()
            } else {
                String::new()
            },
        ]);
    }
    let total: u64 = list.iter().map(|b| b.size).sum();
    let mut items = vec![Item::Data {
        value: serde_json::to_value(&list)
            .map_err(|e| CommandError::internal(format!("cannot show the backups: {e}")))?,
        table,
    }];
    items.push(Item::Status(format!(
        "{} backup{} ({}).",
        list.len(),
        if list.len() == 1 { "" } else { "s" },
        size_text(total)
    )));
    if list.is_empty() {
        items.push(Item::Hint(
            "`backup vm NAME --storage STORAGE` makes one now".into(),
        ));
    }
    Ok(items)
}

/// A backup volume by volid, looked up on its storage (from `node`).
pub(crate) async fn find_backup(
    client: &Client,
    node: &str,
    volid: &str,
    endpoint: &str,
) -> Result<BackupVolume, CommandError> {
    let not_found = || {
        CommandError::user(format!("there is no backup {volid}"))
            .hint("`backups` lists the backups with their volids (STORAGE:backup/vzdump-...); nothing was changed")
    };
    let Some((storage, _)) = volid.split_once(':') else {
        return Err(not_found());
    };
    if volid_guest(volid).is_none() {
        return Err(not_found());
    }
    let on_node = backup_storages(client, node, endpoint).await?;
    if !on_node.iter().any(|(s, _)| s == storage) {
        return Err(not_found());
    }
    storage_backups(client, node, storage, None, endpoint)
        .await?
        .into_iter()
        .find(|b| b.volid == volid)
        .ok_or_else(not_found)
}

/// `restore vm|container NAME --from VOLID [--as NEWNAME] [--vmid N] [--node NODE]
/// [--storage S]`.
pub async fn restore(ctx: &mut Ctx, r: &RestoreRequest) -> Result<Report, CommandError> {
    let kind = parse_kind(&r.kind)?;
    let root = ctx.workspace()?.root().to_path_buf();
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let guests = live_guests(&client, &endpoint).await?;
    let source = find_guest(&guests, kind, &r.name).ok().cloned();
    let nodes = client.nodes().await.map_err(|e| pve(e, &endpoint))?;
    let node = match (&r.node, &source) {
        (Some(n), _) => n.clone(),
        (None, Some(g)) => g.node.clone(),
        (None, None) => nodes
            .iter()
            .find(|n| n.status.as_deref() != Some("offline"))
            .map(|n| n.node.clone())
            .unwrap_or_default(),
    };
    if !nodes.iter().any(|n| n.node == node) {
        return Err(CommandError::user(format!("there is no node {node}"))
            .hint("`list nodes` shows the cluster's nodes"));
    }
    let volid = match &r.from {
        Some(v) => v.clone(),
        None => {
            let vmid = source.as_ref().map(|g| g.vmid).ok_or_else(|| {
                CommandError::user(format!(
                    "there is no {} {} to find a backup of",
                    kind_word(kind),
                    r.name
                ))
                .hint("name the backup with --from VOLID (`backups` lists them)")
            })?;
            all_backups(&client, &guests, Some(vmid), None, &endpoint)
                .await?
                .first()
                .map(|b| b.volid.clone())
                .ok_or_else(|| {
                    CommandError::user(format!("{} has no backup", r.name)).hint(format!(
                        "`backup {} {}` makes one",
                        kind_word(kind),
                        r.name
                    ))
                })?
        }
    };
    let found = find_backup(&client, &node, &volid, &endpoint).await?;
    check_backup_matches(&found, kind, &r.name, source.as_ref())?;
    let new_name = r.as_name.clone().unwrap_or_else(|| r.name.clone());
    check_name(&new_name, kind)?;
    if let Some(taken) = guests.iter().find(|g| g.name == new_name) {
        return Err(CommandError::user(format!(
            "a guest named {new_name} exists already ({})",
            taken.label()
        ))
        .hint("give the restored guest another name with --as NEWNAME; nothing was changed"));
    }
    let vmid = match r.vmid {
        Some(v) => {
            if let Some(taken) = guests.iter().find(|g| g.vmid == v) {
                return Err(
                    CommandError::user(format!("vmid {v} is taken by {}", taken.label()))
                        .hint("leave out --vmid to take the next free one; nothing was changed"),
                );
            }
            v
        }
        None => client.next_id().await.map_err(|e| pve(e, &endpoint))?,
    };
    if !r.yes {
        ctx.confirm(&format!(
            "Restore {volid} as {} {new_name} (vmid {vmid}) on {node}?",
            kind_word(kind)
        ))?;
    }
    let restore = Restore {
        kind,
        node: node.clone(),
        volid: volid.clone(),
        vmid,
        name: Some(new_name.clone()),
        storage: r.storage.clone(),
        // a copy next to its original gets its own MAC addresses
        unique: source.is_some(),
    };
    let took = run_restore(ctx, &client, &restore, &endpoint).await?;
    audit(
        ctx,
        "restore",
        &format!("{} {vmid} {new_name}", kind_word(kind)),
        &volid,
    )
    .await?;
    let mut items = vec![Item::Status(format!(
        "Restored {volid} as {} {new_name} (vmid {vmid}) on {node} in {:.1} s.",
        kind_word(kind),
        took.as_secs_f64()
    ))];
    items.extend(write_restored_file(ctx, &client, &root, vmid, &new_name, &volid).await?);
    items.push(Item::Data {
        value: json!({
            "volid": volid, "vmid": vmid, "name": new_name, "node": node,
            "seconds": took.as_secs_f64(),
        }),
        table: Table::new(&[]),
    });
    Ok(items)
}

/// A guest name PVE accepts (a DNS name).
fn check_name(name: &str, kind: GuestKind) -> Result<(), CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(CommandError::user(format!(
            "`{name}` cannot name a {}: PVE wants a DNS name (letters, digits, '-', '.')",
            kind_word(kind)
        ))
        .hint("e.g. --as web-01-restored"))
    }
}

/// The backup must be of the named kind, and of the named guest when that still exists.
fn check_backup_matches(
    found: &BackupVolume,
    kind: GuestKind,
    name: &str,
    source: Option<&LiveGuest>,
) -> Result<(), CommandError> {
    if found.kind != kind.as_str() {
        return Err(CommandError::user(format!(
            "{} is a backup of a {}, not of a {}",
            found.volid,
            kind_word(GuestKind::parse(&found.kind).unwrap_or(kind)),
            kind_word(kind)
        ))
        .hint(
            "say `restore vm ...` for a qemu backup and `restore container ...` for an lxc one",
        ));
    }
    if let Some(g) = source
        && g.vmid != found.vmid
    {
        return Err(CommandError::user(format!(
            "{} is a backup of vmid {}, not of {name} (vmid {})",
            found.volid, found.vmid, g.vmid
        ))
        .hint(format!(
            "`backups {} {name}` lists {name}'s backups",
            kind_word(kind)
        )));
    }
    Ok(())
}

/// What one restore call does.
pub(crate) struct Restore {
    pub kind: GuestKind,
    pub node: String,
    pub volid: String,
    pub vmid: u32,
    pub name: Option<String>,
    pub storage: Option<String>,
    pub unique: bool,
}

/// Restores and follows the task; returns how long it took.
pub(crate) async fn run_restore(
    ctx: &Ctx,
    client: &Client,
    r: &Restore,
    endpoint: &str,
) -> Result<Duration, CommandError> {
    let mut body = params([("vmid", r.vmid.to_string())]);
    match r.kind {
        GuestKind::Qemu => {
            body.push(("archive".into(), r.volid.clone()));
            if let Some(n) = &r.name {
                body.push(("name".into(), n.clone()));
            }
        }
        GuestKind::Lxc => {
            body.push(("ostemplate".into(), r.volid.clone()));
            body.push(("restore".into(), "1".into()));
            if let Some(n) = &r.name {
                body.push(("hostname".into(), n.clone()));
            }
        }
    }
    if r.unique {
        body.push(("unique".into(), "1".into()));
    }
    if let Some(s) = &r.storage {
        body.push(("storage".into(), s.clone()));
    }
    let upid = client
        .create_guest(&r.node, r.kind, body)
        .await
        .map_err(|e| pve(e, endpoint))?;
    let what = format!("restore {}", r.volid);
    let (took, _) = follow(ctx, client, &upid, &what, endpoint).await?;
    Ok(took)
}

/// Writes the restored guest's file (with its import block) the way `/sync` writes a new
/// guest's: the sync adds files only for guests it has none for and leaves the others alone.
async fn write_restored_file(
    ctx: &mut Ctx,
    client: &Client,
    root: &std::path::Path,
    vmid: u32,
    name: &str,
    volid: &str,
) -> Result<Vec<Item>, CommandError> {
    let env = ctx.config()?.active.clone();
    let db = workspace_state::state_db(ctx).await?;
    let run = crate::commands::sync::sync_with(
        client,
        root,
        Some((&db, env.as_str())),
        crate::iac::sync::SyncOptions::default(),
        |_, _| {},
    )
    .await?;
    let mut note = crate::commands::commit::sync_note(&run);
    note.subject = Some(format!("restore {name} (vmid {vmid}) from {volid}"));
    ctx.change = note;
    let file = run
        .report
        .guests
        .iter()
        .find(|g| g.vmid == vmid)
        .map(|g| g.file.clone());
    Ok(match file {
        Some(f) => vec![Item::Status(format!(
            "Wrote {f} with its import block: the next /plan has nothing to do for {name}."
        ))],
        None => vec![Item::Warning(format!(
            "{name} (vmid {vmid}) has no file yet; run /sync to write it"
        ))],
    })
}

/// `forget-backup VOLID`: removes one backup volume (a protected one stays).
pub async fn forget_backup(ctx: &mut Ctx, r: &ForgetBackupRequest) -> Result<Report, CommandError> {
    ctx.workspace()?;
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let nodes = client.nodes().await.map_err(|e| pve(e, &endpoint))?;
    let mut found = None;
    for n in nodes
        .iter()
        .filter(|n| n.status.as_deref() != Some("offline"))
    {
        if let Ok(b) = find_backup(&client, &n.node, &r.volid, &endpoint).await {
            found = Some((n.node.clone(), b));
            break;
        }
    }
    let Some((node, backup)) = found else {
        return Err(
            CommandError::user(format!("there is no backup {}", r.volid))
                .hint("`backups` lists the backups with their volids; nothing was changed"),
        );
    };
    if backup.protected {
        return Err(CommandError::user(format!(
            "{} is protected: PVE keeps protected backups",
            backup.volid
        ))
        .hint("remove the protection first (Datacenter > Storage > Backups > Change Protection); nothing was changed"));
    }
    if !r.yes {
        ctx.confirm(&format!(
            "Remove the backup {} ({}, {} old) for good?",
            backup.volid,
            size_text(backup.size),
            age_text(backup.age_seconds)
        ))?;
    }
    let path = format!(
        "/nodes/{node}/storage/{}/content/{}",
        backup.storage,
        percent_encoding::utf8_percent_encode(&backup.volid, percent_encoding::NON_ALPHANUMERIC)
    );
    let value = client
        .write(Method::DELETE, &path, Params::new())
        .await
        .map_err(|e| pve(e, &endpoint))?;
    if let Some(upid) = value.as_str().and_then(|s| s.parse::<Upid>().ok()) {
        follow(
            ctx,
            &client,
            &upid,
            &format!("remove {}", backup.volid),
            &endpoint,
        )
        .await?;
    }
    audit(
        ctx,
        "forget-backup",
        &format!("backup {}", backup.vmid),
        &backup.volid,
    )
    .await?;
    Ok(vec![Item::Status(format!(
        "Removed the backup {} ({}).",
        backup.volid,
        size_text(backup.size)
    ))])
}

/// `/sync`'s part: reads the cluster's scheduled backup jobs and writes them as bpg
/// `proxmox_backup_job` resources ([`crate::iac::backup_jobs`]).
pub async fn sync_jobs(
    client: &Client,
    root: &std::path::Path,
    report: &mut crate::iac::sync::SyncReport,
) {
    let jobs = client
        .get::<Vec<Value>>("/cluster/backup", Params::new())
        .await
        .map_err(|e| e.to_string());
    crate::iac::backup_jobs::write_jobs(root, jobs, report);
}
