//! The test-side handle: faults at run time, the request log and counters, and out-of-band
//! changes to guests (as if someone used the PVE GUI).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::SimError;
use super::conf::canonical_value;
use super::faults::Faults;
use super::server::{Shared, lock, now};

/// One request as the simulator saw it. Never holds a secret.
#[derive(Debug, Clone)]
pub struct RequestLogEntry {
    pub time: SystemTime,
    pub method: String,
    /// The request path as sent (`/api2/json/...`).
    pub path: String,
    /// The route template it matched, e.g. `GET /nodes/{node}/qemu`.
    pub route: Option<String>,
    /// Names of the parameters (values are not kept: they may be secrets).
    pub param_names: Vec<String>,
    /// The token id (`root@pam!mpc`), never the secret.
    pub token_id: Option<String>,
    pub status: u16,
}

/// A cloneable handle on a running simulator.
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl").finish_non_exhaustive()
    }
}

impl SimControl {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Replaces the faults (and re-seeds the fault generator).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// The newest requests (up to 200,000; older ones are dropped in halves).
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests per route template, e.g. `"GET /nodes/{node}/qemu/{vmid}/config" -> 3`.
    pub fn route_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.route_counts).clone()
    }

    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// POST/PUT/DELETE requests that reached a handler.
    pub fn write_count(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }

    /// Sets a config key of a guest directly (`value` as it would be in the `.conf` file).
    pub fn set_guest_config(&self, vmid: u32, key: &str, value: &str) -> Result<(), SimError> {
        let mut cl = lock(&self.shared.cluster);
        let guest = cl
            .guests
            .get_mut(&vmid)
            .ok_or(SimError::NoSuchGuest(vmid))?;
        let value = canonical_value(guest.kind, key, value, u64::from(vmid));
        guest.config.insert(key.to_string(), value);
        drop(cl);
        self.shared.persist();
        Ok(())
    }

    /// Removes a config key of a guest directly.
    pub fn delete_guest_config(&self, vmid: u32, key: &str) -> Result<(), SimError> {
        let mut cl = lock(&self.shared.cluster);
        let guest = cl
            .guests
            .get_mut(&vmid)
            .ok_or(SimError::NoSuchGuest(vmid))?;
        guest.config.remove(key);
        drop(cl);
        self.shared.persist();
        Ok(())
    }

    pub fn set_guest_status(&self, vmid: u32, running: bool) -> Result<(), SimError> {
        let mut cl = lock(&self.shared.cluster);
        let guest = cl
            .guests
            .get_mut(&vmid)
            .ok_or(SimError::NoSuchGuest(vmid))?;
        guest.running = running;
        guest.started_at = running.then(now);
        drop(cl);
        self.shared.persist();
        Ok(())
    }

    pub fn set_guest_lock(&self, vmid: u32, lock_name: Option<&str>) -> Result<(), SimError> {
        let mut cl = lock(&self.shared.cluster);
        let guest = cl
            .guests
            .get_mut(&vmid)
            .ok_or(SimError::NoSuchGuest(vmid))?;
        match lock_name {
            Some(l) => guest.config.insert("lock".to_string(), l.to_string()),
            None => guest.config.remove("lock"),
        };
        drop(cl);
        self.shared.persist();
        Ok(())
    }

    /// The raw config of a guest, as on disk (top section).
    pub fn guest_config(&self, vmid: u32) -> Option<BTreeMap<String, String>> {
        lock(&self.shared.cluster)
            .guests
            .get(&vmid)
            .map(|g| g.config.clone())
    }

    /// The node a guest lives on.
    pub fn guest_node(&self, vmid: u32) -> Option<String> {
        lock(&self.shared.cluster)
            .guests
            .get(&vmid)
            .map(|g| g.node.clone())
    }

    pub fn guest_running(&self, vmid: u32) -> Option<bool> {
        lock(&self.shared.cluster)
            .guests
            .get(&vmid)
            .map(|g| g.running)
    }

    pub fn guest_count(&self) -> usize {
        lock(&self.shared.cluster).guests.len()
    }

    /// Every guest id, ascending.
    pub fn guest_ids(&self) -> Vec<u32> {
        lock(&self.shared.cluster).guests.keys().copied().collect()
    }

    /// Every file volume of every storage (backups, ISOs, templates) as (volid, content).
    pub fn storage_files(&self) -> Vec<(String, String)> {
        lock(&self.shared.cluster)
            .storages
            .iter()
            .flat_map(|s| s.files.iter().map(|(v, c, _)| (v.clone(), c.clone())))
            .collect()
    }

    /// The scheduled backup jobs' ids, ascending.
    pub fn backup_job_ids(&self) -> Vec<String> {
        lock(&self.shared.cluster)
            .backup_jobs
            .keys()
            .cloned()
            .collect()
    }

    /// Loads a `.conf` file's text as a new guest (for fixture tests). `lxc` picks the kind.
    pub fn load_guest_conf(
        &self,
        node: &str,
        vmid: u32,
        lxc: bool,
        text: &str,
    ) -> Result<(), SimError> {
        use super::cluster::{Guest, GuestKind, Snapshot};
        let parsed = super::conf::parse_conf(text);
        let mut cl = lock(&self.shared.cluster);
        if cl.node(node).is_none() {
            return Err(SimError::Seed(format!(
                "no node '{node}' in the simulated cluster"
            )));
        }
        let guest = Guest {
            vmid,
            kind: if lxc { GuestKind::Lxc } else { GuestKind::Qemu },
            node: node.to_string(),
            config: parsed.config,
            pending: parsed.pending,
            pending_delete: Default::default(),
            running: false,
            started_at: None,
            snapshots: parsed
                .snapshots
                .into_iter()
                .map(|(name, config)| Snapshot {
                    description: config.get("description").cloned().unwrap_or_default(),
                    snaptime: config
                        .get("snaptime")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    parent: config.get("parent").cloned(),
                    name,
                    config,
                })
                .collect(),
            agent_running: false,
            paused: false,
            ip: None,
            pool: None,
        };
        cl.guests.insert(vmid, guest);
        drop(cl);
        self.shared.persist();
        Ok(())
    }
}
