//! The Terraform view of a guest: the bpg/proxmox attribute and block values (`VmView`,
//! `CtView`), made from a [`Guest`] for rendering and turned back into a [`Guest`] when reading a
//! file.
//!
//! The round trip is exact by construction. After building a view, the renderer turns it back
//! into PVE's key/value config and compares that with the guest's own: every key the bpg
//! attributes cannot carry exactly (an EFI disk's volume, a `hostpci0`, a second CD-ROM, an
//! unknown sub-option) becomes a `# pve <key> = "<value>"` comment in the resource, and every
//! key the attributes would invent becomes `# pve-absent <key>`. The reader applies those lines
//! after the attributes, so `read(render(g)) == file_view(g)` for every guest, and nothing PVE
//! reports is silently dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::propstring::{format_size, parse_bool};
use crate::model::{
    Agent, CloudInit, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind, GuestStatus,
    IpConfig, Mount, Nic, VmConfig, format_guest, guest_from_config,
};

const GIB: u64 = 1 << 30;

/// Placeholder for a container's template: PVE does not record it, and the resource ignores
/// changes to `operating_system`, so the value is never used for an imported container.
pub const UNKNOWN_TEMPLATE: &str = "local:vztmpl/unknown-imported-by-proxmox-mpc.tar.zst";

/// Container `ostype` values bpg accepts in `operating_system.type`.
const CT_OS_TYPES: &[&str] = &[
    "alpine",
    "archlinux",
    "centos",
    "debian",
    "devuan",
    "fedora",
    "gentoo",
    "nixos",
    "opensuse",
    "ubuntu",
    "unmanaged",
];

/// `proxmox_virtual_environment_vm` attributes and blocks the console writes. Blocks are lists
/// (bpg's SDK blocks are all lists), empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmView {
    pub node_name: String,
    pub vm_id: u32,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub pool_id: Option<String>,
    pub on_boot: bool,
    pub started: Option<bool>,
    pub template: Option<bool>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub scsi_hardware: Option<String>,
    pub boot_order: Option<Vec<String>>,
    pub acpi: Option<bool>,
    pub kvm_arguments: Option<String>,
    pub keyboard_layout: Option<String>,
    pub tablet_device: Option<bool>,
    pub protection: Option<bool>,
    pub hook_script_file_id: Option<String>,
    pub startup: Vec<StartupView>,
    pub cpu: Vec<CpuView>,
    pub memory: Vec<MemoryView>,
    pub agent: Vec<AgentView>,
    pub operating_system: Vec<OsView>,
    pub disk: Vec<DiskView>,
    pub cdrom: Vec<CdromView>,
    pub efi_disk: Vec<EfiView>,
    pub tpm_state: Vec<TpmView>,
    pub network_device: Vec<NetView>,
    pub initialization: Vec<InitView>,
    pub serial_device: Vec<SerialView>,
    pub hostpci: Vec<HostPciView>,
    pub usb: Vec<UsbView>,
    pub rng: Vec<RngView>,
    pub watchdog: Vec<WatchdogView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartupView {
    pub order: Option<i64>,
    pub up_delay: Option<i64>,
    pub down_delay: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostPciView {
    pub device: String,
    pub id: Option<String>,
    pub mapping: Option<String>,
    pub pcie: Option<bool>,
    pub rombar: Option<bool>,
    pub rom_file: Option<String>,
    pub xvga: Option<bool>,
    pub mdev: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsbView {
    pub host: Option<String>,
    pub mapping: Option<String>,
    pub usb3: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RngView {
    pub source: String,
    pub max_bytes: Option<u64>,
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchdogView {
    pub enabled: bool,
    pub model: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeedView {
    pub iops_read: Option<u64>,
    pub iops_read_burstable: Option<u64>,
    pub iops_write: Option<u64>,
    pub iops_write_burstable: Option<u64>,
    pub read: Option<u64>,
    pub read_burstable: Option<u64>,
    pub write: Option<u64>,
    pub write_burstable: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleView {
    pub enabled: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tty_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceView {
    pub path: String,
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub deny_write: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuView {
    pub cores: Option<u32>,
    pub sockets: Option<u32>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub flags: Vec<String>,
    pub architecture: Option<String>,
    pub hotplugged: Option<u32>,
    pub limit: Option<f64>,
    pub units: Option<u32>,
    pub numa: Option<bool>,
    pub affinity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryView {
    pub dedicated: Option<u64>,
    pub floating: Option<u64>,
    pub swap: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentView {
    pub enabled: bool,
    pub trim: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OsView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub template_file_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskView {
    pub interface: String,
    pub datastore_id: String,
    pub path_in_datastore: Option<String>,
    pub file_format: Option<String>,
    pub size: Option<u64>,
    pub aio: Option<String>,
    pub backup: Option<bool>,
    pub cache: Option<String>,
    pub discard: Option<String>,
    pub iothread: Option<bool>,
    pub replicate: Option<bool>,
    pub serial: Option<String>,
    pub ssd: Option<bool>,
    pub speed: Vec<SpeedView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CdromView {
    pub interface: String,
    pub file_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EfiView {
    pub datastore_id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub pre_enrolled_keys: Option<bool>,
    pub file_format: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TpmView {
    pub datastore_id: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetView {
    pub model: Option<String>,
    pub bridge: Option<String>,
    pub mac_address: Option<String>,
    pub vlan_id: Option<u16>,
    pub firewall: Option<bool>,
    pub disconnected: Option<bool>,
    pub mtu: Option<u32>,
    pub queues: Option<u32>,
    pub rate_limit: Option<f64>,
    pub trunks: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitView {
    pub datastore_id: Option<String>,
    pub interface: Option<String>,
    pub hostname: Option<String>,
    pub dns: Vec<DnsView>,
    pub ip_config: Vec<IpConfigView>,
    pub user_account: Vec<UserView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsView {
    pub domain: Option<String>,
    pub servers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpConfigView {
    pub ipv4: Vec<AddressView>,
    pub ipv6: Vec<AddressView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressView {
    pub address: Option<String>,
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserView {
    pub username: Option<String>,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SerialView {
    pub device: String,
}

/// `proxmox_virtual_environment_container` attributes and blocks the console writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtView {
    pub node_name: String,
    pub vm_id: u32,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub pool_id: Option<String>,
    pub start_on_boot: bool,
    pub started: Option<bool>,
    pub template: Option<bool>,
    pub unprivileged: bool,
    pub protection: Option<bool>,
    pub hook_script_file_id: Option<String>,
    pub console: Vec<ConsoleView>,
    pub startup: Vec<StartupView>,
    pub cpu: Vec<CpuView>,
    pub memory: Vec<MemoryView>,
    pub disk: Vec<RootDiskView>,
    pub mount_point: Vec<MountView>,
    pub network_interface: Vec<CtNetView>,
    pub initialization: Vec<InitView>,
    pub features: Vec<FeaturesView>,
    pub device_passthrough: Vec<DeviceView>,
    pub operating_system: Vec<OsView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootDiskView {
    pub datastore_id: String,
    pub size: Option<u64>,
    pub acl: Option<bool>,
    pub quota: Option<bool>,
    pub replicate: Option<bool>,
    pub mount_options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountView {
    pub volume: String,
    pub path: String,
    pub size: Option<String>,
    pub acl: Option<bool>,
    pub backup: Option<bool>,
    pub quota: Option<bool>,
    pub read_only: Option<bool>,
    pub replicate: Option<bool>,
    pub shared: Option<bool>,
    pub mount_options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtNetView {
    pub name: String,
    pub bridge: Option<String>,
    pub mac_address: Option<String>,
    pub vlan_id: Option<u16>,
    pub firewall: Option<bool>,
    pub mtu: Option<u32>,
    pub rate_limit: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeaturesView {
    pub nesting: Option<bool>,
    pub keyctl: Option<bool>,
    pub fuse: Option<bool>,
    pub mknod: Option<bool>,
    pub mount: Vec<String>,
}

/// The resource of one guest, either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceView {
    Vm(Box<VmView>),
    Ct(Box<CtView>),
}

/// A PVE key kept as a comment because no attribute carries it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verbatim {
    pub key: String,
    pub value: String,
}

/// Everything the guest template needs besides the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestView {
    pub resource: ResourceView,
    /// `# pve key = "value"` lines.
    pub verbatim: Vec<Verbatim>,
    /// `# pve-absent key` lines.
    pub absent: Vec<String>,
    /// Things a reviewer should look at (shown as comments and reported by `/sync`).
    pub warnings: Vec<String>,
    /// `lifecycle.ignore_changes`: what bpg cannot read back after an import, each with why.
    pub ignore_changes: Vec<IgnoredChange>,
}

/// One `lifecycle.ignore_changes` entry and the reason, written as a comment beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredChange {
    pub path: String,
    pub why: String,
}

/// Returns the guest as the workspace files describe it: what Terraform can say about a guest.
/// Run state becomes running or stopped (bpg's `started`), and the lock and digest, which are
/// moments rather than configuration, are dropped.
pub fn file_view(guest: &Guest) -> Guest {
    let mut g = guest.clone();
    g.status = if !g.template && g.status == GuestStatus::Running {
        GuestStatus::Running
    } else {
        GuestStatus::Stopped
    };
    g.lock = None;
    g.digest = None;
    g.unmodelled.remove("lock");
    g.unmodelled.remove("digest");
    g
}

/// PVE's key/value config of a guest as the files compare it (no lock, no digest).
pub fn raw_config(guest: &Guest) -> BTreeMap<String, String> {
    let mut raw = format_guest(guest);
    raw.remove("lock");
    raw.remove("digest");
    raw
}

fn bool_opt(extra: &BTreeMap<String, String>, key: &str) -> Option<bool> {
    extra.get(key).and_then(|v| parse_bool(v))
}

fn put_bool(extra: &mut BTreeMap<String, String>, key: &str, value: Option<bool>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), if v { "1" } else { "0" }.to_string());
    }
}

fn put_str(extra: &mut BTreeMap<String, String>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), v.clone());
    }
}

fn put_num(extra: &mut BTreeMap<String, String>, key: &str, value: Option<f64>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), format_number(v));
    }
}

/// A number as PVE writes it: `2`, not `2.0`.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn put_startup(extra: &mut BTreeMap<String, String>, startup: Option<&StartupView>) {
    let Some(s) = startup else {
        return;
    };
    let parts: Vec<String> = [
        ("order", s.order),
        ("up", s.up_delay),
        ("down", s.down_delay),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    extra.insert("startup".into(), parts.join(","));
}

/// Whole GiB, rounded down as bpg reads sizes (disk/disk.go:462, container.go:2814).
fn floor_gib(bytes: u64) -> u64 {
    bytes / GIB
}

/// Builds the Terraform view of a guest, with the verbatim comments that make it exact.
pub fn to_view(guest: &Guest) -> GuestView {
    let mut warnings = Vec::new();
    let resource = match &guest.config {
        GuestConfig::Vm(vm) => ResourceView::Vm(Box::new(vm_view(guest, vm, &mut warnings))),
        GuestConfig::Container(ct) => ResourceView::Ct(Box::new(ct_view(guest, ct, &mut warnings))),
    };
    let back = from_resource(&resource);
    let original = raw_config(&file_view(guest));
    let read = raw_config(&back);
    let verbatim = original
        .iter()
        .filter(|(k, v)| read.get(*k) != Some(v))
        .map(|(k, v)| Verbatim {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    let absent = read
        .keys()
        .filter(|k| !original.contains_key(*k))
        .cloned()
        .collect();
    let ignore_changes = ignored_changes(guest);
    GuestView {
        resource,
        verbatim,
        absent,
        warnings,
        ignore_changes,
    }
}

/// What a resource must tell Terraform to ignore, because bpg v0.111.1 does not read it back
/// on import (the provider lines are in `docs/bpg-import.md`).
fn ignored_changes(guest: &Guest) -> Vec<IgnoredChange> {
    let entry = |path: &str, why: &str| IgnoredChange {
        path: path.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    if let Some(text) = &guest.description {
        // The config side goes through a StateFunc that trims (VM) or trims and ends with one
        // newline (container); the state keeps PVE's text as it is (vm.go:743-758,
        // container.go:374-382). Other text cannot be written so that both agree.
        let normal = text.replace("\r\n", "\n");
        let representable = match guest.kind {
            crate::model::GuestKind::Qemu => normal.trim() == normal,
            crate::model::GuestKind::Lxc => format!("{}\n", normal.trim()) == normal,
        };
        if !representable {
            out.push(entry(
                "description",
                "PVE's text has blanks around it that bpg's StateFunc would trim (vm.go:743, container.go:374)",
            ));
        }
    }
    match &guest.config {
        GuestConfig::Vm(vm) => {
            out.push(entry("clone", "the clone source is never in the state"));
            if vm.memory_mib.is_none() {
                out.push(entry(
                    "memory",
                    "PVE has no memory key; bpg reads 0 MiB, which no file can say (vm.go:5296)",
                ));
            }
            let sizeless = vm.disks.iter().any(|(slot, d)| {
                d.size_bytes.is_none_or(|b| b < GIB)
                    && !d.is_cdrom()
                    && slot != "efidisk0"
                    && slot != "tpmstate0"
                    && d.volume.contains(':')
            });
            if sizeless {
                out.push(entry(
                    "disk",
                    "a disk has no size or is under 1 GiB; bpg reads 0 GiB, which no file can say (disk.go:462)",
                ));
            }
            if vm.scsihw.is_none() {
                out.push(entry(
                    "scsi_hardware",
                    "PVE has no scsihw key (lsi); bpg reads none back (vm.go:5555)",
                ));
            }
            if vm.ostype.is_none() {
                out.push(entry(
                    "operating_system",
                    "PVE has no ostype key; bpg reads it back as \"\", which no file can say (vm.go:5313)",
                ));
            }
        }
        GuestConfig::Container(ct) => {
            if ct
                .rootfs
                .as_ref()
                .is_some_and(|r| r.size_bytes.is_none_or(|b| b < GIB))
            {
                out.push(entry(
                    "disk",
                    "the root disk has no size or is under 1 GiB; bpg reads 0 GiB, which no file can say (container.go:2814)",
                ));
            }
            out.push(entry(
                "operating_system",
                "PVE does not record the template; the placeholder is never applied (container.go:3334)",
            ));
            out.push(entry("clone", "the clone source is never in the state"));
            out.push(entry(
                "pool_id",
                "never read back, and a change forces replacement (container.go:1019)",
            ));
            out.push(entry(
                "vm_id",
                "not read back on import (container.go:2692); the import id holds it",
            ));
            for t in [
                "timeout_create",
                "timeout_clone",
                "timeout_update",
                "timeout_delete",
                "timeout_start",
            ] {
                out.push(entry(
                    t,
                    "provider-side setting, never read back (container.go:1097)",
                ));
            }
        }
    }
    out
}

fn sorted_tags(guest: &Guest) -> Vec<String> {
    let mut tags = guest.tags.clone();
    tags.sort();
    tags
}

fn started(guest: &Guest) -> Option<bool> {
    (!guest.template).then_some(guest.status == GuestStatus::Running)
}

fn vm_view(guest: &Guest, vm: &VmConfig, warnings: &mut Vec<String>) -> VmView {
    let raw = &guest.unmodelled;
    let mut view = VmView {
        node_name: guest.node.clone(),
        vm_id: guest.vmid,
        name: (!guest.name.is_empty()).then(|| guest.name.clone()),
        description: guest.description.clone(),
        tags: sorted_tags(guest),
        pool_id: guest.pool.clone(),
        on_boot: guest.on_boot,
        started: started(guest),
        template: guest.template.then_some(true),
        bios: vm.bios.clone(),
        machine: vm.machine.clone(),
        // Only when PVE has the key: bpg reads nothing back otherwise, and the resource
        // ignores the attribute instead (see `ignored_changes`).
        scsi_hardware: vm.scsihw.clone(),
        boot_order: vm.boot_order.clone(),
        acpi: bool_opt(raw, "acpi"),
        kvm_arguments: raw.get("args").cloned(),
        keyboard_layout: raw.get("keyboard").cloned(),
        tablet_device: bool_opt(raw, "tablet"),
        protection: bool_opt(raw, "protection"),
        hook_script_file_id: raw.get("hookscript").cloned(),
        startup: raw
            .get("startup")
            .map(|s| startup_view(s))
            .into_iter()
            .collect(),
        ..VmView::default()
    };
    // bpg stores the cpu block only when it differs from its own defaults (vm.go:4731-4741).
    let flags: Vec<String> = vm
        .cpu_extra
        .get("flags")
        .map(|f| f.split(';').map(str::to_string).collect())
        .unwrap_or_default();
    let num = |key: &str| raw.get(key).and_then(|v| v.parse::<f64>().ok());
    let cpu_stored = raw.get("arch").is_some_and(|a| !a.is_empty())
        || vm.cores.unwrap_or(1) != 1
        || !flags.is_empty()
        || num("vcpus").unwrap_or(0.0) != 0.0
        || num("cpulimit").unwrap_or(0.0) != 0.0
        || vm.sockets.unwrap_or(1) != 1
        || vm.cpu_type.as_deref().unwrap_or("qemu64") != "qemu64"
        || num("cpuunits").unwrap_or(0.0) != 0.0;
    if cpu_stored {
        view.cpu.push(CpuView {
            cores: vm.cores,
            sockets: vm.sockets,
            kind: vm.cpu_type.clone(),
            flags,
            architecture: raw.get("arch").cloned(),
            hotplugged: raw.get("vcpus").and_then(|v| v.parse().ok()),
            limit: num("cpulimit"),
            units: raw.get("cpuunits").and_then(|v| v.parse().ok()),
            numa: bool_opt(raw, "numa"),
            affinity: raw.get("affinity").cloned(),
        });
    }
    // memory: stored only when it differs from 512 MiB without ballooning (vm.go:5296-5304).
    let memory_stored = vm.memory_mib.unwrap_or(0) != 512
        || vm.balloon_mib.unwrap_or(0) != 0
        || raw.contains_key("ivshmem")
        || raw.contains_key("hugepages")
        || bool_opt(raw, "keephugepages") == Some(true);
    if memory_stored && vm.memory_mib.is_some() {
        view.memory.push(MemoryView {
            dedicated: vm.memory_mib,
            floating: vm.balloon_mib,
            swap: None,
        });
    }
    // agent: stored when enabled, trimming or not virtio (vm.go:4457-4463); `wait_for_ip` is
    // never read back, so it is never written.
    if let Some(agent) = &vm.agent {
        let trim = bool_opt(&agent.extra, "fstrim_cloned_disks");
        let kind = agent.extra.get("type").cloned();
        if agent.enabled || trim == Some(true) || kind.as_deref().is_some_and(|k| k != "virtio") {
            view.agent.push(AgentView {
                enabled: agent.enabled,
                trim,
                kind,
            });
        }
    }
    // operating_system: not stored for `other`; an absent ostype is ignored (vm.go:5307-5334).
    if let Some(os) = vm.ostype.as_ref().filter(|os| *os != "other") {
        view.operating_system.push(OsView {
            kind: Some(os.clone()),
            template_file_id: None,
        });
    }
    let mut init = InitView::default();
    let mut has_init = false;
    for (slot, disk) in &vm.disks {
        let (storage, path) = match disk.volume.split_once(':') {
            Some((s, p)) => (s.to_string(), p.to_string()),
            None => (String::new(), disk.volume.clone()),
        };
        if slot == "efidisk0" {
            let kind = disk.extra.get("efitype").map(|t| t.to_lowercase());
            let keys = bool_opt(&disk.extra, "pre-enrolled-keys");
            let format = disk
                .extra
                .get("format")
                .cloned()
                .unwrap_or_else(|| volume_format(&path));
            // Stored only when it differs from bpg's defaults (vm.go:4796-4803).
            if storage != "local-lvm"
                || kind.as_deref().unwrap_or("2m") != "2m"
                || keys == Some(true)
                || format != "raw"
            {
                view.efi_disk.push(EfiView {
                    datastore_id: storage,
                    kind,
                    pre_enrolled_keys: keys,
                    file_format: disk.extra.get("format").cloned(),
                });
            }
        } else if slot == "tpmstate0" {
            let version = disk.extra.get("version").cloned();
            // Stored only when it differs from bpg's defaults (vm.go:4818-4830); writing the
            // default block would allocate a new TPM volume.
            if storage != "local-lvm" || version.as_deref().unwrap_or("v2.0") != "v2.0" {
                view.tpm_state.push(TpmView {
                    datastore_id: storage,
                    version,
                });
            }
        } else if disk.is_cloudinit() {
            if init.interface.is_none() {
                init.datastore_id = Some(storage);
                init.interface = Some(slot.clone());
                has_init = true;
            }
        } else if disk.is_cdrom() {
            // An import reads only ide3 (vm.go:67, 4573-4605): a CD-ROM elsewhere stays a
            // comment, which bpg never touches.
            if slot == "ide3" {
                view.cdrom.push(CdromView {
                    interface: slot.clone(),
                    file_id: disk
                        .volume
                        .split(',')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        } else if storage.is_empty() || disk.volume == "none" {
            warnings.push(format!(
                "{slot} is not on a storage ({}); bpg cannot describe it, so it is kept as a comment",
                disk.volume
            ));
        } else {
            let size = disk.size_bytes.map(|bytes| {
                if bytes % GIB != 0 {
                    warnings.push(format!(
                        "{slot} is {} and bpg counts whole GiB (rounding down): the file says {} GiB",
                        format_size(bytes),
                        floor_gib(bytes).max(1)
                    ));
                }
                floor_gib(bytes).max(1)
            });
            view.disk.push(DiskView {
                interface: slot.clone(),
                datastore_id: storage,
                path_in_datastore: Some(path),
                file_format: disk.extra.get("format").cloned(),
                size,
                aio: disk.extra.get("aio").cloned(),
                backup: bool_opt(&disk.extra, "backup"),
                cache: disk.extra.get("cache").cloned(),
                discard: disk.extra.get("discard").cloned(),
                iothread: bool_opt(&disk.extra, "iothread"),
                replicate: bool_opt(&disk.extra, "replicate"),
                serial: disk.extra.get("serial").cloned(),
                ssd: bool_opt(&disk.extra, "ssd"),
                speed: speed_view(&disk.extra).into_iter().collect(),
            });
        }
    }
    // bpg lists NICs by position: net0, net1, ... A gap cannot be written as blocks.
    for (expected, (index, nic)) in vm.nics.iter().enumerate() {
        if usize::from(*index) != expected {
            warnings.push(format!(
                "net{index} follows a gap in the NIC numbers; bpg lists NICs by position, so it is kept as a comment (review by hand)"
            ));
            break;
        }
        view.network_device.push(NetView {
            model: Some(nic.model.clone()),
            bridge: nic.bridge.clone(),
            mac_address: nic.mac.clone(),
            vlan_id: nic.vlan_tag,
            firewall: nic.firewall,
            disconnected: bool_opt(&nic.extra, "link_down"),
            mtu: nic.extra.get("mtu").and_then(|v| v.parse().ok()),
            queues: nic.extra.get("queues").and_then(|v| v.parse().ok()),
            rate_limit: nic.extra.get("rate").and_then(|v| v.parse().ok()),
            trunks: nic.extra.get("trunks").cloned(),
        });
    }
    if let Some(ci) = &vm.cloud_init {
        has_init = true;
        if ci.dns.is_some() || ci.search.is_some() {
            init.dns.push(DnsView {
                domain: ci.search.clone(),
                servers: ci
                    .dns
                    .as_deref()
                    .map(|d| d.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
            });
        }
        init.ip_config = ip_configs(&ci.ipconfigs);
        if ci.user.is_some() || !ci.ssh_keys.is_empty() {
            init.user_account.push(UserView {
                username: ci.user.clone(),
                keys: ci.ssh_keys.clone(),
            });
        }
    }
    if has_init {
        view.initialization.push(init);
    }
    for n in 0..4 {
        match raw.get(&format!("serial{n}")) {
            Some(device) => view.serial_device.push(SerialView {
                device: device.clone(),
            }),
            None => break,
        }
    }
    // Passthrough: every hostpciN with a host or mapping (vm.go:4862-4922), every usbN
    // (vm.go:4924-4961), in slot order.
    let mut pci: Vec<(u32, &String, &String)> = raw
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("hostpci")?.parse().ok()?, k, v)))
        .collect();
    pci.sort();
    for (_, key, value) in pci {
        if let Some(h) = hostpci_view(key, value) {
            view.hostpci.push(h);
        }
    }
    let mut usb: Vec<(u32, &String)> = raw
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("usb")?.parse().ok()?, v)))
        .collect();
    usb.sort();
    for (_, value) in usb {
        let opts = options(value, "host");
        if opts.contains_key("host") || opts.contains_key("mapping") {
            view.usb.push(UsbView {
                host: opts.get("host").cloned(),
                mapping: opts.get("mapping").cloned(),
                usb3: opts.get("usb3").and_then(|v| parse_bool(v)),
            });
        }
    }
    if let Some(rng) = raw.get("rng0") {
        let opts = options(rng, "source");
        if let Some(source) = opts.get("source") {
            view.rng.push(RngView {
                source: source.clone(),
                max_bytes: opts.get("max_bytes").and_then(|v| v.parse().ok()),
                period: opts.get("period").and_then(|v| v.parse().ok()),
            });
        }
    }
    if let Some(dog) = raw.get("watchdog") {
        let opts = options(dog, "model");
        view.watchdog.push(WatchdogView {
            enabled: true,
            model: opts.get("model").cloned(),
            action: opts.get("action").cloned(),
        });
    }
    view
}

/// A property string's options, the bare first value under `bare_key` (`virtio=..`-style
/// strings have none).
fn options(text: &str, bare_key: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => out.insert(k.to_string(), v.to_string()),
            None => out.insert(bare_key.to_string(), part.to_string()),
        };
    }
    out
}

fn startup_view(text: &str) -> StartupView {
    let opts = options(text, "order");
    let int = |k: &str| opts.get(k).and_then(|v| v.parse().ok());
    StartupView {
        order: int("order"),
        up_delay: int("up"),
        down_delay: int("down"),
    }
}

fn hostpci_view(key: &str, value: &str) -> Option<HostPciView> {
    let opts = options(value, "host");
    if !opts.contains_key("host") && !opts.contains_key("mapping") {
        return None;
    }
    Some(HostPciView {
        device: key.to_string(),
        id: opts.get("host").cloned(),
        mapping: opts.get("mapping").cloned(),
        pcie: opts.get("pcie").and_then(|v| parse_bool(v)),
        // bpg reads an absent rombar as on and has no default for it (vm.go:4894).
        rombar: Some(
            opts.get("rombar")
                .and_then(|v| parse_bool(v))
                .unwrap_or(true),
        ),
        rom_file: opts.get("romfile").cloned(),
        xvga: opts.get("x-vga").and_then(|v| parse_bool(v)),
        mdev: opts.get("mdev").cloned(),
    })
}

/// The `speed` block of a disk with I/O limits (disk.go:590-617).
fn speed_view(extra: &BTreeMap<String, String>) -> Option<SpeedView> {
    const KEYS: [&str; 8] = [
        "iops_rd",
        "iops_rd_max",
        "iops_wr",
        "iops_wr_max",
        "mbps_rd",
        "mbps_rd_max",
        "mbps_wr",
        "mbps_wr_max",
    ];
    if !KEYS.iter().any(|k| extra.contains_key(*k)) {
        return None;
    }
    let int = |k: &str| extra.get(k).and_then(|v| v.parse().ok());
    Some(SpeedView {
        iops_read: int("iops_rd"),
        iops_read_burstable: int("iops_rd_max"),
        iops_write: int("iops_wr"),
        iops_write_burstable: int("iops_wr_max"),
        read: int("mbps_rd"),
        read_burstable: int("mbps_rd_max"),
        write: int("mbps_wr"),
        write_burstable: int("mbps_wr_max"),
    })
}

/// The file format of a volume when PVE does not say: its extension, else raw (block storage).
fn volume_format(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((_, ext)) if matches!(ext, "qcow2" | "vmdk" | "raw") => ext.to_string(),
        _ => "raw".to_string(),
    }
}

fn ip_configs(configs: &BTreeMap<u8, IpConfig>) -> Vec<IpConfigView> {
    let Some(max) = configs.keys().max() else {
        return Vec::new();
    };
    (0..=*max)
        .map(|i| {
            let mut view = IpConfigView::default();
            if let Some(ip) = configs.get(&i) {
                if ip.ip.is_some() || ip.gw.is_some() {
                    view.ipv4.push(AddressView {
                        address: ip.ip.clone(),
                        gateway: ip.gw.clone(),
                    });
                }
                if ip.ip6.is_some() || ip.gw6.is_some() {
                    view.ipv6.push(AddressView {
                        address: ip.ip6.clone(),
                        gateway: ip.gw6.clone(),
                    });
                }
            }
            view
        })
        .collect()
}

fn ct_view(guest: &Guest, ct: &ContainerConfig, warnings: &mut Vec<String>) -> CtView {
    let raw = &guest.unmodelled;
    let mut view = CtView {
        node_name: guest.node.clone(),
        vm_id: guest.vmid,
        description: guest.description.clone(),
        tags: sorted_tags(guest),
        pool_id: guest.pool.clone(),
        start_on_boot: guest.on_boot,
        started: started(guest),
        template: guest.template.then_some(true),
        unprivileged: ct.unprivileged.unwrap_or(false),
        protection: bool_opt(raw, "protection"),
        hook_script_file_id: raw.get("hookscript").cloned(),
        startup: raw
            .get("startup")
            .map(|s| startup_view(s))
            .into_iter()
            .collect(),
        ..CtView::default()
    };
    // console: with no `console` key bpg always stores the block (a Go bool compared with its
    // own bool type, container.go:2725, 2749-2753); otherwise only when it is not the default.
    let console = raw.get("console").and_then(|v| parse_bool(v));
    let cmode = raw.get("cmode").cloned();
    let tty: Option<u32> = raw.get("tty").and_then(|v| v.parse().ok());
    if console.is_none()
        || console == Some(false)
        || cmode.as_deref().is_some_and(|m| m != "tty")
        || tty.is_some_and(|t| t != 2)
    {
        view.console.push(ConsoleView {
            enabled: Some(console.unwrap_or(true)),
            kind: Some(cmode.unwrap_or_else(|| "tty".into())),
            tty_count: Some(tty.unwrap_or(2)),
        });
    }
    // cpu: stored only when it differs from bpg's defaults (container.go:2787-2800).
    let num = |key: &str| raw.get(key).and_then(|v| v.parse::<f64>().ok());
    if ct.arch.as_deref().unwrap_or("amd64") != "amd64"
        || ct.cores.unwrap_or(1) != 1
        || num("cpulimit").unwrap_or(0.0) != 0.0
        || num("cpuunits").unwrap_or(0.0) != 0.0
    {
        view.cpu.push(CpuView {
            cores: ct.cores,
            architecture: ct.arch.clone(),
            limit: num("cpulimit"),
            units: raw.get("cpuunits").and_then(|v| v.parse().ok()),
            ..CpuView::default()
        });
    }
    // memory: stored only when it is not 512 MiB without swap (container.go:2865-2878).
    if ct.memory_mib.unwrap_or(0) != 512 || ct.swap_mib.unwrap_or(0) != 0 {
        view.memory.push(MemoryView {
            dedicated: ct.memory_mib,
            swap: ct.swap_mib,
            floating: None,
        });
    }
    if let Some(root) = &ct.rootfs {
        let storage = root.volume.split_once(':').map(|(s, _)| s.to_string());
        let size = root.size_bytes.map(|bytes| {
            if bytes % GIB != 0 {
                warnings.push(format!(
                    "rootfs is {} and bpg counts whole GiB (rounding down): the file says {} GiB",
                    format_size(bytes),
                    floor_gib(bytes).max(1)
                ));
            }
            floor_gib(bytes).max(1)
        });
        view.disk.push(RootDiskView {
            datastore_id: storage.unwrap_or_default(),
            size,
            acl: bool_opt(&root.extra, "acl"),
            quota: bool_opt(&root.extra, "quota"),
            replicate: bool_opt(&root.extra, "replicate"),
            mount_options: split_semicolons(root.extra.get("mountoptions")),
        });
    }
    for mount in ct.mount_points.values() {
        view.mount_point.push(MountView {
            volume: mount.volume.clone(),
            path: mount.path.clone().unwrap_or_default(),
            size: mount.size_bytes.map(format_size),
            acl: bool_opt(&mount.extra, "acl"),
            backup: bool_opt(&mount.extra, "backup"),
            quota: bool_opt(&mount.extra, "quota"),
            read_only: bool_opt(&mount.extra, "ro"),
            replicate: bool_opt(&mount.extra, "replicate"),
            shared: bool_opt(&mount.extra, "shared"),
            mount_options: split_semicolons(mount.extra.get("mountoptions")),
        });
    }
    // initialization is always stored (container.go:2937-3290): the hostname, DNS, and one
    // ip_config per NIC that has addresses, in NIC order (not by NIC index).
    let mut init = InitView {
        hostname: ct.hostname.clone(),
        ..InitView::default()
    };
    let nameserver = raw.get("nameserver");
    let searchdomain = raw.get("searchdomain");
    if nameserver.is_some() || searchdomain.is_some() {
        init.dns.push(DnsView {
            domain: searchdomain.cloned(),
            servers: nameserver
                .map(|d| d.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    for (expected, (index, nic)) in ct.nics.iter().enumerate() {
        if usize::from(*index) != expected {
            warnings.push(format!(
                "net{index} follows a gap in the NIC numbers; bpg lists NICs by position, so it is kept as a comment (review by hand)"
            ));
            break;
        }
        view.network_interface.push(CtNetView {
            name: nic.name.clone(),
            bridge: nic.bridge.clone(),
            mac_address: nic.hwaddr.clone(),
            vlan_id: nic.vlan_tag,
            firewall: nic.firewall,
            mtu: nic.extra.get("mtu").and_then(|v| v.parse().ok()),
            rate_limit: nic.extra.get("rate").and_then(|v| v.parse().ok()),
        });
        let mut ip = IpConfigView::default();
        if nic.ip.is_some() || nic.gw.is_some() {
            ip.ipv4.push(AddressView {
                address: nic.ip.clone(),
                gateway: nic.gw.clone(),
            });
        }
        if nic.ip6.is_some() || nic.gw6.is_some() {
            ip.ipv6.push(AddressView {
                address: nic.ip6.clone(),
                gateway: nic.gw6.clone(),
            });
        }
        if !ip.ipv4.is_empty() || !ip.ipv6.is_empty() {
            init.ip_config.push(ip);
        }
    }
    view.initialization.push(init);
    if !ct.features.is_empty() {
        view.features.push(FeaturesView {
            nesting: bool_opt(&ct.features, "nesting"),
            keyctl: bool_opt(&ct.features, "keyctl"),
            fuse: bool_opt(&ct.features, "fuse"),
            mknod: bool_opt(&ct.features, "mknod"),
            mount: ct
                .features
                .get("mount")
                .map(|m| m.split(';').map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    // Device passthrough (/dev/dri for Plex and Jellyfin), in devN order (container.go:2993).
    let mut devs: Vec<(u32, &String)> = raw
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("dev")?.parse().ok()?, v)))
        .collect();
    devs.sort();
    for (_, value) in devs {
        let opts = options(value, "path");
        if let Some(path) = opts.get("path") {
            view.device_passthrough.push(DeviceView {
                path: path.clone(),
                mode: opts.get("mode").cloned(),
                uid: opts.get("uid").and_then(|v| v.parse().ok()),
                gid: opts.get("gid").and_then(|v| v.parse().ok()),
                deny_write: opts.get("deny-write").and_then(|v| parse_bool(v)),
            });
        }
    }
    view.operating_system.push(OsView {
        kind: ct
            .ostype
            .clone()
            .filter(|os| CT_OS_TYPES.contains(&os.as_str())),
        template_file_id: Some(UNKNOWN_TEMPLATE.to_string()),
    });
    view
}

fn split_semicolons(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Turns a resource view back into a guest (before the verbatim comments are applied).
pub fn from_resource(resource: &ResourceView) -> Guest {
    match resource {
        ResourceView::Vm(vm) => vm_from_view(vm),
        ResourceView::Ct(ct) => ct_from_view(ct),
    }
}

fn status_of(started: Option<bool>) -> GuestStatus {
    if started == Some(true) {
        GuestStatus::Running
    } else {
        GuestStatus::Stopped
    }
}

fn vm_from_view(v: &VmView) -> Guest {
    let mut vm = VmConfig {
        bios: v.bios.clone(),
        machine: v.machine.clone(),
        scsihw: v.scsi_hardware.clone(),
        boot_order: v.boot_order.clone(),
        ..VmConfig::default()
    };
    if let Some(cpu) = v.cpu.first() {
        vm.cores = cpu.cores;
        vm.sockets = cpu.sockets;
        vm.cpu_type = cpu.kind.clone();
        if !cpu.flags.is_empty() {
            vm.cpu_extra.insert("flags".into(), cpu.flags.join(";"));
        }
    }
    if let Some(mem) = v.memory.first() {
        vm.memory_mib = mem.dedicated;
        vm.balloon_mib = mem.floating;
    }
    if let Some(agent) = v.agent.first() {
        let mut extra = BTreeMap::new();
        put_bool(&mut extra, "fstrim_cloned_disks", agent.trim);
        put_str(&mut extra, "type", &agent.kind);
        vm.agent = Some(Agent {
            enabled: agent.enabled,
            extra,
        });
    }
    vm.ostype = v.operating_system.first().and_then(|o| o.kind.clone());
    for d in &v.disk {
        let mut extra = BTreeMap::new();
        put_str(&mut extra, "format", &d.file_format);
        put_str(&mut extra, "aio", &d.aio);
        put_bool(&mut extra, "backup", d.backup);
        put_str(&mut extra, "cache", &d.cache);
        put_str(&mut extra, "discard", &d.discard);
        put_bool(&mut extra, "iothread", d.iothread);
        put_bool(&mut extra, "replicate", d.replicate);
        put_str(&mut extra, "serial", &d.serial);
        put_bool(&mut extra, "ssd", d.ssd);
        if let Some(speed) = d.speed.first() {
            for (key, value) in [
                ("iops_rd", speed.iops_read),
                ("iops_rd_max", speed.iops_read_burstable),
                ("iops_wr", speed.iops_write),
                ("iops_wr_max", speed.iops_write_burstable),
                ("mbps_rd", speed.read),
                ("mbps_rd_max", speed.read_burstable),
                ("mbps_wr", speed.write),
                ("mbps_wr_max", speed.write_burstable),
            ] {
                put_num(&mut extra, key, value.map(|v| v as f64));
            }
        }
        let volume = format!(
            "{}:{}",
            d.datastore_id,
            d.path_in_datastore.clone().unwrap_or_default()
        );
        vm.disks.insert(
            d.interface.clone(),
            Disk {
                volume,
                size_bytes: d.size.map(|s| s * GIB),
                media: None,
                extra,
            },
        );
    }
    for c in &v.cdrom {
        vm.disks.insert(
            c.interface.clone(),
            Disk {
                volume: c.file_id.clone(),
                size_bytes: None,
                media: Some("cdrom".into()),
                extra: BTreeMap::new(),
            },
        );
    }
    for e in &v.efi_disk {
        let mut extra = BTreeMap::new();
        put_str(&mut extra, "efitype", &e.kind);
        put_bool(&mut extra, "pre-enrolled-keys", e.pre_enrolled_keys);
        put_str(&mut extra, "format", &e.file_format);
        vm.disks.insert(
            "efidisk0".into(),
            Disk {
                volume: format!("{}:", e.datastore_id),
                size_bytes: None,
                media: None,
                extra,
            },
        );
    }
    for t in &v.tpm_state {
        let mut extra = BTreeMap::new();
        put_str(&mut extra, "version", &t.version);
        vm.disks.insert(
            "tpmstate0".into(),
            Disk {
                volume: format!("{}:", t.datastore_id),
                size_bytes: None,
                media: None,
                extra,
            },
        );
    }
    for (i, n) in v.network_device.iter().enumerate() {
        let mut extra = BTreeMap::new();
        put_bool(&mut extra, "link_down", n.disconnected);
        if let Some(mtu) = n.mtu {
            extra.insert("mtu".into(), mtu.to_string());
        }
        if let Some(q) = n.queues {
            extra.insert("queues".into(), q.to_string());
        }
        put_num(&mut extra, "rate", n.rate_limit);
        put_str(&mut extra, "trunks", &n.trunks);
        vm.nics.insert(
            i as u8,
            Nic {
                model: n.model.clone().unwrap_or_else(|| "virtio".into()),
                mac: n.mac_address.clone(),
                bridge: n.bridge.clone(),
                vlan_tag: n.vlan_id,
                firewall: n.firewall,
                extra,
            },
        );
    }
    if let Some(init) = v.initialization.first() {
        if let (Some(ds), Some(slot)) = (&init.datastore_id, &init.interface) {
            vm.disks.insert(
                slot.clone(),
                Disk {
                    volume: format!("{ds}:vm-{}-cloudinit", v.vm_id),
                    size_bytes: None,
                    media: Some("cdrom".into()),
                    extra: BTreeMap::new(),
                },
            );
        }
        let mut ci = CloudInit::default();
        if let Some(dns) = init.dns.first() {
            ci.search = dns.domain.clone();
            ci.dns = (!dns.servers.is_empty()).then(|| dns.servers.join(" "));
        }
        for (i, ip) in init.ip_config.iter().enumerate() {
            let mut cfg = IpConfig::default();
            if let Some(a) = ip.ipv4.first() {
                cfg.ip = a.address.clone();
                cfg.gw = a.gateway.clone();
            }
            if let Some(a) = ip.ipv6.first() {
                cfg.ip6 = a.address.clone();
                cfg.gw6 = a.gateway.clone();
            }
            if cfg != IpConfig::default() {
                ci.ipconfigs.insert(i as u8, cfg);
            }
        }
        if let Some(user) = init.user_account.first() {
            ci.user = user.username.clone();
            ci.ssh_keys = user.keys.clone();
        }
        if ci != CloudInit::default() {
            vm.cloud_init = Some(ci);
        }
    }
    let mut unmodelled = BTreeMap::new();
    for (i, s) in v.serial_device.iter().enumerate() {
        unmodelled.insert(format!("serial{i}"), s.device.clone());
    }
    let raw = &mut unmodelled;
    put_bool(raw, "acpi", v.acpi);
    put_str(raw, "args", &v.kvm_arguments);
    put_str(raw, "keyboard", &v.keyboard_layout);
    put_bool(raw, "tablet", v.tablet_device);
    put_bool(raw, "protection", v.protection);
    put_str(raw, "hookscript", &v.hook_script_file_id);
    put_startup(raw, v.startup.first());
    if let Some(cpu) = v.cpu.first() {
        put_str(raw, "arch", &cpu.architecture);
        put_num(raw, "vcpus", cpu.hotplugged.map(f64::from));
        put_num(raw, "cpulimit", cpu.limit);
        put_num(raw, "cpuunits", cpu.units.map(f64::from));
        put_bool(raw, "numa", cpu.numa);
        put_str(raw, "affinity", &cpu.affinity);
    }
    for h in &v.hostpci {
        let mut parts: Vec<String> = Vec::new();
        match (&h.id, &h.mapping) {
            (Some(id), _) => parts.push(id.clone()),
            (None, Some(m)) => parts.push(format!("mapping={m}")),
            (None, None) => {}
        }
        if let Some(m) = &h.mdev {
            parts.push(format!("mdev={m}"));
        }
        if h.pcie == Some(true) {
            parts.push("pcie=1".into());
        }
        if h.rombar == Some(false) {
            parts.push("rombar=0".into());
        }
        if let Some(f) = &h.rom_file {
            parts.push(format!("romfile={f}"));
        }
        if h.xvga == Some(true) {
            parts.push("x-vga=1".into());
        }
        raw.insert(h.device.clone(), parts.join(","));
    }
    for (i, u) in v.usb.iter().enumerate() {
        let mut parts: Vec<String> = Vec::new();
        if let Some(h) = &u.host {
            parts.push(format!("host={h}"));
        }
        if let Some(m) = &u.mapping {
            parts.push(format!("mapping={m}"));
        }
        if u.usb3 == Some(true) {
            parts.push("usb3=1".into());
        }
        raw.insert(format!("usb{i}"), parts.join(","));
    }
    if let Some(r) = v.rng.first() {
        let mut parts = Vec::new();
        if let Some(b) = r.max_bytes {
            parts.push(format!("max_bytes={b}"));
        }
        if let Some(p) = r.period {
            parts.push(format!("period={p}"));
        }
        parts.push(format!("source={}", r.source));
        raw.insert("rng0".into(), parts.join(","));
    }
    if let Some(w) = v.watchdog.first() {
        let mut parts = Vec::new();
        if let Some(m) = &w.model {
            parts.push(format!("model={m}"));
        }
        if let Some(a) = &w.action {
            parts.push(format!("action={a}"));
        }
        raw.insert("watchdog".into(), parts.join(","));
    }
    Guest {
        vmid: v.vm_id,
        name: v.name.clone().unwrap_or_default(),
        node: v.node_name.clone(),
        kind: GuestKind::Qemu,
        status: status_of(v.started),
        template: v.template == Some(true),
        tags: v.tags.clone(),
        pool: v.pool_id.clone(),
        description: v.description.clone(),
        on_boot: v.on_boot,
        lock: None,
        config: GuestConfig::Vm(vm),
        unmodelled,
        digest: None,
    }
}

fn ct_from_view(v: &CtView) -> Guest {
    let mut ct = ContainerConfig {
        unprivileged: v.unprivileged.then_some(true),
        ..ContainerConfig::default()
    };
    let mut unmodelled = BTreeMap::new();
    let raw = &mut unmodelled;
    put_bool(raw, "protection", v.protection);
    put_str(raw, "hookscript", &v.hook_script_file_id);
    put_startup(raw, v.startup.first());
    if let Some(c) = v.console.first() {
        if c.enabled == Some(false) {
            raw.insert("console".into(), "0".into());
        }
        if let Some(mode) = c.kind.as_ref().filter(|m| *m != "tty") {
            raw.insert("cmode".into(), mode.clone());
        }
        if let Some(tty) = c.tty_count.filter(|t| *t != 2) {
            raw.insert("tty".into(), tty.to_string());
        }
    }
    if let Some(cpu) = v.cpu.first() {
        ct.cores = cpu.cores;
        ct.arch = cpu.architecture.clone();
        put_num(raw, "cpulimit", cpu.limit);
        put_num(raw, "cpuunits", cpu.units.map(f64::from));
    }
    if let Some(dns) = v.initialization.first().and_then(|i| i.dns.first()) {
        put_str(raw, "searchdomain", &dns.domain);
        if !dns.servers.is_empty() {
            raw.insert("nameserver".into(), dns.servers.join(" "));
        }
    }
    for (i, d) in v.device_passthrough.iter().enumerate() {
        let mut parts = vec![d.path.clone()];
        if d.deny_write == Some(true) {
            parts.push("deny-write=1".into());
        }
        if let Some(gid) = d.gid {
            parts.push(format!("gid={gid}"));
        }
        if let Some(mode) = &d.mode {
            parts.push(format!("mode={mode}"));
        }
        if let Some(uid) = d.uid {
            parts.push(format!("uid={uid}"));
        }
        raw.insert(format!("dev{i}"), parts.join(","));
    }
    if let Some(mem) = v.memory.first() {
        ct.memory_mib = mem.dedicated;
        ct.swap_mib = mem.swap;
    }
    if let Some(root) = v.disk.first() {
        let mut extra = BTreeMap::new();
        put_bool(&mut extra, "acl", root.acl);
        put_bool(&mut extra, "quota", root.quota);
        put_bool(&mut extra, "replicate", root.replicate);
        if !root.mount_options.is_empty() {
            extra.insert("mountoptions".into(), root.mount_options.join(";"));
        }
        ct.rootfs = Some(Mount {
            volume: format!("{}:vm-{}-disk-0", root.datastore_id, v.vm_id),
            path: None,
            size_bytes: root.size.map(|s| s * GIB),
            extra,
        });
    }
    for (i, m) in v.mount_point.iter().enumerate() {
        let mut extra = BTreeMap::new();
        put_bool(&mut extra, "acl", m.acl);
        put_bool(&mut extra, "backup", m.backup);
        put_bool(&mut extra, "quota", m.quota);
        put_bool(&mut extra, "ro", m.read_only);
        put_bool(&mut extra, "replicate", m.replicate);
        put_bool(&mut extra, "shared", m.shared);
        if !m.mount_options.is_empty() {
            extra.insert("mountoptions".into(), m.mount_options.join(";"));
        }
        ct.mount_points.insert(
            i as u8,
            Mount {
                volume: m.volume.clone(),
                path: Some(m.path.clone()),
                size_bytes: m
                    .size
                    .as_deref()
                    .and_then(crate::model::propstring::parse_size),
                extra,
            },
        );
    }
    let init = v.initialization.first();
    ct.hostname = init.and_then(|i| i.hostname.clone());
    for (i, n) in v.network_interface.iter().enumerate() {
        let mut extra = BTreeMap::new();
        if let Some(mtu) = n.mtu {
            extra.insert("mtu".into(), mtu.to_string());
        }
        put_num(&mut extra, "rate", n.rate_limit);
        // bpg always creates veth interfaces.
        extra.insert("type".into(), "veth".into());
        let ip = init.and_then(|init| init.ip_config.get(i));
        let v4 = ip.and_then(|ip| ip.ipv4.first());
        let v6 = ip.and_then(|ip| ip.ipv6.first());
        ct.nics.insert(
            i as u8,
            CtNic {
                name: n.name.clone(),
                bridge: n.bridge.clone(),
                hwaddr: n.mac_address.clone(),
                ip: v4.and_then(|a| a.address.clone()),
                gw: v4.and_then(|a| a.gateway.clone()),
                ip6: v6.and_then(|a| a.address.clone()),
                gw6: v6.and_then(|a| a.gateway.clone()),
                vlan_tag: n.vlan_id,
                firewall: n.firewall,
                extra,
            },
        );
    }
    if let Some(f) = v.features.first() {
        put_bool(&mut ct.features, "nesting", f.nesting);
        put_bool(&mut ct.features, "keyctl", f.keyctl);
        put_bool(&mut ct.features, "fuse", f.fuse);
        put_bool(&mut ct.features, "mknod", f.mknod);
        if !f.mount.is_empty() {
            ct.features.insert("mount".into(), f.mount.join(";"));
        }
    }
    ct.ostype = v.operating_system.first().and_then(|o| o.kind.clone());
    Guest {
        vmid: v.vm_id,
        name: ct.hostname.clone().unwrap_or_default(),
        node: v.node_name.clone(),
        kind: GuestKind::Lxc,
        status: status_of(v.started),
        template: v.template == Some(true),
        tags: v.tags.clone(),
        pool: v.pool_id.clone(),
        description: v.description.clone(),
        on_boot: v.start_on_boot,
        lock: None,
        config: GuestConfig::Container(ct),
        unmodelled,
        digest: None,
    }
}

/// Rebuilds the guest a file describes: the attributes, then the verbatim comments on top.
pub fn guest_from_file_parts(
    resource: &ResourceView,
    verbatim: &[Verbatim],
    absent: &[String],
) -> Guest {
    let kind = match resource {
        ResourceView::Vm(_) => GuestKind::Qemu,
        ResourceView::Ct(_) => GuestKind::Lxc,
    };
    let base = from_resource(resource);
    let mut raw = raw_config(&base);
    for key in absent {
        raw.remove(key);
    }
    for v in verbatim {
        raw.insert(v.key.clone(), v.value.clone());
    }
    let (mut guest, _warnings) = guest_from_config(
        base.vmid,
        &base.node,
        kind,
        base.status,
        base.pool.clone(),
        &raw,
    );
    guest.lock = None;
    guest.digest = None;
    guest
}
