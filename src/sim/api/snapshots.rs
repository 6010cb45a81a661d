//! Snapshots: list, create, roll back and delete (with the parent chain kept intact).

use serde_json::{Value, json};

use crate::sim::cluster::Snapshot;
use crate::sim::server::{lock, now};

use super::guests::{check_lock, clear_lock, guest, set_lock};
use super::power::{do_start, do_stop};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, ok};

pub(super) fn snapshot_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let mut out: Vec<Value> = g
        .snapshots
        .iter()
        .map(|s| {
            let mut o =
                json!({"name": s.name, "description": s.description, "snaptime": s.snaptime});
            if let Some(p) = &s.parent {
                o["parent"] = json!(p);
            }
            if s.config.contains_key("vmstate") {
                o["vmstate"] = json!(1);
            }
            o
        })
        .collect();
    let mut current =
        json!({"name": "current", "description": "You are here!", "running": u8::from(g.running)});
    if let Some(p) = g.config.get("parent") {
        current["parent"] = json!(p);
    }
    out.push(current);
    ok(Value::Array(out))
}

pub(super) fn snapshot_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if name == "current" || g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot name '{name}' already used"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let description = ctx.p("description").unwrap_or("").to_string();
    let vmstate = ctx.flag("vmstate") && g.running;
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.insert("lock".into(), "snapshot".into());
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}snapshot", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            g.config.remove("lock");
            let mut config = g.config.clone();
            let snaptime = now();
            config.insert("snaptime".into(), snaptime.to_string());
            if vmstate {
                config.insert(
                    "vmstate".into(),
                    format!("local-lvm:vm-{vmid}-state-{name}"),
                );
            }
            if !description.is_empty() {
                config.insert("description".into(), description.clone());
            }
            g.snapshots.push(Snapshot {
                name: name.clone(),
                description,
                snaptime,
                parent: g.config.get("parent").cloned(),
                config,
            });
            g.config.insert("parent".into(), name.clone());
            log.push(format!("snapshot '{name}' created"));
            Ok(())
        }),
        Some(Box::new(move |cl| {
            if let Some(g) = cl.guests.get_mut(&vmid) {
                g.config.remove("lock");
            }
        })),
    );
    ok(json!(upid))
}

pub(super) fn snapshot_rollback(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot '{name}' does not exist"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let start = ctx.flag("start");
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "rollback");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}rollback", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let snap = g
                .snapshots
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
            let mut config = snap.config.clone();
            let had_state = config.remove("vmstate").is_some();
            config.remove("snaptime");
            config.insert("parent".into(), name.clone());
            g.config = config;
            g.pending.clear();
            g.pending_delete.clear();
            if !had_state {
                do_stop(g)?;
            }
            if start && !g.running {
                do_start(g)?;
            }
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}

pub(super) fn snapshot_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    if !ctx.flag("force") {
        check_lock(ctx, &cl, g)?;
    }
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot '{name}' does not exist"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "snapshot-delete");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}delsnapshot", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let idx = g
                .snapshots
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
            g.config.remove("lock");
            let removed = g.snapshots.remove(idx);
            for s in &mut g.snapshots {
                if s.parent.as_deref() == Some(name.as_str()) {
                    s.parent = removed.parent.clone();
                    match &removed.parent {
                        Some(p) => s.config.insert("parent".into(), p.clone()),
                        None => s.config.remove("parent"),
                    };
                }
            }
            if g.config.get("parent") == Some(&name) {
                match removed.parent {
                    Some(p) => g.config.insert("parent".into(), p),
                    None => g.config.remove("parent"),
                };
            }
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}
