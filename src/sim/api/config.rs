//! Guest configuration: reading it (current, pending, snapshot), and updating it synchronously
//! (`PUT .../config`, `PUT .../unlink`) or as a task (`POST .../config`), with disk allocation
//! from `STORAGE:SIZE` values and `[PENDING]` changes for running guests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Guest, GuestKind, format_size, is_disk_key};
use crate::sim::conf::{canonical_value, config_to_json, digest};
use crate::sim::server::lock;

use super::guests::{check_digest, check_lock, guest};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, ok, split_list};

pub(super) fn guest_config_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let map = if let Some(snap) = ctx.p("snapshot") {
        g.snapshots
            .iter()
            .find(|s| s.name == snap)
            .map(|s| s.config.clone())
            .ok_or_else(|| ApiError::internal(format!("snapshot '{snap}' does not exist")))?
    } else if ctx.flag("current") {
        g.config.clone()
    } else {
        let mut merged = g.config.clone();
        for (k, v) in &g.pending {
            merged.insert(k.clone(), v.clone());
        }
        for k in &g.pending_delete {
            merged.remove(k);
        }
        merged
    };
    let mut obj = config_to_json(g.kind, &map);
    // PVE never hands out the cloud-init password hash
    if obj.contains_key("cipassword") {
        obj.insert("cipassword".into(), json!("**********"));
    }
    obj.insert("digest".into(), json!(digest(g)));
    ok(Value::Object(obj))
}

pub(super) fn guest_pending(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let current = config_to_json(g.kind, &g.config);
    let pending = config_to_json(g.kind, &g.pending);
    let keys: BTreeSet<&String> = current
        .keys()
        .chain(pending.keys())
        .chain(g.pending_delete.iter())
        .collect();
    let out: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            let mut o = json!({"key": k});
            if let Some(v) = current.get(k) {
                o["value"] = v.clone();
            }
            if let Some(v) = pending.get(k) {
                o["pending"] = v.clone();
            }
            if g.pending_delete.contains(k) {
                o["delete"] = json!(1);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

/// Keys that need a restart to change on a running guest (they go to `[PENDING]`).
fn needs_restart(kind: GuestKind, key: &str) -> bool {
    let num = |p: &str| {
        key.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    match kind {
        GuestKind::Qemu => {
            matches!(
                key,
                "cores"
                    | "sockets"
                    | "memory"
                    | "cpu"
                    | "machine"
                    | "bios"
                    | "ostype"
                    | "vga"
                    | "args"
                    | "numa"
                    | "scsihw"
                    | "balloon"
                    | "agent"
                    | "tpmstate0"
                    | "efidisk0"
            ) || num("hostpci")
                || num("usb")
                || num("serial")
        }
        GuestKind::Lxc => {
            matches!(
                key,
                "ostype" | "arch" | "features" | "unprivileged" | "rootfs"
            ) || num("mp")
        }
    }
}

/// Parameters of a config update / create that are not config keys.
const NON_CONFIG: &[&str] = &[
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
    "start",
    "pool",
    "storage",
    "unique",
    "archive",
    "live-restore",
    "bwlimit",
    "ostemplate",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "restore",
    "ha-managed",
    "import-working-storage",
];

/// Turns `STORAGE:SIZE` disk values into allocated volumes; other values get canonical form.
pub(super) fn prepare_values(
    cl: &Cluster,
    kind: GuestKind,
    node: &str,
    vmid: u32,
    existing: &BTreeMap<String, String>,
    changes: &BTreeMap<String, String>,
    mac_base: u64,
) -> Result<BTreeMap<String, String>, ApiError> {
    let alloc_re = regex::Regex::new(r"^([A-Za-z][A-Za-z0-9\-_.]*):(\d+(?:\.\d+)?)(,.*)?$")
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut next_disk = existing
        .values()
        .chain(
            cl.guests
                .get(&vmid)
                .map(|g| g.pending.values())
                .into_iter()
                .flatten(),
        )
        .filter_map(|v| {
            let pat = format!("-{vmid}-disk-");
            v.find(&pat).and_then(|i| {
                v[i + pat.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
            })
        })
        .max()
        .map(|n| n + 1)
        .unwrap_or(0);
    let mut out = BTreeMap::new();
    for (i, (key, value)) in changes.iter().enumerate() {
        let mut value = value.clone();
        if key == "cipassword" {
            let d = <sha2::Sha256 as sha2::Digest>::digest(value.as_bytes());
            value = format!("$5$simsalt${}", &hex::encode(d)[..43]);
        }
        if is_disk_key(kind, key)
            && !value.contains("media=cdrom")
            && let Some(caps) = alloc_re.captures(&value)
        {
            {
                let sid = caps.get(1).map(|m| m.as_str()).unwrap_or("");
                let size_gib: f64 = caps
                    .get(2)
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(0.0);
                let rest = caps.get(3).map(|m| m.as_str()).unwrap_or("");
                let s = cl
                    .storage(sid)
                    .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
                if !s.on_node(node) {
                    return Err(ApiError::internal(format!(
                        "storage '{sid}' is not available on node '{node}'"
                    )));
                }
                let wanted = if kind == GuestKind::Qemu {
                    "images"
                } else {
                    "rootdir"
                };
                if !s.content.iter().any(|c| c == wanted) {
                    return Err(ApiError::internal(format!(
                        "storage '{sid}' does not support {} content",
                        if kind == GuestKind::Qemu {
                            "vm image"
                        } else {
                            "container"
                        }
                    )));
                }
                if size_gib > 0.0 {
                    let n = next_disk;
                    next_disk += 1;
                    let volid = match s.kind.as_str() {
                        "lvmthin" | "lvm" | "zfspool" | "rbd" => {
                            format!("{sid}:vm-{vmid}-disk-{n}")
                        }
                        _ if kind == GuestKind::Lxc => {
                            format!("{sid}:{vmid}/vm-{vmid}-disk-{n}.raw")
                        }
                        _ => format!("{sid}:{vmid}/vm-{vmid}-disk-{n}.qcow2"),
                    };
                    let bytes = (size_gib * (1u64 << 30) as f64) as u64;
                    let rest = rest
                        .split(',')
                        .filter(|p| !p.is_empty() && !p.starts_with("size="))
                        .collect::<Vec<_>>()
                        .join(",");
                    value = format!("{volid},{rest},size={}", format_size(bytes));
                }
            }
        }
        if is_disk_key(kind, key)
            && !value.contains("media=cdrom")
            && !value.split(',').any(|p| p.starts_with("size="))
            && let Some(bytes) = known_size(cl, existing, &value)
        {
            // PVE reads an attached volume's size from its storage and writes it into the
            // drive (QS src/PVE/API2/Qemu.pm L712-714 @ e6352be)
            value = format!("{value},size={}", format_size(bytes));
        }
        let canonical = canonical_value(kind, key, &value, mac_base + i as u64);
        out.insert(key.clone(), canonical);
    }
    Ok(out)
}

/// The size of an existing volume a drive value names: from a drive of this guest or another
/// that has it, or from the sizes of detached (`unusedN`) volumes.
fn known_size(cl: &Cluster, existing: &BTreeMap<String, String>, value: &str) -> Option<u64> {
    let volid = value.split(',').next().filter(|v| v.contains(':'))?;
    let same = |v: &String| v.split(',').next() == Some(volid);
    existing
        .values()
        .chain(cl.guests.values().flat_map(|g| g.config.values()))
        .filter(|v| same(v))
        .map(|v| crate::sim::cluster::size_of(v))
        .find(|s| *s > 0)
        .or_else(|| cl.volume_sizes.get(volid).copied())
}

/// Detaching a disk without `force` keeps its volume as the first free `unusedN` (QS
/// src/PVE/QemuServer.pm L1583 vmconfig_register_unused_drive, L4969
/// vmconfig_delete_or_detach_drive @ e6352be); CD-ROMs and cloud-init drives just go. Returns
/// the detached volumes with their sizes (an `unusedN` entry carries none).
fn detach(g: &mut Guest, key: &str, force: bool) -> Option<(String, u64)> {
    let value = g.config.get(key)?.clone();
    if !is_disk_key(g.kind, key) || value.contains("media=cdrom") || force {
        return None;
    }
    let volid = value
        .split(',')
        .next()
        .filter(|v| v.contains(':'))?
        .to_string();
    if !g.config.values().any(|v| *v == volid) {
        let n = (0..256)
            .find(|n| !g.config.contains_key(&format!("unused{n}")))
            .unwrap_or(255);
        g.config.insert(format!("unused{n}"), volid.clone());
    }
    Some((volid, crate::sim::cluster::size_of(&value)))
}

pub(super) fn config_changes(ctx: &Ctx) -> BTreeMap<String, String> {
    ctx.params
        .iter()
        .filter(|(k, _)| !NON_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies prepared changes, deletions and reverts to a guest (pending for a running guest where
/// the key needs a restart).
fn apply_changes(
    g: &mut Guest,
    values: BTreeMap<String, String>,
    deletes: &[String],
    reverts: &[String],
    force: bool,
) -> Vec<(String, u64)> {
    let mut detached = Vec::new();
    for k in reverts {
        g.pending.remove(k);
        g.pending_delete.remove(k);
    }
    for (k, v) in values {
        if is_disk_key(g.kind, &k) {
            // a volume attached again is no longer unused
            let volid = v.split(',').next().unwrap_or("").to_string();
            g.config
                .retain(|key, value| !(key.starts_with("unused") && *value == volid));
        }
        if g.running && needs_restart(g.kind, &k) {
            g.pending.insert(k.clone(), v);
            g.pending_delete.remove(&k);
        } else {
            g.config.insert(k.clone(), v);
            g.pending.remove(&k);
            g.pending_delete.remove(&k);
        }
    }
    for k in deletes {
        if g.running && needs_restart(g.kind, k) && g.config.contains_key(k) {
            g.pending_delete.insert(k.clone());
        } else {
            detached.extend(detach(g, k, force));
            g.config.remove(k);
            g.pending.remove(k);
        }
    }
    detached
}

fn update_config(ctx: &Ctx, as_task: bool) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_digest(ctx, g)?;
    check_lock(ctx, &cl, g)?;
    let changes = config_changes(ctx);
    let deletes = ctx.p("delete").map(split_list).unwrap_or_default();
    let reverts = ctx.p("revert").map(split_list).unwrap_or_default();
    if changes.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(ApiError::internal("no options specified"));
    }
    for k in &deletes {
        if changes.contains_key(k) {
            return Err(ApiError::param(k, "conflicting parameters: delete and set"));
        }
    }
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let values = prepare_values(&cl, g.kind, &g.node, g.vmid, &g.config, &changes, mac_base)?;
    let vmid = g.vmid;
    let force = ctx.flag("force");
    if !as_task {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            let detached = apply_changes(g, values, &deletes, &reverts, force);
            cl.volume_sizes.extend(detached);
        }
        return ok(Value::Null);
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        "qmconfig",
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("VM {vmid} does not exist"))?;
            log.push(format!(
                "update VM {vmid}: {}",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            let detached = apply_changes(g, values, &deletes, &reverts, force);
            cl.volume_sizes.extend(detached);
            Ok(())
        }),
        None,
    );
    let delay: u64 = ctx
        .p("background_delay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Reply {
        data: json!(upid.clone()),
        total: None,
        wait_for: (delay > 0).then(|| (upid, Duration::from_secs(delay))),
    })
}

pub(super) fn guest_config_put(ctx: &Ctx) -> Result<Reply, ApiError> {
    update_config(ctx, false)
}

pub(super) fn guest_config_post(ctx: &Ctx) -> Result<Reply, ApiError> {
    update_config(ctx, true)
}

/// `PUT .../unlink` (used by Ansible's proxmox_disk to remove a disk): PVE runs it as a
/// synchronous config update with `idlist` as `delete` (qemu-server Qemu.pm, unlink ->
/// update_vm), so it answers `null` and errors as a config update would.
pub(super) fn guest_unlink(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut params = ctx.params.clone();
    if let Some(ids) = params.remove("idlist") {
        params.insert("delete".to_string(), ids);
    }
    let update = Ctx {
        shared: ctx.shared.clone(),
        params,
        caller: ctx.caller.clone(),
        route_path: "/nodes/{node}/qemu/{vmid}/config",
    };
    update_config(&update, false)
}
