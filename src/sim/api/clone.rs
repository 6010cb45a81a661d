//! Cloning a guest (full or linked), with fresh volume ids, MACs and identifiers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::sim::cluster::{Guest, GuestKind, is_disk_key};
use crate::sim::conf::canonical_value;
use crate::sim::server::lock;

use super::disks::check_capacity;
use super::guests::{guest, locked_message};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, check_node, ok};

/// Rewrites a volume id for a clone: `local-lvm:vm-100-disk-0` -> `local-lvm:vm-123-disk-0`;
/// a linked clone of a template keeps its base: `local-lvm:base-9000-disk-0/vm-123-disk-0`.
fn clone_volid(
    volid: &str,
    src: u32,
    new: u32,
    linked: bool,
    target_storage: Option<&str>,
) -> String {
    let (sid, path) = volid.split_once(':').unwrap_or(("local", volid));
    let file = path.rsplit('/').next().unwrap_or(path);
    let renamed = file
        .replace(&format!("base-{src}-"), &format!("vm-{new}-"))
        .replace(&format!("vm-{src}-"), &format!("vm-{new}-"));
    if linked {
        return format!("{sid}:{file}/{renamed}");
    }
    let sid = target_storage.unwrap_or(sid);
    if path.contains('/') {
        format!("{sid}:{new}/{renamed}")
    } else {
        format!("{sid}:{renamed}")
    }
}

/// The clone's config from the source's (current or snapshot) config: snapshot and template keys
/// dropped, every NIC with a fresh MAC, disks on new volume ids (`clone_volid`), the cloud-init
/// volume renamed, and new `smbios1`/`vmgenid` identifiers.
fn clone_config(
    src: &Guest,
    source_config: &BTreeMap<String, String>,
    newid: u32,
    linked: bool,
    target_storage: Option<&str>,
    mac_base: u64,
) -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    for (i, (k, v)) in source_config.iter().enumerate() {
        if matches!(
            k.as_str(),
            "template" | "lock" | "parent" | "snaptime" | "vmstate"
        ) {
            continue;
        }
        let value = if k.starts_with("net") && k[3..].bytes().all(|b| b.is_ascii_digit()) {
            // a fresh MAC for every NIC of the clone
            let stripped: Vec<&str> = v
                .split(',')
                .map(|p| match p.split_once('=') {
                    Some((m, _))
                        if src.kind == GuestKind::Qemu
                            && !p.starts_with("bridge")
                            && !m.contains("firewall")
                            && p.matches(':').count() == 5 =>
                    {
                        m
                    }
                    _ => p,
                })
                .filter(|p| !p.starts_with("hwaddr=") && !p.starts_with("macaddr="))
                .collect();
            canonical_value(src.kind, k, &stripped.join(","), mac_base + i as u64)
        } else if v.contains("cloudinit") {
            v.replace(
                &format!("vm-{}-cloudinit", src.vmid),
                &format!("vm-{newid}-cloudinit"),
            )
        } else if (is_disk_key(src.kind, k)) && !v.contains("media=cdrom") {
            let mut parts = v.splitn(2, ',');
            let volid = parts.next().unwrap_or("");
            let rest = parts.next().map(|r| format!(",{r}")).unwrap_or_default();
            format!(
                "{}{rest}",
                clone_volid(volid, src.vmid, newid, linked, target_storage)
            )
        } else if k == "smbios1" {
            format!(
                "uuid=5f1c0a2e-0000-4000-8000-{:012x}",
                (u64::from(newid) ^ mac_base) & 0xffff_ffff_ffff
            )
        } else if k == "vmgenid" {
            format!(
                "9b3e2c4d-0000-4000-8000-{:012x}",
                (u64::from(newid) ^ mac_base) & 0xffff_ffff_ffff
            )
        } else {
            v.clone()
        };
        config.insert(k.clone(), value);
    }
    config
}

pub(super) fn guest_clone(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let src = guest(&cl, ctx)?.clone();
    let newid: u32 = ctx.p("newid").and_then(|v| v.parse().ok()).unwrap_or(0);
    ctx.require(&format!("/vms/{newid}"), "VM.Allocate")?;
    if cl.guests.contains_key(&newid) {
        return Err(ApiError::internal(match src.kind {
            GuestKind::Qemu => format!("unable to create VM {newid}: config file already exists"),
            GuestKind::Lxc => format!(
                "CT {newid} already exists on node '{}'",
                cl.guests[&newid].node
            ),
        }));
    }
    if let Some(msg) = locked_message(&src) {
        return Err(ApiError::internal(msg));
    }
    let target = ctx.p("target").unwrap_or(ctx.node()).to_string();
    check_node(&cl, &target)?;
    let pool = ctx.p("pool").map(str::to_string);
    if let Some(p) = &pool
        && !cl.pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    let linked = src.is_template() && !ctx.flag("full");
    if !linked && target != ctx.node() {
        for (_, volid, _) in src.disks() {
            let sid = volid.split(':').next().unwrap_or("");
            if cl.storage(sid).is_some_and(|s| !s.shared) && ctx.p("storage").is_none() {
                return Err(ApiError::internal(format!(
                    "can't clone VM to node '{target}' (VM uses local storage)"
                )));
            }
        }
    }
    let source_config = match ctx.p("snapname") {
        Some(snap) => src
            .snapshots
            .iter()
            .find(|s| s.name == snap)
            .map(|s| s.config.clone())
            .ok_or_else(|| ApiError::internal(format!("snapshot '{snap}' does not exist")))?,
        None => src.config.clone(),
    };
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let mut config = clone_config(
        &src,
        &source_config,
        newid,
        linked,
        ctx.p("storage"),
        mac_base,
    );
    match src.kind {
        GuestKind::Qemu => {
            let name = ctx
                .p("name")
                .map(str::to_string)
                .unwrap_or_else(|| format!("Copy-of-VM-{}", src.name()));
            config.insert("name".into(), name);
        }
        GuestKind::Lxc => {
            if let Some(h) = ctx.p("hostname") {
                config.insert("hostname".into(), h.to_string());
            }
        }
    }
    if let Some(d) = ctx.p("description") {
        config.insert("description".into(), d.to_string());
    }
    config.insert("lock".into(), "clone".into());
    cl.guests.insert(
        newid,
        Guest {
            vmid: newid,
            kind: src.kind,
            node: target.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            started_at: None,
            snapshots: Vec::new(),
            agent_running: false,
            paused: false,
            ip: None,
            pool,
        },
    );
    let node = ctx.node().to_string();
    let kind = src.kind;
    let src_vmid = src.vmid;
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}clone", kind.task_prefix()),
        &src_vmid.to_string(),
        Box::new(move |cl, log| {
            check_capacity(cl, newid)?;
            let g = cl
                .guests
                .get_mut(&newid)
                .ok_or_else(|| format!("{} {newid} vanished", kind.word()))?;
            log.push(format!(
                "create {} clone of drive(s) of {} {src_vmid}",
                if linked { "linked" } else { "full" },
                kind.word()
            ));
            g.config.remove("lock");
            Ok(())
        }),
        Some(Box::new(move |cl| {
            cl.guests.remove(&newid);
        })),
    );
    ok(json!(upid))
}
