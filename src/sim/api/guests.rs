//! What every guest call shares: finding the guest of a request (PVE's messages when it is not
//! there), the lock and digest checks before a change, plus the guest list and
//! `status/current`.

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Guest, GuestKind, TaskState};
use crate::sim::conf::digest;
use crate::sim::server::{lock, now};

use super::cluster::usage;
use super::{ApiError, Ctx, MIB, Reply, check_node, ok};

fn no_conf(kind: GuestKind, node: &str, vmid: u32) -> ApiError {
    ApiError::internal(format!(
        "Configuration file 'nodes/{node}/{}/{vmid}.conf' does not exist",
        kind.conf_dir()
    ))
}

pub(super) fn guest<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Guest, ApiError> {
    check_node(cl, ctx.node())?;
    let kind = ctx.kind();
    cl.guests
        .get(&ctx.vmid())
        .filter(|g| g.kind == kind && g.node == ctx.node())
        .ok_or_else(|| no_conf(kind, ctx.node(), ctx.vmid()))
}

pub(super) fn locked_message(g: &Guest) -> Option<String> {
    g.lock()
        .map(|l| format!("{} is locked ({l})", g.kind.word()))
}

/// Refuses a modifying call on a locked guest (`VM is locked (backup)`), or on a guest whose
/// config file a running worker holds (PVE's flock times out after 10 s; the simulator answers at
/// once).
pub(super) fn check_lock(ctx: &Ctx, cl: &Cluster, g: &Guest) -> Result<(), ApiError> {
    if ctx.flag("skiplock") {
        if !ctx.is_root() {
            return Err(ApiError::new(403, "Only root may use this option."));
        }
        return Ok(());
    }
    if let Some(msg) = locked_message(g) {
        return Err(ApiError::internal(msg));
    }
    let id = g.vmid.to_string();
    let busy = cl
        .tasks
        .iter()
        .rev()
        .take(1000)
        .any(|t| t.state == TaskState::Running && t.id == id && t.node == g.node);
    if busy {
        return Err(ApiError::internal(format!(
            "can't lock file '/var/lock/{}/lock-{}.conf' - got timeout",
            g.kind.conf_dir(),
            g.vmid
        )));
    }
    Ok(())
}

/// Sets a config lock for the duration of a task.
pub(super) fn set_lock(cl: &mut Cluster, vmid: u32, lock: &str) {
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.insert("lock".into(), lock.into());
    }
}

pub(super) fn clear_lock(cl: &mut Cluster, vmid: u32) {
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.remove("lock");
    }
}

pub(super) fn check_digest(ctx: &Ctx, g: &Guest) -> Result<(), ApiError> {
    if let Some(expected) = ctx.p("digest")
        && expected != digest(g)
    {
        return Err(ApiError::internal(match g.kind {
            GuestKind::Qemu => "checksum mismatch (file change by other user?)",
            GuestKind::Lxc => {
                "detected modified configuration - file changed by other user? Try again."
            }
        }));
    }
    Ok(())
}

/// Whether a request's answer is a UPID per the schema (some lxc calls are synchronous).
pub(super) fn returns_upid(ctx: &Ctx, method: &str) -> bool {
    crate::sim::schema::route(&format!("{method} {}", ctx.route_path))
        .and_then(|r| r.pointer("/returns/type"))
        .and_then(Value::as_str)
        == Some("string")
}

pub(super) fn guest_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let kind = ctx.kind();
    let t = now();
    let out: Vec<Value> = cl
        .guests
        .values()
        .filter(|g| g.kind == kind && g.node == ctx.node())
        .map(|g| {
            let maxmem = g.memory_mib().saturating_mul(MIB);
            let mut o = json!({
                "vmid": g.vmid, "name": g.name(),
                "status": if g.running { "running" } else { "stopped" },
                "cpus": g.cpus(), "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
                "maxdisk": g.maxdisk(), "disk": 0, "uptime": g.uptime(t),
                "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
                "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
                "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
            });
            if kind == GuestKind::Lxc {
                o["type"] = json!("lxc");
                o["maxswap"] = json!(512 * MIB);
            }
            if g.running {
                o["pid"] = json!(10_000 + g.vmid);
            }
            if g.is_template() {
                o["template"] = json!(1);
            }
            if let Some(tags) = g.config.get("tags") {
                o["tags"] = json!(tags);
            }
            if let Some(l) = g.lock() {
                o["lock"] = json!(l);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

pub(super) fn guest_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let maxmem = g.memory_mib().saturating_mul(MIB);
    let mut o = json!({
        "vmid": g.vmid, "name": g.name(), "status": if g.running { "running" } else { "stopped" },
        "cpus": g.cpus(), "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
        "maxdisk": g.maxdisk(), "disk": 0, "uptime": g.uptime(now()),
        "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
        "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
        "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
        "ha": {"managed": 0},
    });
    match g.kind {
        GuestKind::Qemu => {
            o["qmpstatus"] = json!(match (g.running, g.paused) {
                (true, true) => "paused",
                (true, false) => "running",
                _ => "stopped",
            });
            if g.config
                .get("agent")
                .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"))
            {
                o["agent"] = json!(1);
            }
            if g.running {
                o["running-machine"] = json!("pc-i440fx-9.2+pve1");
                o["running-qemu"] = json!("9.2.0");
            }
        }
        GuestKind::Lxc => {
            o["type"] = json!("lxc");
            o["maxswap"] = json!(512 * MIB);
            o["swap"] = json!(0);
        }
    }
    if g.running {
        o["pid"] = json!(10_000 + g.vmid);
    }
    if g.is_template() {
        o["template"] = json!(1);
    }
    if let Some(tags) = g.config.get("tags") {
        o["tags"] = json!(tags);
    }
    if let Some(l) = g.lock() {
        o["lock"] = json!(l);
    }
    ok(o)
}
