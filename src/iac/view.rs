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
    pub cpu: Vec<CpuView>,
    pub memory: Vec<MemoryView>,
    pub disk: Vec<RootDiskView>,
    pub mount_point: Vec<MountView>,
    pub network_interface: Vec<CtNetView>,
    pub initialization: Vec<InitView>,
    pub features: Vec<FeaturesView>,
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

fn ceil_gib(bytes: u64) -> u64 {
    bytes.div_ceil(GIB)
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
    GuestView {
        resource,
        verbatim,
        absent,
        warnings,
    }
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
        // bpg's default is virtio-scsi-pci but PVE's is lsi: always say which.
        scsi_hardware: Some(vm.scsihw.clone().unwrap_or_else(|| "lsi".into())),
        boot_order: vm.boot_order.clone(),
        ..VmView::default()
    };
    if vm.cores.is_some() || vm.sockets.is_some() || vm.cpu_type.is_some() {
        view.cpu.push(CpuView {
            cores: vm.cores,
            sockets: vm.sockets,
            kind: vm.cpu_type.clone(),
            flags: vm
                .cpu_extra
                .get("flags")
                .map(|f| f.split(';').map(str::to_string).collect())
                .unwrap_or_default(),
            architecture: None,
        });
    }
    if vm.memory_mib.is_some() || vm.balloon_mib.is_some() {
        view.memory.push(MemoryView {
            dedicated: vm.memory_mib,
            floating: vm.balloon_mib,
            swap: None,
        });
    }
    if let Some(agent) = &vm.agent {
        view.agent.push(AgentView {
            enabled: agent.enabled,
            trim: bool_opt(&agent.extra, "fstrim_cloned_disks"),
            kind: agent.extra.get("type").cloned(),
        });
    }
    if let Some(os) = &vm.ostype {
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
            view.efi_disk.push(EfiView {
                datastore_id: storage,
                kind: disk.extra.get("efitype").cloned(),
                pre_enrolled_keys: bool_opt(&disk.extra, "pre-enrolled-keys"),
                file_format: disk.extra.get("format").cloned(),
            });
        } else if slot == "tpmstate0" {
            view.tpm_state.push(TpmView {
                datastore_id: storage,
                version: disk.extra.get("version").cloned(),
            });
        } else if disk.is_cloudinit() {
            if init.interface.is_none() {
                init.datastore_id = Some(storage);
                init.interface = Some(slot.clone());
                has_init = true;
            }
        } else if disk.is_cdrom() {
            if view.cdrom.is_empty() {
                view.cdrom.push(CdromView {
                    interface: slot.clone(),
                    file_id: disk.volume.clone(),
                });
            }
        } else if storage.is_empty() {
            warnings.push(format!(
                "{slot} is not on a storage ({}); bpg cannot describe it, so it is kept as a comment",
                disk.volume
            ));
        } else {
            if let Some(bytes) = disk.size_bytes
                && bytes % GIB != 0
            {
                warnings.push(format!(
                    "{slot} is {} but bpg counts whole GiB: the file says {} GiB, which would grow it",
                    format_size(bytes),
                    ceil_gib(bytes)
                ));
            }
            view.disk.push(DiskView {
                interface: slot.clone(),
                datastore_id: storage,
                path_in_datastore: Some(path),
                file_format: disk.extra.get("format").cloned(),
                size: disk.size_bytes.map(ceil_gib),
                aio: disk.extra.get("aio").cloned(),
                backup: bool_opt(&disk.extra, "backup"),
                cache: disk.extra.get("cache").cloned(),
                discard: disk.extra.get("discard").cloned(),
                iothread: bool_opt(&disk.extra, "iothread"),
                replicate: bool_opt(&disk.extra, "replicate"),
                serial: disk.extra.get("serial").cloned(),
                ssd: bool_opt(&disk.extra, "ssd"),
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
        match guest.unmodelled.get(&format!("serial{n}")) {
            Some(device) => view.serial_device.push(SerialView {
                device: device.clone(),
            }),
            None => break,
        }
    }
    view
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
        ..CtView::default()
    };
    if ct.cores.is_some() || ct.arch.is_some() {
        view.cpu.push(CpuView {
            cores: ct.cores,
            architecture: ct.arch.clone(),
            ..CpuView::default()
        });
    }
    if ct.memory_mib.is_some() || ct.swap_mib.is_some() {
        view.memory.push(MemoryView {
            dedicated: ct.memory_mib,
            swap: ct.swap_mib,
            floating: None,
        });
    }
    if let Some(root) = &ct.rootfs {
        let storage = root.volume.split_once(':').map(|(s, _)| s.to_string());
        if let Some(bytes) = root.size_bytes
            && bytes % GIB != 0
        {
            warnings.push(format!(
                "rootfs is {} but bpg counts whole GiB: the file says {} GiB",
                format_size(bytes),
                ceil_gib(bytes)
            ));
        }
        view.disk.push(RootDiskView {
            datastore_id: storage.unwrap_or_default(),
            size: root.size_bytes.map(ceil_gib),
            acl: bool_opt(&root.extra, "acl"),
            quota: bool_opt(&root.extra, "quota"),
            replicate: bool_opt(&root.extra, "replicate"),
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
        });
    }
    let mut init = InitView {
        hostname: ct.hostname.clone(),
        ..InitView::default()
    };
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
        init.ip_config.push(ip);
    }
    while init
        .ip_config
        .last()
        .is_some_and(|ip| ip.ipv4.is_empty() && ip.ipv6.is_empty())
    {
        init.ip_config.pop();
    }
    if init.hostname.is_some() || !init.ip_config.is_empty() {
        view.initialization.push(init);
    }
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
    view.operating_system.push(OsView {
        kind: ct
            .ostype
            .clone()
            .filter(|os| CT_OS_TYPES.contains(&os.as_str())),
        template_file_id: Some(UNKNOWN_TEMPLATE.to_string()),
    });
    view
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
        scsihw: v.scsi_hardware.clone().filter(|s| s != "lsi"),
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
    if let Some(cpu) = v.cpu.first() {
        ct.cores = cpu.cores;
        ct.arch = cpu.architecture.clone();
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
        unmodelled: BTreeMap::new(),
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
