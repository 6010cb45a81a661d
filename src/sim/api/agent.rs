//! What the guest itself reports: the qemu guest agent (interfaces, ping, OS info, host name,
//! exec) and an lxc container's interfaces.

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Guest};
use crate::sim::conf::generated_mac;
use crate::sim::server::lock;

use super::guests::guest;
use super::{ApiError, Ctx, Reply, ok};

/// Bridge and VLAN tag of a guest's first NIC.
fn net_of(g: &Guest) -> Option<(String, Option<String>)> {
    let net = g.config.get("net0")?;
    let mut bridge = None;
    let mut tag = None;
    for part in net.split(',') {
        if let Some(b) = part.strip_prefix("bridge=") {
            bridge = Some(b.to_string());
        }
        if let Some(t) = part.strip_prefix("tag=") {
            tag = Some(t.to_string());
        }
    }
    Some((bridge?, tag))
}

fn mac_of(g: &Guest) -> String {
    g.config
        .get("net0")
        .and_then(|n| {
            n.split(',').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k == "hwaddr" || v.matches(':').count() == 5).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| generated_mac(u64::from(g.vmid)))
}

fn guest_ip(g: &Guest) -> Option<String> {
    if let Some(ip) = &g.ip {
        return Some(ip.clone());
    }
    let text = g.config.get("ipconfig0").or_else(|| g.config.get("net0"))?;
    text.split(',')
        .find_map(|p| p.strip_prefix("ip="))
        .filter(|ip| ip.starts_with("127."))
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

fn agent_guest<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Guest, ApiError> {
    let g = guest(cl, ctx)?;
    let enabled = g
        .config
        .get("agent")
        .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    if !enabled {
        return Err(ApiError::internal("No QEMU guest agent configured"));
    }
    if !g.running {
        return Err(ApiError::internal(format!("VM {} is not running", g.vmid)));
    }
    if !g.agent_running {
        return Err(ApiError::internal("QEMU guest agent is not running"));
    }
    Ok(g)
}

pub(super) fn agent_interfaces(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let mut ifaces = vec![json!({
        "name": "lo", "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}],
        "statistics": {"rx-bytes": 0, "rx-packets": 0, "rx-errs": 0, "rx-dropped": 0, "tx-bytes": 0, "tx-packets": 0, "tx-errs": 0, "tx-dropped": 0},
    })];
    let mut addrs = Vec::new();
    if let Some(ip) = guest_ip(g) {
        addrs.push(json!({"ip-address": ip, "ip-address-type": "ipv4", "prefix": 8}));
    }
    ifaces.push(json!({
        "name": "eth0", "hardware-address": mac_of(g).to_lowercase(), "ip-addresses": addrs,
        "statistics": {"rx-bytes": 1024, "rx-packets": 10, "rx-errs": 0, "rx-dropped": 0, "tx-bytes": 512, "tx-packets": 5, "tx-errs": 0, "tx-dropped": 0},
    }));
    ok(json!({"result": ifaces}))
}

pub(super) fn agent_ping(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    agent_guest(&cl, ctx)?;
    ok(json!({"result": {}}))
}

pub(super) fn agent_osinfo(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let ostype = g.config.get("ostype").map(String::as_str).unwrap_or("l26");
    let info = if ostype.starts_with('w') {
        json!({"id": "mswindows", "name": "Microsoft Windows", "pretty-name": "Windows Server 2022 Standard", "version": "Microsoft Windows Server 2022", "kernel-release": "20348", "machine": "x86_64"})
    } else {
        json!({"id": "debian", "name": "Debian GNU/Linux", "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version": "12 (bookworm)", "version-id": "12", "kernel-release": "6.1.0-28-amd64", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", "machine": "x86_64"})
    };
    ok(json!({"result": info}))
}

pub(super) fn agent_host_name(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    ok(json!({"result": {"host-name": g.name()}}))
}

pub(super) fn agent_exec(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?.clone();
    let raw = ctx.p("command").unwrap_or("");
    let argv: Vec<String> = if raw.contains('\0') {
        raw.split('\0').map(str::to_string).collect()
    } else {
        raw.split_whitespace().map(str::to_string).collect()
    };
    let result = match argv.first().map(String::as_str) {
        Some("ping") => {
            let target = argv.last().cloned().unwrap_or_default();
            let peer = cl
                .guests
                .values()
                .find(|o| guest_ip(o).as_deref() == Some(target.as_str()));
            let reachable = match peer {
                Some(p) => {
                    p.running && p.vmid != g.vmid && net_of(p).is_some() && net_of(p) == net_of(&g)
                }
                None => guest_ip(&g).as_deref() == Some(target.as_str()) || target == "127.0.0.1",
            };
            if reachable {
                crate::sim::cluster::ExecResult {
                    exitcode: 0,
                    out: format!(
                        "PING {target} ({target}) 56(84) bytes of data.\n64 bytes from {target}: icmp_seq=1 ttl=64 time=0.2 ms\n\n--- {target} ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss\n"
                    ),
                    err: String::new(),
                }
            } else {
                crate::sim::cluster::ExecResult {
                    exitcode: 1,
                    out: format!(
                        "PING {target} ({target}) 56(84) bytes of data.\n\n--- {target} ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss\n"
                    ),
                    err: String::new(),
                }
            }
        }
        Some("hostname") => crate::sim::cluster::ExecResult {
            exitcode: 0,
            out: format!("{}\n", g.name()),
            err: String::new(),
        },
        Some("true") => crate::sim::cluster::ExecResult {
            exitcode: 0,
            out: String::new(),
            err: String::new(),
        },
        Some(cmd) => crate::sim::cluster::ExecResult {
            exitcode: 127,
            out: String::new(),
            err: format!("{cmd}: command not found in the simulated guest\n"),
        },
        None => {
            return Err(ApiError::param(
                "command",
                "property is missing and it is not optional",
            ));
        }
    };
    cl.next_exec_pid += 1;
    let pid = cl.next_exec_pid;
    cl.exec_results.insert(format!("{}:{pid}", g.vmid), result);
    ok(json!({"pid": pid}))
}

pub(super) fn agent_exec_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let pid = ctx.p("pid").unwrap_or("");
    let r = cl
        .exec_results
        .get(&format!("{}:{pid}", g.vmid))
        .ok_or_else(|| {
            ApiError::internal(format!("Agent error: Invalid parameter 'pid' ({pid})"))
        })?;
    let mut o = json!({"exited": 1, "exitcode": r.exitcode});
    if !r.out.is_empty() {
        o["out-data"] = json!(r.out);
    }
    if !r.err.is_empty() {
        o["err-data"] = json!(r.err);
    }
    ok(o)
}

pub(super) fn lxc_interfaces(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    if !g.running {
        return Err(ApiError::internal(format!("CT {} not running", g.vmid)));
    }
    let mut out = vec![
        json!({"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"}),
    ];
    let mut eth = json!({"name": "eth0", "hwaddr": mac_of(g).to_lowercase()});
    if let Some(ip) = guest_ip(g) {
        eth["inet"] = json!(format!("{ip}/8"));
    }
    out.push(eth);
    ok(Value::Array(out))
}
