//! Where a new guest goes: its node, storage, bridge and vmid, from the flags, then
//! config.yml's defaults, then the cluster itself; every default picked is said out loud.

use crate::model::GuestKind;

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
}

pub(super) fn place(
    syntax: &Syntax,
    world: &World<'_>,
    content: &str,
    explicit_storage: Option<&str>,
    explicit_bridge: Option<&str>,
) -> Result<Placement, GrammarError> {
    let mut chosen = Vec::new();
    let node = match syntax.get("node") {
        Some(n) => n.to_string(),
        None => match &world.defaults.node {
            Some(n) => {
                chosen.push(format!("node {n} (config.yml default)"));
                n.clone()
            }
            None => {
                let n = world.roomiest_node().ok_or_else(|| {
                    GrammarError::new("no online node to put it on: the last snapshot has none")
                        .hint("run /sync, or give --node")
                })?;
                chosen.push(format!("node {n} (most free memory)"));
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
