//! `set`: a guest in the files with the flags' changes applied, and a short line for each
//! change (`memory 2 GiB -> 4 GiB`) so the user sees what the edit does before `/apply`.

use std::collections::BTreeMap;

use crate::model::{ContainerConfig, CtNic, Guest, GuestConfig, GuestStatus, Nic, VmConfig};

use super::create::{add_disks, parse_mount};
use super::error::{GrammarError, q};
use super::intent::Intent;
use super::parse::Syntax;
use super::units::{MIB, count, human_size, memory_mib};
use super::values::{parse_disk_spec, parse_net_spec, parse_tags};
use super::world::{World, target_of};

pub(super) fn set(
    syntax: &Syntax,
    world: &World<'_>,
    current: &Guest,
) -> Result<Intent, GrammarError> {
    let mut guest = current.clone();
    let mut changes = Vec::new();
    if syntax.flags.is_empty() {
        return Err(GrammarError::new(format!(
            "`set` needs at least one change for {}",
            q(&current.name)
        ))
        .hint("e.g. --memory 4G --cores 4"));
    }
    let sizes = Sizes {
        cores: syntax
            .get("cores")
            .map(|c| count("cores", c, 512))
            .transpose()?,
        memory: syntax
            .get("memory")
            .map(|m| memory_mib("memory", m))
            .transpose()?,
    };
    let node = current.node.clone();
    match &mut guest.config {
        GuestConfig::Vm(vm) => set_vm(syntax, world, &node, sizes, vm, &mut changes)?,
        GuestConfig::Container(ct) => set_ct(syntax, world, &node, sizes, ct, &mut changes)?,
    }
    if let Some(tags) = syntax.get("tags") {
        let tags = parse_tags(tags)?;
        changes.push(format!(
            "tags [{}] -> [{}]",
            guest.tags.join(", "),
            tags.join(", ")
        ));
        guest.tags = tags;
    }
    if let Some(pool) = syntax.get("pool") {
        let new = if pool.is_empty() {
            None
        } else {
            world.check_pool(pool)?;
            Some(pool.to_string())
        };
        changes.push(format!(
            "pool {} -> {}",
            guest.pool.as_deref().unwrap_or("none"),
            new.as_deref().unwrap_or("none")
        ));
        guest.pool = new;
    }
    if let Some(d) = syntax.get("description") {
        changes.push("description changed".into());
        guest.description = Some(d.to_string());
    }
    if syntax.has("start") && syntax.has("stopped") {
        return Err(GrammarError::new(
            "--start and --stopped contradict each other",
        ));
    }
    if syntax.has("start") {
        changes.push("state -> running".into());
        guest.status = GuestStatus::Running;
    }
    if syntax.has("stopped") {
        changes.push("state -> stopped".into());
        guest.status = GuestStatus::Stopped;
    }
    Ok(Intent::Set {
        target: target_of(current),
        guest: Box::new(guest),
        changes,
    })
}

/// `--cores` and `--memory`, parsed before the kind is looked at because both kinds take them.
struct Sizes {
    cores: Option<u32>,
    memory: Option<u64>,
}

fn set_vm(
    syntax: &Syntax,
    world: &World<'_>,
    node: &str,
    sizes: Sizes,
    vm: &mut VmConfig,
    changes: &mut Vec<String>,
) -> Result<(), GrammarError> {
    if let Some(c) = sizes.cores {
        changes.push(change("cores", vm.cores, c));
        vm.cores = Some(c);
    }
    if let Some(s) = syntax.get("sockets") {
        let s = count("sockets", s, 4)?;
        changes.push(change("sockets", vm.sockets, s));
        vm.sockets = Some(s);
    }
    if let Some(m) = sizes.memory {
        changes.push(change_mib("memory", vm.memory_mib, m));
        vm.memory_mib = Some(m);
    }
    let specs = syntax
        .all("add-disk")
        .iter()
        .map(|d| parse_disk_spec("add-disk", d))
        .collect::<Result<Vec<_>, _>>()?;
    if !specs.is_empty() {
        // New disks go where the VM's disks already are, unless a spec names a storage.
        let default = vm
            .disks
            .values()
            .find(|d| !d.is_cdrom())
            .and_then(|d| d.storage().map(str::to_string))
            .or_else(|| world.defaults.storage.clone())
            .or_else(|| world.storages_on(node, "images").first().cloned())
            .unwrap_or_default();
        for added in add_disks(world, node, &default, vm, specs)? {
            changes.push(format!("+ disk {added}"));
        }
    }
    for n in syntax.all("add-net") {
        let spec = parse_net_spec("add-net", n)?;
        world.check_bridge(node, &spec.bridge)?;
        let index = (0..32u8).find(|i| !vm.nics.contains_key(i)).unwrap_or(32);
        changes.push(format!("+ net{index} on {}", spec.bridge));
        vm.nics.insert(
            index,
            Nic {
                model: spec.model.unwrap_or_else(|| "virtio".into()),
                mac: None,
                bridge: Some(spec.bridge),
                vlan_tag: spec.tag,
                firewall: spec.firewall,
                extra: BTreeMap::new(),
            },
        );
    }
    Ok(())
}

fn set_ct(
    syntax: &Syntax,
    world: &World<'_>,
    node: &str,
    sizes: Sizes,
    ct: &mut ContainerConfig,
    changes: &mut Vec<String>,
) -> Result<(), GrammarError> {
    if let Some(c) = sizes.cores {
        changes.push(change("cores", ct.cores, c));
        ct.cores = Some(c);
    }
    if let Some(m) = sizes.memory {
        changes.push(change_mib("memory", ct.memory_mib, m));
        ct.memory_mib = Some(m);
    }
    if let Some(sw) = syntax.get("swap") {
        let sw = memory_mib("swap", sw)?;
        changes.push(change_mib("swap", ct.swap_mib, sw));
        ct.swap_mib = Some(sw);
    }
    for m in syntax.all("add-mount") {
        let mount = parse_mount(world, node, m)?;
        let index = (0..=255u8)
            .find(|i| !ct.mount_points.contains_key(i))
            .unwrap_or(255);
        changes.push(format!(
            "+ mp{index} {} at {}",
            mount.volume,
            mount.path.clone().unwrap_or_default()
        ));
        ct.mount_points.insert(index, mount);
    }
    for n in syntax.all("add-net") {
        let spec = parse_net_spec("add-net", n)?;
        world.check_bridge(node, &spec.bridge)?;
        let index = (0..32u8).find(|i| !ct.nics.contains_key(i)).unwrap_or(32);
        changes.push(format!("+ net{index} on {}", spec.bridge));
        ct.nics.insert(
            index,
            CtNic {
                name: format!("eth{index}"),
                bridge: Some(spec.bridge),
                ip: Some("dhcp".into()),
                vlan_tag: spec.tag,
                firewall: spec.firewall,
                ..CtNic::default()
            },
        );
    }
    Ok(())
}

fn change(what: &str, old: Option<u32>, new: u32) -> String {
    match old {
        Some(o) => format!("{what} {o} -> {new}"),
        None => format!("{what} unset -> {new}"),
    }
}

fn change_mib(what: &str, old: Option<u64>, new: u64) -> String {
    match old {
        Some(o) => format!(
            "{what} {} -> {}",
            human_size(o * MIB),
            human_size(new * MIB)
        ),
        None => format!("{what} unset -> {}", human_size(new * MIB)),
    }
}
