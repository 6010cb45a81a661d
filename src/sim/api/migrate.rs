//! Moving a guest to another node (`migrate`), with PVE's refusals for running guests and local
//! storage.

use serde_json::json;

use crate::sim::cluster::GuestKind;
use crate::sim::server::lock;

use super::guests::{check_lock, clear_lock, guest, set_lock};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, ok};

pub(super) fn guest_migrate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let target = ctx.p("target").unwrap_or("").to_string();
    if cl.node(&target).is_none() {
        return Err(ApiError::param(
            "target",
            &format!("no such cluster node '{target}'"),
        ));
    }
    if target == ctx.node() {
        return Err(ApiError::param("target", "target is local node."));
    }
    if g.running && g.kind == GuestKind::Qemu && !ctx.flag("online") {
        return Err(ApiError::internal(
            "can't migrate running VM without --online",
        ));
    }
    if g.running && g.kind == GuestKind::Lxc && !ctx.flag("restart") {
        return Err(ApiError::internal(
            "lxc live migration is currently not implemented - use 'restart' migration mode",
        ));
    }
    for (_, volid, _) in g.disks() {
        let sid = volid.split(':').next().unwrap_or("");
        if let Some(s) = cl.storage(sid)
            && !s.shared
            && !s.on_node(&target)
        {
            return Err(ApiError::internal(format!(
                "storage '{sid}' is not available on node '{target}'"
            )));
        }
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "migrate");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!(
            "{}migrate",
            if kind == GuestKind::Qemu { "qm" } else { "vz" }
        )
        .replace("qmmigrate", "qmigrate"),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            log.push(format!(
                "starting migration of {} {vmid} to node '{target}'",
                kind.word()
            ));
            g.node = target;
            g.config.remove("lock");
            log.push("migration finished successfully".to_string());
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}
