//! Deterministic starting clusters: `homelab` (3 nodes, ~30 guests of every kind the console
//! meets) and `generated` (N nodes, M guests from a seed). Every address is in 127.0.0.0/8.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimError;
use super::cluster::{Cluster, Guest, GuestKind, Iface, Node, Pool, Storage};
use super::conf::{canonical_tags, generated_mac};

const GIB: u64 = 1 << 30;
/// A fixed epoch so seeds are deterministic: 2026-01-01T00:00:00Z.
const EPOCH: u64 = 1_767_225_600;

fn node(name: &str, id: u32, ip: &str) -> Node {
    Node {
        name: name.to_string(),
        nodeid: id,
        ip: ip.to_string(),
        online: true,
        maxcpu: 16,
        maxmem: 64 * GIB,
        maxdisk: 100 * GIB,
        boot_time: EPOCH - 86_400 * u64::from(id),
    }
}

fn storage(id: &str, kind: &str, content: &[&str], shared: bool, total_gib: u64) -> Storage {
    Storage {
        id: id.to_string(),
        kind: kind.to_string(),
        content: content.iter().map(|s| s.to_string()).collect(),
        shared,
        nodes: None,
        path: None,
        total: total_gib * GIB,
        base_used: 0,
        files: Vec::new(),
        extra: BTreeMap::new(),
    }
}

fn standard_storages(node_names: &[String]) -> Vec<Storage> {
    let mut local = storage(
        "local",
        "dir",
        &["backup", "iso", "snippets", "vztmpl"],
        false,
        100,
    );
    local.path = Some("/var/lib/vz".into());
    local.base_used = 12 * GIB;
    local.files = vec![
        (
            "local:iso/debian-12.9.0-amd64-netinst.iso".into(),
            "iso".into(),
            632 << 20,
        ),
        (
            "local:iso/ubuntu-24.04.1-live-server-amd64.iso".into(),
            "iso".into(),
            2_773_000_000,
        ),
        (
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
            "vztmpl".into(),
            126 << 20,
        ),
        (
            "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz".into(),
            "vztmpl".into(),
            3 << 20,
        ),
        (
            "local:snippets/user-data.yaml".into(),
            "snippets".into(),
            1024,
        ),
    ];
    let mut lvm = storage("local-lvm", "lvmthin", &["images", "rootdir"], false, 400);
    lvm.extra.insert("vgname".into(), "pve".into());
    lvm.extra.insert("thinpool".into(), "data".into());
    let mut nas = storage(
        "nas",
        "nfs",
        &["backup", "images", "iso", "rootdir"],
        true,
        2048,
    );
    nas.path = Some("/mnt/pve/nas".into());
    nas.base_used = 300 * GIB;
    nas.extra.insert("server".into(), "127.0.2.10".into());
    nas.extra.insert("export".into(), "/export/pve".into());
    nas.files = vec![
        (
            "nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst".into(),
            "backup".into(),
            5 * GIB,
        ),
        (
            "nas:backup/vzdump-lxc-201-2026_01_02-03_00_00.tar.zst".into(),
            "backup".into(),
            300 << 20,
        ),
    ];
    let mut out = vec![local, lvm, nas];
    if let Some(last) = node_names.last() {
        // a small storage that fills up quickly (tests of "storage full")
        let mut small = storage("small", "dir", &["images", "rootdir"], false, 60);
        small.path = Some("/mnt/small".into());
        small.nodes = Some(vec![last.clone()]);
        small.base_used = 30 * GIB;
        out.push(small);
    }
    out
}

fn standard_network(index: usize) -> Vec<Iface> {
    vec![
        Iface {
            iface: "eno1".into(),
            kind: "eth".into(),
            address: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: false,
            comments: None,
            mtu: None,
            cidr6: None,
            gateway6: None,
        },
        Iface {
            iface: "eno2".into(),
            kind: "eth".into(),
            address: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: false,
            comments: None,
            mtu: None,
            cidr6: None,
            gateway6: None,
        },
        Iface {
            iface: "vmbr0".into(),
            kind: "bridge".into(),
            address: Some(format!("127.0.1.{}", index + 1)),
            cidr: Some(format!("127.0.1.{}/24", index + 1)),
            gateway: Some("127.0.1.254".into()),
            bridge_ports: Some("eno1".into()),
            vlan_aware: false,
            comments: Some("LAN".into()),
            mtu: None,
            cidr6: Some(format!("fd00:1::{}/64", index + 1)),
            gateway6: Some("fd00:1::fffe".into()),
        },
        Iface {
            iface: "vmbr1".into(),
            kind: "bridge".into(),
            address: None,
            cidr: None,
            gateway: None,
            bridge_ports: Some("eno2".into()),
            vlan_aware: true,
            comments: Some("VLAN trunk".into()),
            mtu: Some(9000),
            cidr6: None,
            gateway6: None,
        },
        Iface {
            iface: "vmbr1.30".into(),
            kind: "vlan".into(),
            address: Some(format!("127.0.30.{}", index + 1)),
            cidr: Some(format!("127.0.30.{}/24", index + 1)),
            gateway: None,
            bridge_ports: None,
            vlan_aware: false,
            comments: Some("storage VLAN".into()),
            mtu: None,
            cidr6: None,
            gateway6: None,
        },
    ]
}

struct VmSpec<'a> {
    vmid: u32,
    node: &'a str,
    name: &'a str,
    running: bool,
    memory: u64,
    cores: u64,
    disk_gib: u64,
    storage: &'a str,
    bridge: &'a str,
    vlan: Option<u32>,
    tags: &'a str,
    cloud_init: bool,
    agent: bool,
}

fn ip_for(vmid: u32) -> String {
    format!(
        "127.{}.{}.{}",
        10 + (vmid >> 16) % 200,
        (vmid >> 8) & 255,
        vmid & 255
    )
}

fn disk_volid(storage: &str, kind: &str, vmid: u32, n: u32, template: bool) -> String {
    let prefix = if template { "base" } else { "vm" };
    match kind {
        "lvmthin" | "lvm" | "zfspool" | "rbd" => format!("{storage}:{prefix}-{vmid}-disk-{n}"),
        _ => format!("{storage}:{vmid}/{prefix}-{vmid}-disk-{n}.qcow2"),
    }
}

fn storage_kind(storage: &str) -> &'static str {
    match storage {
        "local-lvm" => "lvmthin",
        "nas" => "nfs",
        _ => "dir",
    }
}

fn vm(spec: &VmSpec) -> Guest {
    let mut c = BTreeMap::new();
    let ins = |c: &mut BTreeMap<String, String>, k: &str, v: String| {
        c.insert(k.to_string(), v);
    };
    ins(&mut c, "name", spec.name.to_string());
    ins(&mut c, "memory", spec.memory.to_string());
    ins(&mut c, "cores", spec.cores.to_string());
    ins(&mut c, "sockets", "1".into());
    ins(&mut c, "cpu", "x86-64-v2-AES".into());
    ins(&mut c, "ostype", "l26".into());
    ins(&mut c, "scsihw", "virtio-scsi-single".into());
    ins(&mut c, "boot", "order=scsi0;ide2;net0".into());
    ins(
        &mut c,
        "scsi0",
        format!(
            "{},iothread=1,size={}G",
            disk_volid(
                spec.storage,
                storage_kind(spec.storage),
                spec.vmid,
                0,
                false
            ),
            spec.disk_gib
        ),
    );
    let tag = spec.vlan.map(|t| format!(",tag={t}")).unwrap_or_default();
    ins(
        &mut c,
        "net0",
        format!(
            "virtio={},bridge={},firewall=1{tag}",
            generated_mac(u64::from(spec.vmid)),
            spec.bridge
        ),
    );
    ins(
        &mut c,
        "smbios1",
        format!("uuid=5f1c0a2e-0000-4000-8000-{:012x}", spec.vmid),
    );
    ins(
        &mut c,
        "vmgenid",
        format!("9b3e2c4d-0000-4000-8000-{:012x}", spec.vmid),
    );
    ins(
        &mut c,
        "meta",
        format!("creation-qemu=9.2.0,ctime={}", EPOCH - u64::from(spec.vmid)),
    );
    ins(
        &mut c,
        "onboot",
        if spec.running { "1" } else { "0" }.into(),
    );
    if spec.cloud_init {
        ins(
            &mut c,
            "ide2",
            format!(
                "{}:vm-{}-cloudinit,media=cdrom",
                if storage_kind(spec.storage) == "lvmthin" {
                    spec.storage
                } else {
                    "local-lvm"
                },
                spec.vmid
            ),
        );
        ins(&mut c, "ciuser", "admin".into());
        ins(
            &mut c,
            "ipconfig0",
            format!("gw=127.0.0.1,ip={}/8", ip_for(spec.vmid)),
        );
        ins(
            &mut c,
            "sshkeys",
            "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIHNpbXVsYXRvci1rZXktbm90LXJlYWw%20admin%40homelab%0A"
                .into(),
        );
    } else {
        ins(&mut c, "ide2", "none,media=cdrom".into());
    }
    if spec.agent {
        ins(&mut c, "agent", "1".into());
    }
    if !spec.tags.is_empty() {
        ins(&mut c, "tags", canonical_tags(spec.tags));
    }
    Guest {
        vmid: spec.vmid,
        kind: GuestKind::Qemu,
        node: spec.node.to_string(),
        config: c,
        pending: BTreeMap::new(),
        pending_delete: BTreeSet::new(),
        running: spec.running,
        started_at: spec.running.then_some(EPOCH),
        snapshots: Vec::new(),
        agent_running: spec.agent && spec.running,
        paused: false,
        ip: Some(ip_for(spec.vmid)),
        pool: None,
    }
}

fn ct(spec: &VmSpec) -> Guest {
    let mut c = BTreeMap::new();
    c.insert("hostname".to_string(), spec.name.to_string());
    c.insert("arch".to_string(), "amd64".to_string());
    c.insert("ostype".to_string(), "debian".to_string());
    c.insert("memory".to_string(), spec.memory.to_string());
    c.insert("swap".to_string(), "512".to_string());
    c.insert("cores".to_string(), spec.cores.to_string());
    c.insert(
        "rootfs".to_string(),
        format!(
            "{},size={}G",
            disk_volid(
                spec.storage,
                storage_kind(spec.storage),
                spec.vmid,
                0,
                false
            ),
            spec.disk_gib
        ),
    );
    let tag = spec.vlan.map(|t| format!(",tag={t}")).unwrap_or_default();
    c.insert(
        "net0".to_string(),
        format!(
            "name=eth0,bridge={},firewall=1,gw=127.0.0.1,hwaddr={},ip={}/8{tag},type=veth",
            spec.bridge,
            generated_mac(u64::from(spec.vmid)),
            ip_for(spec.vmid)
        ),
    );
    c.insert("features".to_string(), "nesting=1".to_string());
    c.insert("unprivileged".to_string(), "1".to_string());
    c.insert(
        "onboot".to_string(),
        if spec.running { "1" } else { "0" }.to_string(),
    );
    if !spec.tags.is_empty() {
        c.insert("tags".to_string(), canonical_tags(spec.tags));
    }
    Guest {
        vmid: spec.vmid,
        kind: GuestKind::Lxc,
        node: spec.node.to_string(),
        config: c,
        pending: BTreeMap::new(),
        pending_delete: BTreeSet::new(),
        running: spec.running,
        started_at: spec.running.then_some(EPOCH),
        snapshots: Vec::new(),
        agent_running: false,
        paused: false,
        ip: Some(ip_for(spec.vmid)),
        pool: None,
    }
}

fn spec<'a>(vmid: u32, node: &'a str, name: &'a str, running: bool) -> VmSpec<'a> {
    VmSpec {
        vmid,
        node,
        name,
        running,
        memory: 2048,
        cores: 2,
        disk_gib: 32,
        storage: "local-lvm",
        bridge: "vmbr0",
        vlan: None,
        tags: "",
        cloud_init: false,
        agent: false,
    }
}

/// The homelab: 3 nodes, about 30 guests.
pub(crate) fn homelab() -> Cluster {
    let mut cl = Cluster::new("homelab");
    let names: Vec<String> = (1..=3).map(|i| format!("pve{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        cl.nodes
            .push(node(name, i as u32 + 1, &format!("127.0.1.{}", i + 1)));
        cl.networks.insert(name.clone(), standard_network(i));
    }
    cl.storages = standard_storages(&names);

    let mut guests = homelab_service_vms();
    guests.extend(homelab_lab_vms());
    guests.extend(homelab_vm_templates());
    guests.extend(homelab_containers());
    for g in guests {
        cl.guests.insert(g.vmid, g);
    }
    homelab_pools(&mut cl);
    // What the seeded backups (db-01, proxy; months old) hold: the guests as they are now.
    for (volid, vmid, ctime) in [
        (
            "nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst",
            102,
            1_767_232_800,
        ),
        (
            "nas:backup/vzdump-lxc-201-2026_01_02-03_00_00.tar.zst",
            201,
            1_767_322_800,
        ),
    ] {
        if let Some(g) = cl.guests.get(&vmid) {
            let archive = crate::sim::cluster::BackupArchive {
                kind: g.kind,
                vmid,
                config: g.config.clone(),
                notes: g.name(),
                protected: false,
                ctime,
            };
            cl.backups.insert(volid.to_string(), archive);
        }
    }
    cl
}

/// VMs 100-109: web, databases, the odd ones (passthrough, locked, unicode description) and
/// the VLAN guests.
fn homelab_service_vms() -> Vec<Guest> {
    let mut guests = Vec::new();
    let web = |vmid, node, name| VmSpec {
        tags: "prod;web",
        cloud_init: true,
        agent: true,
        ..spec(vmid, node, name, true)
    };
    guests.push(vm(&web(100, "pve1", "web-01")));
    guests.push(vm(&web(101, "pve2", "web-02")));
    guests.push(vm(&VmSpec {
        memory: 8192,
        cores: 4,
        disk_gib: 100,
        tags: "Prod, DB",
        cloud_init: true,
        agent: true,
        ..spec(102, "pve2", "db-01", true)
    }));
    guests.push(vm(&VmSpec {
        memory: 8192,
        cores: 4,
        disk_gib: 100,
        storage: "nas",
        tags: "db;staging",
        cloud_init: true,
        ..spec(103, "pve3", "db-02", false)
    }));
    guests.push(gpu_box());
    let mut locked = vm(&VmSpec {
        tags: "prod",
        ..spec(105, "pve1", "backup-target", true)
    });
    locked.config.insert("lock".into(), "backup".into());
    guests.push(locked);
    let mut described = vm(&VmSpec {
        agent: true,
        ..spec(106, "pve2", "wiki", true)
    });
    described.config.insert(
        "description".into(),
        "The team's \"wiki\" — naïve café ☕ 日本語\nsecond line with 'single quotes' & <html>"
            .into(),
    );
    guests.push(described);
    guests.extend(homelab_vlan_vms());
    guests
}

/// VM 104: PCI and USB passthrough, serial console, q35 with OVMF.
fn gpu_box() -> Guest {
    let mut gpu = vm(&VmSpec {
        memory: 16384,
        cores: 8,
        tags: "lab",
        ..spec(104, "pve3", "gpu-box", false)
    });
    gpu.config
        .insert("hostpci0".into(), "0000:01:00.0,pcie=1".into());
    gpu.config
        .insert("usb0".into(), "host=1050:0407,usb3=1".into());
    gpu.config.insert("serial0".into(), "socket".into());
    gpu.config.insert("machine".into(), "q35".into());
    gpu.config.insert("bios".into(), "ovmf".into());
    gpu.config.insert(
        "efidisk0".into(),
        "local-lvm:vm-104-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M".into(),
    );
    gpu
}

/// VMs 107-109 on the VLAN-aware bridge.
fn homelab_vlan_vms() -> Vec<Guest> {
    let mut guests = Vec::new();
    for (vmid, node, name) in [(107, "pve3", "vlan30-a"), (108, "pve3", "vlan30-b")] {
        guests.push(vm(&VmSpec {
            bridge: "vmbr1",
            vlan: Some(30),
            tags: "vlan30",
            cloud_init: true,
            agent: true,
            ..spec(vmid, node, name, true)
        }));
    }
    guests.push(vm(&VmSpec {
        bridge: "vmbr1",
        vlan: Some(40),
        agent: true,
        tags: "vlan40",
        ..spec(109, "pve1", "vlan40-a", true)
    }));
    guests
}

/// VMs 110-115: small lab VMs spread over the nodes and two storages.
fn homelab_lab_vms() -> Vec<Guest> {
    let mut guests = Vec::new();
    for (i, node) in ["pve1", "pve2", "pve3", "pve1", "pve2", "pve3"]
        .iter()
        .enumerate()
    {
        let vmid = 110 + i as u32;
        let name: &'static str = ["lab-01", "lab-02", "lab-03", "lab-04", "lab-05", "lab-06"][i];
        guests.push(vm(&VmSpec {
            memory: 1024,
            cores: 1,
            disk_gib: 16,
            storage: if i % 2 == 0 { "local-lvm" } else { "nas" },
            tags: "lab",
            cloud_init: i % 3 == 0,
            ..spec(vmid, node, name, i % 2 == 0)
        }));
    }
    guests
}

/// VM templates 9000 and 9001 (cloud-init images).
fn homelab_vm_templates() -> Vec<Guest> {
    let mut guests = Vec::new();
    for (vmid, node, name) in [
        (9000, "pve1", "debian-12-cloudinit"),
        (9001, "pve2", "ubuntu-2404-cloudinit"),
    ] {
        let mut t = vm(&VmSpec {
            disk_gib: 4,
            tags: "template",
            cloud_init: true,
            agent: true,
            ..spec(vmid, node, name, false)
        });
        t.config.insert("template".into(), "1".into());
        t.config.insert(
            "scsi0".into(),
            format!("local-lvm:base-{vmid}-disk-0,iothread=1,size=4G"),
        );
        t.config.remove("onboot");
        guests.push(t);
    }
    guests
}

/// Containers 200-209 and the container template 8000.
fn homelab_containers() -> Vec<Guest> {
    let mut guests = Vec::new();
    let cts: [(u32, &str, &str, bool, &str, &str); 10] = [
        (200, "pve1", "dns-01", true, "infra;dns", "local-lvm"),
        (201, "pve2", "proxy", true, "infra", "local-lvm"),
        (202, "pve3", "monitoring", true, "infra;monitoring", "nas"),
        (203, "pve1", "backup-ct", false, "", "local-lvm"),
        (204, "pve2", "ct-lab-01", true, "lab", "local-lvm"),
        (205, "pve3", "ct-lab-02", false, "lab", "small"),
        (206, "pve1", "ct-lab-03", true, "lab", "nas"),
        (207, "pve2", "mqtt", true, "iot", "local-lvm"),
        (208, "pve3", "home-assistant", true, "iot;prod", "local-lvm"),
        (209, "pve1", "pihole", true, "dns;infra", "local-lvm"),
    ];
    for (vmid, node, name, running, tags, storage) in cts {
        guests.push(ct(&VmSpec {
            memory: 512,
            cores: 1,
            disk_gib: 8,
            storage,
            tags,
            ..spec(vmid, node, name, running)
        }));
    }
    let mut ct_template = ct(&VmSpec {
        memory: 512,
        cores: 1,
        disk_gib: 4,
        tags: "template",
        ..spec(8000, "pve3", "debian-12-base", false)
    });
    ct_template.config.insert("template".into(), "1".into());
    ct_template
        .config
        .insert("rootfs".into(), "local-lvm:base-8000-disk-0,size=4G".into());
    guests.push(ct_template);
    guests
}

/// The pools, with their members' `pool` set (the guests must be in `cl` already).
fn homelab_pools(cl: &mut Cluster) {
    let pools = [
        ("prod", "Production services", vec![100, 101, 102, 105, 208]),
        (
            "lab",
            "Experiments — may be destroyed",
            vec![104, 110, 111, 112, 113, 114, 115, 204, 205, 206],
        ),
        ("infra", "Core infrastructure", vec![200, 201, 202, 209]),
        ("empty", "", vec![]),
    ];
    for (id, comment, members) in pools {
        cl.pools.insert(
            id.to_string(),
            Pool {
                id: id.to_string(),
                comment: comment.to_string(),
                storages: if id == "lab" {
                    BTreeSet::from(["small".to_string()])
                } else {
                    BTreeSet::new()
                },
            },
        );
        for vmid in members {
            if let Some(g) = cl.guests.get_mut(&vmid) {
                g.pool = Some(id.to_string());
            }
        }
    }
}

/// A large deterministic cluster.
pub(crate) fn generated(nodes: usize, guests: usize, seed: u64) -> Result<Cluster, SimError> {
    if nodes == 0 {
        return Err(SimError::Seed("--nodes must be at least 1".into()));
    }
    if nodes > 250 {
        return Err(SimError::Seed(
            "--nodes must be at most 250 (node addresses are 127.0.1.N)".into(),
        ));
    }
    if guests > 900_000 {
        return Err(SimError::Seed("--guests must be at most 900000".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cl = Cluster::new(&format!("generated-{seed}"));
    let names: Vec<String> = (1..=nodes).map(|i| format!("node{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut n = node(name, i as u32 + 1, &format!("127.0.1.{}", i + 1));
        n.maxmem = 256 * GIB;
        n.maxcpu = 64;
        cl.nodes.push(n);
        cl.networks.insert(name.clone(), standard_network(i));
    }
    cl.storages = standard_storages(&[]);
    for s in &mut cl.storages {
        s.total *= 64;
    }
    let tags = ["prod", "dev", "web", "db", "lab", "infra", "batch"];
    for pool in ["pool-a", "pool-b", "pool-c"] {
        cl.pools.insert(
            pool.to_string(),
            Pool {
                id: pool.to_string(),
                comment: format!("generated {pool}"),
                storages: BTreeSet::new(),
            },
        );
    }
    for i in 0..guests {
        let vmid = 100 + i as u32;
        let node = &names[rng.random_range(0..nodes)];
        let name = format!("guest-{vmid}");
        let running = rng.random_bool(0.7);
        let tag_a = tags[rng.random_range(0..tags.len())];
        let tag_b = tags[rng.random_range(0..tags.len())];
        let tag_text = format!("{tag_a};{tag_b}");
        let is_ct = rng.random_bool(0.3);
        let s = VmSpec {
            memory: [512, 1024, 2048, 4096, 8192][rng.random_range(0..5)],
            cores: rng.random_range(1..=8),
            disk_gib: [8, 16, 32, 64][rng.random_range(0..4)],
            storage: if rng.random_bool(0.8) {
                "local-lvm"
            } else {
                "nas"
            },
            tags: &tag_text,
            cloud_init: !is_ct && rng.random_bool(0.5),
            agent: !is_ct && rng.random_bool(0.6),
            vlan: rng.random_bool(0.2).then(|| rng.random_range(10..20)),
            bridge: "vmbr0",
            ..spec(vmid, node, &name, running)
        };
        let mut g = if is_ct { ct(&s) } else { vm(&s) };
        if rng.random_bool(0.3) {
            g.pool = Some(["pool-a", "pool-b", "pool-c"][rng.random_range(0..3)].to_string());
        }
        cl.guests.insert(vmid, g);
    }
    Ok(cl)
}
