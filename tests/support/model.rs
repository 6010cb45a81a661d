//! Model values built by hand.

use std::collections::BTreeMap;

use proxmox_mpc::model::{Guest, GuestKind, GuestStatus, guest_from_config};

/// Builds a guest from PVE config pairs, running or stopped.
pub fn guest(
    vmid: u32,
    node: &str,
    kind: GuestKind,
    running: bool,
    pairs: &[(&str, &str)],
) -> Guest {
    let raw: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let status = if running {
        GuestStatus::Running
    } else {
        GuestStatus::Stopped
    };
    guest_from_config(vmid, node, kind, status, None, &raw).0
}
