//! Backups: `POST /nodes/{node}/vzdump`, backup volumes as storage content (read one, its
//! notes and protection, delete it), and restoring one as a new guest (`POST .../qemu` with
//! `archive`, `POST .../lxc` with `ostemplate` + `restore=1`). Scheduled jobs are in
//! `backup_jobs`.
//!
//! PVE behaviour copied (pve-api/NOTES.md citation keys):
//! - a backup storage must have `backup` content: "can't use storage 'X' for backups - wrong
//!   content type" (PM `PVE/VZDump.pm` L202);
//! - a locked guest is not backed up: the task logs `ERROR: Backup of VM N failed - VM is
//!   locked (LOCK)` and ends with `job errors` (PM `PVE/VZDump.pm`, GC `AbstractConfig.pm`
//!   check_lock);
//! - volids `STORAGE:backup/vzdump-{qemu|lxc}-VMID-YYYY_MM_DD-HH_MM_SS.{vma|tar}[.zst|.gz|.lzo]`
//!   with the time in the name (pve-storage `PVE/Storage.pm` archive_info);
//! - a protected volume is not removed: "cannot remove protected volume 'NAME' on 'STORAGE'"
//!   (pve-storage `src/PVE/Storage/Plugin.pm` L1124 @ 0c56bad);
//! - restore: drive options conflict with `archive`; an existing VMID without `force` is
//!   refused with "unable to restore VM N -" (QS `src/PVE/API2/Qemu.pm` L1326, L1372).
//!
//! Where the simulator differs: backup times are UTC and made unique per volid by moving a
//! clash one second on (two backups of one guest in the same second would collide on PVE).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::sim::cluster::{BackupArchive, Cluster, Guest, GuestKind, is_disk_key};
use crate::sim::server::{lock, now};

use super::config::{config_changes, prepare_values};
use super::guests::check_lock;
use super::lifecycle::finish_new_guest;
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, check_node, ok, split_list};

const GIB: f64 = (1u64 << 30) as f64;

/// The archive file suffix for a guest kind and `compress` value.
fn archive_suffix(kind: GuestKind, compress: &str) -> String {
    let base = match kind {
        GuestKind::Qemu => "vma",
        GuestKind::Lxc => "tar",
    };
    match compress {
        "zstd" => format!("{base}.zst"),
        "gzip" => format!("{base}.gz"),
        "1" | "lzo" => format!("{base}.lzo"),
        _ => base.to_string(),
    }
}

/// `vzdump-qemu-100-2026_01_01-02_00_00` time as UTC, as PVE names archives.
fn archive_time(t: u64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.format("%Y_%m_%d-%H_%M_%S").to_string())
        .unwrap_or_else(|| "1970_01_01-00_00_00".into())
}

/// Reads (kind, vmid, ctime) from a backup volid's file name (PVE's archive_info does the same).
pub(crate) fn parse_backup_name(volid: &str) -> Option<(GuestKind, u32, u64)> {
    let name = volid.rsplit('/').next()?;
    let rest = name.strip_prefix("vzdump-")?;
    let (kind, rest) = if let Some(r) = rest.strip_prefix("qemu-") {
        (GuestKind::Qemu, r)
    } else {
        (GuestKind::Lxc, rest.strip_prefix("lxc-")?)
    };
    let (vmid, rest) = rest.split_once('-')?;
    let stamp: String = rest.chars().take(19).collect();
    let t = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y_%m_%d-%H_%M_%S").ok()?;
    Some((
        kind,
        vmid.parse().ok()?,
        t.and_utc().timestamp().max(0) as u64,
    ))
}

/// The volume's format word in content lists (`vma.zst`, `tar.gz`).
pub(crate) fn backup_format(volid: &str) -> String {
    let name = volid.rsplit('/').next().unwrap_or(volid);
    ["vma", "tar"]
        .iter()
        .find_map(|base| {
            name.find(&format!(".{base}"))
                .map(|i| name[i + 1..].to_string())
        })
        .unwrap_or_else(|| "vma".into())
}

/// The guests a vzdump call or job selects: `vmid` list, `all` (minus `exclude`) or `pool`;
/// `node` limits `all` and `pool` to that node's guests.
pub(super) fn selected_guests(
    cl: &Cluster,
    params: &BTreeMap<String, String>,
    node: Option<&str>,
) -> Vec<u32> {
    let flag = |k: &str| params.get(k).is_some_and(|v| v == "1");
    let on_node = |g: &Guest| node.is_none_or(|n| g.node == n);
    if let Some(list) = params.get("vmid") {
        return split_list(list)
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    if flag("all") {
        let excluded: BTreeSet<u32> = params
            .get("exclude")
            .map(|e| {
                split_list(e)
                    .iter()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        return cl
            .guests
            .values()
            .filter(|g| on_node(g) && !excluded.contains(&g.vmid))
            .map(|g| g.vmid)
            .collect();
    }
    if let Some(pool) = params.get("pool") {
        return cl
            .guests
            .values()
            .filter(|g| on_node(g) && g.pool.as_deref() == Some(pool.as_str()))
            .map(|g| g.vmid)
            .collect();
    }
    Vec::new()
}

/// Checks the backup storage: it exists, is on the node and takes backups.
fn backup_storage<'a>(cl: &'a Cluster, sid: &str, node: &str) -> Result<&'a str, ApiError> {
    let s = cl
        .storage(sid)
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
    if !s.on_node(node) {
        return Err(ApiError::internal(format!(
            "storage '{sid}' is not available on node '{node}'"
        )));
    }
    if !s.content.iter().any(|c| c == "backup") {
        return Err(ApiError::internal(format!(
            "can't use storage '{sid}' for backups - wrong content type"
        )));
    }
    Ok(s.id.as_str())
}

/// Fills `{{guestname}}`, `{{node}}`, `{{vmid}}` and `{{cluster}}` in a notes template.
fn notes_for(template: &str, g: &Guest, cluster: &str) -> String {
    template
        .replace("{{guestname}}", &g.name())
        .replace("{{node}}", &g.node)
        .replace("{{vmid}}", &g.vmid.to_string())
        .replace("{{cluster}}", cluster)
}

/// `POST /nodes/{node}/vzdump`.
pub(super) fn vzdump(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let node = ctx.node().to_string();
    if ctx.flag("all") && ctx.p("vmid").is_some() {
        return Err(ApiError::param(
            "all",
            "option conflicts with option 'vmid'",
        ));
    }
    if !(ctx.flag("all") || ctx.p("vmid").is_some() || ctx.p("pool").is_some()) {
        return Err(ApiError::param("vmid", "property is missing"));
    }
    let sid = backup_storage(&cl, ctx.p("storage").unwrap_or("local"), &node)?.to_string();
    ctx.require(&format!("/storage/{sid}"), "Datastore.AllocateSpace")?;
    let wanted = selected_guests(&cl, &ctx.params, Some(&node));
    let mut local = Vec::new();
    let mut skipped = Vec::new();
    for vmid in wanted {
        match cl.guests.get(&vmid) {
            Some(g) if g.node == node => {
                ctx.require(&format!("/vms/{vmid}"), "VM.Backup")?;
                local.push(vmid);
            }
            Some(_) => skipped.push(vmid),
            None => {
                return Err(ApiError::internal(format!("unable to find VM '{vmid}'")));
            }
        }
    }
    // Guests locked now fail in the task, as PVE's worker finds them; the others carry the
    // `backup` lock while it runs.
    let already_locked: BTreeMap<u32, String> = local
        .iter()
        .filter_map(|v| {
            cl.guests
                .get(v)
                .and_then(|g| g.lock().map(|l| (*v, l.to_string())))
        })
        .collect();
    for vmid in &local {
        if !already_locked.contains_key(vmid)
            && let Some(g) = cl.guests.get_mut(vmid)
        {
            g.config.insert("lock".into(), "backup".into());
        }
    }
    let job = DumpJob {
        storage: sid,
        mode: ctx.p("mode").unwrap_or("snapshot").to_string(),
        compress: ctx.p("compress").unwrap_or("0").to_string(),
        notes: ctx.p("notes-template").map(str::to_string),
        protected: ctx.flag("protected"),
        guests: local.clone(),
        skipped,
        already_locked: already_locked.clone(),
    };
    let id = if local.len() == 1 {
        local[0].to_string()
    } else {
        String::new()
    };
    let unlock: Vec<u32> = local
        .iter()
        .filter(|v| !already_locked.contains_key(v))
        .copied()
        .collect();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        "vzdump",
        &id,
        Box::new(move |cl, log| job.run(cl, log)),
        Some(Box::new(move |cl| {
            for vmid in unlock {
                if let Some(g) = cl.guests.get_mut(&vmid)
                    && g.lock() == Some("backup")
                {
                    g.config.remove("lock");
                }
            }
        })),
    );
    ok(json!(upid))
}

/// What one vzdump task does when it runs.
struct DumpJob {
    storage: String,
    mode: String,
    compress: String,
    notes: Option<String>,
    protected: bool,
    guests: Vec<u32>,
    skipped: Vec<u32>,
    already_locked: BTreeMap<u32, String>,
}

impl DumpJob {
    fn run(self, cl: &mut Cluster, log: &mut Vec<String>) -> Result<(), String> {
        if !self.skipped.is_empty() {
            let list: Vec<String> = self.skipped.iter().map(u32::to_string).collect();
            log.push(format!("skip external VMs: {}", list.join(", ")));
        }
        let mut errors = 0;
        for vmid in &self.guests {
            let Some(g) = cl.guests.get(vmid).cloned() else {
                log.push(format!(
                    "ERROR: Backup of VM {vmid} failed - VM {vmid} vanished"
                ));
                errors += 1;
                continue;
            };
            log.push(format!(
                "INFO: Starting Backup of VM {vmid} ({})",
                g.kind.as_str()
            ));
            if let Some(l) = self.already_locked.get(vmid) {
                log.push(format!(
                    "ERROR: Backup of VM {vmid} failed - {} is locked ({l})",
                    g.kind.word()
                ));
                errors += 1;
                continue;
            }
            log.push(format!("INFO: backup mode: {}", self.mode));
            let volid = self.write_archive(cl, &g);
            log.push(format!("INFO: creating vzdump archive '{volid}'"));
            log.push(format!("INFO: Finished Backup of VM {vmid}"));
            if let Some(g) = cl.guests.get_mut(vmid) {
                g.config.remove("lock");
            }
        }
        if errors > 0 {
            Err("job errors".into())
        } else {
            Ok(())
        }
    }

    /// Adds the archive volume to the storage and records what it holds; returns its volid.
    fn write_archive(&self, cl: &mut Cluster, g: &Guest) -> String {
        let suffix = archive_suffix(g.kind, &self.compress);
        let mut t = now();
        let volid = loop {
            let v = format!(
                "{}:backup/vzdump-{}-{}-{}.{suffix}",
                self.storage,
                g.kind.as_str(),
                g.vmid,
                archive_time(t)
            );
            if !cl.backups.contains_key(&v) {
                break v;
            }
            t += 1;
        };
        let data: u64 = g.disks().iter().map(|d| d.2).sum();
        // Only used blocks are read, and compression halves them again.
        let size = (data / if self.compress == "0" { 3 } else { 6 }).max(1 << 20);
        let mut config = g.config.clone();
        config.remove("lock");
        let cluster = cl.name.clone();
        let notes = self
            .notes
            .as_deref()
            .map(|t| notes_for(t, g, &cluster))
            .unwrap_or_default();
        cl.backups.insert(
            volid.clone(),
            BackupArchive {
                kind: g.kind,
                vmid: g.vmid,
                config,
                notes,
                protected: self.protected,
                ctime: t,
            },
        );
        if let Some(s) = cl.storages.iter_mut().find(|s| s.id == self.storage) {
            s.files.push((volid.clone(), "backup".into(), size));
            s.base_used = s.base_used.saturating_add(size);
        }
        volid
    }
}

/// The full volid of `{volume}` on `{storage}` (PVE takes either form).
fn full_volid(ctx: &Ctx) -> String {
    let volume = ctx.p("volume").unwrap_or("");
    if volume.contains(':') {
        volume.to_string()
    } else {
        format!("{}:{volume}", ctx.p("storage").unwrap_or(""))
    }
}

/// A file volume (backup, ISO, template) of a storage: (storage index, file index).
fn find_file(cl: &Cluster, volid: &str, node: &str) -> Result<(usize, usize), ApiError> {
    let sid = volid.split(':').next().unwrap_or("");
    let si = cl
        .storages
        .iter()
        .position(|s| s.id == sid && s.on_node(node))
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
    let fi = cl.storages[si]
        .files
        .iter()
        .position(|(v, _, _)| v == volid)
        .ok_or_else(|| ApiError::internal(format!("volume '{volid}' does not exist")))?;
    Ok((si, fi))
}

/// `GET /nodes/{node}/storage/{storage}/content/{volume}`.
pub(super) fn volume_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let volid = full_volid(ctx);
    let (si, fi) = find_file(&cl, &volid, ctx.node())?;
    let s = &cl.storages[si];
    let (_, content, size) = &s.files[fi];
    let name = volid.split_once(':').map(|(_, n)| n).unwrap_or("");
    let dir = s
        .path
        .clone()
        .unwrap_or_else(|| format!("/mnt/pve/{}", s.id));
    let path = match name.strip_prefix("backup/") {
        Some(file) => format!("{dir}/dump/{file}"),
        None => format!("{dir}/template/{name}"),
    };
    let format = if content == "backup" {
        backup_format(&volid)
    } else {
        name.rsplit('.').next().unwrap_or("raw").to_string()
    };
    let mut out = json!({"format": format, "path": path, "size": size, "used": size});
    if let Some(a) = cl.backups.get(&volid) {
        out["notes"] = json!(a.notes);
        out["protected"] = json!(u8::from(a.protected));
    }
    ok(out)
}

/// `PUT /nodes/{node}/storage/{storage}/content/{volume}`: notes and protection of a backup.
pub(super) fn volume_update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let volid = full_volid(ctx);
    find_file(&cl, &volid, ctx.node())?;
    let Some(a) = cl.backups.get_mut(&volid) else {
        return Err(ApiError::internal(format!(
            "volume '{volid}' is not a backup: notes and protection are only supported for backups"
        )));
    };
    if let Some(n) = ctx.p("notes") {
        a.notes = n.to_string();
    }
    if let Some(p) = ctx.p("protected") {
        a.protected = p == "1";
    }
    ok(Value::Null)
}

/// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`: a task (`imgdel`); a protected
/// backup stays and the task fails.
pub(super) fn volume_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let volid = full_volid(ctx);
    let sid = volid.split(':').next().unwrap_or("").to_string();
    ctx.require(&format!("/storage/{sid}"), "Datastore.Allocate")?;
    find_file(&cl, &volid, ctx.node())?;
    let node = ctx.node().to_string();
    // the task names the volume's owner (a UPID's id field holds no ':')
    let id = parse_backup_name(&volid)
        .map(|(_, vmid, _)| vmid.to_string())
        .unwrap_or_else(|| sid.clone());
    let on = node.clone();
    let upid = start_task(
        ctx,
        &mut cl,
        &on,
        "imgdel",
        &id,
        Box::new(move |cl, log| {
            let name = volid.split_once(':').map(|(_, n)| n).unwrap_or("");
            if cl.backups.get(&volid).is_some_and(|a| a.protected) {
                return Err(format!(
                    "cannot remove protected volume '{name}' on '{sid}'"
                ));
            }
            let (si, fi) = find_file(cl, &volid, &node).map_err(|e| e.message)?;
            let (_, _, size) = cl.storages[si].files.remove(fi);
            let s = &mut cl.storages[si];
            s.base_used = s.base_used.saturating_sub(size);
            cl.backups.remove(&volid);
            log.push(format!("Removed volume '{volid}'"));
            Ok(())
        }),
        None,
    );
    // With `delay`, PVE waits for the task and answers null when it ended well in time.
    let finished_ok = ctx.p("delay").is_some()
        && cl.task(&upid).is_some_and(|t| {
            matches!(&t.state, crate::sim::cluster::TaskState::Stopped { exitstatus, .. } if exitstatus == "OK")
        });
    ok(if finished_ok {
        Value::Null
    } else {
        json!(upid)
    })
}

/// Whether a create call is a restore: qemu with `archive`, lxc with `restore=1`.
pub(super) fn is_restore(ctx: &Ctx) -> bool {
    match ctx.kind() {
        GuestKind::Qemu => ctx.p("archive").is_some(),
        GuestKind::Lxc => ctx.flag("restore"),
    }
}

/// The archive's disk entries turned into allocation requests on `storage` (or their own
/// storage), so the normal allocation gives the new guest fresh volumes of the same sizes.
fn disk_requests(
    kind: GuestKind,
    config: &BTreeMap<String, String>,
    storage: Option<&str>,
    old: u32,
    new: u32,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in config {
        if key.starts_with("unused") || key == "lock" || key == "parent" {
            continue;
        }
        if !is_disk_key(kind, key) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        if value.contains("media=cdrom") {
            // a cloud-init drive belongs to the guest: it is made again under the new VMID
            out.insert(
                key.clone(),
                value.replace(&format!("-{old}-cloudinit"), &format!("-{new}-cloudinit")),
            );
            continue;
        }
        let volid = value.split(',').next().unwrap_or("");
        let sid = storage.unwrap_or_else(|| volid.split(':').next().unwrap_or(""));
        let bytes = crate::sim::cluster::size_of(value);
        let rest: Vec<&str> = value
            .split(',')
            .skip(1)
            .filter(|p| !p.starts_with("size="))
            .collect();
        let gib = bytes as f64 / GIB;
        let mut request = format!("{sid}:{gib}");
        for part in rest {
            request.push(',');
            request.push_str(part);
        }
        out.insert(key.clone(), request);
    }
    out
}

/// Drops the MAC of every NIC so it is generated anew (`unique=1`), with a new VM generation
/// id and SMBIOS UUID for a VM.
fn make_unique(kind: GuestKind, config: &mut BTreeMap<String, String>) {
    for (key, value) in config.iter_mut() {
        let nic = key
            .strip_prefix("net")
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()));
        if !nic {
            continue;
        }
        let parts: Vec<String> = value
            .split(',')
            .filter(|p| !p.starts_with("hwaddr=") && !p.starts_with("macaddr="))
            .map(|p| match (kind, p.split_once('=')) {
                (GuestKind::Qemu, Some((model, mac))) if mac.contains(':') => model.to_string(),
                _ => p.to_string(),
            })
            .collect();
        *value = parts.join(",");
    }
    if kind == GuestKind::Qemu {
        config.remove("vmgenid");
        config.remove("smbios1");
    }
}

/// `POST /nodes/{node}/qemu` with `archive`, `POST /nodes/{node}/lxc` with `restore=1`.
pub(super) fn guest_restore(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let kind = ctx.kind();
    let vmid = ctx.vmid();
    let node = ctx.node().to_string();
    let what = format!("unable to restore {} {vmid} -", kind.word());
    let volid = match kind {
        GuestKind::Qemu => ctx.p("archive"),
        GuestKind::Lxc => ctx.p("ostemplate"),
    }
    .unwrap_or("")
    .to_string();
    if kind == GuestKind::Qemu {
        let mut drives = BTreeMap::new();
        for key in ctx.params.keys().filter(|k| is_disk_key(kind, k)) {
            drives.insert(
                key.clone(),
                "option conflicts with option 'archive'".to_string(),
            );
        }
        if !drives.is_empty() {
            return Err(ApiError::params(drives));
        }
    }
    let sid = volid.split(':').next().unwrap_or("");
    if cl.storage(sid).is_none() {
        return Err(ApiError::internal(format!(
            "storage '{sid}' does not exist"
        )));
    }
    let archive = cl
        .backups
        .get(&volid)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("volume '{volid}' does not exist")))?;
    if archive.kind != kind {
        return Err(ApiError::internal(format!(
            "{what} archive '{volid}' is a {} backup, not a {} one",
            archive.kind.as_str(),
            kind.as_str()
        )));
    }
    if let Some(p) = ctx.p("pool")
        && !cl.pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    let replaced = check_target(ctx, &cl, vmid, kind, &what)?;
    let mut base = archive.config.clone();
    if ctx.flag("unique") {
        make_unique(kind, &mut base);
    }
    let mut changes = disk_requests(kind, &base, ctx.p("storage"), archive.vmid, vmid);
    for (k, v) in config_changes(ctx) {
        changes.insert(k, v);
    }
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let mut config = prepare_values(&cl, kind, &node, vmid, &BTreeMap::new(), &changes, mac_base)
        .map_err(|e| ApiError::internal(format!("{what} {}", e.message)))?;
    if kind == GuestKind::Qemu && ctx.flag("unique") {
        config.insert(
            "vmgenid".into(),
            format!(
                "9b3e2c4d-0000-4000-8000-{:012x}",
                (u64::from(vmid) ^ mac_base) & 0xffff_ffff_ffff
            ),
        );
    }
    config.insert("lock".into(), "create".into());
    let previous = replaced.then(|| cl.guests.remove(&vmid)).flatten();
    cl.guests.insert(
        vmid,
        Guest {
            vmid,
            kind,
            node: node.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            started_at: None,
            snapshots: Vec::new(),
            agent_running: false,
            paused: false,
            ip: None,
            pool: ctx.p("pool").map(str::to_string),
        },
    );
    let start = ctx.flag("start");
    let task_type = match kind {
        GuestKind::Qemu => "qmrestore",
        GuestKind::Lxc => "vzrestore",
    };
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        task_type,
        &vmid.to_string(),
        Box::new(move |cl, log| {
            log.push(format!("restore vzdump archive '{volid}'"));
            finish_new_guest(cl, vmid, kind, start, log, |key, volid, size| {
                format!("{key}: new volume '{volid}' (size={size})")
            })
        }),
        Some(Box::new(move |cl| {
            cl.guests.remove(&vmid);
            if let Some(old) = previous {
                cl.guests.insert(vmid, old);
            }
        })),
    );
    ok(json!(upid))
}

/// A restore's VMID must be free, or taken by a stopped, unprotected guest with `force=1`
/// (returns true then: that guest is replaced).
fn check_target(
    ctx: &Ctx,
    cl: &Cluster,
    vmid: u32,
    kind: GuestKind,
    what: &str,
) -> Result<bool, ApiError> {
    let Some(other) = cl.guests.get(&vmid) else {
        return Ok(false);
    };
    if !ctx.flag("force") || other.kind != kind {
        return Err(ApiError::internal(format!(
            "{what} {} {vmid} already exists on node '{}'",
            other.kind.word(),
            other.node
        )));
    }
    check_lock(ctx, cl, other)?;
    if other.config.get("protection").is_some_and(|p| p == "1") {
        return Err(ApiError::internal(format!(
            "{what} {} {vmid} is protected",
            kind.word()
        )));
    }
    if other.running {
        return Err(ApiError::internal(format!("{what} vm is running")));
    }
    Ok(true)
}
