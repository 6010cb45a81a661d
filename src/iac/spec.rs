//! Test specs: one `tests/<guest>.yml` per guest stating what must hold on the live cluster
//! (format 1, which the `/test` runner reads).
//!
//! Format 1, as the comment at the top of every spec says:
//!
//! ```yaml
//! version: 1
//! guest: { vmid: 100, kind: "qemu", name: "web" }   # vmid is the key
//! expect:                       # every key optional; a key left out is not checked
//!   exists: true
//!   node: "pve1"
//!   state: "running"            # running | stopped
//!   template: false
//!   cores: 2
//!   sockets: 1
//!   memory_mib: 2048
//!   pool: "prod"
//!   tags: ["web"]               # sorted
//!   disks: { "scsi0": { storage: "local-lvm", size_gib: 32 } }
//!   nics: { "net0": { bridge: "vmbr0", model: "virtio", vlan: 30 } }
//! ```

use serde_json::{Value, json};

use super::{IacError, Templates};
use crate::model::{Guest, GuestConfig, GuestStatus};

const GIB: u64 = 1 << 30;

/// Renders the spec of one guest.
pub fn render_spec(templates: &Templates, guest: &Guest) -> Result<String, IacError> {
    let (cores, sockets, memory, disks, nics) = match &guest.config {
        GuestConfig::Vm(vm) => {
            let disks: Vec<Value> = vm
                .disks
                .iter()
                .filter(|(_, d)| !d.is_cdrom())
                .map(|(slot, d)| {
                    json!({
                        "slot": slot,
                        "storage": d.storage().unwrap_or(""),
                        "size_gib": d.size_bytes.filter(|b| b % GIB == 0).map(|b| b / GIB),
                    })
                })
                .collect();
            let nics: Vec<Value> = vm
                .nics
                .iter()
                .map(|(i, n)| {
                    json!({ "key": format!("net{i}"), "bridge": n.bridge, "model": n.model, "vlan": n.vlan_tag })
                })
                .collect();
            (vm.cores, vm.sockets, vm.memory_mib, disks, nics)
        }
        GuestConfig::Container(ct) => {
            let mut disks = Vec::new();
            for (slot, m) in ct
                .rootfs
                .iter()
                .map(|m| ("rootfs".to_string(), m))
                .chain(ct.mount_points.iter().map(|(i, m)| (format!("mp{i}"), m)))
            {
                disks.push(json!({
                    "slot": slot,
                    "storage": m.volume.split_once(':').map(|(s, _)| s).unwrap_or(""),
                    "size_gib": m.size_bytes.filter(|b| b % GIB == 0).map(|b| b / GIB),
                }));
            }
            let nics: Vec<Value> = ct
                .nics
                .iter()
                .map(|(i, n)| {
                    json!({ "key": format!("net{i}"), "bridge": n.bridge, "model": Value::Null, "vlan": n.vlan_tag })
                })
                .collect();
            (ct.cores, None, ct.memory_mib, disks, nics)
        }
    };
    let mut tags = guest.tags.clone();
    tags.sort();
    let state = if guest.status == GuestStatus::Running && !guest.template {
        "running"
    } else {
        "stopped"
    };
    templates.render(
        "tests/guest.yml.tera",
        &json!({
            "vmid": guest.vmid,
            "kind": guest.kind.as_str(),
            "name": guest.name,
            "node": guest.node,
            "state": state,
            "template": guest.template,
            "cores": cores,
            "sockets": sockets,
            "memory_mib": memory,
            "pool": guest.pool,
            "tags": tags,
            "disks": disks,
            "nics": nics,
        }),
    )
}
