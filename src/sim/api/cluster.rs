//! Cluster-wide answers: `/version`, `/cluster/status`, `/cluster/resources`, `/cluster/nextid`, and
//! the resource rows (guest, node, storage) that `/nodes` and pools reuse.

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Guest, GuestKind};
use crate::sim::server::{lock, now};

use super::{ApiError, Ctx, MIB, Reply, ok};

pub(super) fn version(_ctx: &Ctx) -> Result<Reply, ApiError> {
    ok(json!({"version": "9.1.1", "release": "9.1", "repoid": "42d6f6e6", "console": "html5"}))
}

pub(super) fn cluster_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let mut out = vec![json!({
        "type": "cluster", "id": "cluster", "name": cl.name, "version": cl.nodes.len(),
        "nodes": cl.nodes.len(), "quorate": 1,
    })];
    for (i, n) in cl.nodes.iter().enumerate() {
        out.push(json!({
            "type": "node", "id": format!("node/{}", n.name), "name": n.name, "nodeid": n.nodeid,
            "ip": n.ip, "online": u8::from(n.online), "local": u8::from(i == 0), "level": "",
        }));
    }
    ok(Value::Array(out))
}

pub(super) fn usage(vmid: u32, running: bool, scale: u64) -> u64 {
    if running {
        (u64::from(vmid).wrapping_mul(2_654_435_761) % 1000 + 1) * scale
    } else {
        0
    }
}

pub(super) fn guest_resource(cl: &Cluster, g: &Guest, now: u64) -> Value {
    let maxmem = g.memory_mib().saturating_mul(MIB);
    let mut o = json!({
        "id": format!("{}/{}", g.kind.as_str(), g.vmid), "type": g.kind.as_str(), "vmid": g.vmid,
        "node": g.node, "status": if g.running { "running" } else { "stopped" }, "name": g.name(),
        "template": u8::from(g.is_template()), "maxcpu": g.cpus(),
        "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
        "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
        "maxdisk": g.maxdisk(),
        "disk": if g.kind == GuestKind::Lxc && g.running { g.maxdisk() / 4 } else { 0 },
        "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
        "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
        "uptime": g.uptime(now),
    });
    if g.kind == GuestKind::Qemu {
        o["memhost"] = json!(if g.running { maxmem / 3 } else { 0 });
    }
    if let Some(pool) = cl.pool_of(g.vmid) {
        o["pool"] = json!(pool);
    }
    if let Some(tags) = g.config.get("tags") {
        o["tags"] = json!(tags);
    }
    if let Some(l) = g.lock() {
        o["lock"] = json!(l);
    }
    o
}

pub(super) fn node_resource(cl: &Cluster, n: &crate::sim::cluster::Node, now: u64) -> Value {
    let used: u64 = cl
        .guests
        .values()
        .filter(|g| g.node == n.name && g.running)
        .map(|g| g.memory_mib().saturating_mul(MIB) / 3)
        .fold(0u64, u64::saturating_add);
    json!({
        "id": format!("node/{}", n.name), "type": "node", "node": n.name,
        "status": if n.online { "online" } else { "offline" }, "level": "",
        "cpu": 0.05 + f64::from(n.nodeid % 7) / 100.0, "maxcpu": n.maxcpu,
        "mem": (4u64 << 30).saturating_add(used), "maxmem": n.maxmem, "disk": n.maxdisk / 5, "maxdisk": n.maxdisk,
        "uptime": now.saturating_sub(n.boot_time), "cgroup-mode": 2,
    })
}

fn storage_resources(cl: &Cluster) -> Vec<Value> {
    let usage = cl.disk_usage();
    let mut out = Vec::new();
    for n in &cl.nodes {
        for s in cl.storages.iter().filter(|s| s.on_node(&n.name)) {
            out.push(json!({
                "id": format!("storage/{}/{}", n.name, s.id), "type": "storage", "node": n.name,
                "storage": s.id, "plugintype": s.kind, "shared": u8::from(s.shared),
                "content": s.content.join(","), "status": "available",
                "disk": cl.storage_used_in(&usage, s, &n.name), "maxdisk": s.total,
            }));
        }
    }
    out
}

pub(super) fn cluster_resources(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = now();
    let want = ctx.p("type");
    let mut out = Vec::new();
    if want.is_none() || want == Some("vm") {
        out.extend(cl.guests.values().map(|g| guest_resource(&cl, g, t)));
    }
    if want.is_none() || want == Some("node") {
        out.extend(cl.nodes.iter().map(|n| node_resource(&cl, n, t)));
    }
    if want.is_none() || want == Some("storage") {
        out.extend(storage_resources(&cl));
    }
    if want.is_none() || want == Some("sdn") {
        for n in &cl.nodes {
            out.push(json!({
                "id": format!("sdn/{}/localnetwork", n.name), "type": "sdn",
                "sdn": "localnetwork", "node": n.name, "status": "ok",
            }));
        }
    }
    if want.is_none() {
        for p in cl.pools.keys() {
            out.push(json!({"id": format!("/pool/{p}"), "type": "pool", "pool": p}));
        }
    }
    ok(Value::Array(out))
}

pub(super) fn cluster_nextid(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    if let Some(v) = ctx.p("vmid") {
        let vmid: u32 = v.parse().unwrap_or(0);
        if cl.guests.contains_key(&vmid) {
            return Err(ApiError::param(
                "vmid",
                &format!("VM {vmid} already exists"),
            ));
        }
        return ok(json!(vmid.to_string()));
    }
    let mut id = 100u32;
    while cl.guests.contains_key(&id) {
        id += 1;
    }
    // PVE stringifies the id by a hash lookup: the answer is a JSON string
    ok(json!(id.to_string()))
}
