//! `proxmox_virtual_environment_vm`: the state bpg v0.111.1's Read stores on import
//! (docs/bpg-import.md §1). `vm.go` = `proxmoxtf/resource/vm/vm.go`; `disk.go`, `net.go` likewise.
//! Read runs with an empty prior state, so every "copy from state" branch yields nothing.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::PveGuest;
use super::pve::{
    Props, bool_key, compare_with_prefix, extension, indexed, int_key, query_unescape,
};

type Config = BTreeMap<String, String>;

/// The predicted state of a VM.
pub fn predict(guest: &PveGuest) -> Value {
    let c = guest.config;
    let mut s = Map::new();
    top_level(guest, &mut s);
    put(&mut s, "agent", agent(c));
    put(&mut s, "amd_sev", amd_sev(c));
    put(&mut s, "audio_device", audio_device(c));
    put(&mut s, "cdrom", cdrom(c));
    put(&mut s, "cpu", cpu(c));
    put(&mut s, "disk", Some(disks(guest)));
    put(&mut s, "efi_disk", efi_disk(guest));
    put(&mut s, "hostpci", Some(hostpci(c)));
    put(&mut s, "initialization", Some(initialization(guest)));
    put(&mut s, "memory", memory(c));
    let (devices, macs) = network_devices(c);
    s.insert("network_device".into(), devices);
    s.insert("mac_addresses".into(), macs);
    put(&mut s, "numa", Some(numa(c)));
    put(&mut s, "operating_system", Some(operating_system(c)));
    put(&mut s, "rng", rng(c));
    put(&mut s, "serial_device", Some(serial_devices(c)));
    put(&mut s, "smbios", smbios(c));
    put(&mut s, "startup", Some(startup(c)));
    put(&mut s, "tpm_state", tpm_state(c));
    put(&mut s, "usb", Some(usb(c)));
    put(&mut s, "vga", Some(vga(c)));
    put(&mut s, "virtiofs", Some(virtiofs(c)));
    put(&mut s, "watchdog", Some(watchdog(c)));
    Value::Object(s)
}

/// Sets block `key`; `None` = Read never calls `d.Set` for it, which for a list block is `[]` in
/// state all the same (Terraform has no null blocks).
fn put(s: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    s.insert(key.to_string(), value.unwrap_or_else(|| json!([])));
}

fn text(c: &Config, key: &str) -> Option<String> {
    c.get(key).cloned()
}

fn top_level(guest: &PveGuest, s: &mut Map<String, Value>) {
    let c = guest.config;
    // vm.go:1794-1808 importer sets id; vm.go:5626-5628 Read sets vm_id and node_name.
    s.insert("id".into(), json!(guest.vmid.to_string()));
    s.insert("vm_id".into(), json!(guest.vmid));
    s.insert("node_name".into(), json!(guest.node));
    // vm.go:5787-5800: name or "".
    s.insert("name".into(), json!(text(c, "name").unwrap_or_default()));
    // vm.go:5697-5708: the raw API description, or "".
    s.insert(
        "description".into(),
        json!(text(c, "description").unwrap_or_default()),
    );
    // vm.go:5740-5757: split ";", trimmed, empty dropped, sorted; absent => null.
    s.insert("tags".into(), tags(c));
    // vm.go:5725: onboot, nil pointer => false.
    s.insert(
        "on_boot".into(),
        json!(bool_key(c, "onboot").unwrap_or(false)),
    );
    // vm.go:4375-4380: status == "running" (templates too).
    s.insert("started".into(), json!(guest.running));
    // vm.go:5833-5845: template or false.
    s.insert(
        "template".into(),
        json!(bool_key(c, "template").unwrap_or(false)),
    );
    // vm.go:5660-5669: acpi, absent => true.
    s.insert("acpi".into(), json!(bool_key(c, "acpi").unwrap_or(true)));
    // vm.go:5684-5695: bios or "seabios".
    s.insert(
        "bios".into(),
        json!(text(c, "bios").unwrap_or_else(|| "seabios".into())),
    );
    // vm.go:5776-5787: machine or "".
    s.insert(
        "machine".into(),
        json!(text(c, "machine").unwrap_or_default()),
    );
    // vm.go:5671-5682: args when non-blank (stored untrimmed), else "".
    let args = text(c, "args").filter(|a| !a.trim().is_empty());
    s.insert("kvm_arguments".into(), json!(args.unwrap_or_default()));
    // vm.go:5764-5775: keyboard or "en-us".
    s.insert(
        "keyboard_layout".into(),
        json!(text(c, "keyboard").unwrap_or_else(|| "en-us".into())),
    );
    // vm.go:5818-5832: tablet, absent => true.
    s.insert(
        "tablet_device".into(),
        json!(bool_key(c, "tablet").unwrap_or(true)),
    );
    // vm.go:5803-5817: protection or false.
    s.insert(
        "protection".into(),
        json!(bool_key(c, "protection").unwrap_or(false)),
    );
    // vm.go:5710-5719: hookscript or "".
    s.insert(
        "hook_script_file_id".into(),
        json!(text(c, "hookscript").unwrap_or_default()),
    );
    // vm.go:5555-5563: set only if the scsihw key is present.
    if let Some(hw) = text(c, "scsihw") {
        s.insert("scsi_hardware".into(), json!(hw));
    }
    // vm.go:5727-5738: boot order list; no `order=` (legacy `boot: cdn`, or no key) => nil.
    let order = c.get("boot").map(|b| Props::parse(b)).and_then(|p| {
        p.get("order")
            .map(|o| o.trim().split(';').map(str::to_string).collect::<Vec<_>>())
    });
    if let Some(order) = order {
        s.insert("boot_order".into(), json!(order));
    }
    // vm.go:5760-5763: hotplug only if present.
    if let Some(h) = text(c, "hotplug") {
        s.insert("hotplug".into(), json!(h));
    }
    // vm.go:5336-5350, 7635-7672: `pool` in config, else the /pools membership, else "".
    let pool = text(c, "pool")
        .filter(|p| !p.is_empty())
        .or_else(|| guest.pool.map(str::to_string))
        .unwrap_or_default();
    s.insert("pool_id".into(), json!(pool));
    // vm.go:5631-5644: setDefaultIfNotExists for the provider-only attributes.
    for (key, value) in [
        ("migrate", json!(false)),
        ("reboot", json!(false)),
        ("reboot_after_update", json!(true)),
        ("stop_on_destroy", json!(false)),
        ("purge_on_destroy", json!(true)),
        ("delete_unreferenced_disks_on_destroy", json!(true)),
        ("timeout_clone", json!(1800)),
        ("timeout_create", json!(1800)),
        ("timeout_migrate", json!(1800)),
        ("timeout_reboot", json!(1800)),
        ("timeout_shutdown_vm", json!(1800)),
        ("timeout_start_vm", json!(1800)),
        ("timeout_stop_vm", json!(300)),
        ("timeout_move_disk", json!(1800)),
    ] {
        s.insert(key.into(), value);
    }
}

/// Tags as both resources read them: split `;`, trimmed, empty dropped, sorted; absent => null.
pub fn tags(c: &Config) -> Value {
    match c.get("tags") {
        None => Value::Null,
        Some(raw) => {
            let mut tags: Vec<&str> = raw
                .split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            tags.sort_unstable();
            json!(tags)
        }
    }
}

/// vm.go:4404-4473 (bpg-import.md §1.2): absent => `[]`; present => stored iff enabled || trim ||
/// type != "virtio" (timeout is always "15m" on import); wait_for_ip never read.
fn agent(c: &Config) -> Option<Value> {
    let Some(raw) = c.get("agent") else {
        return Some(json!([]));
    };
    let p = Props::parse(raw);
    // vms/custom_agent.go: a bare token is `enabled`.
    let enabled = p
        .get("enabled")
        .map(|v| v == "1")
        .or_else(|| p.bare().map(|v| v == "1"))
        .unwrap_or(false);
    let trim = p.flag("fstrim_cloned_disks").unwrap_or(false);
    let kind = p.get("type").unwrap_or("virtio").to_string();
    let stored = enabled || trim || kind != "virtio";
    stored.then(|| json!([{ "enabled": enabled, "trim": trim, "timeout": "15m", "type": kind }]))
}

/// vm.go:4475-4532 (bpg-import.md §1.16 amd_sev): absent => `[]`; present => stored iff type != std,
/// allow_smt != true (absent reads false), or any of the other flags is true.
fn amd_sev(c: &Config) -> Option<Value> {
    let Some(raw) = c.get("amd-sev") else {
        return Some(json!([]));
    };
    let p = Props::parse(raw);
    let kind = p
        .get("type")
        .map(str::to_string)
        .or_else(|| p.first_bare(raw))
        .unwrap_or_default();
    let allow_smt = p.flag("allow-smt").unwrap_or(false);
    let kernel_hashes = p.flag("kernel-hashes").unwrap_or(false);
    let no_debug = p.flag("no-debug").unwrap_or(false);
    let no_key_sharing = p.flag("no-key-sharing").unwrap_or(false);
    let stored = kind != "std" || !allow_smt || kernel_hashes || no_debug || no_key_sharing;
    stored.then(|| {
        json!([{ "type": kind, "allow_smt": allow_smt, "kernel_hashes": kernel_hashes,
                 "no_debug": no_debug, "no_key_sharing": no_key_sharing }])
    })
}

/// vm.go:4533-4571 (bpg-import.md §1.16 audio_device): `audio0` present => one element, driver [""].
fn audio_device(c: &Config) -> Option<Value> {
    let Some(raw) = c.get("audio0") else {
        return Some(json!([]));
    };
    let p = Props::parse(raw);
    Some(json!([{
        "device": p.get("device").unwrap_or_default(),
        "driver": p.get("driver").unwrap_or_default(),
        "enabled": true,
    }]))
}

/// vm.go:4572-4607 (bpg-import.md §1.8): the interface probed on import is always `ide3`
/// (`vm.go:67,4574`); other CD-ROM slots are in neither `cdrom` nor `disk`.
fn cdrom(c: &Config) -> Option<Value> {
    match c.get("ide3") {
        None => Some(json!([])),
        Some(raw) => {
            let volume = Props::parse(raw).bare().unwrap_or_default().to_string();
            Some(json!([{ "file_id": volume, "interface": "ide3" }]))
        }
    }
}

/// vm.go:4609-4741 (bpg-import.md §1.3): stored iff arch != "" || cores != 1 || flags || vcpus != 0 ||
/// cpulimit != 0 || sockets != 1 || type != "qemu64" || cpuunits != 0 (`4731-4741`);
/// `numa` and `affinity` are not compared.
fn cpu(c: &Config) -> Option<Value> {
    let arch = text(c, "arch").unwrap_or_default();
    let cores = int_key(c, "cores").unwrap_or(1);
    let sockets = int_key(c, "sockets").unwrap_or(1);
    let vcpus = int_key(c, "vcpus").unwrap_or(0);
    let limit: f64 = c
        .get("cpulimit")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let units = int_key(c, "cpuunits").unwrap_or(0);
    let numa = bool_key(c, "numa").unwrap_or(false);
    let affinity = text(c, "affinity").unwrap_or_default();
    // vms/custom_cpu_emulation.go: bare token or cputype= is the type; flags= split ";".
    let (kind, flags) = match c.get("cpu") {
        Some(raw) => {
            let p = Props::parse(raw);
            let kind = p
                .get("cputype")
                .or_else(|| p.bare())
                .unwrap_or_default()
                .to_string();
            let flags: Vec<String> = p
                .get("flags")
                .filter(|f| !f.is_empty())
                .map(|f| f.split(';').map(str::to_string).collect())
                .unwrap_or_default();
            (kind, flags)
        }
        None => ("qemu64".to_string(), Vec::new()),
    };
    let stored = !arch.is_empty()
        || cores != 1
        || !flags.is_empty()
        || vcpus != 0
        || limit != 0.0
        || sockets != 1
        || kind != "qemu64"
        || units != 0;
    stored.then(|| {
        json!([{
            "architecture": arch, "cores": cores, "flags": flags, "hotplugged": vcpus,
            "limit": limit, "numa": numa, "sockets": sockets, "type": kind, "units": units,
            "affinity": affinity,
        }])
    })
}

/// Every disk-capable key, as bpg's `StorageDevices` map holds them.
fn storage_devices(c: &Config) -> Vec<(&str, &str)> {
    let mut devices = Vec::new();
    for (prefix, max) in [("ide", 4), ("sata", 6), ("scsi", 31), ("virtio", 16)] {
        for (_, key, value) in indexed(c, prefix, max) {
            devices.push((key, value));
        }
    }
    devices.sort_by(|a, b| compare_with_prefix(a.0, b.0));
    devices
}

/// The format bpg's storage API lookup returns for a volume without `format=`/extension: raw
/// on block storages; on file storages qcow2 only for a `.qcow2` file. Unknown storage =>
/// lookup fails (404) => no value.
fn storage_file_format(guest: &PveGuest, datastore: &str, volume: &str) -> Option<String> {
    let kind = guest.storage_types.get(datastore)?;
    let qcow2 = volume.ends_with(".qcow2");
    Some(
        match kind.as_str() {
            "dir" | "nfs" | "cifs" | "glusterfs" | "cephfs" if qcow2 => "qcow2",
            _ => "raw",
        }
        .to_string(),
    )
}

/// disk.go:385-617 (bpg-import.md §1.13): every storage device except `none`, the cloud-init drive and
/// `media=cdrom`, ordered by key (`utils.OrderedListFromMap`).
fn disks(guest: &PveGuest) -> Value {
    let cloudinit = format!("vm-{}-cloudinit", guest.vmid);
    let mut list = Vec::new();
    for (key, raw) in storage_devices(guest.config) {
        let p = Props::parse(raw);
        let volume = p.get("file").or_else(|| p.bare()).unwrap_or_default();
        // disk.go:400-411: skipped devices.
        if volume == "none" || volume.contains(&cloudinit) || p.get("media") == Some("cdrom") {
            continue;
        }
        let (datastore, path) = match volume.split_once(':') {
            Some((ds, path)) => (ds, path),
            None => ("", volume),
        };
        let mut d = Map::new();
        d.insert("interface".into(), json!(key));
        d.insert("datastore_id".into(), json!(datastore));
        d.insert("path_in_datastore".into(), json!(path));
        // custom_storage_device.go:260-286 + disk.go:426-449: format=, file extension, storage API.
        let format = p
            .get("format")
            .map(str::to_string)
            .or_else(|| {
                volume
                    .contains(':')
                    .then(|| extension(path).map(str::to_string))
                    .flatten()
            })
            .or_else(|| {
                (!datastore.is_empty())
                    .then(|| storage_file_format(guest, datastore, volume))
                    .flatten()
            });
        if let Some(f) = format {
            d.insert("file_format".into(), json!(f));
        }
        // disk.go:462: floor GiB; absent size => 0.
        d.insert(
            "size".into(),
            json!(super::pve::size_gib_floor(p.get("size"))),
        );
        d.insert("aio".into(), json!(p.get("aio").unwrap_or("io_uring")));
        d.insert("backup".into(), json!(p.flag("backup").unwrap_or(true)));
        d.insert("cache".into(), json!(p.get("cache").unwrap_or("none")));
        d.insert(
            "discard".into(),
            json!(p.get("discard").unwrap_or("ignore")),
        );
        d.insert(
            "iothread".into(),
            json!(p.flag("iothread").unwrap_or(false)),
        );
        d.insert("queues".into(), json!(p.int("queues").unwrap_or(0)));
        d.insert(
            "replicate".into(),
            json!(p.flag("replicate").unwrap_or(true)),
        );
        d.insert("serial".into(), json!(p.get("serial").unwrap_or_default()));
        d.insert("ssd".into(), json!(p.flag("ssd").unwrap_or(false)));
        d.insert("speed".into(), disk_speed(&p));
        list.push(Value::Object(d));
    }
    Value::Array(list)
}

/// disk.go:528-586: `speed` is `[]` unless a limit key is present, then all eight (missing => 0).
fn disk_speed(p: &Props) -> Value {
    let keys = [
        ("iops_rd", "iops_read"),
        ("iops_rd_max", "iops_read_burstable"),
        ("iops_wr", "iops_write"),
        ("iops_wr_max", "iops_write_burstable"),
        ("mbps_rd", "read"),
        ("mbps_rd_max", "read_burstable"),
        ("mbps_wr", "write"),
        ("mbps_wr_max", "write_burstable"),
    ];
    if keys.iter().all(|(pve, _)| p.get(pve).is_none()) {
        return json!([]);
    }
    let mut speed = Map::new();
    for (pve, attr) in keys {
        speed.insert(attr.into(), json!(p.int(pve).unwrap_or(0)));
    }
    json!([speed])
}

/// vm.go:4745-4804 (bpg-import.md §1.5): stored iff datastore != "local-lvm" || type != "2m" ||
/// pre_enrolled_keys || file_format != "raw" (a failed lookup leaves it missing => stored).
/// No `efidisk0` => never set.
fn efi_disk(guest: &PveGuest) -> Option<Value> {
    let raw = guest.config.get("efidisk0")?;
    let p = Props::parse(raw);
    let volume = p.get("file").or_else(|| p.bare()).unwrap_or_default();
    let datastore = volume.split(':').next().unwrap_or_default();
    let format = p
        .get("format")
        .map(str::to_string)
        .or_else(|| storage_file_format(guest, datastore, volume));
    let kind = p
        .get("efitype")
        .map(str::to_lowercase)
        .unwrap_or_else(|| "2m".into());
    let keys = p.flag("pre-enrolled-keys").unwrap_or(false);
    let stored =
        datastore != "local-lvm" || kind != "2m" || keys || format.as_deref() != Some("raw");
    stored.then(|| {
        let mut e = Map::new();
        e.insert("datastore_id".into(), json!(datastore));
        if let Some(f) = format {
            e.insert("file_format".into(), json!(f));
        }
        e.insert("type".into(), json!(kind));
        e.insert("pre_enrolled_keys".into(), json!(keys));
        json!([e])
    })
}

/// vm.go:4806-4831 (bpg-import.md §1.6): stored iff datastore != "local-lvm" || version != "v2.0".
fn tpm_state(c: &Config) -> Option<Value> {
    let raw = c.get("tpmstate0")?;
    let p = Props::parse(raw);
    let volume = p.get("file").or_else(|| p.bare()).unwrap_or_default();
    let datastore = volume.split(':').next().unwrap_or_default();
    let version = p.get("version").filter(|v| !v.is_empty()).unwrap_or("v2.0");
    (datastore != "local-lvm" || version != "v2.0")
        .then(|| json!([{ "datastore_id": datastore, "version": version }]))
}

/// vm.go:4833-4860 (bpg-import.md §1.16 rng): `rng0` present => stored; max_bytes and period only when
/// present. Absent => never set.
fn rng(c: &Config) -> Option<Value> {
    let raw = c.get("rng0")?;
    let p = Props::parse(raw);
    let mut r = Map::new();
    let source = p.get("source").or_else(|| p.bare()).unwrap_or_default();
    r.insert("source".into(), json!(source));
    if let Some(v) = p.int("max_bytes") {
        r.insert("max_bytes".into(), json!(v));
    }
    if let Some(v) = p.int("period") {
        r.insert("period".into(), json!(v));
    }
    // `source != "" || max_bytes != 1024 || period != 1000`: a missing max_bytes is nil, which
    // never equals 1024, so the block is always stored.
    Some(json!([r]))
}

/// vm.go:4862-4922 (bpg-import.md §1.9): every `hostpciN` with host (or bare token) or mapping.
fn hostpci(c: &Config) -> Value {
    let mut list = Vec::new();
    let mut keys = indexed(c, "hostpci", 16);
    keys.sort_by(|a, b| compare_with_prefix(a.1, b.1));
    for (_, key, raw) in keys {
        let p = Props::parse(raw);
        let ids = p.get("host").or_else(|| p.bare());
        let mapping = p.get("mapping");
        if ids.is_none() && mapping.is_none() {
            continue;
        }
        list.push(json!({
            "device": key,
            "id": ids.unwrap_or_default(),
            "mapping": mapping.unwrap_or_default(),
            "mdev": p.get("mdev").unwrap_or_default(),
            "pcie": p.flag("pcie").unwrap_or(false),
            "rombar": p.flag("rombar").unwrap_or(true),
            "rom_file": p.get("romfile").unwrap_or_default(),
            "xvga": p.flag("x-vga").unwrap_or(false),
        }));
    }
    Value::Array(list)
}

/// vm.go:4924-4961 (bpg-import.md §1.10): `usbN` with host (or bare token) or mapping; gaps collapse.
fn usb(c: &Config) -> Value {
    let mut list = Vec::new();
    for (_, _, raw) in indexed(c, "usb", 16) {
        let p = Props::parse(raw);
        let host = p.get("host").or_else(|| p.bare());
        let mapping = p.get("mapping");
        if host.is_none() && mapping.is_none() {
            continue;
        }
        list.push(json!({
            "host": host.unwrap_or_default(),
            "mapping": mapping.unwrap_or_default(),
            "usb3": p.flag("usb3").unwrap_or(false),
        }));
    }
    Value::Array(list)
}

/// vm.go:4963-5010 (bpg-import.md §1.16 virtiofs): one element per share; expose-acl implies xattr.
fn virtiofs(c: &Config) -> Value {
    let mut list = Vec::new();
    for (_, _, raw) in indexed(c, "virtiofs", 10) {
        let p = Props::parse(raw);
        let acl = p.flag("expose-acl");
        let xattr = p
            .flag("expose-xattr")
            .or(acl.filter(|a| *a))
            .unwrap_or(false);
        list.push(json!({
            "mapping": p.get("dirid").or_else(|| p.bare()).unwrap_or_default(),
            "cache": p.get("cache").unwrap_or("auto"),
            "direct_io": p.flag("direct-io").unwrap_or(false),
            "expose_acl": acl.unwrap_or(false),
            "expose_xattr": xattr,
        }));
    }
    Value::Array(list)
}

/// vm.go:5012-5245 (bpg-import.md §1.15): stored iff a cloud-init drive, DNS, ipconfig, user, cicustom,
/// citype or ciupgrade exists; else `[]`.
fn initialization(guest: &PveGuest) -> Value {
    let c = guest.config;
    let mut init = Map::new();
    // vm.go:1944-1954: the drive whose volume contains `vm-<id>-cloudinit`.
    let marker = format!("vm-{}-cloudinit", guest.vmid);
    let drive = storage_devices(c)
        .into_iter()
        .find(|(_, raw)| raw.contains(&marker));
    if let Some((key, raw)) = drive {
        let volume = raw.split(',').next().unwrap_or_default();
        let (datastore, path) = volume.split_once(':').unwrap_or((volume, ""));
        init.insert("interface".into(), json!(key));
        init.insert("datastore_id".into(), json!(datastore));
        // vm.go:5030-5038: format= else the extension; lvm volumes have none => unset.
        let format = Props::parse(raw)
            .get("format")
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .or_else(|| extension(path).map(str::to_string));
        if let Some(f) = format {
            init.insert("file_format".into(), json!(f));
        }
    }
    // vm.go:5041-5057: dns {domain [""], servers = split " " [[]]}.
    if c.contains_key("searchdomain") || c.contains_key("nameserver") {
        let servers: Vec<&str> = c
            .get("nameserver")
            .map(|n| n.split(' ').collect())
            .unwrap_or_default();
        init.insert(
            "dns".into(),
            json!([{ "domain": text(c, "searchdomain").unwrap_or_default(), "servers": servers }]),
        );
    }
    // vm.go:5059-5127: ip_config[0..=max N], gaps are empty entries.
    let ipconfigs = indexed(c, "ipconfig", 32);
    if let Some(last) = ipconfigs.last().map(|(n, _, _)| *n) {
        let mut list = vec![json!({ "ipv4": [], "ipv6": [] }); last as usize + 1];
        for (n, _, raw) in ipconfigs {
            let p = Props::parse(raw);
            list[n as usize] = json!({
                "ipv4": ip_pair(p.get("ip"), p.get("gw")),
                "ipv6": ip_pair(p.get("ip6"), p.get("gw6")),
            });
        }
        init.insert("ip_config".into(), Value::Array(list));
    }
    // vm.go:5129-5157: user_account; sshkeys URL-unescaped, trimmed, split "\n".
    if ["ciuser", "cipassword", "sshkeys"]
        .iter()
        .any(|k| c.contains_key(*k))
    {
        let keys: Vec<String> = c
            .get("sshkeys")
            .map(|k| query_unescape(k))
            .filter(|k| !k.is_empty())
            .map(|k| k.trim().split('\n').map(str::to_string).collect())
            .unwrap_or_default();
        init.insert(
            "user_account".into(),
            json!([{
                "keys": keys,
                "password": text(c, "cipassword").unwrap_or_default(),
                "username": text(c, "ciuser").unwrap_or_default(),
            }]),
        );
    }
    // vm.go:5159-5190: cicustom volumes, "" when the rest of the block exists.
    let files = [
        ("user", "user_data_file_id"),
        ("vendor", "vendor_data_file_id"),
        ("network", "network_data_file_id"),
        ("meta", "meta_data_file_id"),
    ];
    if let Some(raw) = c.get("cicustom") {
        let p = Props::parse(raw);
        for (pve, attr) in files {
            init.insert(attr.into(), json!(p.get(pve).unwrap_or_default()));
        }
    } else if !init.is_empty() {
        for (_, attr) in files {
            init.insert(attr.into(), json!(""));
        }
    }
    // vm.go:5192-5204: type and upgrade (default true) once anything is there.
    if let Some(t) = text(c, "citype") {
        init.insert("type".into(), json!(t));
    } else if !init.is_empty() {
        init.insert("type".into(), json!(""));
    }
    if let Some(u) = bool_key(c, "ciupgrade") {
        init.insert("upgrade".into(), json!(u));
    } else if !init.is_empty() {
        init.insert("upgrade".into(), json!(true));
    }
    if init.is_empty() {
        json!([])
    } else {
        json!([init])
    }
}

/// One `ipv4`/`ipv6` sub-block: `[]` when neither address nor gateway is set.
pub fn ip_pair(address: Option<&str>, gateway: Option<&str>) -> Value {
    if address.is_none() && gateway.is_none() {
        return json!([]);
    }
    json!([{ "address": address.unwrap_or_default(), "gateway": gateway.unwrap_or_default() }])
}

/// vm.go:5256-5304 (bpg-import.md §1.4): stored iff dedicated != 512 || floating != 0 || shared != 0 ||
/// hugepages != "" || keep_hugepages; `shared` is the ivshmem size.
fn memory(c: &Config) -> Option<Value> {
    let dedicated = int_key(c, "memory").unwrap_or(0);
    let floating = int_key(c, "balloon").unwrap_or(0);
    let shared = c
        .get("ivshmem")
        .and_then(|v| Props::parse(v).int("size"))
        .unwrap_or(0);
    let hugepages = text(c, "hugepages").unwrap_or_default();
    let keep = bool_key(c, "keephugepages").unwrap_or(false);
    let stored = dedicated != 512 || floating != 0 || shared != 0 || !hugepages.is_empty() || keep;
    stored.then(|| {
        json!([{ "dedicated": dedicated, "floating": floating, "shared": shared,
                 "hugepages": hugepages, "keep_hugepages": keep }])
    })
}

/// net.go:134-181 (bpg-import.md §1.14): element i = `net<i>`, trailing gaps dropped, inner gaps null;
/// also `mac_addresses` ("" for gaps).
fn network_devices(c: &Config) -> (Value, Value) {
    let nets = indexed(c, "net", 32);
    let Some(last) = nets.last().map(|(n, _, _)| *n) else {
        return (json!([]), json!([]));
    };
    let mut devices = vec![Value::Null; last as usize + 1];
    let mut macs = vec![json!(""); last as usize + 1];
    for (n, _, raw) in nets {
        let p = Props::parse(raw);
        let mut model = p.get("model").unwrap_or_default().to_string();
        let mut mac = p.get("macaddr").map(str::to_string);
        // custom_network_device.go: any other key is `<model>=<mac>`.
        const KNOWN: [&str; 10] = [
            "bridge",
            "firewall",
            "link_down",
            "macaddr",
            "model",
            "queues",
            "rate",
            "mtu",
            "tag",
            "trunks",
        ];
        for (k, v) in p.pairs() {
            if !KNOWN.contains(&k.as_str()) {
                model = k.clone();
                mac = Some(v.clone());
            }
        }
        let trunks = p
            .get("trunks")
            .map(|t| {
                t.split(';')
                    .filter_map(|x| x.parse::<i64>().ok())
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default();
        let rate = p.float("rate").unwrap_or(0.0);
        macs[n as usize] = json!(mac.clone().unwrap_or_default());
        devices[n as usize] = json!({
            "bridge": p.get("bridge").unwrap_or_default(),
            "enabled": true,
            "disconnected": p.flag("link_down").unwrap_or(false),
            "firewall": p.flag("firewall").unwrap_or(false),
            "mac_address": mac.unwrap_or_default(),
            "model": model,
            "queues": p.int("queues").unwrap_or(0),
            "rate_limit": rate,
            "vlan_id": p.int("tag").unwrap_or(0),
            "mtu": p.int("mtu").unwrap_or(0),
            "trunks": trunks,
        });
    }
    (Value::Array(devices), Value::Array(macs))
}

/// vm.go:4646-4683 (bpg-import.md §1.11): `numaN` with both cpus= and hostnodes=; memory [0], policy [""].
fn numa(c: &Config) -> Value {
    let mut list = Vec::new();
    for (_, key, raw) in indexed(c, "numa", 8) {
        let p = Props::parse(raw);
        let (Some(cpus), Some(nodes)) = (p.get("cpus"), p.get("hostnodes")) else {
            continue;
        };
        list.push(json!({
            "device": key,
            "cpus": cpus,
            "hostnodes": nodes,
            "memory": p.int("memory").unwrap_or(0),
            "policy": p.get("policy").unwrap_or_default(),
        }));
    }
    Value::Array(list)
}

/// vm.go:5307-5334 (bpg-import.md §1.7): stored iff ostype != "other" (absent => ""); else `[]`.
fn operating_system(c: &Config) -> Value {
    let kind = text(c, "ostype").unwrap_or_default();
    if kind == "other" {
        json!([])
    } else {
        json!([{ "type": kind }])
    }
}

/// vm.go:5352-5380 (bpg-import.md §1.12): up to the highest `serialN`; gaps are `{device = ""}`.
fn serial_devices(c: &Config) -> Value {
    let present = indexed(c, "serial", 4);
    let count = present.last().map_or(0, |(n, _, _)| *n as usize + 1);
    let mut list = vec![json!({ "device": "" }); count];
    for (n, _, raw) in present {
        list[n as usize] = json!({ "device": raw });
    }
    Value::Array(list)
}

/// vm.go:5382-5464 (bpg-import.md §1.16 smbios): values base64-decoded regardless of `base64=`;
/// stored iff a non-uuid field is non-empty; no `smbios1` => `[]`; uuid-only => never set.
fn smbios(c: &Config) -> Option<Value> {
    use base64::Engine as _;
    let Some(raw) = c.get("smbios1") else {
        return Some(json!([]));
    };
    let p = Props::parse_first_eq(raw);
    let mut m = Map::new();
    let mut stored = false;
    for key in [
        "family",
        "manufacturer",
        "product",
        "serial",
        "sku",
        "version",
    ] {
        let value = p
            .get(key)
            .map(|v| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .unwrap_or_default();
        stored |= !value.is_empty();
        m.insert(key.into(), json!(value));
    }
    if let Some(uuid) = p.get("uuid") {
        m.insert("uuid".into(), json!(uuid));
    }
    stored.then(|| json!([m]))
}

/// vm.go:5466-5510 (bpg-import.md §1.16 startup): stored whenever the key is present (bug `5505`:
/// int vs "order"), missing parts -1; absent => `[]`.
pub fn startup(c: &Config) -> Value {
    let Some(raw) = c.get("startup") else {
        return json!([]);
    };
    let p = Props::parse(raw);
    json!([{
        "order": p.int("order").unwrap_or(-1),
        "up_delay": p.int("up").unwrap_or(-1),
        "down_delay": p.int("down").unwrap_or(-1),
    }])
}

/// vm.go:5512-5552 (bpg-import.md §1.16 vga): stored iff type != std || memory != 16 || clipboard != "";
/// a `vga` without a type token has no `type` (missing != "std" => stored); absent => `[]`.
fn vga(c: &Config) -> Value {
    let Some(raw) = c.get("vga").filter(|v| !v.is_empty()) else {
        return json!([]);
    };
    let p = Props::parse(raw);
    let kind = p.get("type").or_else(|| p.bare());
    let memory = p.int("memory").unwrap_or(16);
    let clipboard = p.get("clipboard").unwrap_or_default();
    if kind == Some("std") && memory == 16 && clipboard.is_empty() {
        return json!([]);
    }
    let mut v = Map::new();
    v.insert("clipboard".into(), json!(clipboard));
    v.insert("memory".into(), json!(memory));
    if let Some(k) = kind {
        v.insert("type".into(), json!(k));
    }
    json!([v])
}

/// vm.go:5566-5607 (bpg-import.md §1.16 watchdog): key present => enabled with model [i6300esb] and
/// action [none]; absent => `[]`.
fn watchdog(c: &Config) -> Value {
    let Some(raw) = c.get("watchdog").filter(|v| !v.is_empty()) else {
        return json!([]);
    };
    let p = Props::parse(raw);
    json!([{
        "enabled": true,
        "model": p.get("model").or_else(|| p.bare()).unwrap_or("i6300esb"),
        "action": p.get("action").unwrap_or("none"),
    }])
}
