//! Where a new guest goes: its node, storage, bridge and vmid, from the flags, then
//! config.yml's defaults, then the cluster itself; every default picked is said out loud.
//! Without `--node` or `defaults.node`, each guest goes to the online node with the most free
//! memory that has a storage with room for its disks, counting the guests already pending in
//! the files (created there but not on the cluster yet), so a burst of creates spreads out.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Guest, GuestConfig, GuestKind, NodeStatus};

use super::error::{GrammarError, q};
use super::parse::Syntax;
use super::world::{VMID_MAX, VMID_MIN, World};

/// Node, storage and bridge for a new guest: flags, then config.yml, then the cluster.
pub(super) struct Placement {
    pub node: String,
    pub storage: String,
    pub bridge: String,
    /// The defaults picked, for the user ("node pve2 (most free memory)").
    pub chosen: Vec<String>,
    /// Why the node was chosen, when the console chose it ("chose pve2: most free memory
    /// (...)").
    pub why: Option<String>,
}

/// What the new guest needs of a node: memory and disk space (bytes).
#[derive(Debug, Clone, Copy)]
pub(super) struct Need {
    pub memory: u64,
    pub disk: u64,
}

const GIB: u64 = 1 << 30;

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

/// Memory and disk bytes of the guests in the files that the cluster does not have yet, by
/// node and by (node, storage); a shared storage is keyed with an empty node.
fn pending(world: &World<'_>) -> (BTreeMap<String, u64>, BTreeMap<(String, String), u64>) {
    let live: BTreeSet<u32> = world.snapshot.guests.iter().map(|g| g.vmid).collect();
    let shared: BTreeSet<&str> = world
        .snapshot
        .storages
        .iter()
        .filter(|s| s.shared)
        .map(|s| s.id.as_str())
        .collect();
    let mut memory = BTreeMap::new();
    let mut disks = BTreeMap::new();
    for g in world.desired.iter().filter(|g| !live.contains(&g.vmid)) {
        let (mem, volumes) = guest_load(g);
        *memory.entry(g.node.clone()).or_insert(0) += mem;
        for (storage, bytes) in volumes {
            let node = if shared.contains(storage.as_str()) {
                String::new()
            } else {
                g.node.clone()
            };
            *disks.entry((node, storage)).or_insert(0) += bytes;
        }
    }
    (memory, disks)
}

/// A guest's memory and its disks as (storage, bytes).
fn guest_load(g: &Guest) -> (u64, Vec<(String, u64)>) {
    let volume = |v: &str, size: Option<u64>| {
        let (storage, rest) = v.split_once(':')?;
        let bytes = size.or_else(|| rest.parse::<u64>().ok().map(|n| n * GIB))?;
        Some((storage.to_string(), bytes))
    };
    match &g.config {
        GuestConfig::Vm(vm) => (
            vm.memory_mib.unwrap_or(0) << 20,
            vm.disks
                .values()
                .filter(|d| !d.is_cdrom())
                .filter_map(|d| volume(&d.volume, d.size_bytes))
                .collect(),
        ),
        GuestConfig::Container(ct) => (
            ct.memory_mib.unwrap_or(0) << 20,
            ct.rootfs
                .iter()
                .chain(ct.mount_points.values())
                .filter_map(|m| volume(&m.volume, m.size_bytes))
                .collect(),
        ),
    }
}

/// Chooses the node for a guest needing `need`: among the online nodes, those with a storage
/// (`explicit_storage`, or any holding `content`) with room for its disks after the pending
/// ones, the one with the most free memory after the pending guests. Returns the node and why.
fn choose_node(
    world: &World<'_>,
    content: &str,
    explicit_storage: Option<&str>,
    need: Need,
) -> Result<(String, String), GrammarError> {
    let (pending_memory, pending_disks) = pending(world);
    let mut candidates: Vec<(u64, String, u64, Option<String>)> = Vec::new();
    for n in world
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Online)
    {
        let free = n
            .memory_bytes
            .unwrap_or(0)
            .saturating_sub(n.memory_used_bytes.unwrap_or(0))
            .saturating_sub(pending_memory.get(&n.name).copied().unwrap_or(0));
        let room = world
            .snapshot
            .storages
            .iter()
            .filter(|s| s.node == n.name && s.active)
            .filter(|s| match explicit_storage {
                Some(id) => s.id == id && s.content.iter().any(|c| c == content),
                None => s.content.iter().any(|c| c == content),
            })
            .filter_map(|s| {
                let key = (
                    if s.shared {
                        String::new()
                    } else {
                        n.name.clone()
                    },
                    s.id.clone(),
                );
                let left = s
                    .available_bytes?
                    .saturating_sub(pending_disks.get(&key).copied().unwrap_or(0));
                (left >= need.disk).then(|| (s.id.clone(), left))
            })
            .max_by_key(|(id, left)| (id == "local-lvm", *left));
        candidates.push((free, n.name.clone(), need.memory, room.map(|(id, _)| id)));
    }
    let fits = candidates.iter().filter(|c| c.3.is_some()).count();
    let best = candidates
        .iter()
        .filter(|c| c.3.is_some() || fits == 0)
        .max_by_key(|(free, name, _, _)| (*free, std::cmp::Reverse(name.clone())))
        .ok_or_else(|| {
            GrammarError::new("no online node to put it on: the last snapshot has none")
                .hint("run /sync, or give --node")
        })?;
    let others: Vec<String> = candidates
        .iter()
        .filter(|c| c.1 != best.1)
        .map(|(free, name, _, room)| {
            format!(
                "{name} {}{}",
                gib(*free),
                if room.is_none() {
                    ", no storage with room"
                } else {
                    ""
                }
            )
        })
        .collect();
    let storage = match &best.3 {
        Some(id) => format!("; {id} has room for its {}", gib(need.disk)),
        None => format!("; no storage reported room for its {}", gib(need.disk)),
    };
    let pending_here = pending_memory.get(&best.1).copied().unwrap_or(0);
    let why = format!(
        "chose {}: most free memory ({} free{}, it needs {}){storage}{}",
        best.1,
        gib(best.0),
        if pending_here > 0 {
            format!(" after {} pending in the files", gib(pending_here))
        } else {
            String::new()
        },
        gib(need.memory),
        if others.is_empty() {
            String::new()
        } else {
            format!("; others: {}", others.join(", "))
        }
    );
    Ok((best.1.clone(), why))
}

pub(super) fn place(
    syntax: &Syntax,
    world: &World<'_>,
    content: &str,
    explicit_storage: Option<&str>,
    explicit_bridge: Option<&str>,
    need: Need,
) -> Result<Placement, GrammarError> {
    let mut chosen = Vec::new();
    let mut why = None;
    let node = match syntax.get("node") {
        Some(n) => n.to_string(),
        None => match &world.defaults.node {
            Some(n) => {
                chosen.push(format!("node {n} (config.yml default)"));
                n.clone()
            }
            None => {
                let (n, reason) = choose_node(world, content, explicit_storage, need)?;
                chosen.push(format!("node {n} (most free memory)"));
                why = Some(reason);
                n
            }
        },
    };
    world.check_node(&node)?;
    let storage = match explicit_storage {
        Some(s) => s.to_string(),
        None => match &world.defaults.storage {
            Some(s) => {
                chosen.push(format!("storage {s} (config.yml default)"));
                s.clone()
            }
            None => {
                let holders = world.storages_on(&node, content);
                let pick = if holders.iter().any(|h| h == "local-lvm") {
                    "local-lvm".to_string()
                } else {
                    holders.first().cloned().ok_or_else(|| {
                        GrammarError::new(format!(
                            "no storage on {node} can hold {}",
                            if content == "images" {
                                "disks"
                            } else {
                                "container volumes"
                            }
                        ))
                        .hint("pick another node with --node")
                    })?
                };
                chosen.push(format!("storage {pick} (holds {content} on {node})"));
                pick
            }
        },
    };
    world.check_storage(&node, &storage, content)?;
    let bridge = match explicit_bridge {
        Some(b) => b.to_string(),
        None => match &world.defaults.bridge {
            Some(b) => {
                chosen.push(format!("bridge {b} (config.yml default)"));
                b.clone()
            }
            None => {
                let b = world.bridges_on(&node).first().cloned().ok_or_else(|| {
                    GrammarError::new(format!("node {node} has no bridge for the NIC"))
                        .hint("give --net BRIDGE")
                })?;
                chosen.push(format!("bridge {b} (first bridge on {node})"));
                b
            }
        },
    };
    world.check_bridge(&node, &bridge)?;
    Ok(Placement {
        node,
        storage,
        bridge,
        chosen,
        why,
    })
}

/// The vmid from `--vmid`, checked to be free, or the lowest free one.
pub(super) fn pick_vmid(
    syntax: &Syntax,
    world: &World<'_>,
    chosen: &mut Vec<String>,
) -> Result<u32, GrammarError> {
    match syntax.get("vmid") {
        Some(text) => {
            let vmid = text
                .parse::<u64>()
                .map_err(|_| GrammarError::new(format!("--vmid {} is not a number", q(text))))?;
            if !(u64::from(VMID_MIN)..=u64::from(VMID_MAX)).contains(&vmid) {
                return Err(GrammarError::new(format!(
                    "vmid {vmid} is out of range: PVE uses {VMID_MIN} to {VMID_MAX}"
                )));
            }
            let vmid = vmid as u32;
            if let Some(owner) = world.vmid_owner(vmid) {
                let kind = if owner.kind == GuestKind::Qemu {
                    "vm"
                } else {
                    "container"
                };
                return Err(GrammarError::new(format!(
                    "vmid {vmid} is taken by {kind} {}",
                    owner.name
                ))
                .hint(format!(
                    "leave --vmid out to take the lowest free one ({})",
                    world.free_vmid().unwrap_or(VMID_MIN)
                )));
            }
            Ok(vmid)
        }
        None => {
            let vmid = world
                .free_vmid()
                .ok_or_else(|| GrammarError::new("no free vmid is left"))?;
            chosen.push(format!("vmid {vmid} (lowest free)"));
            Ok(vmid)
        }
    }
}
