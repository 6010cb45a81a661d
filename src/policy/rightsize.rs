//! Right-sizing and cost arithmetic: from a guest's RRD rows (PVE `rrddata`, `cf=AVERAGE` and
//! `cf=MAX`) to one recommendation per resource (CPU, memory) with its evidence and confidence;
//! and the monthly cost of guests under a cost model (`cost:` in config.yml, or the defaults
//! named in [`CostModel::default_rates`]).
//!
//! Why these thresholds: a resource is sized to its 95th percentile plus 30% headroom (spikes
//! above p95 are what the headroom is for); memory at or above 90% of the allocation at p95 is
//! starved; CPU below 5% and memory below 25% at p95 is idle. QEMU reports a VM's memory from
//! the host's view unless the guest agent (and balloon driver) report it, so memory advice for a
//! VM without the agent is marked unreliable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Guest, GuestConfig, GuestStatus};

const HEADROOM: f64 = 1.3;
const STARVED: f64 = 0.9;
const MIB: f64 = 1024.0 * 1024.0;

/// One recommendation for one guest and one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub guest: String,
    pub vmid: u32,
    pub kind: String,
    pub node: String,
    /// `cpu` (in vCPUs) or `memory` (in MiB).
    pub resource: String,
    /// `shrink`, `grow`, `keep` or `unknown` (no data).
    pub action: String,
    pub current: u64,
    pub recommended: u64,
    pub unit: String,
    /// `high`, `medium` or `low`.
    pub confidence: String,
    /// False for a VM's memory without the guest agent (the host's view, not the guest's).
    pub reliable: bool,
    pub idle: bool,
    pub starved: bool,
    pub reason: String,
    pub evidence: Value,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn series(rows: &[Value], key: &str) -> Vec<f64> {
    rows.iter()
        .filter_map(|r| r.get(key).and_then(number))
        .collect()
}

/// The `p`th percentile (0-100) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A guest's allocated vCPUs and memory (MiB).
pub fn allocation(g: &Guest) -> (u64, u64) {
    match &g.config {
        GuestConfig::Vm(c) => (
            u64::from(c.cores.unwrap_or(1) * c.sockets.unwrap_or(1)),
            c.memory_mib.unwrap_or(512),
        ),
        GuestConfig::Container(c) => (u64::from(c.cores.unwrap_or(1)), c.memory_mib.unwrap_or(512)),
    }
}

fn has_agent(g: &Guest) -> bool {
    match &g.config {
        GuestConfig::Vm(c) => c.agent.as_ref().is_some_and(|a| a.enabled),
        GuestConfig::Container(_) => true,
    }
}

fn round_up(mib: f64, step: u64) -> u64 {
    ((mib / step as f64).ceil() as u64).max(1) * step
}

/// The CPU and memory recommendations for `g` from its RRD rows over `window`.
pub fn recommend(g: &Guest, window: &str, average: &[Value], max: &[Value]) -> Vec<Recommendation> {
    let (vcpus, memory) = allocation(g);
    let cpu = series(average, "cpu");
    let mem: Vec<f64> = series(average, "mem").iter().map(|b| b / MIB).collect();
    let cpu_peak = series(max, "cpu").into_iter().fold(0.0, f64::max);
    let mem_peak = series(max, "mem").into_iter().fold(0.0, f64::max) / MIB;
    let base = |resource: &str, current: u64, unit: &str| Recommendation {
        guest: g.name.clone(),
        vmid: g.vmid,
        kind: g.kind.as_str().into(),
        node: g.node.clone(),
        resource: resource.into(),
        action: "unknown".into(),
        current,
        recommended: current,
        unit: unit.into(),
        confidence: "low".into(),
        reliable: true,
        idle: false,
        starved: false,
        reason: String::new(),
        evidence: json!({ "window": window, "samples": 0 }),
    };
    let mut cpu_rec = base("cpu", vcpus, "vcpus");
    let mut mem_rec = base("memory", memory, "MiB");
    if g.status != GuestStatus::Running || g.template || cpu.is_empty() {
        let why = if g.template {
            "a template does not run; nothing to measure"
        } else {
            "no usage data in the window (the guest is not running)"
        };
        cpu_rec.reason = why.into();
        mem_rec.reason = why.into();
        return vec![cpu_rec, mem_rec];
    }
    let samples = cpu.len();
    let confidence = if samples >= 60 {
        "high"
    } else if samples >= 20 {
        "medium"
    } else {
        "low"
    };
    let cpu_p95 = percentile(&cpu, 95.0);
    let mem_p95 = percentile(&mem, 95.0);
    let mem_frac = if memory > 0 {
        mem_p95 / memory as f64
    } else {
        0.0
    };
    let idle = cpu_p95 < 0.05 && mem_frac < 0.25;
    let starved = mem_frac >= STARVED;
    // CPU: vCPUs busy at p95, plus headroom.
    let used = cpu_p95 * vcpus as f64;
    let mut want = ((used * HEADROOM).ceil() as u64).max(1);
    cpu_rec.action = if cpu_p95 >= 0.85 {
        want = want.max(vcpus + 1);
        "grow"
    } else if want < vcpus {
        "shrink"
    } else {
        want = vcpus;
        "keep"
    }
    .into();
    cpu_rec.recommended = want;
    cpu_rec.confidence = confidence.into();
    cpu_rec.idle = idle;
    cpu_rec.reason = format!(
        "p95 CPU {:.1}% of {vcpus} vCPUs ({used:.2} busy){}",
        cpu_p95 * 100.0,
        if idle {
            "; the guest is idle: consider stopping it"
        } else {
            ""
        }
    );
    cpu_rec.evidence = json!({
        "window": window, "samples": samples,
        "p95_percent": round2(cpu_p95 * 100.0),
        "average_percent": round2(cpu.iter().sum::<f64>() / samples as f64 * 100.0),
        "peak_percent": round2(cpu_peak.max(cpu_p95) * 100.0),
    });
    // Memory: p95 plus headroom in 256 MiB steps; starved grows by half at least.
    let (action, want) = if starved {
        (
            "grow",
            round_up((mem_p95 / 0.7).max(memory as f64 * 1.5), 256),
        )
    } else {
        let want = round_up((mem_p95 * HEADROOM).max(256.0), 256);
        if want < memory {
            ("shrink", want)
        } else {
            ("keep", memory)
        }
    };
    let reliable = has_agent(g);
    mem_rec.action = action.into();
    mem_rec.recommended = want;
    mem_rec.reliable = reliable;
    mem_rec.confidence = if reliable { confidence } else { "low" }.into();
    mem_rec.idle = idle;
    mem_rec.starved = starved;
    mem_rec.reason = format!(
        "p95 memory {mem_p95:.0} MiB of {memory} MiB ({:.0}%){}{}",
        mem_frac * 100.0,
        if starved { "; memory-starved" } else { "" },
        if reliable {
            ""
        } else {
            "; unreliable: the VM has no guest agent, so this is the host's view of its memory"
        }
    );
    mem_rec.evidence = json!({
        "window": window, "samples": samples,
        "p95_mib": round2(mem_p95),
        "p95_percent": round2(mem_frac * 100.0),
        "peak_mib": round2(mem_peak.max(mem_p95)),
    });
    vec![cpu_rec, mem_rec]
}

/// Rounds to cents.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `cost:` in config.yml: prices per month. `nodes` prices a node as a whole (its guests share
/// it by their part of the node's allocated vCPUs and memory); the unit prices cover the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_vcpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_gib_memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_gib_disk: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, f64>,
}

/// Unit prices per month in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    pub currency: String,
    pub per_vcpu: f64,
    pub per_gib_memory: f64,
    pub per_gib_disk: f64,
    pub nodes: BTreeMap<String, f64>,
    /// True when config.yml has no `cost:` section and these are the defaults.
    pub defaults: bool,
}

impl CostModel {
    /// The documented defaults: 4.00 per vCPU, 2.00 per GiB of memory, 0.05 per GiB of disk,
    /// per month (USD), about what a small cloud VM costs.
    pub fn default_rates() -> Rates {
        Rates {
            currency: "USD".into(),
            per_vcpu: 4.0,
            per_gib_memory: 2.0,
            per_gib_disk: 0.05,
            nodes: BTreeMap::new(),
            defaults: true,
        }
    }

    /// The rates of `model`, each missing price taken from the defaults.
    pub fn rates(model: Option<&CostModel>) -> Rates {
        let d = Self::default_rates();
        match model {
            None => d,
            Some(m) => Rates {
                currency: m.currency.clone().unwrap_or(d.currency),
                per_vcpu: m.per_vcpu.unwrap_or(d.per_vcpu),
                per_gib_memory: m.per_gib_memory.unwrap_or(d.per_gib_memory),
                per_gib_disk: m.per_gib_disk.unwrap_or(d.per_gib_disk),
                nodes: m.nodes.clone(),
                defaults: false,
            },
        }
    }
}

/// Disk GiB of a guest (CD-ROMs and the cloud-init drive left out).
pub fn disk_gib(g: &Guest) -> f64 {
    let bytes: u64 = match &g.config {
        GuestConfig::Vm(c) => c
            .disks
            .values()
            .filter(|d| !d.is_cdrom() && !d.is_cloudinit())
            .filter_map(|d| d.size_bytes)
            .sum(),
        GuestConfig::Container(c) => c
            .rootfs
            .iter()
            .chain(c.mount_points.values())
            .filter_map(|m| m.size_bytes)
            .sum(),
    };
    bytes as f64 / (1u64 << 30) as f64
}

/// What one guest costs per month, in parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestCost {
    pub guest: String,
    pub vmid: u32,
    pub node: String,
    pub pool: Option<String>,
    pub tags: Vec<String>,
    pub compute: f64,
    pub disk: f64,
    pub total: f64,
}

/// Prices guests: a running guest pays for its vCPUs, memory and disks; a stopped guest or a
/// template only for its disks. Per-node prices replace the vCPU and memory unit prices on that
/// node, shared by allocation.
pub struct Pricer<'a> {
    rates: &'a Rates,
    /// node -> (running vCPUs, running memory GiB).
    totals: BTreeMap<String, (f64, f64)>,
}

impl<'a> Pricer<'a> {
    pub fn new(rates: &'a Rates, guests: &[Guest]) -> Self {
        let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for g in guests
            .iter()
            .filter(|g| g.status == GuestStatus::Running && !g.template)
        {
            let (c, m) = allocation(g);
            let t = totals.entry(g.node.clone()).or_default();
            t.0 += c as f64;
            t.1 += m as f64 / 1024.0;
        }
        Pricer { rates, totals }
    }

    /// Monthly price of one vCPU and one GiB of memory on `node`.
    pub fn unit(&self, node: &str) -> (f64, f64) {
        match (self.rates.nodes.get(node), self.totals.get(node)) {
            (Some(cost), Some((c, m))) if *c > 0.0 && *m > 0.0 => (cost / 2.0 / c, cost / 2.0 / m),
            _ => (self.rates.per_vcpu, self.rates.per_gib_memory),
        }
    }

    pub fn price(&self, g: &Guest) -> GuestCost {
        let (vcpus, mem) = allocation(g);
        let running = g.status == GuestStatus::Running && !g.template;
        let (per_cpu, per_gib) = self.unit(&g.node);
        let compute = if running {
            vcpus as f64 * per_cpu + mem as f64 / 1024.0 * per_gib
        } else {
            0.0
        };
        let disk = disk_gib(g) * self.rates.per_gib_disk;
        GuestCost {
            guest: g.name.clone(),
            vmid: g.vmid,
            node: g.node.clone(),
            pool: g.pool.clone(),
            tags: g.tags.clone(),
            compute: round2(compute),
            disk: round2(disk),
            total: round2(compute + disk),
        }
    }

    /// What carrying out `r` saves per month (negative for a grow).
    pub fn saving(&self, r: &Recommendation) -> f64 {
        let (per_cpu, per_gib) = self.unit(&r.node);
        let delta = r.current as f64 - r.recommended as f64;
        match (r.resource.as_str(), r.action.as_str()) {
            (_, "keep" | "unknown") => 0.0,
            ("cpu", _) => round2(delta * per_cpu),
            _ => round2(delta / 1024.0 * per_gib),
        }
    }
}
