//! Disk sizes: `resize` and the capacity check that fails a task when a storage overflows.

use serde_json::json;

use crate::sim::cluster::{Cluster, format_size, parse_size, size_of};
use crate::sim::conf::canonical_value;
use crate::sim::server::lock;

use super::guests::{check_digest, check_lock, guest};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, ok};

/// Fails a task when a storage the guest uses is over capacity.
pub(super) fn check_capacity(cl: &Cluster, vmid: u32) -> Result<(), String> {
    let Some(g) = cl.guests.get(&vmid) else {
        return Ok(());
    };
    for (_, volid, _) in g.disks() {
        let sid = volid.split(':').next().unwrap_or("");
        if let Some(s) = cl.storage(sid) {
            let used = cl.storage_used(s, &g.node);
            if used > s.total {
                return Err(format!(
                    "unable to create image: storage '{sid}' is full (needs {} more bytes than its {} bytes)",
                    used - s.total,
                    s.total
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn guest_resize(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_digest(ctx, g)?;
    check_lock(ctx, &cl, g)?;
    let disk = ctx.p("disk").unwrap_or("").to_string();
    let Some(value) = g.config.get(&disk).filter(|v| !v.contains("media=cdrom")) else {
        return Err(ApiError::internal(format!("disk '{disk}' does not exist")));
    };
    let old = size_of(value);
    let size_text = ctx.p("size").unwrap_or("");
    let (plus, amount) = match size_text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, size_text),
    };
    let amount =
        parse_size(amount).ok_or_else(|| ApiError::param("size", "unable to parse size"))?;
    let new = if plus {
        old.saturating_add(amount)
    } else {
        amount
    };
    if new < old {
        return Err(ApiError::internal(format!(
            "shrinking disks is not supported (current {old} bytes, requested {new} bytes)"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        "resize",
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let Some(value) = g.config.get(&disk).cloned() else {
                return Err(format!("disk '{disk}' does not exist"));
            };
            let parts: Vec<String> = value
                .split(',')
                .filter(|p| !p.starts_with("size="))
                .map(str::to_string)
                .chain(std::iter::once(format!("size={}", format_size(new))))
                .collect();
            let old_value = value.clone();
            g.config.insert(
                disk.clone(),
                canonical_value(kind, &disk, &parts.join(","), 0),
            );
            if let Err(e) = check_capacity(cl, vmid) {
                if let Some(g) = cl.guests.get_mut(&vmid) {
                    g.config.insert(disk.clone(), old_value);
                }
                return Err(e);
            }
            log.push(format!(
                "Size of logical volume changed from {old} to {new} bytes."
            ));
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}
