//! RRD metrics (`/nodes/{node}/rrddata` and the guests' `rrddata`): made-up but deterministic
//! series, so graphs have something to draw and runs repeat.

use serde_json::{Value, json};

use crate::sim::cluster::Guest;
use crate::sim::server::{lock, now};

use super::guests::guest;
use super::{ApiError, Ctx, MIB, Reply, check_node, ok};

fn rrd_points(ctx: &Ctx, seed: u64, guest: Option<&Guest>) -> Value {
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
                Some(g) => {
                    let maxmem = g.memory_mib().saturating_mul(MIB);
                    json!({
                        "time": t, "cpu": if g.running { wave } else { 0.0 }, "maxcpu": g.cpus(),
                        "mem": if g.running { maxmem / 3 } else { 0 }, "maxmem": maxmem,
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
    ok(rrd_points(ctx, u64::from(g.vmid), Some(g)))
}
