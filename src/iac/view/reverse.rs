//! From a resource view back to a [`Guest`]: the config a file's attributes describe, before
//! the verbatim `# pve` lines are applied on top. Each block turns back into the PVE keys it
//! came from, written the way PVE writes them, so an unchanged guest compares equal.

use std::collections::BTreeMap;

use super::GIB;
use super::props::{put_bool, put_num, put_startup, put_str};
use super::types::{
    CtNetView, CtView, DeviceView, DiskView, HostPciView, InitView, IpConfigView, NetView, VmView,
};
use crate::model::{
    Agent, CloudInit, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind, GuestStatus,
    IpConfig, Mount, Nic, VmConfig,
};

fn status_of(started: Option<bool>) -> GuestStatus {
    if started == Some(true) {
        GuestStatus::Running
    } else {
        GuestStatus::Stopped
    }
}

pub(super) fn vm_from_view(v: &VmView) -> Guest {
    let mut vm = VmConfig {
        bios: v.bios.clone(),
        machine: v.machine.clone(),
        scsihw: v.scsi_hardware.clone(),
        boot_order: v.boot_order.clone(),
        ..VmConfig::default()
    };
    vm_cpu_memory_agent_os(v, &mut vm);
    vm_disks(v, &mut vm);
    for (i, n) in v.network_device.iter().enumerate() {
        vm.nics.insert(i as u8, vm_nic(n));
    }
    if let Some(init) = v.initialization.first() {
        vm_initialization(init, v.vm_id, &mut vm);
    }
    let unmodelled = vm_unmodelled(v);
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

/// The modelled fields of the cpu, memory, agent and operating_system blocks.
fn vm_cpu_memory_agent_os(v: &VmView, vm: &mut VmConfig) {
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
}

/// The disk, cdrom, efi_disk and tpm_state blocks (the cloud-init drive comes with
/// `initialization`).
fn vm_disks(v: &VmView, vm: &mut VmConfig) {
    for d in &v.disk {
        vm.disks.insert(d.interface.clone(), vm_disk(d));
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
}

fn vm_disk(d: &DiskView) -> Disk {
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
    Disk {
        volume,
        size_bytes: d.size.map(|s| s * GIB),
        media: None,
        extra,
    }
}

fn vm_nic(n: &NetView) -> Nic {
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
    Nic {
        model: n.model.clone().unwrap_or_else(|| "virtio".into()),
        mac: n.mac_address.clone(),
        bridge: n.bridge.clone(),
        vlan_tag: n.vlan_id,
        firewall: n.firewall,
        extra,
    }
}

/// The cloud-init drive and the cloud-init settings of the `initialization` block.
fn vm_initialization(init: &InitView, vmid: u32, vm: &mut VmConfig) {
    if let (Some(ds), Some(slot)) = (&init.datastore_id, &init.interface) {
        vm.disks.insert(
            slot.clone(),
            Disk {
                volume: format!("{ds}:vm-{vmid}-cloudinit"),
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

/// The PVE keys the VM model keeps unmodelled: serial ports, the top-level attributes, the
/// cpu block's other settings and the passthrough devices.
fn vm_unmodelled(v: &VmView) -> BTreeMap<String, String> {
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
        raw.insert(h.device.clone(), hostpci_value(h));
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
    unmodelled
}

fn hostpci_value(h: &HostPciView) -> String {
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
    parts.join(",")
}

pub(super) fn ct_from_view(v: &CtView) -> Guest {
    let mut ct = ContainerConfig {
        unprivileged: v.unprivileged.then_some(true),
        ..ContainerConfig::default()
    };
    let unmodelled = ct_unmodelled(v);
    if let Some(cpu) = v.cpu.first() {
        ct.cores = cpu.cores;
        ct.arch = cpu.architecture.clone();
    }
    if let Some(mem) = v.memory.first() {
        ct.memory_mib = mem.dedicated;
        ct.swap_mib = mem.swap;
    }
    ct_mounts(v, &mut ct);
    let init = v.initialization.first();
    ct.hostname = init.and_then(|i| i.hostname.clone());
    for (i, n) in v.network_interface.iter().enumerate() {
        let ip = init.and_then(|init| init.ip_config.get(i));
        ct.nics.insert(i as u8, ct_nic(n, ip));
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

/// The PVE keys the container model keeps unmodelled: the top-level attributes, the console,
/// the cpu block's limits, DNS and passthrough devices.
fn ct_unmodelled(v: &CtView) -> BTreeMap<String, String> {
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
        raw.insert(format!("dev{i}"), device_value(d));
    }
    unmodelled
}

fn device_value(d: &DeviceView) -> String {
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
    parts.join(",")
}

/// The root disk and the mount points.
fn ct_mounts(v: &CtView, ct: &mut ContainerConfig) {
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
}

/// One NIC, with the addresses of the `ip_config` at its position.
fn ct_nic(n: &CtNetView, ip: Option<&IpConfigView>) -> CtNic {
    let mut extra = BTreeMap::new();
    if let Some(mtu) = n.mtu {
        extra.insert("mtu".into(), mtu.to_string());
    }
    put_num(&mut extra, "rate", n.rate_limit);
    // bpg always creates veth interfaces.
    extra.insert("type".into(), "veth".into());
    let v4 = ip.and_then(|ip| ip.ipv4.first());
    let v6 = ip.and_then(|ip| ip.ipv6.first());
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
    }
}
