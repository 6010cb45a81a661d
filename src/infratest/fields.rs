//! The pure part of `/test`: one `expect` key of a generated spec compared with the guest as
//! discovery found it. Values are shown the way the spec writes them, so a failure reads
//! `memory_mib: expected 2048, actual 4096`.

use super::{Check, CheckResult};
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestStatus};

const GIB: u64 = 1 << 30;

/// One expectation of a generated spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Exists(bool),
    Node(String),
    /// `state: running` (true) or `stopped` (false).
    Running(bool),
    Template(bool),
    Cores(u32),
    Sockets(u32),
    MemoryMib(u64),
    Pool(String),
    Tags(Vec<String>),
    /// The static address; compared with its prefix length when the spec gives one.
    Ip(String),
    DiskStorage {
        slot: String,
        storage: String,
    },
    DiskSizeGib {
        slot: String,
        gib: u64,
    },
    NicBridge {
        key: String,
        bridge: String,
    },
    NicModel {
        key: String,
        model: String,
    },
    NicVlan {
        key: String,
        vlan: u16,
    },
}

fn show<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string())
        .unwrap_or_else(|| "(not set)".into())
}

fn compare<T: PartialEq + ToString>(check: &Check, expected: &T, actual: Option<T>) -> CheckResult {
    if actual.as_ref() == Some(expected) {
        CheckResult::passed(check)
    } else {
        CheckResult::mismatch(check, expected.to_string(), show(actual))
    }
}

fn state_word(g: &Guest) -> &'static str {
    match g.status {
        GuestStatus::Running => "running",
        GuestStatus::Stopped => "stopped",
        GuestStatus::Paused => "paused",
        GuestStatus::Unknown => "unknown",
    }
}

/// Storage and size of the disk (VM) or mount (container) in `slot`.
fn disk(g: &Guest, slot: &str) -> Option<(String, Option<u64>)> {
    match &g.config {
        GuestConfig::Vm(vm) => vm
            .disks
            .get(slot)
            .map(|d| (d.storage().unwrap_or("").to_string(), d.size_bytes)),
        GuestConfig::Container(ct) => {
            let mount = if slot == "rootfs" {
                ct.rootfs.as_ref()
            } else {
                slot.strip_prefix("mp")
                    .and_then(|i| i.parse::<u8>().ok())
                    .and_then(|i| ct.mount_points.get(&i))
            }?;
            let storage = mount
                .volume
                .split_once(':')
                .map(|(s, _)| s)
                .unwrap_or("")
                .to_string();
            Some((storage, mount.size_bytes))
        }
    }
}

/// Bridge, model and VLAN of NIC `netN`.
fn nic(g: &Guest, key: &str) -> Option<(Option<String>, Option<String>, Option<u16>)> {
    let index: u8 = key.strip_prefix("net")?.parse().ok()?;
    match &g.config {
        GuestConfig::Vm(vm) => vm
            .nics
            .get(&index)
            .map(|n| (n.bridge.clone(), Some(n.model.clone()), n.vlan_tag)),
        GuestConfig::Container(ct) => ct
            .nics
            .get(&index)
            .map(|n| (n.bridge.clone(), None, n.vlan_tag)),
    }
}

/// The configured address of the first interface: cloud-init `ipconfig0` for a VM, `net0`'s
/// `ip` for a container (`dhcp` included, as written).
fn static_ip(g: &Guest) -> Option<String> {
    match &g.config {
        GuestConfig::Vm(vm) => vm
            .cloud_init
            .as_ref()
            .and_then(|ci| ci.ipconfigs.get(&0))
            .and_then(|ip| ip.ip.clone()),
        GuestConfig::Container(ct) => ct.nics.get(&0).and_then(|n| n.ip.clone()),
    }
}

fn size_text(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) if b % GIB == 0 => (b / GIB).to_string(),
        Some(b) => format!("{:.2}", b as f64 / GIB as f64),
        None => "(not set)".into(),
    }
}

/// Evaluates one expectation against the discovered cluster.
pub fn evaluate(check: &Check, expect: &Expectation, snapshot: &ClusterSnapshot) -> CheckResult {
    let vmid = check.subject.vmid().unwrap_or_default();
    let live = snapshot.guest(vmid);
    if let Expectation::Exists(want) = expect {
        return match (want, live) {
            (true, Some(_)) | (false, None) => CheckResult::passed(check),
            (true, None) => CheckResult::mismatch(check, "exists", "absent"),
            (false, Some(g)) => {
                CheckResult::mismatch(check, "absent", format!("exists on {}", g.node))
            }
        };
    }
    let Some(g) = live else {
        return CheckResult::skipped(
            check,
            format!("guest {vmid} is not on the cluster (its `exists` check says so)"),
        );
    };
    let cpu = |vm: fn(&crate::model::VmConfig) -> Option<u32>,
               ct: fn(&crate::model::ContainerConfig) -> Option<u32>| match &g.config
    {
        GuestConfig::Vm(c) => vm(c),
        GuestConfig::Container(c) => ct(c),
    };
    match expect {
        Expectation::Exists(_) => CheckResult::passed(check),
        Expectation::Node(n) => compare(check, n, Some(g.node.clone())),
        Expectation::Running(want) => {
            let expected = if *want { "running" } else { "stopped" };
            let actual = if g.template { "stopped" } else { state_word(g) };
            compare(check, &expected, Some(actual))
        }
        Expectation::Template(t) => compare(check, t, Some(g.template)),
        Expectation::Cores(c) => compare(check, c, cpu(|v| v.cores, |c| c.cores)),
        Expectation::Sockets(s) => compare(check, s, cpu(|v| v.sockets, |_| None)),
        Expectation::MemoryMib(m) => {
            let actual = match &g.config {
                GuestConfig::Vm(v) => v.memory_mib,
                GuestConfig::Container(c) => c.memory_mib,
            };
            compare(check, m, actual)
        }
        Expectation::Pool(p) => compare(check, p, g.pool.clone()),
        Expectation::Tags(want) => {
            let mut want: Vec<String> = want.iter().map(|t| t.to_lowercase()).collect();
            want.sort();
            let mut have: Vec<String> = g.tags.iter().map(|t| t.to_lowercase()).collect();
            have.sort();
            if want == have {
                CheckResult::passed(check)
            } else {
                CheckResult::mismatch(
                    check,
                    format!("[{}]", want.join(", ")),
                    format!("[{}]", have.join(", ")),
                )
            }
        }
        Expectation::Ip(want) => {
            let raw = static_ip(g);
            let actual = if want.contains('/') {
                raw
            } else {
                raw.map(|ip| ip.split('/').next().unwrap_or_default().to_string())
            };
            compare(check, want, actual)
        }
        Expectation::DiskStorage { slot, storage } => match disk(g, slot) {
            Some((actual, _)) => compare(check, storage, Some(actual)),
            None => CheckResult::mismatch(check, storage.clone(), format!("no disk in {slot}")),
        },
        Expectation::DiskSizeGib { slot, gib } => match disk(g, slot) {
            Some((_, bytes)) if bytes == Some(gib * GIB) => CheckResult::passed(check),
            Some((_, bytes)) => CheckResult::mismatch(check, gib.to_string(), size_text(bytes)),
            None => CheckResult::mismatch(check, gib.to_string(), format!("no disk in {slot}")),
        },
        Expectation::NicBridge { key, bridge } => match nic(g, key) {
            Some((actual, _, _)) => compare(check, bridge, actual),
            None => CheckResult::mismatch(check, bridge.clone(), format!("no {key}")),
        },
        Expectation::NicModel { key, model } => match nic(g, key) {
            Some((_, actual, _)) => compare(check, model, actual),
            None => CheckResult::mismatch(check, model.clone(), format!("no {key}")),
        },
        Expectation::NicVlan { key, vlan } => match nic(g, key) {
            Some((_, _, actual)) => compare(check, vlan, actual),
            None => CheckResult::mismatch(check, vlan.to_string(), format!("no {key}")),
        },
    }
}
