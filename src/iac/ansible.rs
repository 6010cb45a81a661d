//! Ansible: `ansible/inventory.yml` (groups per node, pool, tag, type and run state; templates
//! kept apart), `ansible/provision.yml` (community.proxmox modules, token from the
//! environment) and `ansible/site.yml` with one role skeleton per tag group.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde_json::{Value, json};

use super::names::sanitize;
use super::view::raw_config;
use super::{IacError, Templates};
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestKind, GuestStatus};

/// Returns the static address of a guest (cloud-init `ipconfig0` or a container's `net0`),
/// without its prefix length; `None` for DHCP or no address.
pub fn static_address(guest: &Guest) -> Option<String> {
    let ip = match &guest.config {
        GuestConfig::Vm(vm) => vm
            .cloud_init
            .as_ref()
            .and_then(|ci| ci.ipconfigs.get(&0))
            .and_then(|ip| ip.ip.clone()),
        GuestConfig::Container(ct) => ct.nics.get(&0).and_then(|n| n.ip.clone()),
    }?;
    if ip == "dhcp" || ip == "manual" || ip == "auto" {
        return None;
    }
    Some(ip.split('/').next().unwrap_or(&ip).to_string())
}

/// Picks the address Ansible should reach a guest at from a guest agent's
/// `network-get-interfaces` answer: the first IPv4 address on an interface other than the
/// loopback (`lo`), skipping loopback `127.0.0.1` and link-local `169.254.0.0/16`; an IPv6
/// global address only when there is no IPv4 one. `None` when the answer holds neither.
pub fn agent_address(answer: &Value) -> Option<String> {
    let ifaces = answer
        .get("result")
        .unwrap_or(answer)
        .as_array()?
        .iter()
        .filter(|i| i.get("name").and_then(Value::as_str) != Some("lo"));
    let mut v6 = None;
    for iface in ifaces {
        let Some(addrs) = iface.get("ip-addresses").and_then(Value::as_array) else {
            continue;
        };
        for a in addrs {
            let Some(ip) = a.get("ip-address").and_then(Value::as_str) else {
                continue;
            };
            match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(v4))
                    if v4 != std::net::Ipv4Addr::LOCALHOST && !v4.is_link_local() =>
                {
                    return Some(v4.to_string());
                }
                Ok(std::net::IpAddr::V6(addr))
                    if v6.is_none()
                        && !addr.is_loopback()
                        && (addr.segments()[0] & 0xffc0) != 0xfe80 =>
                {
                    v6 = Some(addr.to_string());
                }
                _ => {}
            }
        }
    }
    v6
}

/// Group name for a value: `prefix_<sanitized>`.
fn group(prefix: &str, value: &str) -> String {
    match sanitize(value) {
        Some(s) => format!("{prefix}_{s}"),
        None => format!("{prefix}_unnamed"),
    }
}

/// The inventory groups, name -> host idents (sorted, deterministic).
pub fn groups(
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &snapshot.guests {
        let Some(ident) = idents.get(&g.vmid) else {
            continue;
        };
        if g.template {
            groups
                .entry("templates".into())
                .or_default()
                .insert(ident.clone());
            continue;
        }
        let mut add = |name: String| {
            groups.entry(name).or_default().insert(ident.clone());
        };
        add(group("node", &g.node));
        if let Some(pool) = &g.pool {
            add(group("pool", pool));
        }
        for tag in &g.tags {
            add(group("tag", tag));
        }
        add(g.kind.as_str().to_string());
        add(if g.status == GuestStatus::Running {
            "running".to_string()
        } else {
            "stopped".to_string()
        });
    }
    groups
}

/// Renders `ansible/inventory.yml` with each host's static address.
pub fn render_inventory(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
) -> Result<String, IacError> {
    render_inventory_with(templates, snapshot, idents, &BTreeMap::new())
}

/// Renders `ansible/inventory.yml`; a guest in `agent_addresses` (vmid -> address reported by
/// its guest agent) gets that address as `ansible_host`, the others their static address.
pub fn render_inventory_with(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
    agent_addresses: &BTreeMap<u32, String>,
) -> Result<String, IacError> {
    let mut hosts: Vec<(&String, &Guest)> = snapshot
        .guests
        .iter()
        .filter_map(|g| idents.get(&g.vmid).map(|i| (i, g)))
        .collect();
    hosts.sort_by(|a, b| a.0.cmp(b.0));
    let hosts: Vec<Value> = hosts
        .iter()
        .map(|(ident, g)| {
            json!({
                "ident": ident,
                "vmid": g.vmid,
                "node": g.node,
                "name": g.name,
                "kind": g.kind.as_str(),
                "ansible_host": agent_addresses
                    .get(&g.vmid)
                    .cloned()
                    .or_else(|| static_address(g)),
            })
        })
        .collect();
    let groups: Vec<Value> = groups(snapshot, idents)
        .into_iter()
        .map(|(name, hosts)| json!({ "name": name, "hosts": hosts }))
        .collect();
    templates.render(
        "ansible/inventory.yml.tera",
        &json!({ "cluster_name": snapshot.cluster_name, "hosts": hosts, "groups": groups }),
    )
}

fn arg_str(name: &str, value: &str) -> Value {
    json!({ "kind": "str", "name": name, "value": value })
}

fn arg_raw(name: &str, value: impl ToString) -> Value {
    json!({ "kind": "raw", "name": name, "value": value.to_string() })
}

/// The module arguments that create `guest` (PVE values as PVE stores them).
fn provision_args(guest: &Guest) -> Vec<Value> {
    let raw = raw_config(guest);
    let mut args = vec![arg_str("node", &guest.node), arg_raw("vmid", guest.vmid)];
    let mut maps: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let take_int = |args: &mut Vec<Value>, key: &str, arg: &str| {
        if let Some(v) = raw.get(key).and_then(|v| v.parse::<u64>().ok()) {
            args.push(arg_raw(arg, v));
        }
    };
    match guest.kind {
        GuestKind::Qemu => {
            if !guest.name.is_empty() {
                args.push(arg_str("name", &guest.name));
            }
            take_int(&mut args, "cores", "cores");
            take_int(&mut args, "sockets", "sockets");
            take_int(&mut args, "memory", "memory");
            take_int(&mut args, "balloon", "balloon");
            for key in [
                "cpu", "ostype", "scsihw", "bios", "machine", "agent", "boot",
            ] {
                if let Some(v) = raw.get(key) {
                    args.push(arg_str(key, v));
                }
            }
            for (key, value) in &raw {
                let group = ["scsi", "virtio", "sata", "ide", "net", "ipconfig"]
                    .into_iter()
                    .find(|p| {
                        key.strip_prefix(p)
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    });
                if let Some(group) = group {
                    maps.entry(group)
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
            }
            if let Some(v) = raw.get("ciuser") {
                args.push(arg_str("ciuser", v));
            }
            if let Some(v) = raw.get("nameserver") {
                let items: Vec<String> = v.split_whitespace().map(str::to_string).collect();
                args.push(json!({ "kind": "list", "name": "nameservers", "items": items }));
            }
            if let Some(v) = raw.get("searchdomain") {
                let items = vec![v.clone()];
                args.push(json!({ "kind": "list", "name": "searchdomains", "items": items }));
            }
            if guest.on_boot {
                args.push(arg_raw("onboot", true));
            }
            if guest.template {
                args.push(arg_raw("template", true));
            }
        }
        GuestKind::Lxc => {
            if !guest.name.is_empty() {
                args.push(arg_str("hostname", &guest.name));
            }
            take_int(&mut args, "cores", "cores");
            take_int(&mut args, "memory", "memory");
            take_int(&mut args, "swap", "swap");
            if let Some(v) = raw.get("rootfs") {
                args.push(arg_str("disk", v));
            }
            // PVE does not record the template a container came from.
            args.push(arg_str(
                "ostemplate",
                "local:vztmpl/CHOOSE-A-TEMPLATE.tar.zst",
            ));
            if let Some(GuestConfig::Container(ct)) = Some(&guest.config)
                && let Some(u) = ct.unprivileged
            {
                args.push(arg_raw("unprivileged", u));
            }
            if let Some(v) = raw.get("features") {
                let items: Vec<String> = v.split(',').map(str::to_string).collect();
                args.push(json!({ "kind": "list", "name": "features", "items": items }));
            }
            for (key, value) in &raw {
                for (prefix, group) in [("net", "netif"), ("mp", "mounts")] {
                    if key
                        .strip_prefix(prefix)
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        maps.entry(group)
                            .or_default()
                            .insert(key.clone(), value.clone());
                    }
                }
            }
            if guest.on_boot {
                args.push(arg_raw("onboot", true));
            }
        }
    }
    if let Some(pool) = &guest.pool {
        args.push(arg_str("pool", pool));
    }
    if let Some(d) = &guest.description {
        args.push(arg_str("description", d));
    }
    if !guest.tags.is_empty() {
        args.push(json!({ "kind": "list", "name": "tags", "items": guest.tags }));
    }
    for (name, entries) in maps {
        let entries: Vec<Value> = entries
            .into_iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        args.push(json!({ "kind": "map", "name": name, "entries": entries }));
    }
    args
}

/// Renders `ansible/provision.yml`: one small render per task, so memory stays proportional
/// to one guest rather than to the cluster.
pub fn render_provision(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
) -> Result<String, IacError> {
    let mut guests: Vec<&Guest> = snapshot.guests.iter().collect();
    guests.sort_by_key(|g| g.vmid);
    // One task per guest, each rendered on its own: on every core, joined in vmid order.
    let rendered: Vec<Result<String, IacError>> = guests
        .par_iter()
        .map(|g| {
            let word = match g.kind {
                GuestKind::Qemu => "VM",
                GuestKind::Lxc => "container",
            };
            let task = json!({
                "kind": g.kind.as_str(),
                "task_name": format!("Create {word} {} on {}", g.vmid, sanitize(&g.node).unwrap_or_default()),
                "args": provision_args(g),
            });
            templates.render("ansible/provision_task.yml.tera", &task)
        })
        .collect();
    let mut tasks = String::new();
    for task in rendered {
        tasks.push_str(&task?);
    }
    templates.render("ansible/provision.yml.tera", &json!({ "tasks": tasks }))
}

/// Tag groups that get a role (sorted).
pub fn role_groups(
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
) -> Vec<(String, String)> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for g in snapshot
        .guests
        .iter()
        .filter(|g| !g.template && idents.contains_key(&g.vmid))
    {
        for t in &g.tags {
            tags.entry(group("tag", t)).or_insert_with(|| t.clone());
        }
    }
    tags.into_iter().collect()
}

/// Renders `ansible/site.yml`.
pub fn render_site(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
) -> Result<String, IacError> {
    let roles: Vec<Value> = role_groups(snapshot, idents)
        .into_iter()
        .map(|(group, tag)| {
            json!({ "group": group, "play_name": format!("Configure the guests tagged {tag}") })
        })
        .collect();
    templates.render("ansible/site.yml.tera", &json!({ "roles": roles }))
}

/// Renders `ansible/roles/<group>/tasks/main.yml`.
pub fn render_role_tasks(templates: &Templates, group: &str) -> Result<String, IacError> {
    templates.render("ansible/role_tasks.yml.tera", &json!({ "group": group }))
}
