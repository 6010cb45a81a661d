//! Creating and destroying guests, and converting one into a template.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Guest, GuestKind, format_size};
use crate::sim::server::{lock, now};

use super::config::{config_changes, prepare_values};
use super::disks::check_capacity;
use super::guests::{check_lock, guest, returns_upid};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, check_node, ok};

pub(super) fn guest_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    if super::backup::is_restore(ctx) {
        return super::backup::guest_restore(ctx);
    }
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let kind = ctx.kind();
    let vmid = ctx.vmid();
    let node = ctx.node().to_string();
    if let Some(other) = cl.guests.get(&vmid) {
        return Err(ApiError::internal(format!(
            "{} {vmid} already exists on node '{}'",
            kind.word(),
            other.node
        )));
    }
    let pool = ctx.p("pool").map(str::to_string);
    if let Some(p) = &pool
        && !cl.pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    let mut changes = config_changes(ctx);
    if kind == GuestKind::Lxc && !changes.contains_key("rootfs") {
        let default_storage = ctx.p("storage").unwrap_or("local-lvm");
        changes.insert("rootfs".into(), format!("{default_storage}:4"));
    }
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let mut config = prepare_values(&cl, kind, &node, vmid, &BTreeMap::new(), &changes, mac_base)?;
    let ctime = now();
    match kind {
        GuestKind::Qemu => {
            config.entry("smbios1".into()).or_insert_with(|| {
                format!(
                    "uuid=5f1c0a2e-0000-4000-8000-{:012x}",
                    (u64::from(vmid) ^ mac_base) & 0xffff_ffff_ffff
                )
            });
            config.entry("vmgenid".into()).or_insert_with(|| {
                format!(
                    "9b3e2c4d-0000-4000-8000-{:012x}",
                    (u64::from(vmid) ^ mac_base) & 0xffff_ffff_ffff
                )
            });
            config.insert("meta".into(), format!("creation-qemu=9.2.0,ctime={ctime}"));
        }
        GuestKind::Lxc => {
            config
                .entry("arch".into())
                .or_insert_with(|| "amd64".into());
            let template = ctx.p("ostemplate").unwrap_or("");
            let ostype = [
                "debian",
                "ubuntu",
                "alpine",
                "centos",
                "fedora",
                "archlinux",
            ]
            .into_iter()
            .find(|o| template.contains(o))
            .unwrap_or("unmanaged");
            config
                .entry("ostype".into())
                .or_insert_with(|| ostype.into());
        }
    }
    config.insert("lock".into(), "create".into());
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
            pool: pool.clone(),
        },
    );
    let start = ctx.flag("start");
    let ostemplate = ctx.p("ostemplate").map(str::to_string);
    let task_type = format!("{}create", kind.task_prefix());
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &task_type,
        &vmid.to_string(),
        Box::new(move |cl, log| {
            if let Some(t) = &ostemplate {
                let exists = cl
                    .storages
                    .iter()
                    .any(|s| s.files.iter().any(|(v, _, _)| v == t));
                if !exists {
                    return Err(format!("volume '{t}' does not exist"));
                }
                log.push(format!("extracting archive '{t}'"));
            }
            finish_new_guest(cl, vmid, kind, start, log, |key, volid, size| {
                format!("{key}: successfully created disk '{volid},size={size}'")
            })
        }),
        Some(Box::new(move |cl| {
            cl.guests.remove(&vmid);
        })),
    );
    ok(json!(upid))
}

/// The end of a create or restore task: the disks allocated (each logged as `disk_line` words
/// it from key, volid and size), the create lock released, the guest started when asked.
pub(super) fn finish_new_guest(
    cl: &mut Cluster,
    vmid: u32,
    kind: GuestKind,
    start: bool,
    log: &mut Vec<String>,
    disk_line: fn(&str, &str, &str) -> String,
) -> Result<(), String> {
    check_capacity(cl, vmid)?;
    let g = cl
        .guests
        .get_mut(&vmid)
        .ok_or_else(|| format!("{} {vmid} vanished", kind.word()))?;
    for (key, volid, size) in g.disks() {
        log.push(disk_line(&key, &volid, &format_size(size)));
    }
    g.config.remove("lock");
    if start {
        g.running = true;
        g.started_at = Some(now());
        g.agent_running = g.config.contains_key("agent");
    }
    Ok(())
}

pub(super) fn guest_destroy(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    if g.config.get("protection").is_some_and(|p| p == "1") {
        return Err(ApiError::internal(format!(
            "can't remove {} {} - protection mode enabled",
            g.kind.word(),
            g.vmid
        )));
    }
    if g.running {
        return Err(ApiError::internal(format!(
            "{} {} is running - destroy failed",
            g.kind.word(),
            g.vmid
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    let purge = ctx.flag("purge");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}destroy", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .remove(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            for (_, volid, _) in g.disks() {
                log.push(format!("Removing image: 100% complete...done. ({volid})"));
            }
            if purge {
                log.push(format!(
                    "purging {} {vmid} from related configurations",
                    kind.word()
                ));
            }
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}

pub(super) fn guest_template(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    if g.is_template() {
        return Err(ApiError::internal(format!(
            "{} {} is already a template",
            g.kind.word(),
            g.vmid
        )));
    }
    if g.running {
        return Err(ApiError::internal(format!(
            "you can't convert a running {} to template",
            if g.kind == GuestKind::Qemu {
                "VM"
            } else {
                "CT"
            }
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let convert = move |g: &mut Guest| {
        let disks: Vec<String> = g.disks().into_iter().map(|d| d.0).collect();
        for key in disks {
            if let Some(v) = g.config.get(&key).cloned() {
                g.config.insert(
                    key,
                    v.replacen(&format!("vm-{vmid}-disk"), &format!("base-{vmid}-disk"), 2),
                );
            }
        }
        g.config.insert("template".into(), "1".into());
    };
    if !returns_upid(ctx, "POST") {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            convert(g);
        }
        return ok(Value::Null);
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}template", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            convert(g);
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}
