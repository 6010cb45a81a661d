//! `docs/inventory.md`: a table of guests per node, the storages, the node networks and a
//! Mermaid diagram of nodes, bridges and guests.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ansible::static_address;
use super::{IacError, Templates};
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestStatus};

const GIB: u64 = 1 << 30;

fn guest_row(g: &Guest) -> Value {
    let (cores, memory, disks, bridges): (Option<u32>, Option<u64>, Vec<String>, Vec<String>) =
        match &g.config {
            GuestConfig::Vm(vm) => (
                vm.cores,
                vm.memory_mib,
                vm.disks
                    .iter()
                    .filter(|(_, d)| !d.is_cdrom())
                    .map(|(slot, d)| match d.size_bytes {
                        Some(b) => format!("{slot} {}", crate::model::propstring::format_size(b)),
                        None => slot.clone(),
                    })
                    .collect(),
                vm.nics.values().filter_map(|n| n.bridge.clone()).collect(),
            ),
            GuestConfig::Container(ct) => (
                ct.cores,
                ct.memory_mib,
                ct.rootfs
                    .iter()
                    .map(|m| ("rootfs".to_string(), m))
                    .chain(ct.mount_points.iter().map(|(i, m)| (format!("mp{i}"), m)))
                    .map(|(slot, m)| match m.size_bytes {
                        Some(b) => format!("{slot} {}", crate::model::propstring::format_size(b)),
                        None => slot,
                    })
                    .collect(),
                ct.nics.values().filter_map(|n| n.bridge.clone()).collect(),
            ),
        };
    let state = if g.template {
        "template"
    } else if g.status == GuestStatus::Running {
        "running"
    } else {
        "stopped"
    };
    let mut tags = g.tags.clone();
    tags.sort();
    json!({
        "vmid": g.vmid,
        "id": format!("g{}", g.vmid),
        "name": g.name,
        "kind": g.kind.as_str(),
        "state": state,
        "cores": cores.map(|c| c.to_string()).unwrap_or_default(),
        "memory": memory.map(|m| m.to_string()).unwrap_or_default(),
        "disks": disks.join(", "),
        "address": static_address(g).unwrap_or_default(),
        "pool": g.pool.clone().unwrap_or_default(),
        "tags": tags.join(", "),
        "bridges": bridges,
    })
}

/// Renders `docs/inventory.md`.
pub fn render_inventory_doc(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
) -> Result<String, IacError> {
    let mut edges = Vec::new();
    let mut nodes = Vec::new();
    for (ni, node) in snapshot.nodes.iter().enumerate() {
        let bridges: Vec<(String, String)> = snapshot
            .networks
            .iter()
            .filter(|n| n.node == node.name && n.kind == "bridge")
            .enumerate()
            .map(|(bi, n)| (n.iface.clone(), format!("n{ni}b{bi}")))
            .collect();
        let bridge_ids: BTreeMap<&str, &str> = bridges
            .iter()
            .map(|(n, id)| (n.as_str(), id.as_str()))
            .collect();
        let mut guests: Vec<&Guest> = snapshot
            .guests
            .iter()
            .filter(|g| g.node == node.name)
            .collect();
        guests.sort_by_key(|g| g.vmid);
        let rows: Vec<Value> = guests.iter().map(|g| guest_row(g)).collect();
        for row in &rows {
            if let Some(list) = row["bridges"].as_array() {
                let mut seen = std::collections::BTreeSet::new();
                for b in list.iter().filter_map(Value::as_str) {
                    if let Some(id) = bridge_ids.get(b)
                        && seen.insert(b)
                    {
                        edges.push(json!({ "from": row["id"], "to": id }));
                    }
                }
            }
        }
        nodes.push(json!({
            "id": format!("n{ni}"),
            "name": node.name,
            "status": format!("{:?}", node.status).to_lowercase(),
            "ip": node.ip,
            "guests": rows,
            "bridges": bridges.iter().map(|(n, id)| json!({ "name": n, "id": id })).collect::<Vec<_>>(),
        }));
    }
    let mut by_id: BTreeMap<&str, Vec<&crate::model::Storage>> = BTreeMap::new();
    for s in &snapshot.storages {
        by_id.entry(&s.id).or_default().push(s);
    }
    let storages: Vec<Value> = by_id
        .iter()
        .map(|(id, list)| {
            let first = list[0];
            let mut content = first.content.clone();
            content.sort();
            let nodes: Vec<&str> = list.iter().map(|s| s.node.as_str()).collect();
            json!({
                "id": id,
                "kind": first.kind,
                "nodes": nodes.join(", "),
                "content": content.join(", "),
                "shared": if first.shared { "yes" } else { "no" },
                "total": first.total_bytes.map(|b| (b / GIB).to_string()).unwrap_or_default(),
            })
        })
        .collect();
    let networks: Vec<Value> = snapshot
        .networks
        .iter()
        .map(|n| {
            json!({
                "node": n.node,
                "iface": n.iface,
                "kind": n.kind,
                "cidr": n.cidr.clone().unwrap_or_default(),
                "gateway": n.gateway.clone().unwrap_or_default(),
                "ports": n.bridge_ports.clone().unwrap_or_default(),
                "vlan_aware": if n.vlan_aware { "yes" } else { "no" },
                "comment": n.comments.as_deref().unwrap_or_default().trim(),
            })
        })
        .collect();
    templates.render(
        "docs/inventory.md.tera",
        &json!({
            "cluster_name": snapshot.cluster_name,
            "version": snapshot.version,
            "guest_count": snapshot.guests.len(),
            "nodes": nodes,
            "storages": storages,
            "networks": networks,
            "edges": edges,
        }),
    )
}
