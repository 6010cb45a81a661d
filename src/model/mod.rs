//! Plain Rust types for the infrastructure: nodes, guests (VMs and containers), disks keyed by
//! slot, NICs keyed by index, storages, networks and pools. Knows nothing of HTTP, SQL, HCL or the
//! terminal.
//!
//! Units: disk sizes are bytes (`size_bytes`), memory and swap are MiB (`*_mib`), as PVE's own
//! config keys count them. Guest configs map to the typed fields here; every key or sub-option
//! the model does not map is kept verbatim, so writing back what was read changes nothing
//! (see [`config`]).

pub mod config;
pub mod guest;
pub mod propstring;

use serde::{Deserialize, Serialize};

pub use config::{
    ConfigValue, format_guest, format_guest_config, guest_from_config, parse_guest_config,
};
pub use guest::{
    Agent, CloudInit, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind, GuestStatus,
    IpConfig, Mount, Nic, PowerAction, VmConfig,
};

/// Everything discovery saw in one cluster at one moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub nodes: Vec<Node>,
    pub guests: Vec<Guest>,
    pub storages: Vec<Storage>,
    pub networks: Vec<NodeNetwork>,
    pub pools: Vec<Pool>,
    /// PVE version string of the node answering (`9.1.1`).
    pub version: Option<String>,
    /// Cluster name; `None` for a single node that is not clustered.
    pub cluster_name: Option<String>,
}

impl ClusterSnapshot {
    /// Returns the guest with this vmid, if any.
    pub fn guest(&self, vmid: u32) -> Option<&Guest> {
        self.guests.iter().find(|g| g.vmid == vmid)
    }

    /// Returns the guest with this name, if exactly one has it.
    pub fn guest_by_name(&self, name: &str) -> Option<&Guest> {
        let mut found = self.guests.iter().filter(|g| g.name == name);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

/// Whether a node answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Online,
    Offline,
    Unknown,
}

/// One PVE node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub status: NodeStatus,
    /// Cluster ring address, from `/cluster/status`.
    pub ip: Option<String>,
    pub cpus: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub uptime_seconds: Option<u64>,
}

/// One storage as seen from one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    pub id: String,
    pub node: String,
    /// PVE plugin type (`dir`, `lvmthin`, `zfspool`, `nfs`, ...).
    pub kind: String,
    /// Content types (`images`, `rootdir`, `iso`, `vztmpl`, `backup`, `snippets`).
    pub content: Vec<String>,
    pub shared: bool,
    pub active: bool,
    pub total_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
}

/// One interface in a node's `/etc/network/interfaces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeNetwork {
    pub node: String,
    pub iface: String,
    /// `bridge`, `bond`, `eth`, `vlan`, `OVSBridge`, ...
    pub kind: String,
    pub method: Option<String>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub bridge_ports: Option<String>,
    /// IPv6 address in CIDR form and gateway (`cidr6`, `gateway6`).
    #[serde(default)]
    pub cidr6: Option<String>,
    #[serde(default)]
    pub gateway6: Option<String>,
    #[serde(default)]
    pub mtu: Option<u64>,
    pub vlan_aware: bool,
    pub autostart: bool,
    pub active: bool,
    pub comments: Option<String>,
}

/// A resource pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub id: String,
    pub comment: Option<String>,
    /// vmids of the guests in the pool.
    pub guests: Vec<u32>,
    /// storage ids in the pool.
    pub storages: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn snapshots_round_trip_through_json() {
        let raw: BTreeMap<String, String> = [
            ("name", "web"),
            ("cores", "2"),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ("ipconfig0", "ip=dhcp"),
            ("scsi0", "local-lvm:vm-1-disk-0,size=8G"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (guest, _) =
            guest_from_config(1, "n", GuestKind::Qemu, GuestStatus::Running, None, &raw);
        let snapshot = ClusterSnapshot {
            guests: vec![guest],
            ..ClusterSnapshot::default()
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: ClusterSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }
}
