//! The summary `/sync` stores with each snapshot and `/status` reads: counts only, so the
//! status line never has to parse a whole snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ClusterSnapshot, GuestKind, GuestStatus, NodeStatus};

/// Counts of one observed cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub nodes_online: u32,
    pub nodes_offline: u32,
    /// QEMU guests by status (`running`, `stopped`, ...).
    pub vms: BTreeMap<String, u32>,
    /// LXC containers by status.
    pub containers: BTreeMap<String, u32>,
}

impl SnapshotSummary {
    /// The counts of `snapshot`: nodes online and offline, guests by kind and status
    /// (templates counted apart).
    pub fn of(snapshot: &ClusterSnapshot) -> Self {
        let mut summary = SnapshotSummary::default();
        for n in &snapshot.nodes {
            if n.status == NodeStatus::Online {
                summary.nodes_online += 1;
            } else {
                summary.nodes_offline += 1;
            }
        }
        for g in &snapshot.guests {
            let state = match (g.template, g.status) {
                (true, _) => "template",
                (_, GuestStatus::Running) => "running",
                (_, GuestStatus::Stopped) => "stopped",
                (_, GuestStatus::Paused) => "paused",
                (_, GuestStatus::Unknown) => "unknown",
            };
            let map = match g.kind {
                GuestKind::Qemu => &mut summary.vms,
                GuestKind::Lxc => &mut summary.containers,
            };
            *map.entry(state.to_string()).or_insert(0) += 1;
        }
        summary
    }
}
