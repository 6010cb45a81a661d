//! The summary `/sync` stores with each snapshot and `/status` reads: counts only, so the
//! status line never has to parse a whole snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
