//! Node endpoints: `/nodes`, `/nodes/{node}/status`, `/time` and `/network`.

use serde_json::{Value, json};

use crate::sim::server::{lock, now};

use super::cluster::node_resource;
use super::{ApiError, Ctx, Reply, check_node, ok};

pub(super) fn nodes_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = now();
    // PVE reports each node's own certificate; the simulator serves one for all nodes
    let fp = ctx.shared.fingerprint.as_str();
    let out: Vec<Value> = cl
        .nodes
        .iter()
        .map(|n| {
            let mut o = node_resource(&cl, n, t);
            o["ssl_fingerprint"] = json!(fp);
            if let Some(obj) = o.as_object_mut() {
                obj.remove("cgroup-mode");
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

pub(super) fn node_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let n = cl
        .node(ctx.node())
        .ok_or_else(|| ApiError::internal("no such node"))?;
    let res = node_resource(&cl, n, now());
    let mem = res["mem"].as_u64().unwrap_or(0);
    ok(json!({
        "cpu": res["cpu"], "wait": 0.001, "idle": 0,
        "cpuinfo": {"cpus": n.maxcpu, "cores": n.maxcpu / 2, "sockets": 1, "model": "Simulated CPU @ 3.00GHz", "mhz": "3000.000", "hvm": "1", "flags": "fpu vme de pse tsc msr pae", "user_hz": 100},
        "memory": {"total": n.maxmem, "used": mem, "free": n.maxmem - mem.min(n.maxmem), "available": n.maxmem - mem.min(n.maxmem)},
        "swap": {"total": 8u64 << 30, "used": 0, "free": 8u64 << 30},
        "rootfs": {"total": n.maxdisk, "used": n.maxdisk / 5, "free": n.maxdisk - n.maxdisk / 5, "avail": n.maxdisk - n.maxdisk / 5},
        "ksm": {"shared": 0},
        "uptime": res["uptime"], "loadavg": ["0.42", "0.37", "0.31"],
        "kversion": "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4",
        "pveversion": "pve-manager/9.1.1/42d6f6e6",
        "boot-info": {"mode": "efi", "secureboot": 0},
        "current-kernel": {"sysname": "Linux", "release": "6.14.11-4-pve", "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4", "machine": "x86_64"},
    }))
}

pub(super) fn node_time(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    // the simulated nodes run on UTC
    let t = now();
    ok(json!({"time": t, "localtime": t, "timezone": "UTC"}))
}

pub(super) fn node_network(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let want = ctx.p("type");
    let ifaces = cl.networks.get(ctx.node()).cloned().unwrap_or_default();
    let out: Vec<Value> = ifaces
        .iter()
        .filter(|i| match want {
            None | Some("any") => true,
            Some("any_bridge") | Some("any_local_bridge") => i.kind == "bridge",
            Some(t) => i.kind == t,
        })
        .enumerate()
        .map(|(n, i)| {
            let mut o = json!({
                "iface": i.iface, "type": i.kind,
                "method": if i.address.is_some() { "static" } else { "manual" },
                "method6": "manual", "active": 1, "autostart": 1, "priority": n + 1,
                "families": ["inet"],
            });
            if i.kind == "eth" {
                o["exists"] = json!(1);
            }
            if let Some(a) = &i.address {
                o["address"] = json!(a);
                o["netmask"] = json!("24");
            }
            if let Some(c) = &i.cidr {
                o["cidr"] = json!(c);
            }
            if let Some(g) = &i.gateway {
                o["gateway"] = json!(g);
            }
            if let Some(c) = &i.cidr6 {
                o["cidr6"] = json!(c);
                o["method6"] = json!("static");
                if let Some((a, m)) = c.split_once('/') {
                    o["address6"] = json!(a);
                    o["netmask6"] = json!(m);
                }
            }
            if let Some(g) = &i.gateway6 {
                o["gateway6"] = json!(g);
            }
            if let Some(m) = i.mtu {
                o["mtu"] = json!(m);
            }
            if i.kind == "bridge" {
                o["bridge_ports"] = json!(i.bridge_ports.clone().unwrap_or_default());
                o["bridge_stp"] = json!("off");
                o["bridge_fd"] = json!("0");
                if i.vlan_aware {
                    o["bridge_vlan_aware"] = json!(1);
                    o["bridge_vids"] = json!("2-4094");
                }
            }
            if i.kind == "vlan"
                && let Some((dev, id)) = i.iface.rsplit_once('.')
            {
                o["vlan-raw-device"] = json!(dev);
                o["vlan-id"] = json!(id);
            }
            if let Some(c) = &i.comments {
                o["comments"] = json!(format!("{c}\n"));
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}
