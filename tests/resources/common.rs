//! The resources binary's helpers: a hand-built cluster for the pure grammar tests, and a
//! synced homelab workspace driven through the console session for the command tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::console::{Outcome, Session};
use proxmox_mpc::model::{
    ClusterSnapshot, GuestKind, Node, NodeNetwork, NodeStatus, Pool, Storage,
};
use proxmox_mpc::sim::Sim;

pub use crate::support::files::changed;
use crate::support::files::{Unreadable, outside_dot_proxmox, relative_files};
use crate::support::model::guest;
pub use crate::support::session::text;
use crate::support::session::{ok, synced_session};
use crate::support::sim::homelab;

const GIB: u64 = 1 << 30;

/// Three nodes (pve2 has the most free memory), local / local-lvm / nas storages, vmbr0 and
/// vmbr1 on each node, pools prod and lab, and a few guests.
pub fn cluster() -> ClusterSnapshot {
    let mut snap = ClusterSnapshot::default();
    for (name, used) in [("pve1", 30u64), ("pve2", 10), ("pve3", 20)] {
        snap.nodes.push(Node {
            name: name.into(),
            status: NodeStatus::Online,
            ip: None,
            cpus: Some(16),
            memory_bytes: Some(64 * GIB),
            memory_used_bytes: Some(used * GIB),
            uptime_seconds: None,
        });
        for (id, kind, content) in [
            ("local", "dir", vec!["backup", "iso", "snippets", "vztmpl"]),
            ("local-lvm", "lvmthin", vec!["images", "rootdir"]),
            ("nas", "nfs", vec!["backup", "images"]),
        ] {
            snap.storages.push(Storage {
                id: id.into(),
                node: name.into(),
                kind: kind.into(),
                content: content.into_iter().map(String::from).collect(),
                shared: id == "nas",
                active: true,
                total_bytes: None,
                used_bytes: None,
                available_bytes: None,
            });
        }
        for (iface, kind) in [("eno1", "eth"), ("vmbr0", "bridge"), ("vmbr1", "bridge")] {
            snap.networks.push(NodeNetwork {
                node: name.into(),
                iface: iface.into(),
                kind: kind.into(),
                method: None,
                cidr: None,
                gateway: None,
                bridge_ports: None,
                cidr6: None,
                gateway6: None,
                mtu: None,
                vlan_aware: iface == "vmbr1",
                autostart: true,
                active: true,
                comments: None,
            });
        }
    }
    for id in ["prod", "lab"] {
        snap.pools.push(Pool {
            id: id.into(),
            comment: None,
            guests: Vec::new(),
            storages: Vec::new(),
        });
    }
    let vm = |vmid, node, name| {
        guest(
            vmid,
            node,
            GuestKind::Qemu,
            true,
            &[
                ("name", name),
                ("cores", "2"),
                ("memory", "2048"),
                ("scsihw", "virtio-scsi-single"),
                ("scsi0", &format!("local-lvm:vm-{vmid}-disk-0,size=32G")),
                ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ],
        )
    };
    snap.guests.push(vm(100, "pve1", "web-01"));
    snap.guests.push(vm(101, "pve2", "web-02"));
    snap.guests.push(vm(102, "pve2", "db-01"));
    let mut template = vm(9000, "pve1", "debian-12-cloudinit");
    template.template = true;
    snap.guests.push(template);
    snap.guests.push(guest(
        200,
        "pve1",
        GuestKind::Lxc,
        true,
        &[
            ("hostname", "dns-01"),
            ("cores", "1"),
            ("memory", "512"),
            ("rootfs", "local-lvm:subvol-200-disk-0,size=8G"),
            ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
        ],
    ));
    snap
}

/// The environment variable the tests pass the token in.
pub const TOKEN_VAR: &str = "PMPC_RESOURCES_TOKEN";

/// A homelab simulator and a workspace synced from it, driven through a console session.
pub struct Lab {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    pub session: Session,
}

impl Lab {
    /// Starts the simulator, runs /init and /sync in a new folder.
    pub async fn start() -> Self {
        let sim = homelab().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let session = synced_session(&sim, dir.path(), TOKEN_VAR).await;
        Self { sim, dir, session }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a line and returns its outcome.
    pub async fn run(&mut self, line: &str) -> Outcome {
        self.session.handle(line).await
    }

    /// Runs a line that must succeed; returns its output as text.
    pub async fn ok(&mut self, line: &str) -> String {
        ok(&mut self.session, line).await
    }

    /// Runs a line that must fail; returns the error message.
    pub async fn fails(&mut self, line: &str) -> String {
        let out = self.run(line).await;
        match out.error {
            Some(e) => e.message,
            None => panic!("`{line}` succeeded: {}", text(&out)),
        }
    }

    /// Writes to the server so far.
    pub fn writes(&self) -> u64 {
        self.sim.control().write_count()
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel))
            .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }
}

/// Every file under `dir` (relative path -> bytes), leaving out state.db and its companions;
/// a file that cannot be read counts as empty.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    outside_dot_proxmox(relative_files(dir, Unreadable::Empty))
}
