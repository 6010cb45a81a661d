//! The simulated cluster's state: nodes, guests (raw config maps as on disk), storages, bridges,
//! pools and tasks. Plain data, serialisable for `--state FILE`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// qemu VM or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }

    /// `VM` or `CT`, as PVE words its messages.
    pub fn word(self) -> &'static str {
        match self {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "CT",
        }
    }

    /// The directory of the config file under `/etc/pve/nodes/<node>/`.
    pub fn conf_dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
        }
    }

    /// Task type prefix: `qm` or `vz`.
    pub fn task_prefix(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qm",
            GuestKind::Lxc => "vz",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub name: String,
    pub description: String,
    pub snaptime: u64,
    pub parent: Option<String>,
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guest {
    pub vmid: u32,
    pub kind: GuestKind,
    pub node: String,
    /// Keys and values exactly as in the `.conf` file's top section.
    pub config: BTreeMap<String, String>,
    /// The `[PENDING]` section.
    pub pending: BTreeMap<String, String>,
    /// Keys whose deletion is pending.
    pub pending_delete: BTreeSet<String>,
    pub running: bool,
    /// Unix time the guest was started (for `uptime`).
    pub started_at: Option<u64>,
    pub snapshots: Vec<Snapshot>,
    /// Whether a guest agent answers inside (qemu only).
    pub agent_running: bool,
    /// Paused by `status/suspend` (qemu): still `running`, `qmpstatus` `paused`.
    #[serde(default)]
    pub paused: bool,
    /// Loopback address the guest's first NIC has (every address stays in 127.0.0.0/8).
    pub ip: Option<String>,
    /// The pool this guest is a member of.
    pub pool: Option<String>,
}

impl Guest {
    pub fn name(&self) -> String {
        let key = match self.kind {
            GuestKind::Qemu => "name",
            GuestKind::Lxc => "hostname",
        };
        self.config
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("{}{}", self.kind.word(), self.vmid))
    }

    pub fn is_template(&self) -> bool {
        self.config.get("template").is_some_and(|v| v == "1")
    }

    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    /// Memory in MiB (qemu `memory` is `[current=]N`).
    pub fn memory_mib(&self) -> u64 {
        let raw = self.config.get("memory").map(String::as_str).unwrap_or(
            if self.kind == GuestKind::Qemu {
                "2048"
            } else {
                "512"
            },
        );
        let raw = raw.strip_prefix("current=").unwrap_or(raw);
        raw.split(',').next().unwrap_or("0").parse().unwrap_or(0)
    }

    pub fn cpus(&self) -> u64 {
        let cores: u64 = self
            .config
            .get("cores")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let sockets: u64 = self
            .config
            .get("sockets")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        cores.saturating_mul(sockets)
    }

    /// Disk keys and their sizes in bytes.
    pub fn disks(&self) -> Vec<(String, String, u64)> {
        self.config
            .iter()
            .filter(|(k, v)| is_disk_key(self.kind, k) && !v.contains("media=cdrom"))
            .map(|(k, v)| {
                let volid = v.split(',').next().unwrap_or("").to_string();
                (k.clone(), volid, size_of(v))
            })
            .collect()
    }

    pub fn maxdisk(&self) -> u64 {
        self.disks().first().map(|d| d.2).unwrap_or(0)
    }

    pub fn uptime(&self, now: u64) -> u64 {
        match (self.running, self.started_at) {
            (true, Some(t)) => now.saturating_sub(t),
            _ => 0,
        }
    }
}

/// Whether a config key names a disk of this guest kind.
pub fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    let prefixes: &[&str] = match kind {
        GuestKind::Qemu => &["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"],
        GuestKind::Lxc => &["rootfs", "mp"],
    };
    if kind == GuestKind::Lxc && key == "rootfs" {
        return true;
    }
    prefixes.iter().any(|p| {
        key.strip_prefix(p)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Size of a disk property string (`size=32G`) in bytes.
pub fn size_of(value: &str) -> u64 {
    value
        .split(',')
        .find_map(|part| part.strip_prefix("size="))
        .and_then(parse_size)
        .unwrap_or(0)
}

/// Parses `32G`, `512M`, `1T`, `4096` (bytes) into bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (num, mult) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1u64 << 10),
        'M' | 'm' => (&text[..text.len() - 1], 1 << 20),
        'G' | 'g' => (&text[..text.len() - 1], 1 << 30),
        'T' | 't' => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    let value: f64 = num.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Some((value * mult as f64) as u64)
}

/// Formats bytes the way PVE writes `size=` (largest exact unit).
pub fn format_size(bytes: u64) -> String {
    for (unit, mult) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if bytes >= mult && bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    bytes.to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub nodeid: u32,
    pub ip: String,
    pub online: bool,
    pub maxcpu: u64,
    pub maxmem: u64,
    pub maxdisk: u64,
    pub boot_time: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Storage {
    pub id: String,
    /// dir, lvmthin, nfs, ...
    pub kind: String,
    pub content: Vec<String>,
    pub shared: bool,
    /// Limited to these nodes; None = every node.
    pub nodes: Option<Vec<String>>,
    pub path: Option<String>,
    pub total: u64,
    /// Space used by things other than guest disks (ISOs, templates, backups).
    pub base_used: u64,
    /// Non-disk content: (volid, content, size).
    pub files: Vec<(String, String, u64)>,
    /// Extra keys of the storage.cfg entry (server, export, vgname, thinpool, ...).
    pub extra: BTreeMap<String, String>,
}

impl Storage {
    pub fn on_node(&self, node: &str) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Iface {
    pub iface: String,
    /// bridge, eth, vlan, ...
    pub kind: String,
    pub address: Option<String>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub bridge_ports: Option<String>,
    pub vlan_aware: bool,
    pub comments: Option<String>,
    /// `mtu`, `cidr6` and `gateway6` as `/etc/network/interfaces` gives them.
    #[serde(default)]
    pub mtu: Option<u64>,
    #[serde(default)]
    pub cidr6: Option<String>,
    #[serde(default)]
    pub gateway6: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pool {
    pub id: String,
    pub comment: String,
    pub storages: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    Running,
    Stopped { exitstatus: String, endtime: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: u64,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub state: TaskState,
    pub log: Vec<String>,
}

/// A started `agent/exec` command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecResult {
    pub exitcode: i64,
    pub out: String,
    pub err: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<Node>,
    pub guests: BTreeMap<u32, Guest>,
    pub storages: Vec<Storage>,
    /// Per node interfaces.
    pub networks: BTreeMap<String, Vec<Iface>>,
    pub pools: BTreeMap<String, Pool>,
    pub tasks: Vec<Task>,
    #[serde(skip)]
    pub task_index: HashMap<String, usize>,
    pub next_pid: u32,
    /// Token ids created through the API (beyond the built-in ones), with their secrets.
    pub extra_tokens: BTreeMap<String, String>,
    pub exec_results: BTreeMap<String, ExecResult>,
    pub next_exec_pid: u64,
    /// Scheduled backup jobs (`/etc/pve/jobs.cfg` vzdump entries) by id: the parameters as
    /// given (`schedule`, `storage`, `vmid`, `all`, ...).
    #[serde(default)]
    pub backup_jobs: BTreeMap<String, BTreeMap<String, String>>,
    /// What each backup volume (by volid) holds: the guest's kind, vmid and config at backup
    /// time, and its notes and protection flag. The volume itself is in its storage's `files`.
    #[serde(default)]
    pub backups: BTreeMap<String, BackupArchive>,
    /// Sizes of volumes that are no disk of any guest's config any more (`unusedN`, which PVE
    /// writes without `size=`), so a re-attached volume reads back with its size.
    #[serde(default)]
    pub volume_sizes: BTreeMap<String, u64>,
}

/// The content of a vzdump archive the simulator needs to restore it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupArchive {
    pub kind: GuestKind,
    pub vmid: u32,
    /// The guest's config at backup time (snapshots and pending changes are not backed up).
    pub config: BTreeMap<String, String>,
    pub notes: String,
    pub protected: bool,
    pub ctime: u64,
}

impl Cluster {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            nodes: Vec::new(),
            guests: BTreeMap::new(),
            storages: Vec::new(),
            networks: BTreeMap::new(),
            pools: BTreeMap::new(),
            tasks: Vec::new(),
            task_index: HashMap::new(),
            next_pid: 4000,
            extra_tokens: BTreeMap::new(),
            exec_results: BTreeMap::new(),
            next_exec_pid: 1000,
            backup_jobs: BTreeMap::new(),
            backups: BTreeMap::new(),
            volume_sizes: BTreeMap::new(),
        }
    }

    pub fn reindex(&mut self) {
        self.task_index = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.upid.clone(), i))
            .collect();
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn storage(&self, id: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.id == id)
    }

    pub fn task(&self, upid: &str) -> Option<&Task> {
        self.task_index.get(upid).map(|&i| &self.tasks[i])
    }

    pub fn task_mut(&mut self, upid: &str) -> Option<&mut Task> {
        self.task_index
            .get(upid)
            .copied()
            .map(move |i| &mut self.tasks[i])
    }

    /// Bytes used on a storage (on `node` for non-shared storages).
    pub fn storage_used(&self, storage: &Storage, node: &str) -> u64 {
        self.storage_used_in(&self.disk_usage(), storage, node)
    }

    /// Guest disk bytes per (storage, node), computed in one pass (large clusters list many
    /// storages per request).
    pub fn disk_usage(&self) -> HashMap<(String, String), u64> {
        let mut usage: HashMap<(String, String), u64> = HashMap::new();
        for g in self.guests.values() {
            for (_, volid, size) in g.disks() {
                let sid = volid.split(':').next().unwrap_or("").to_string();
                let used = usage.entry((sid, g.node.clone())).or_insert(0);
                *used = used.saturating_add(size);
            }
        }
        usage
    }

    /// Bytes used on a storage given a [`Cluster::disk_usage`] map.
    pub fn storage_used_in(
        &self,
        usage: &HashMap<(String, String), u64>,
        storage: &Storage,
        node: &str,
    ) -> u64 {
        let disks: u64 = if storage.shared {
            usage
                .iter()
                .filter(|((sid, _), _)| *sid == storage.id)
                .map(|(_, bytes)| *bytes)
                .fold(0u64, u64::saturating_add)
        } else {
            usage
                .get(&(storage.id.clone(), node.to_string()))
                .copied()
                .unwrap_or(0)
        };
        storage.base_used.saturating_add(disks)
    }

    /// Pool a guest belongs to (pools list their guests by the guests' `pool` membership).
    pub fn pool_of(&self, vmid: u32) -> Option<String> {
        self.guests.get(&vmid).and_then(|g| g.pool.clone())
    }
}
