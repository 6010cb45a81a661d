//! The plan binary's helpers: a state database, guests built from PVE keys, diffs and applies;
//! the simulator and its client come from `support`.

use std::collections::BTreeSet;
use std::time::Duration;

use proxmox_mpc::model::{ClusterSnapshot, Guest, GuestKind, GuestStatus};
use proxmox_mpc::plan::apply::{ApplyOptions, ApplySummary, apply};
use proxmox_mpc::plan::{DiffInput, Plan, diff};
use proxmox_mpc::pve::Client;
use proxmox_mpc::state::StateDb;

pub use crate::support::model::guest;
pub use crate::support::sim::{client, homelab_with_faults as homelab};

/// A fresh state database in `dir`.
pub async fn state(dir: &tempfile::TempDir) -> StateDb {
    StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("state.db opens")
}

/// Reads the whole cluster.
pub async fn observe(client: &Client) -> ClusterSnapshot {
    client.discover(|_, _| {}).await.expect("discovery works")
}

/// A guest as its file would describe it: what PVE keeps, without the moment's lock and digest.
pub fn as_file(live: &Guest) -> Guest {
    let mut g = live.clone();
    g.lock = None;
    g.digest = None;
    g.unmodelled.remove("lock");
    if g.status != GuestStatus::Running {
        g.status = GuestStatus::Stopped;
    }
    g
}

/// A new VM (the server picks its vmid) with one disk and one NIC.
pub fn new_vm(name: &str, node: &str, running: bool) -> Guest {
    guest(
        0,
        node,
        GuestKind::Qemu,
        running,
        &[
            ("name", name),
            ("cores", "1"),
            ("memory", "512"),
            ("scsihw", "virtio-scsi-single"),
            ("scsi0", "local-lvm:2"),
            ("net0", "virtio,bridge=vmbr0"),
        ],
    )
}

/// A new container from the simulator's Debian template.
pub fn new_ct(name: &str, node: &str) -> Guest {
    let mut g = guest(
        0,
        node,
        GuestKind::Lxc,
        false,
        &[
            ("hostname", name),
            ("cores", "1"),
            ("memory", "256"),
            ("rootfs", "local-lvm:2"),
            ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
        ],
    );
    if let proxmox_mpc::model::GuestConfig::Container(ct) = &mut g.config {
        ct.ostemplate = Some("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into());
    }
    g
}

/// Diffs `desired` against `observed`.
pub fn plan_of(desired: &[Guest], observed: &ClusterSnapshot, managed: &BTreeSet<u32>) -> Plan {
    diff(DiffInput {
        desired,
        desired_pools: &[],
        observed,
        managed,
    })
}

/// Saves and applies a plan with `opts`.
pub async fn run_apply(
    client: &Client,
    db: &StateDb,
    plan: &Plan,
    opts: ApplyOptions,
) -> (i64, ApplySummary) {
    let data = serde_json::to_string(plan).expect("plan serializes");
    let id = db
        .save_plan("default", None, "{}", &data)
        .await
        .expect("plan saved");
    let summary = apply(client, db, id, plan, opts, |_| {})
        .await
        .expect("apply runs");
    (id, summary)
}

/// Fills in the vmid the server chose for each new guest, as the write-back into its file
/// does: a guest with that name on the server.
pub fn write_back(desired: &mut [Guest], observed: &ClusterSnapshot) {
    for g in desired.iter_mut().filter(|g| g.vmid == 0) {
        if let Some(live) = observed.guest_by_name(&g.name) {
            g.vmid = live.vmid;
        }
    }
}

/// Fast options for tests.
pub fn fast_opts(parallelism: usize) -> ApplyOptions {
    ApplyOptions {
        parallelism,
        per_node: parallelism,
        per_storage: parallelism,
        lock_wait: Duration::from_secs(60),
        task_timeout: Duration::from_secs(60),
        crash_hook: None,
    }
}
