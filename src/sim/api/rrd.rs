//! RRD metrics (`/nodes/{node}/rrddata` and the guests' `rrddata`): made-up but deterministic
//! series, so graphs have something to draw and runs repeat. Each guest has a usage shape
//! ([`Shape`]: idle, steady, spiky, growing, memory-starved), chosen from its vmid; the homelab
//! names its shapes so `/rightsize` has clear cases (idle: wiki, vlan40-a, lab-01, lab-03;
//! starved: home-assistant, the only one). `cf=MAX` answers each step's peak, above the average.

use serde_json::{Value, json};

use crate::sim::cluster::Guest;
use crate::sim::server::{lock, now};

use super::guests::guest;
use super::{ApiError, Ctx, MIB, Reply, check_node, ok};

/// How a guest uses what it is given over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Idle,
    Steady,
    Spiky,
    Growing,
    Starved,
}

/// The homelab's shapes by vmid; any other seed's from the vmid alone (never starved, so only
/// the homelab has a starved guest).
fn shape(cluster: &str, vmid: u32) -> Shape {
    if cluster == "homelab" {
        return match vmid {
            106 | 109 | 110 | 112 => Shape::Idle,
            208 => Shape::Starved,
            100 | 101 => Shape::Spiky,
            202 => Shape::Growing,
            _ => Shape::Steady,
        };
    }
    match vmid % 7 {
        0 => Shape::Idle,
        3 => Shape::Spiky,
        5 => Shape::Growing,
        _ => Shape::Steady,
    }
}

/// CPU (fraction of the vCPUs) and memory (fraction of the allocation) at step `n` of 70
/// (`k` = how far through the window, 0..1), `wave` a small repeating ripple.
fn usage(shape: Shape, n: u64, k: f64, wave: f64) -> (f64, f64) {
    match shape {
        Shape::Steady => (wave, 1.0 / 3.0),
        Shape::Idle => (0.005 + wave / 20.0, 0.10 + wave / 10.0),
        Shape::Spiky if n.is_multiple_of(10) => (0.9, 0.5),
        Shape::Spiky => (0.04 + wave / 4.0, 0.5),
        Shape::Growing => (0.1 + 0.4 * k, 0.3 + 0.4 * k),
        Shape::Starved => (0.3 + wave, (0.95 + wave / 5.0).min(0.99)),
    }
}

fn rrd_points(ctx: &Ctx, seed: u64, guest: Option<(&Guest, Shape)>) -> Value {
    let peak = ctx.p("cf") == Some("MAX");
    let step = match ctx.p("timeframe") {
        Some("day") => 1800,
        Some("week") => 3600 * 3,
        Some("month") => 43200,
        Some("year") => 7 * 86400,
        Some("decade") => 70 * 86400,
        _ => 60,
    };
    let end = now() / step * step;
    let points: Vec<Value> = (0..70u64)
        .rev()
        .map(|i| {
            let t = end - i * step;
            let wave = ((t / step + seed) % 20) as f64 / 100.0;
            match guest {
                Some((g, shape)) => {
                    let maxmem = g.memory_mib().saturating_mul(MIB);
                    let (mut cpu, mut mem) = usage(shape, t / step + seed, (70 - i) as f64 / 70.0, wave);
                    if peak {
                        cpu = (cpu * 1.5).min(1.0);
                        mem = (mem * 1.05).min(1.0);
                    }
                    let mem = (maxmem as f64 * mem) as u64;
                    json!({
                        "time": t, "cpu": if g.running { cpu } else { 0.0 }, "maxcpu": g.cpus(),
                        "mem": if g.running { mem } else { 0 }, "maxmem": maxmem,
                        "disk": 0, "maxdisk": g.maxdisk(),
                        "netin": if g.running { wave * 1e5 } else { 0.0 }, "netout": if g.running { wave * 5e4 } else { 0.0 },
                        "diskread": if g.running { wave * 1e6 } else { 0.0 }, "diskwrite": if g.running { wave * 5e5 } else { 0.0 },
                    })
                }
                None => json!({
                    "time": t, "cpu": wave, "maxcpu": 16, "iowait": 0.001,
                    "loadavg": wave * 4.0, "memtotal": 64u64 << 30, "memused": 20u64 << 30,
                    "swaptotal": 8u64 << 30, "swapused": 0, "roottotal": 100u64 << 30, "rootused": 20u64 << 30,
                    "netin": wave * 1e6, "netout": wave * 5e5,
                }),
            }
        })
        .collect();
    Value::Array(points)
}

pub(super) fn node_rrddata(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let seed = cl
        .node(ctx.node())
        .map(|n| u64::from(n.nodeid))
        .unwrap_or(0);
    ok(rrd_points(ctx, seed, None))
}

pub(super) fn guest_rrddata(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let shape = shape(&cl.name, g.vmid);
    ok(rrd_points(ctx, u64::from(g.vmid), Some((g, shape))))
}
