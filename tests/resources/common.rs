//! Shared helpers: a hand-built cluster for the pure grammar tests, and a synced homelab
//! workspace driven through the console session for the command tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::commands::Ctx;
use proxmox_mpc::console::{Outcome, Session};
use proxmox_mpc::model::{
    ClusterSnapshot, Guest, GuestKind, GuestStatus, Node, NodeNetwork, NodeStatus, Pool, Storage,
    guest_from_config,
};
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::ui::{Item, Ui};

const GIB: u64 = 1 << 30;

fn guest(vmid: u32, node: &str, kind: GuestKind, pairs: &[(&str, &str)]) -> Guest {
    let raw: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    guest_from_config(vmid, node, kind, GuestStatus::Running, None, &raw).0
}

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
        let sim = Sim::start(SimConfig::homelab())
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ctx = Ctx::new(Ui::default(), dir.path().to_path_buf(), false);
        ctx.set_env(
            TOKEN_VAR,
            &format!("{}={}", sim.token_id(), sim.token_secret()),
        );
        let mut lab = Self {
            session: Session::new(ctx),
            sim,
            dir,
        };
        let init = format!(
            "/init --endpoint {} --token-id '{}' --secret-env {TOKEN_VAR} --fingerprint {}",
            lab.sim.url(),
            lab.sim.token_id(),
            lab.sim.fingerprint().expect("https sim")
        );
        lab.ok(&init).await;
        // /init made the workspace: the session must look for it again.
        let mut ctx = Ctx::new(Ui::default(), lab.dir.path().to_path_buf(), false);
        ctx.set_env(
            TOKEN_VAR,
            &format!("{}={}", lab.sim.token_id(), lab.sim.token_secret()),
        );
        lab.session = Session::new(ctx);
        lab.ok("/sync").await;
        lab
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
        let out = self.run(line).await;
        if let Some(e) = &out.error {
            panic!("`{line}` failed: {} (hints: {:?})", e.message, e.hints);
        }
        text(&out)
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

/// All the text of an outcome's items.
pub fn text(out: &Outcome) -> String {
    out.items
        .iter()
        .map(|i| match i {
            Item::Status(s) | Item::Warning(s) | Item::Hint(s) | Item::Text(s) => s.clone(),
            Item::Data { value, .. } => value.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file under `dir` (relative path -> bytes), leaving out state.db and its companions.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                if rel.starts_with(".proxmox") {
                    continue;
                }
                out.insert(rel, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// The relative paths whose content differs between two listings (added, changed, removed).
pub fn changed(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut keys: Vec<&PathBuf> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| k.to_string_lossy().replace('\\', "/"))
        .collect()
}
