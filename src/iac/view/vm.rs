//! Building the `proxmox_virtual_environment_vm` view of a VM, one block group at a time: the
//! top-level attributes, cpu/memory/agent/os, disks and the special drives (EFI, TPM, CD-ROM,
//! cloud-init), NICs and cloud-init, and passthrough devices. Each block is written only where
//! bpg would store it after an import, so a fresh import plans no change.

use std::collections::BTreeMap;

use super::props::{bool_opt, options, startup_view};
use super::types::{
    AddressView, AgentView, CdromView, CpuView, DiskView, DnsView, EfiView, HostPciView, InitView,
    IpConfigView, MemoryView, NetView, OsView, RngView, SerialView, SpeedView, TpmView, UsbView,
    UserView, VmView, WatchdogView,
};
use super::{sorted_tags, started, whole_gib};
use crate::model::propstring::parse_bool;
use crate::model::{Agent, CloudInit, Disk, Guest, IpConfig, VmConfig};

pub(super) fn vm_view(guest: &Guest, vm: &VmConfig, warnings: &mut Vec<String>) -> VmView {
    let raw = &guest.unmodelled;
    let mut view = top_level(guest, vm);
    view.cpu = cpu(vm, raw).into_iter().collect();
    view.memory = memory(vm, raw).into_iter().collect();
    view.agent = vm.agent.as_ref().and_then(agent).into_iter().collect();
    view.operating_system = operating_system(vm).into_iter().collect();
    let mut init = InitView::default();
    let mut has_init = disks(&mut view, vm, &mut init, warnings);
    view.network_device = nics(vm, warnings);
    if let Some(ci) = &vm.cloud_init {
        has_init = true;
        cloud_init(ci, &mut init);
    }
    if has_init {
        view.initialization.push(init);
    }
    view.serial_device = serials(raw);
    passthrough(&mut view, raw);
    view
}

/// The attributes outside any block.
fn top_level(guest: &Guest, vm: &VmConfig) -> VmView {
    let raw = &guest.unmodelled;
    VmView {
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
    }
}

fn cpu(vm: &VmConfig, raw: &BTreeMap<String, String>) -> Option<CpuView> {
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
    cpu_stored.then(|| CpuView {
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
    })
}

fn memory(vm: &VmConfig, raw: &BTreeMap<String, String>) -> Option<MemoryView> {
    // memory: stored only when it differs from 512 MiB without ballooning (vm.go:5296-5304).
    let memory_stored = vm.memory_mib.unwrap_or(0) != 512
        || vm.balloon_mib.unwrap_or(0) != 0
        || raw.contains_key("ivshmem")
        || raw.contains_key("hugepages")
        || bool_opt(raw, "keephugepages") == Some(true);
    (memory_stored && vm.memory_mib.is_some()).then_some(MemoryView {
        dedicated: vm.memory_mib,
        floating: vm.balloon_mib,
        swap: None,
    })
}

fn agent(agent: &Agent) -> Option<AgentView> {
    // agent: stored when enabled, trimming or not virtio (vm.go:4457-4463); `wait_for_ip` is
    // never read back, so it is never written.
    let trim = bool_opt(&agent.extra, "fstrim_cloned_disks");
    let kind = agent.extra.get("type").cloned();
    let stored =
        agent.enabled || trim == Some(true) || kind.as_deref().is_some_and(|k| k != "virtio");
    stored.then_some(AgentView {
        enabled: agent.enabled,
        trim,
        kind,
    })
}

fn operating_system(vm: &VmConfig) -> Option<OsView> {
    // operating_system: not stored for `other`; an absent ostype is ignored (vm.go:5307-5334).
    vm.ostype
        .as_ref()
        .filter(|os| *os != "other")
        .map(|os| OsView {
            kind: Some(os.clone()),
            template_file_id: None,
        })
}

/// Fills the disk, EFI, TPM and CD-ROM blocks, and the cloud-init drive's place in `init`.
/// Returns whether a cloud-init drive was found.
fn disks(
    view: &mut VmView,
    vm: &VmConfig,
    init: &mut InitView,
    warnings: &mut Vec<String>,
) -> bool {
    let mut has_init = false;
    for (slot, disk) in &vm.disks {
        let (storage, path) = match disk.volume.split_once(':') {
            Some((s, p)) => (s.to_string(), p.to_string()),
            None => (String::new(), disk.volume.clone()),
        };
        if slot == "efidisk0" {
            view.efi_disk.extend(efi_view(disk, storage, &path));
        } else if slot == "tpmstate0" {
            view.tpm_state.extend(tpm_view(disk, storage));
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
            view.disk
                .push(disk_view(slot, disk, storage, path, warnings));
        }
    }
    has_init
}

fn efi_view(disk: &Disk, storage: String, path: &str) -> Option<EfiView> {
    let kind = disk.extra.get("efitype").map(|t| t.to_lowercase());
    let keys = bool_opt(&disk.extra, "pre-enrolled-keys");
    let format = disk
        .extra
        .get("format")
        .cloned()
        .unwrap_or_else(|| volume_format(path));
    // Stored only when it differs from bpg's defaults (vm.go:4796-4803).
    (storage != "local-lvm"
        || kind.as_deref().unwrap_or("2m") != "2m"
        || keys == Some(true)
        || format != "raw")
        .then(|| EfiView {
            datastore_id: storage,
            kind,
            pre_enrolled_keys: keys,
            file_format: disk.extra.get("format").cloned(),
        })
}

fn tpm_view(disk: &Disk, storage: String) -> Option<TpmView> {
    let version = disk.extra.get("version").cloned();
    // Stored only when it differs from bpg's defaults (vm.go:4818-4830); writing the
    // default block would allocate a new TPM volume.
    let stored = storage != "local-lvm" || version.as_deref().unwrap_or("v2.0") != "v2.0";
    stored.then_some(TpmView {
        datastore_id: storage,
        version,
    })
}

fn disk_view(
    slot: &str,
    disk: &Disk,
    storage: String,
    path: String,
    warnings: &mut Vec<String>,
) -> DiskView {
    let size = disk
        .size_bytes
        .map(|bytes| whole_gib(slot, bytes, warnings));
    DiskView {
        interface: slot.to_string(),
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
    }
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

fn nics(vm: &VmConfig, warnings: &mut Vec<String>) -> Vec<NetView> {
    let mut out = Vec::new();
    // bpg lists NICs by position: net0, net1, ... A gap cannot be written as blocks.
    for (expected, (index, nic)) in vm.nics.iter().enumerate() {
        if usize::from(*index) != expected {
            warnings.push(format!(
                "net{index} follows a gap in the NIC numbers; bpg lists NICs by position, so it is kept as a comment (review by hand)"
            ));
            break;
        }
        out.push(NetView {
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
    out
}

/// The DNS, addresses and user of the `initialization` block.
fn cloud_init(ci: &CloudInit, init: &mut InitView) {
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

fn serials(raw: &BTreeMap<String, String>) -> Vec<SerialView> {
    let mut out = Vec::new();
    for n in 0..4 {
        match raw.get(&format!("serial{n}")) {
            Some(device) => out.push(SerialView {
                device: device.clone(),
            }),
            None => break,
        }
    }
    out
}

/// The hostpci, usb, rng and watchdog blocks.
fn passthrough(view: &mut VmView, raw: &BTreeMap<String, String>) {
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
