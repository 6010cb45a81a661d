//! Guests (qemu VMs and LXC containers) and their configuration: disks keyed by slot, NICs keyed
//! by index, cloud-init. Unknown sub-options stay in `extra` maps so nothing read is lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether a guest is a VM or a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    /// Returns the PVE path segment and resource type (`qemu`, `lxc`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }

    /// Parses `qemu` or `lxc`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "qemu" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            _ => None,
        }
    }
}

impl std::fmt::Display for GuestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Run state as PVE reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestStatus {
    Running,
    Stopped,
    Paused,
    Unknown,
}

impl GuestStatus {
    /// Parses PVE's status text; anything unexpected is `Unknown`.
    pub fn parse(text: &str) -> Self {
        match text {
            "running" => GuestStatus::Running,
            "stopped" => GuestStatus::Stopped,
            "paused" | "suspended" => GuestStatus::Paused,
            _ => GuestStatus::Unknown,
        }
    }
}

/// A power action on a guest: what a resource line asks (`stop vm web01`) and the PVE
/// `status/{action}` endpoint that carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    Stop,
    Shutdown,
    Reboot,
}

impl PowerAction {
    /// The action's word, as PVE's endpoint and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::Start => "start",
            PowerAction::Stop => "stop",
            PowerAction::Shutdown => "shutdown",
            PowerAction::Reboot => "reboot",
        }
    }
}

/// One guest with its metadata and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guest {
    pub vmid: u32,
    /// VM `name` or container `hostname`.
    pub name: String,
    pub node: String,
    pub kind: GuestKind,
    pub status: GuestStatus,
    pub template: bool,
    /// Lowercase, as PVE stores them.
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub description: Option<String>,
    pub on_boot: bool,
    pub lock: Option<String>,
    pub config: GuestConfig,
    /// PVE config keys the model does not map, kept verbatim.
    pub unmodelled: BTreeMap<String, String>,
    /// SHA-1 digest of the config file when it was read, for optimistic updates.
    pub digest: Option<String>,
}

/// Hardware and OS configuration of a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Adjacently tagged: an internally tagged enum buffers its content and then cannot read the
// integer keys of `nics` back from JSON (snapshots in state.db must round-trip).
#[serde(tag = "kind", content = "config", rename_all = "lowercase")]
pub enum GuestConfig {
    Vm(VmConfig),
    Container(ContainerConfig),
}

impl GuestConfig {
    /// Returns which kind of guest this config belongs to.
    pub fn kind(&self) -> GuestKind {
        match self {
            GuestConfig::Vm(_) => GuestKind::Qemu,
            GuestConfig::Container(_) => GuestKind::Lxc,
        }
    }
}

/// A qemu VM's configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VmConfig {
    pub cores: Option<u32>,
    pub sockets: Option<u32>,
    /// `cpu` type (`host`, `x86-64-v2-AES`).
    pub cpu_type: Option<String>,
    /// Other `cpu` sub-options (`flags`, ...), verbatim.
    pub cpu_extra: BTreeMap<String, String>,
    pub memory_mib: Option<u64>,
    pub balloon_mib: Option<u64>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub ostype: Option<String>,
    pub scsihw: Option<String>,
    /// `boot: order=scsi0;ide2;net0`.
    pub boot_order: Option<Vec<String>>,
    pub agent: Option<Agent>,
    /// Keyed by slot: `scsi0`, `virtio1`, `sata0`, `ide2`, `efidisk0`, `tpmstate0`.
    pub disks: BTreeMap<String, Disk>,
    /// Keyed by the N of `netN`.
    pub nics: BTreeMap<u8, Nic>,
    pub cloud_init: Option<CloudInit>,
}

/// The qemu guest agent setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub enabled: bool,
    pub extra: BTreeMap<String, String>,
}

/// A VM disk, CD-ROM, EFI disk or TPM state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Volume id (`local-lvm:vm-100-disk-0`), `none` for an empty drive, or `STORAGE:GiB` to
    /// allocate on create.
    pub volume: String,
    pub size_bytes: Option<u64>,
    /// `cdrom` for CD drives (including cloud-init drives).
    pub media: Option<String>,
    /// Other sub-options (`discard`, `iothread`, `ssd`, `cache`, ...), verbatim.
    pub extra: BTreeMap<String, String>,
}

impl Disk {
    /// Returns a disk on a volume with no options.
    pub fn new(volume: impl Into<String>) -> Self {
        Self {
            volume: volume.into(),
            size_bytes: None,
            media: None,
            extra: BTreeMap::new(),
        }
    }

    /// Returns true for CD-ROM drives (ISO, empty drive or cloud-init drive).
    pub fn is_cdrom(&self) -> bool {
        self.media.as_deref() == Some("cdrom")
    }

    /// Returns true for the cloud-init drive.
    pub fn is_cloudinit(&self) -> bool {
        self.volume.contains("cloudinit")
    }

    /// Returns the storage part of the volume id, if it has one.
    pub fn storage(&self) -> Option<&str> {
        self.volume.split_once(':').map(|(s, _)| s)
    }
}

/// A VM network card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// `virtio`, `e1000`, `vmxnet3`, ...
    pub model: String,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub vlan_tag: Option<u16>,
    pub firewall: Option<bool>,
    /// Other sub-options (`mtu`, `rate`, `queues`, `link_down`, `trunks`), verbatim.
    pub extra: BTreeMap<String, String>,
}

/// Cloud-init settings of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CloudInit {
    /// `ciuser`.
    pub user: Option<String>,
    /// `ipconfigN`, keyed by N.
    pub ipconfigs: BTreeMap<u8, IpConfig>,
    /// `nameserver` (space-separated list, verbatim).
    pub dns: Option<String>,
    /// `searchdomain`.
    pub search: Option<String>,
    /// Public keys, one per entry, decoded from `sshkeys`.
    pub ssh_keys: Vec<String>,
}

impl CloudInit {
    fn is_empty(&self) -> bool {
        self == &CloudInit::default()
    }
}

/// One `ipconfigN` value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpConfig {
    /// CIDR or `dhcp`.
    pub ip: Option<String>,
    pub gw: Option<String>,
    /// CIDR, `dhcp` or `auto`.
    pub ip6: Option<String>,
    pub gw6: Option<String>,
    pub extra: BTreeMap<String, String>,
}

/// An LXC container's configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub hostname: Option<String>,
    pub cores: Option<u32>,
    pub memory_mib: Option<u64>,
    pub swap_mib: Option<u64>,
    pub rootfs: Option<Mount>,
    /// `mpN`, keyed by N.
    pub mount_points: BTreeMap<u8, Mount>,
    /// `netN`, keyed by N.
    pub nics: BTreeMap<u8, CtNic>,
    /// `features: nesting=1,keyctl=1`, verbatim sub-options.
    pub features: BTreeMap<String, String>,
    pub unprivileged: Option<bool>,
    pub ostype: Option<String>,
    pub arch: Option<String>,
    /// Only for create; PVE does not report it back, so it is `None` when read.
    pub ostemplate: Option<String>,
}

/// A container root filesystem or mount point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Volume id, host path (bind mount) or `STORAGE:GiB` to allocate on create.
    pub volume: String,
    /// `mp=`: where it is mounted inside the container (not set for rootfs).
    pub path: Option<String>,
    pub size_bytes: Option<u64>,
    /// Other sub-options (`acl`, `backup`, `ro`, `quota`, ...), verbatim.
    pub extra: BTreeMap<String, String>,
}

/// A container network interface.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CtNic {
    /// Interface name inside the container (`eth0`); PVE requires it.
    pub name: String,
    pub bridge: Option<String>,
    pub hwaddr: Option<String>,
    /// CIDR, `dhcp` or `manual`.
    pub ip: Option<String>,
    pub gw: Option<String>,
    pub ip6: Option<String>,
    pub gw6: Option<String>,
    pub vlan_tag: Option<u16>,
    pub firewall: Option<bool>,
    /// Other sub-options (`type`, `mtu`, `rate`, ...), verbatim.
    pub extra: BTreeMap<String, String>,
}

pub(crate) fn cloud_init_or_none(ci: CloudInit) -> Option<CloudInit> {
    (!ci.is_empty()).then_some(ci)
}
