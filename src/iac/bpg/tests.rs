//! Predictor and comparator tests on small literal PVE configs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn config(lines: &str) -> BTreeMap<String, String> {
    lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn storages() -> BTreeMap<String, String> {
    [
        ("local", "dir"),
        ("local-lvm", "lvmthin"),
        ("tank", "zfspool"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

fn predict(kind: GuestKind, running: bool, pool: Option<&str>, cfg: &str) -> Value {
    let config = config(cfg);
    let storage_types = storages();
    predict_state(&PveGuest {
        kind,
        vmid: 100,
        node: "pve",
        running,
        pool,
        config: &config,
        storage_types: &storage_types,
    })
}

fn vm(cfg: &str) -> Value {
    predict(GuestKind::Qemu, true, None, cfg)
}

fn ct(cfg: &str) -> Value {
    predict(GuestKind::Lxc, true, None, cfg)
}

const WIN11: &str = "
    bios: ovmf
    boot: order=scsi0;ide2;net0
    cores: 4
    cpu: x86-64-v2-AES
    efidisk0: local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M
    ide2: local:iso/Win11_24H2.iso,media=cdrom,size=5683090K
    machine: pc-q35-9.0
    memory: 8192
    name: win11
    net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1
    numa: 0
    ostype: win11
    scsi0: local-lvm:vm-100-disk-1,cache=writeback,discard=on,iothread=1,size=64G
    scsihw: virtio-scsi-single
    sockets: 1
    tpmstate0: local-lvm:vm-100-disk-2,size=4M,version=v2.0
";

#[test]
fn windows_11_vm() {
    let s = vm(WIN11);
    // efitype=4m + pre-enrolled keys differ from bpg's 2m/false (vm.go:4796-4803).
    assert_eq!(
        s["efi_disk"],
        json!([{ "datastore_id": "local-lvm", "file_format": "raw", "type": "4m", "pre_enrolled_keys": true }])
    );
    // tpmstate0 on local-lvm, v2.0 equals the defaults => not stored.
    assert_eq!(s["tpm_state"], json!([]));
    assert_eq!(s["operating_system"], json!([{ "type": "win11" }]));
    // ide2 CD-ROM: neither cdrom (ide3 only) nor disk.
    assert_eq!(s["cdrom"], json!([]));
    let disks = s["disk"].as_array().unwrap();
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0]["interface"], "scsi0");
    assert_eq!(disks[0]["size"], 64);
    assert_eq!(disks[0]["file_format"], "raw");
    assert_eq!(disks[0]["discard"], "on");
    assert_eq!(disks[0]["speed"], json!([]));
    assert_eq!(s["cpu"][0]["type"], "x86-64-v2-AES");
    assert_eq!(s["cpu"][0]["cores"], 4);
    assert_eq!(s["boot_order"], json!(["scsi0", "ide2", "net0"]));
    assert_eq!(s["scsi_hardware"], "virtio-scsi-single");
    assert_eq!(s["memory"][0]["dedicated"], 8192);
    assert_eq!(s["network_device"][0]["model"], "virtio");
    assert_eq!(s["network_device"][0]["mac_address"], "BC:24:11:00:00:01");
    assert_eq!(s["pool_id"], "");
    assert_eq!(s["on_boot"], false);
    assert_eq!(s["timeout_stop_vm"], 300);
    assert_eq!(s["agent"], json!([]));
    assert_eq!(s["clone"], json!([]));
    assert!(s.get("hotplug").is_none());
}

#[test]
fn default_efi_disk_is_not_stored() {
    let s = vm("efidisk0: local-lvm:vm-100-disk-0,size=4M\nmemory: 512");
    assert_eq!(s["efi_disk"], json!([]));
    assert_eq!(s["memory"], json!([]));
    // A directory storage with a qcow2 file differs in format.
    let s = vm("efidisk0: local:100/vm-100-disk-0.qcow2,efitype=2m,size=128K");
    assert_eq!(s["efi_disk"][0]["file_format"], "qcow2");
    assert_eq!(s["efi_disk"][0]["datastore_id"], "local");
}

#[test]
fn pfsense_other_os_is_not_stored() {
    let s = vm("ostype: other\nmemory: 2048\nnet0: e1000=BC:24:11:00:00:02,bridge=vmbr1");
    assert_eq!(s["operating_system"], json!([]));
    assert_eq!(s["network_device"][0]["model"], "e1000");
    // No ostype at all reads "" and is stored.
    assert_eq!(
        vm("memory: 2048")["operating_system"],
        json!([{ "type": "" }])
    );
}

#[test]
fn pve7_single_core_vm_has_no_cpu_block() {
    let s = vm("cores: 1\nsockets: 1\nmemory: 1024\nnuma: 1");
    assert_eq!(s["cpu"], json!([]));
    // scsihw absent => never set.
    assert!(s.get("scsi_hardware").is_none());
    assert_eq!(vm("cores: 2")["cpu"][0]["type"], "qemu64");
}

#[test]
fn agent_rules() {
    assert_eq!(vm("")["agent"], json!([]));
    assert_eq!(vm("agent: 0")["agent"], json!([]));
    assert_eq!(
        vm("agent: 1,fstrim_cloned_disks=1")["agent"],
        json!([{ "enabled": true, "trim": true, "timeout": "15m", "type": "virtio" }])
    );
}

#[test]
fn passthrough_vm() {
    let s = vm(
        "hostpci0: 0000:01:00,pcie=1,x-vga=1\nusb0: host=1a86:7523\nusb2: mapping=zigbee,usb3=1",
    );
    assert_eq!(
        s["hostpci"],
        json!([{ "device": "hostpci0", "id": "0000:01:00", "mapping": "", "mdev": "", "pcie": true,
                 "rombar": true, "rom_file": "", "xvga": true }])
    );
    assert_eq!(
        s["usb"],
        json!([{ "host": "1a86:7523", "mapping": "", "usb3": false },
               { "host": "", "mapping": "zigbee", "usb3": true }])
    );
}

#[test]
fn disks_cloud_init_and_nics() {
    let s = vm("
        ide2: local-lvm:vm-100-cloudinit,media=cdrom
        ide3: none,media=cdrom
        ipconfig1: ip=10.0.0.5/24,gw=10.0.0.1
        ciuser: admin
        sshkeys: ssh-ed25519%20AAAA%20me%40host%0A
        nameserver: 1.1.1.1 9.9.9.9
        virtio10: tank:vm-100-disk-1,size=2252M,iops_rd=500,mbps_wr=100
        virtio2: /dev/sdb,size=1T
        net2: virtio=BC:24:11:00:00:03,bridge=vmbr0,rate=12.5,tag=20,trunks=10;20
    ");
    assert_eq!(
        s["cdrom"],
        json!([{ "file_id": "none", "interface": "ide3" }])
    );
    let disks = s["disk"].as_array().unwrap();
    assert_eq!(disks[0]["interface"], "virtio2");
    assert_eq!(disks[0]["datastore_id"], "");
    assert_eq!(disks[0]["path_in_datastore"], "/dev/sdb");
    assert_eq!(disks[0]["size"], 1024);
    assert_eq!(disks[1]["interface"], "virtio10");
    assert_eq!(disks[1]["size"], 2);
    assert_eq!(disks[1]["speed"][0]["iops_read"], 500);
    assert_eq!(disks[1]["speed"][0]["write"], 100);
    assert_eq!(disks[1]["speed"][0]["read"], 0);
    let init = &s["initialization"][0];
    assert_eq!(init["interface"], "ide2");
    assert_eq!(init["datastore_id"], "local-lvm");
    assert!(init.get("file_format").is_none());
    assert_eq!(
        init["dns"],
        json!([{ "domain": "", "servers": ["1.1.1.1", "9.9.9.9"] }])
    );
    assert_eq!(
        init["ip_config"],
        json!([{ "ipv4": [], "ipv6": [] },
               { "ipv4": [{ "address": "10.0.0.5/24", "gateway": "10.0.0.1" }], "ipv6": [] }])
    );
    assert_eq!(
        init["user_account"][0]["keys"],
        json!(["ssh-ed25519 AAAA me@host"])
    );
    assert_eq!(init["user_account"][0]["username"], "admin");
    assert_eq!(init["upgrade"], true);
    let nics = s["network_device"].as_array().unwrap();
    assert_eq!(nics.len(), 3);
    assert!(nics[0].is_null() && nics[1].is_null());
    assert_eq!(nics[2]["rate_limit"], 12.5);
    assert_eq!(nics[2]["trunks"], "10;20");
    assert_eq!(s["mac_addresses"], json!(["", "", "BC:24:11:00:00:03"]));
}

#[test]
fn vm_misc_blocks() {
    let s = vm("
        tags: web; prod;;a
        startup: order=2,up=30
        vga: std
        watchdog: model=i6300esb,action=reset
        smbios1: uuid=0a1b
        serial1: socket
        numa0: cpus=0-3,hostnodes=0,memory=2048
        description: hello
    ");
    assert_eq!(s["tags"], json!(["a", "prod", "web"]));
    assert_eq!(
        s["startup"],
        json!([{ "order": 2, "up_delay": 30, "down_delay": -1 }])
    );
    assert_eq!(s["vga"], json!([]));
    assert_eq!(s["watchdog"][0]["action"], "reset");
    assert_eq!(s["smbios"], json!([]));
    assert_eq!(
        s["serial_device"],
        json!([{ "device": "" }, { "device": "socket" }])
    );
    assert_eq!(s["numa"][0]["policy"], "");
    assert_eq!(vm("")["tags"], Value::Null);
    assert_eq!(
        vm("vga: memory=64")["vga"],
        json!([{ "clipboard": "", "memory": 64 }])
    );
}

const GUI_CT: &str = "
    arch: amd64
    cores: 2
    features: nesting=1
    hostname: web
    memory: 1024
    nameserver: 1.1.1.1
    net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,type=veth
    net1: name=eth1,bridge=vmbr1,hwaddr=BC:24:11:AA:BB:CD,type=veth
    net2: name=eth2,bridge=vmbr2,hwaddr=BC:24:11:AA:BB:CE,ip=10.0.0.7/24,gw=10.0.0.1,type=veth
    onboot: 1
    ostype: debian
    rootfs: local-lvm:vm-100-disk-0,size=8G
    swap: 512
    unprivileged: 1
";

#[test]
fn gui_container() {
    let s = ct(GUI_CT);
    // No console keys => always stored (ct.go:2725, 2749-2753).
    assert_eq!(
        s["console"],
        json!([{ "enabled": true, "type": "tty", "tty_count": 2 }])
    );
    assert!(s.get("vm_id").is_none());
    assert!(s.get("pool_id").is_none());
    assert!(s.get("timeout_create").is_none());
    assert_eq!(
        s["disk"],
        json!([{ "datastore_id": "local-lvm", "path_in_datastore": "local-lvm:vm-100-disk-0",
                 "size": 8, "acl": false, "quota": false, "replicate": false, "mount_options": [] }])
    );
    assert_eq!(s["cpu"][0]["cores"], 2);
    assert_eq!(s["memory"], json!([{ "dedicated": 1024, "swap": 512 }]));
    assert_eq!(s["features"][0]["nesting"], true);
    let init = &s["initialization"][0];
    assert_eq!(init["hostname"], "web");
    assert_eq!(
        init["dns"],
        json!([{ "domain": "", "servers": ["1.1.1.1"] }])
    );
    // One ip_config per NIC with IP settings, in NIC order (eth1 has none).
    assert_eq!(
        init["ip_config"],
        json!([{ "ipv4": [{ "address": "dhcp", "gateway": "" }], "ipv6": [] },
               { "ipv4": [{ "address": "10.0.0.7/24", "gateway": "10.0.0.1" }], "ipv6": [] }])
    );
    assert_eq!(s["network_interface"].as_array().unwrap().len(), 3);
    assert_eq!(s["operating_system"], json!([{ "type": "debian" }]));
    assert_eq!(s["unprivileged"], true);
    assert_eq!(s["start_on_boot"], true);
    assert_eq!(s["idmap"], json!([]));
    assert_eq!(s["environment_variables"], json!({}));
    assert_eq!(s["mount_point"], json!([]));
    assert_eq!(s["startup"], json!([]));
    // console: 1 with tty/2 equals the defaults => not stored.
    assert_eq!(ct("console: 1")["console"], json!([]));
}

#[test]
fn pooled_guests() {
    let c = predict(
        GuestKind::Lxc,
        false,
        Some("prod"),
        "rootfs: local-lvm:vm-100-disk-0,size=8G",
    );
    assert!(c.get("pool_id").is_none());
    assert_eq!(c["started"], false);
    let v = predict(GuestKind::Qemu, false, Some("prod"), "memory: 1024");
    assert_eq!(v["pool_id"], "prod");
}

#[test]
fn container_devices_and_idmap() {
    let mut cfg = config(
        "
        dev0: /dev/dri/renderD128,gid=104
        mp0: local-lvm:vm-100-disk-1,mp=/data,backup=1,size=8G,mountoptions=noatime
    ",
    );
    // Two raw lines of one key, joined with a newline; env is NUL-separated.
    cfg.insert(
        "lxc.idmap".into(),
        "u 0 100000 65536\ng 0 100000 65536".into(),
    );
    cfg.insert("env".into(), "A=1\u{0}B=x=y".into());
    let storage_types = storages();
    let s = predict_state(&PveGuest {
        kind: GuestKind::Lxc,
        vmid: 100,
        node: "pve",
        running: true,
        pool: None,
        config: &cfg,
        storage_types: &storage_types,
    });
    assert_eq!(
        s["device_passthrough"],
        json!([{ "path": "/dev/dri/renderD128", "mode": "0660", "uid": 0, "gid": 104, "deny_write": false }])
    );
    assert_eq!(
        s["idmap"][0],
        json!({ "type": "uid", "container_id": 0, "host_id": 100000, "size": 65536 })
    );
    assert_eq!(s["idmap"][1]["type"], "gid");
    assert_eq!(s["mount_point"][0]["size"], "8G");
    assert_eq!(s["mount_point"][0]["replicate"], true);
    assert_eq!(s["mount_point"][0]["mount_options"], json!(["noatime"]));
    assert_eq!(s["environment_variables"], json!({ "A": "1", "B": "x=y" }));
}

// ---- comparator ----

const VM_TYPE: &str = "proxmox_virtual_environment_vm";
const CT_TYPE: &str = "proxmox_virtual_environment_container";

fn ignore(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

#[test]
fn file_equal_to_prediction_has_no_findings() {
    let s = vm(WIN11);
    assert_eq!(compare(VM_TYPE, &s, &[], &s), vec![]);
    let timeouts = ignore(&[
        "timeout_create",
        "timeout_clone",
        "timeout_update",
        "timeout_delete",
        "timeout_start",
    ]);
    let c = ct(GUI_CT);
    assert_eq!(compare(CT_TYPE, &c, &timeouts, &c), vec![]);
}

#[test]
fn started_false_on_running_vm() {
    let s = vm(WIN11);
    let mut file = s.clone();
    file["started"] = json!(false);
    assert_eq!(
        compare(VM_TYPE, &file, &[], &s),
        vec![Finding {
            attribute: "started".into(),
            file: json!(false),
            predicted: json!(true),
            consequence: Consequence::Update,
        }]
    );
    // A template suppresses `started` (vm.go:1471-1479).
    file["template"] = json!(true);
    let findings = compare(VM_TYPE, &file, &[], &s);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].attribute, "template");
}

#[test]
fn container_pool_id_replaces_unless_ignored() {
    let c = ct(GUI_CT);
    let mut file = c.clone();
    file["pool_id"] = json!("prod");
    let mut ignored = ignore(&[
        "timeout_create",
        "timeout_clone",
        "timeout_update",
        "timeout_delete",
        "timeout_start",
    ]);
    let findings = compare(CT_TYPE, &file, &ignored, &c);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].attribute, "pool_id");
    assert_eq!(findings[0].consequence, Consequence::Replace);
    ignored.push("pool_id".into());
    assert_eq!(compare(CT_TYPE, &file, &ignored, &c), vec![]);
}

#[test]
fn container_timeouts_diff_unless_ignored() {
    let c = ct(GUI_CT);
    let others = [
        "timeout_clone",
        "timeout_update",
        "timeout_delete",
        "timeout_start",
    ];
    let findings = compare(CT_TYPE, &c, &ignore(&others), &c);
    assert_eq!(
        findings,
        vec![Finding {
            attribute: "timeout_create".into(),
            file: json!(1800),
            predicted: Value::Null,
            consequence: Consequence::Update,
        }]
    );
    let mut all = ignore(&others);
    all.push("timeout_create".into());
    assert_eq!(compare(CT_TYPE, &c, &all, &c), vec![]);
}

#[test]
fn vm_without_scsihw_always_diffs() {
    let s = vm("memory: 1024\nostype: l26");
    let findings = compare(VM_TYPE, &s, &[], &s);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].attribute, "scsi_hardware");
    assert_eq!(findings[0].consequence, Consequence::Reboot);
    assert_eq!(
        compare(VM_TYPE, &s, &ignore(&["scsi_hardware"]), &s),
        vec![]
    );
}

#[test]
fn blocks_elements_and_ignore_paths() {
    let s = vm(&format!(
        "{WIN11}\nagent: 1\nscsi1: local-lvm:vm-100-disk-3,size=10G\nhostpci0: 0000:01:00"
    ));
    let mut file = s.clone();
    // Disks matched by interface whatever their order.
    file["disk"].as_array_mut().unwrap().reverse();
    file["disk"][0]["size"] = json!(12);
    // Omitting hostpci plans its removal; a wait_for_ip block is a one-sided sub-block.
    file.as_object_mut().unwrap().remove("hostpci");
    file["agent"][0]["wait_for_ip"] = json!([{ "ipv4": true }]);
    // Optional+Computed blocks left out are no diff.
    file.as_object_mut().unwrap().remove("network_device");
    let findings = compare(VM_TYPE, &file, &[], &s);
    let attrs: Vec<(&str, Consequence)> = findings
        .iter()
        .map(|f| (f.attribute.as_str(), f.consequence))
        .collect();
    assert_eq!(
        attrs,
        vec![
            ("agent[0].wait_for_ip", Consequence::Reboot),
            ("disk[scsi1].size", Consequence::Update),
            ("hostpci[hostpci0]", Consequence::Reboot),
        ]
    );
    let ignored = ignore(&["agent.0.wait_for_ip", "hostpci", "disk[0].size"]);
    assert_eq!(compare(VM_TYPE, &file, &ignored, &s), vec![]);
    // `agent` covers everything below it.
    let findings = compare(VM_TYPE, &file, &ignore(&["agent", "hostpci", "disk"]), &s);
    assert_eq!(findings, vec![]);
}

#[test]
fn descriptions_and_container_replacements() {
    let mut cfg = config(GUI_CT);
    cfg.insert("description".into(), "web server\n".into());
    let storage_types = storages();
    let c = predict_state(&PveGuest {
        kind: GuestKind::Lxc,
        vmid: 100,
        node: "pve",
        running: true,
        pool: None,
        config: &cfg,
        storage_types: &storage_types,
    });
    assert_eq!(c["description"], "web server\n");
    let timeouts = [
        "timeout_create",
        "timeout_clone",
        "timeout_update",
        "timeout_delete",
        "timeout_start",
    ];
    let mut file = c.clone();
    file["description"] = json!("  web server  ");
    file["operating_system"] =
        json!([{ "type": "ubuntu", "template_file_id": "local:vztmpl/x.tar.zst" }]);
    file["mount_point"] = json!([{ "volume": "local-lvm", "path": "/data" }]);
    let findings = compare(CT_TYPE, &file, &ignore(&timeouts), &c);
    let attrs: Vec<(&str, Consequence)> = findings
        .iter()
        .map(|f| (f.attribute.as_str(), f.consequence))
        .collect();
    assert_eq!(
        attrs,
        vec![
            ("mount_point[0]", Consequence::Replace),
            ("operating_system[0].template_file_id", Consequence::Replace),
            ("operating_system[0].type", Consequence::Replace),
        ]
    );
    // VM description: TrimSpace + CRLF->LF against the raw value.
    let s = vm(&format!("{WIN11}\ndescription: line one"));
    let mut file = s.clone();
    file["description"] = json!("line one\r\n");
    assert_eq!(compare(VM_TYPE, &file, &[], &s), vec![]);
}
