//! The grammar as a table: each line with what it must mean, or the exact message it must be
//! refused with; and a property test that no input makes it panic.

use proptest::prelude::*;

use proxmox_mpc::lang::{
    self as grammar, Intent, ListWhat, PlacementDefaults, World, parse_size, parse_syntax,
};
use proxmox_mpc::model::{ClusterSnapshot, Guest, GuestConfig, PowerAction};

use super::common::cluster;

/// One line of the table: the input and what it must give.
struct Case {
    line: &'static str,
    expect: Result<&'static str, &'static str>,
}

const fn ok(line: &'static str, summary: &'static str) -> Case {
    Case {
        line,
        expect: Ok(summary),
    }
}

const fn err(line: &'static str, message: &'static str) -> Case {
    Case {
        line,
        expect: Err(message),
    }
}

fn guest_summary(g: &Guest) -> String {
    let mut parts = vec![format!(
        "{} {} vmid {} on {}",
        g.kind, g.name, g.vmid, g.node
    )];
    match &g.config {
        GuestConfig::Vm(vm) => {
            parts.push(format!(
                "cores {} sockets {} mem {}",
                vm.cores.unwrap_or(0),
                vm.sockets.unwrap_or(0),
                vm.memory_mib.unwrap_or(0)
            ));
            for (slot, d) in &vm.disks {
                parts.push(format!("{slot}={}", d.volume));
            }
            for (i, n) in &vm.nics {
                let mut t = format!("net{i}={}", n.bridge.clone().unwrap_or_default());
                if let Some(tag) = n.vlan_tag {
                    t.push_str(&format!(" tag {tag}"));
                }
                if n.firewall == Some(true) {
                    t.push_str(" fw");
                }
                parts.push(t);
            }
            if let Some(ci) = &vm.cloud_init {
                if let Some(ip) = ci.ipconfigs.get(&0) {
                    parts.push(format!(
                        "ip {} gw {}",
                        ip.ip.clone().unwrap_or_default(),
                        ip.gw.clone().unwrap_or_default()
                    ));
                }
                if let Some(u) = &ci.user {
                    parts.push(format!("user {u}"));
                }
                if let Some(d) = &ci.dns {
                    parts.push(format!("dns {d}"));
                }
            }
        }
        GuestConfig::Container(ct) => {
            parts.push(format!(
                "cores {} mem {} swap {}",
                ct.cores.unwrap_or(0),
                ct.memory_mib.unwrap_or(0),
                ct.swap_mib.unwrap_or(0)
            ));
            if let Some(r) = &ct.rootfs {
                parts.push(format!("rootfs={}", r.volume));
            }
            for (i, m) in &ct.mount_points {
                parts.push(format!(
                    "mp{i}={} at {}",
                    m.volume,
                    m.path.clone().unwrap_or_default()
                ));
            }
            for (i, n) in &ct.nics {
                parts.push(format!(
                    "net{i}={} ip {}",
                    n.bridge.clone().unwrap_or_default(),
                    n.ip.clone().unwrap_or_default()
                ));
            }
            parts.push(format!("unprivileged {}", ct.unprivileged.unwrap_or(false)));
            if !ct.features.is_empty() {
                let f: Vec<String> = ct
                    .features
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                parts.push(format!("features {}", f.join(",")));
            }
            if let Some(t) = &ct.ostemplate {
                parts.push(format!("template {t}"));
            }
        }
    }
    if !g.tags.is_empty() {
        parts.push(format!("tags {}", g.tags.join(",")));
    }
    if let Some(p) = &g.pool {
        parts.push(format!("pool {p}"));
    }
    if g.status == proxmox_mpc::model::GuestStatus::Running {
        parts.push("running".into());
    }
    parts.join("; ")
}

fn describe(intent: &Intent) -> String {
    match intent {
        Intent::Create(n) => format!(
            "create {} [chose {}]",
            guest_summary(&n.guest),
            n.chosen.join(", ")
        ),
        Intent::Clone(n) => format!(
            "clone of {} -> {} [chose {}]",
            n.copied_from
                .as_ref()
                .map(|t| t.name.as_str())
                .unwrap_or("?"),
            guest_summary(&n.guest),
            n.chosen.join(", ")
        ),
        Intent::CreatePool { id, comment } => format!("create pool {id} {comment:?}"),
        Intent::Set {
            target, changes, ..
        } => format!(
            "set {} {}: {}",
            target.kind,
            target.name,
            changes.join(", ")
        ),
        Intent::Delete(t) => format!("delete {} {} vmid {}", t.kind, t.name, t.vmid),
        Intent::DeletePool(id) => format!("delete pool {id}"),
        Intent::List(what, q) => format!(
            "list {:?} node={:?} tag={:?} status={:?} pool={:?} output={:?}",
            what, q.node, q.tag, q.status, q.pool, q.output
        ),
        Intent::Show(t) => format!("show {} {} vmid {}", t.kind, t.name, t.vmid),
        Intent::ShowPool(id) => format!("show pool {id}"),
        Intent::Power {
            action,
            target,
            yes,
        } => {
            format!(
                "{action:?} {} {} on {} yes={yes}",
                target.kind, target.name, target.node
            )
        }
        Intent::Snapshot {
            target,
            name,
            description,
        } => {
            format!("snapshot {} {name} {description:?}", target.name)
        }
        Intent::Snapshots(t) => format!("snapshots {}", t.name),
        Intent::Rollback {
            target,
            snapshot,
            yes,
        } => {
            format!("rollback {} to {snapshot} yes={yes}", target.name)
        }
        Intent::Migrate { target, to, yes } => {
            format!("migrate {} {} -> {to} yes={yes}", target.name, target.node)
        }
    }
}

fn world_parts() -> (ClusterSnapshot, Vec<Guest>, Vec<String>, PlacementDefaults) {
    let snap = cluster();
    // The files describe every live guest except db-01 (not imported yet), plus app-01, which
    // is written but not created.
    let mut desired: Vec<Guest> = snap
        .guests
        .iter()
        .filter(|g| g.name != "db-01")
        .cloned()
        .collect();
    let mut app = snap.guests[0].clone();
    app.vmid = 150;
    app.name = "app-01".into();
    desired.push(app);
    let pools = vec!["prod".to_string(), "lab".to_string()];
    (snap, desired, pools, PlacementDefaults::default())
}

fn run_case(line: &str, world: &World<'_>) -> Result<String, String> {
    grammar::parse(line, world)
        .map(|i| describe(&i))
        .map_err(|e| e.message)
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // create vm: defaults from the cluster, then flags
        ok("create vm --name web-03", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm web-03", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --cores 4 --memory 4G --node pve1", "create qemu web-03 vmid 103 on pve1; cores 4 sockets 1 mem 4096; scsi0=local-lvm:32; net0=vmbr0 [chose storage local-lvm (holds images on pve1), bridge vmbr0 (first bridge on pve1), vmid 103 (lowest free)]"),
        ok("create vm --name=web-03 --memory=512M", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 512; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --memory 1024", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 1024; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --memory 2GiB", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --memory 1.5G", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 1536; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --disk 50G", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:50; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --disk 50", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:50; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --disk nas:100G", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=nas:100; net0=vmbr0 [chose node pve2 (most free memory), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --disk 32G --disk scsi1=nas:100G", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; scsi1=nas:100; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --disk virtio0=local-lvm:10G", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; virtio0=local-lvm:10; net0=vmbr0 [chose node pve2 (most free memory), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --net vmbr1,tag=20,firewall=1", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr1 tag 20 fw [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --net vmbr0 --net vmbr1,tag=30", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0; net1=vmbr1 tag 30 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --ip 10.0.0.5/24 --gw 10.0.0.1 --user debian", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; ide2=local-lvm:cloudinit; scsi0=local-lvm:32; net0=vmbr0; ip 10.0.0.5/24 gw 10.0.0.1; user debian [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --ip dhcp --dns 1.1.1.1,9.9.9.9", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; ide2=local-lvm:cloudinit; scsi0=local-lvm:32; net0=vmbr0; ip dhcp gw ; dns 1.1.1.1 9.9.9.9 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --tags Web,prod --pool prod --start", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0; tags prod,web; pool prod; running [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --vmid 500", "create qemu web-03 vmid 500 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2)]"),
        ok("create vm --name web-03 --sockets 2 --cores 2", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 2 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("CREATE VM --name web-03", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --description 'Web server: \"front\"'", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web.example.org", "create qemu web.example.org vmid 103 on pve2; cores 2 sockets 1 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve2 (most free memory), storage local-lvm (holds images on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --clone debian-12-cloudinit", "create qemu web-03 vmid 103 on pve1; cores 2 sockets 0 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve1 (same as debian-12-cloudinit), vmid 103 (lowest free)]"),
        ok("create vm --name web-03 --clone 9000 --node pve2", "create qemu web-03 vmid 103 on pve2; cores 2 sockets 0 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose vmid 103 (lowest free)]"),
        // create container
        ok("create container --name dns-02 --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "create lxc dns-02 vmid 103 on pve2; cores 1 mem 512 swap 512; rootfs=local-lvm:8; net0=vmbr0 ip dhcp; unprivileged true; template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst [chose node pve2 (most free memory), storage local-lvm (holds rootdir on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create ct --name dns-02 --template local:vztmpl/alpine.tar.xz --rootfs 4G --memory 256", "create lxc dns-02 vmid 103 on pve2; cores 1 mem 256 swap 512; rootfs=local-lvm:4; net0=vmbr0 ip dhcp; unprivileged true; template local:vztmpl/alpine.tar.xz [chose node pve2 (most free memory), storage local-lvm (holds rootdir on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create lxc --name dns-02 --template local:vztmpl/a.tar.zst --mount local-lvm:10G,/srv --features nesting=1", "create lxc dns-02 vmid 103 on pve2; cores 1 mem 512 swap 512; rootfs=local-lvm:8; mp0=local-lvm:10 at /srv; net0=vmbr0 ip dhcp; unprivileged true; features nesting=1; template local:vztmpl/a.tar.zst [chose node pve2 (most free memory), storage local-lvm (holds rootdir on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        ok("create container --name dns-02 --template local:vztmpl/a.tar.zst --privileged --ip 10.0.0.6/24 --gw 10.0.0.1", "create lxc dns-02 vmid 103 on pve2; cores 1 mem 512 swap 512; rootfs=local-lvm:8; net0=vmbr0 ip 10.0.0.6/24; unprivileged false; template local:vztmpl/a.tar.zst [chose node pve2 (most free memory), storage local-lvm (holds rootdir on pve2), bridge vmbr0 (first bridge on pve2), vmid 103 (lowest free)]"),
        err("create container --name dns-02 --template local:vztmpl/a.tar.zst --rootfs nas:8G", "storage 'nas' cannot hold container volumes (content: backup, images); storages that can: local-lvm"),
        // pools
        ok("create pool staging", "create pool staging None"),
        ok("create pool --name staging --comment 'Staging area'", "create pool staging Some(\"Staging area\")"),
        ok("delete pool lab", "delete pool lab"),
        ok("show pool prod", "show pool prod"),
        // set
        ok("set vm web-01 --memory 4G --cores 4", "set qemu web-01: cores 2 -> 4, memory 2 GiB -> 4 GiB"),
        ok("set vm 100 --add-disk 100G", "set qemu web-01: + disk 100 GiB scsi1 on local-lvm"),
        ok("set vm web-01 --add-disk scsi1=nas:100G --add-net vmbr1,tag=30", "set qemu web-01: + disk 100 GiB scsi1 on nas, + net1 on vmbr1"),
        ok("set vm web-01 --tags a,b --pool prod", "set qemu web-01: tags [] -> [a, b], pool none -> prod"),
        ok("set vm web-01 --pool ''", "set qemu web-01: pool none -> none"),
        ok("set vm web-01 --stopped", "set qemu web-01: state -> stopped"),
        ok("set ct dns-01 --memory 1G --swap 256M", "set lxc dns-01: memory 512 MiB -> 1 GiB, swap unset -> 256 MiB"),
        ok("set container dns-01 --add-mount local-lvm:5G,/data", "set lxc dns-01: + mp0 local-lvm:5 at /data"),
        // delete / clone / show
        ok("delete vm web-01", "delete qemu web-01 vmid 100"),
        ok("rm vm 100", "delete qemu web-01 vmid 100"),
        ok("delete ct dns-01", "delete lxc dns-01 vmid 200"),
        ok("delete vm app-01", "delete qemu app-01 vmid 150"),
        ok("clone vm web-01 --name web-09", "clone of web-01 -> qemu web-09 vmid 103 on pve1; cores 2 sockets 0 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose node pve1 (same as web-01), vmid 103 (lowest free)]"),
        ok("clone vm web-01 --name web-09 --node pve3 --vmid 900", "clone of web-01 -> qemu web-09 vmid 900 on pve3; cores 2 sockets 0 mem 2048; scsi0=local-lvm:32; net0=vmbr0 [chose ]"),
        ok("show vm web-01", "show qemu web-01 vmid 100"),
        ok("show vm db-01", "show qemu db-01 vmid 102"),
        ok("show container dns-01", "show lxc dns-01 vmid 200"),
        // list
        ok("list vms", "list Vms node=None tag=None status=None pool=None output=None"),
        ok("list containers --node pve1", "list Containers node=Some(\"pve1\") tag=None status=None pool=None output=None"),
        ok("list vm --tag WEB --status running -o json", "list Vms node=None tag=Some(\"web\") status=Some(\"running\") pool=None output=Some(\"json\")"),
        ok("list nodes", "list Nodes node=None tag=None status=None pool=None output=None"),
        ok("list storages --output yaml", "list Storages node=None tag=None status=None pool=None output=Some(\"yaml\")"),
        ok("list networks", "list Networks node=None tag=None status=None pool=None output=None"),
        ok("list pools", "list Pools node=None tag=None status=None pool=None output=None"),
        ok("list vms --pool prod", "list Vms node=None tag=None status=None pool=Some(\"prod\") output=None"),
        // imperative
        ok("start vm web-01", "Start qemu web-01 on pve1 yes=false"),
        ok("stop vm web-01 --yes", "Stop qemu web-01 on pve1 yes=true"),
        ok("shutdown vm 101", "Shutdown qemu web-02 on pve2 yes=false"),
        ok("reboot ct dns-01", "Reboot lxc dns-01 on pve1 yes=false"),
        ok("snapshot vm web-01 --name before_upgrade", "snapshot web-01 before_upgrade None"),
        ok("snapshot vm web-01 --name pre --description 'before it'", "snapshot web-01 pre Some(\"before it\")"),
        ok("snapshots vm web-01", "snapshots web-01"),
        ok("rollback vm web-01 before_upgrade --yes", "rollback web-01 to before_upgrade yes=true"),
        ok("migrate vm web-01 --to pve2", "migrate web-01 pve1 -> pve2 yes=false"),
        ok("start vm db-01", "Start qemu db-01 on pve2 yes=false"),
        // refused: words
        err("", "empty command"),
        err("craete vm --name x", "unknown verb 'craete'"),
        err("frobnicate vm", "unknown verb 'frobnicate'"),
        err("create", "`create` needs what to act on: vm, container or pool"),
        err("create vmm --name x", "unknown kind 'vmm'; kinds: vm, container (ct, lxc), pool"),
        err("create vm --name 'web-03", "the line has an unclosed quote"),
        err("create vm --cpu 4 --name web-03", "unknown flag --cpu for create vm"),
        err("create vm --name", "--name needs a value, e.g. --name web-01"),
        err("create vm --name web-03 --memory", "--memory needs a value, e.g. --memory 2G"),
        err("create vm --name web-03 --start=yes", "--start is a switch and takes no value (got 'yes')"),
        err("list everything", "cannot list 'everything'; lists: vms, containers, nodes, storages, networks, pools"),
        err("migrate pool prod --to pve2", "`migrate` does not apply to a pool; it works on: vm, container"),
        err("clone ct dns-01 --name dns-09", "`clone` does not apply to a container; it works on: vm"),
        err("start vm web-01 --force", "unknown flag --force for start vm"),
        err("create vm --name web-03 --", "`--` alone is not a flag"),
        // refused: values
        err("create vm", "`create vm` needs --name"),
        err("create vm --name web_03", "'web_03' is not a valid name: PVE accepts letters, digits and '-' in dot-separated parts (a DNS name), e.g. web-01"),
        err("create vm --name -web", "'-web' is not a valid name: PVE accepts letters, digits and '-' in dot-separated parts (a DNS name), e.g. web-01"),
        err("create vm --name web-01", "a vm named 'web-01' already exists (vmid 100)"),
        err("create vm --name dns-01", "a container named 'dns-01' already exists (vmid 200)"),
        err("create vm --name web-03 --node pve4", "no node 'pve4'; nodes: pve1, pve2, pve3"),
        err("create vm --name web-03 --node pve", "no node 'pve'; nodes: pve1, pve2, pve3"),
        err("create vm --name web-03 --memory 2X", "bad size '2X' for --memory: use a number with M, G or T (512M, 2G, 2GiB); a bare number means MiB"),
        err("create vm --name web-03 --memory 8", "--memory '8' is out of range: PVE accepts 16 MiB to 4 TiB"),
        err("create vm --name web-03 --memory 0.5M", "--memory '0.5M' is not a whole number of MiB"),
        err("create vm --name web-03 --disk 512M", "--disk size '512M' is not a whole number of GiB (bpg/proxmox sizes disks in GiB)"),
        err("create vm --name web-03 --disk local:32G", "storage 'local' cannot hold disks (content: backup, iso, snippets, vztmpl); storages that can: local-lvm, nas"),
        err("create vm --name web-03 --disk fast:32G", "no storage 'fast' on pve2; storages that hold disks: local-lvm, nas"),
        err("create vm --name web-03 --disk nvme0=local-lvm:32G", "'nvme0' is not a disk slot; slots are scsi0-scsi30, virtio0-virtio15, sata0-sata5 and ide0-ide3"),
        err("create vm --name web-03 --disk scsi99=local-lvm:32G", "'scsi99' is not a disk slot; slots are scsi0-scsi30, virtio0-virtio15, sata0-sata5 and ide0-ide3"),
        err("create vm --name web-03 --disk sata6=local-lvm:32G", "'sata6' is not a disk slot; slots are scsi0-scsi30, virtio0-virtio15, sata0-sata5 and ide0-ide3"),
        err("create vm --name web-03 --net vmbr9", "no bridge 'vmbr9' on pve2; bridges: vmbr0, vmbr1"),
        err("create vm --name web-03 --net vmbr0,tag=5000", "VLAN tag '5000' is out of range: use 1 to 4094"),
        err("create vm --name web-03 --net vmbr0,mtu=9000", "unknown NIC option 'mtu=9000' in --net; options: tag=N, firewall=0|1, model=M"),
        err("create vm --name web-03 --net tag=20", "--net 'tag=20' must start with a bridge, e.g. --net vmbr0,tag=20"),
        err("create vm --name web-03 --vmid 50", "vmid 50 is out of range: PVE uses 100 to 999999999"),
        err("create vm --name web-03 --vmid 100", "vmid 100 is taken by vm web-01"),
        err("create vm --name web-03 --vmid abc", "--vmid 'abc' is not a number"),
        err("create vm --name web-03 --cores 0", "--cores must be a whole number from 1 to 512 (got '0')"),
        err("create vm --name web-03 --cores many", "--cores must be a whole number from 1 to 512 (got 'many')"),
        err("create vm --name web-03 --ip 10.0.0.5", "--ip '10.0.0.5' must be an address with its prefix length (10.0.0.5/24) or dhcp"),
        err("create vm --name web-03 --gw gateway", "--gw 'gateway' is not an IP address"),
        err("create vm --name web-03 --tags 'bad tag!'", "'tag!' is not a valid tag: PVE tags use letters, digits, '_', '-', '+' and '.'"),
        err("create vm --name web-03 --pool prd", "no pool 'prd'; pools: lab, prod"),
        err("create vm --name web-03 --pool other", "no pool 'other'; pools: lab, prod"),
        err("create vm --name web-03 --clone nothing", "no vm 'nothing' in the workspace files"),
        err("create container --name dns-02", "`create container` needs --template, the OS template"),
        err("create container --name dns-02 --template debian", "template 'debian' must be a volume id such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"),
        err("create container --name dns-02 --template local-lvm:vztmpl/a.tar.zst", "storage 'local-lvm' cannot hold container volumes (content: images, rootdir); storages that can: local"),
        err("create container --name dns-02 --template local:vztmpl/a.tar.zst --features turbo=1", "unknown feature 'turbo=1'; features: nesting=1, keyctl=1, fuse=1, mknod=1"),
        err("create container --name dns-02 --template local:vztmpl/a.tar.zst --mount local-lvm:5G,srv", "mount path 'srv' must be absolute"),
        err("create pool prod", "pool 'prod' already exists"),
        err("create pool 'bad id'", "'bad id' is not a valid pool id: use letters, digits, '-' and '_'"),
        err("set vm web-01", "`set` needs at least one change for 'web-01'"),
        err("set vm web-99 --cores 2", "no vm 'web-99' in the workspace files"),
        err("set vm web-0 --cores 2", "no vm 'web-0' in the workspace files"),
        err("set vm db-01 --cores 2", "vm 'db-01' is on the server but not in the workspace files"),
        err("set vm dns-01 --cores 2", "'dns-01' is a container, not a vm"),
        err("set vm web-01 --add-disk scsi0=local-lvm:10G", "slot scsi0 is already in use"),
        err("set vm web-01 --start --stopped", "--start and --stopped contradict each other"),
        err("delete vm", "`delete vm` needs the name or vmid of the vm"),
        err("delete vm web-01 extra", "unexpected word 'extra' after `delete`"),
        err("delete pool nothere", "no pool 'nothere'; pools: lab, prod"),
        err("start vm app-01", "vm 'app-01' is in the files but not on the server yet"),
        err("migrate vm web-01", "`migrate vm web-01` needs --to NODE"),
        err("migrate vm web-01 --to pve1", "vm 'web-01' is already on pve1"),
        err("migrate vm web-01 --to pve9", "no node 'pve9'; nodes: pve1, pve2, pve3"),
        err("rollback vm web-01", "`rollback vm web-01` needs the snapshot name"),
        err("rollback vm web-01 '1bad name'", "'1bad name' is not a valid snapshot name: a letter first, then letters, digits or '_' (2 to 40; PVE allows no '-')"),
        err("snapshot vm web-01 --name before-upgrade", "'before-upgrade' is not a valid snapshot name: a letter first, then letters, digits or '_' (2 to 40; PVE allows no '-')"),
        err("snapshot vm web-01 --name 'has space'", "'has space' is not a valid snapshot name: a letter first, then letters, digits or '_' (2 to 40; PVE allows no '-')"),
        err("list vms --node pve7", "no node 'pve7'; nodes: pve1, pve2, pve3"),
        err("list vms --status sleeping", "unknown status 'sleeping'; statuses: running, stopped, paused, template"),
        err("list vms -o xml", "unknown output 'xml'; outputs: table, json, yaml"),
        err("list vms web-01", "unexpected word 'web-01' after `list`"),
        err("clone vm web-01", "`clone vm` needs --name for the copy"),
        err("clone vm web-01 --name web-02", "a vm named 'web-02' already exists (vmid 101)"),
    ]
}

#[test]
fn the_grammar_table() {
    let (snap, desired, pools, defaults) = world_parts();
    let world = World {
        desired: &desired,
        desired_pools: &pools,
        snapshot: &snap,
        defaults: &defaults,
        ct_templates: None,
    };
    let cases = cases();
    assert!(cases.len() >= 80, "the table has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = run_case(case.line, &world);
        let want = case.expect.map(str::to_string).map_err(str::to_string);
        if got != want {
            failures.push(format!(
                "{:?}\n   want {want:?}\n   got  {got:?}",
                case.line
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn world_with<'a>(
    snap: &'a ClusterSnapshot,
    desired: &'a [Guest],
    pools: &'a [String],
    defaults: &'a PlacementDefaults,
) -> World<'a> {
    World {
        desired,
        desired_pools: pools,
        snapshot: snap,
        defaults,
        ct_templates: None,
    }
}

#[test]
fn refusals_name_the_closest_choice() {
    let (snap, desired, pools, defaults) = world_parts();
    let world = world_with(&snap, &desired, &pools, &defaults);
    let cases = [
        ("craete vm --name x", "did you mean create?"),
        ("create vm --name web-03 --node pve", "did you mean pve1?"),
        (
            "create vm --memroy 4G --name web-03",
            "did you mean --memory?",
        ),
        (
            "create vm --cpu 4 --name web-03",
            "flags: --name --node --vmid --cores --sockets --memory --disk --net --clone --ip --gw --dns --ssh-key --user --tags --pool --start --description",
        ),
        ("create vm --name web-03 --pool prd", "did you mean prod?"),
        (
            "create vm --name web-03 --pool other",
            "create it first: create pool other",
        ),
        (
            "create vm --name web-03 --disk local-lv:32G",
            "did you mean local-lvm?",
        ),
        ("create vm --name web-03 --net vmbr2", "did you mean vmbr0?"),
        ("set vm web-0 --cores 2", "did you mean web-01?"),
        ("set vm db-01 --cores 2", "run /sync to import it first"),
        ("set vm dns-01 --cores 2", "use `container` instead of `vm`"),
        ("start vm app-01", "run /apply to create it, then /sync"),
        ("migrate vm web-01", "nodes: pve1, pve2, pve3"),
        (
            "create vm --name web-03 --vmid 100",
            "leave --vmid out to take the lowest free one (103)",
        ),
        ("list vmz", "did you mean list vms?"),
        (
            "snapshots vm web-01 --name x",
            "snapshots vm takes no flags",
        ),
    ];
    for (line, hint) in cases {
        let e = grammar::parse(line, &world).expect_err(line);
        assert_eq!(
            e.hint.as_deref(),
            Some(hint),
            "hint of {line:?} ({})",
            e.message
        );
    }
}

#[test]
fn sizes_follow_pve_units() {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    assert_eq!(parse_size("512M", MIB), Some(512 * MIB));
    assert_eq!(parse_size("2G", MIB), Some(2 * GIB));
    assert_eq!(parse_size("2GiB", MIB), Some(2 * GIB));
    assert_eq!(parse_size("2gb", MIB), Some(2 * GIB));
    assert_eq!(parse_size("1T", GIB), Some(1024 * GIB));
    assert_eq!(parse_size("1024", MIB), Some(GIB), "bare memory is MiB");
    assert_eq!(parse_size("32", GIB), Some(32 * GIB), "bare disk is GiB");
    assert_eq!(parse_size("1.5G", MIB), Some(1536 * MIB));
    for bad in [
        "",
        "G",
        "2X",
        "-1G",
        "1..5G",
        ".5G",
        "1.G",
        "99999999999999999999G",
        "2 G B",
    ] {
        assert_eq!(parse_size(bad, MIB), None, "{bad:?}");
    }
}

#[test]
fn defaults_come_from_config_before_the_cluster() {
    let (snap, desired, pools, _) = world_parts();
    let defaults = PlacementDefaults {
        node: Some("pve3".into()),
        storage: Some("nas".into()),
        bridge: Some("vmbr1".into()),
    };
    let world = world_with(&snap, &desired, &pools, &defaults);
    let Intent::Create(new) = grammar::parse("create vm --name web-03", &world).unwrap() else {
        panic!("not a create");
    };
    assert_eq!(
        describe(&Intent::Create(new)),
        "create qemu web-03 vmid 103 on pve3; cores 2 sockets 1 mem 2048; scsi0=nas:32; net0=vmbr1 [chose node pve3 (config.yml default), storage nas (config.yml default), bridge vmbr1 (config.yml default), vmid 103 (lowest free)]"
    );
    // A config default that the cluster does not have is refused like a typed one.
    let defaults = PlacementDefaults {
        node: Some("pve9".into()),
        ..PlacementDefaults::default()
    };
    let world = world_with(&snap, &desired, &pools, &defaults);
    assert_eq!(
        grammar::parse("create vm --name web-03", &world)
            .unwrap_err()
            .message,
        "no node 'pve9'; nodes: pve1, pve2, pve3"
    );
}

#[test]
fn known_templates_are_matched_by_prefix() {
    let (snap, desired, pools, defaults) = world_parts();
    let templates = vec![
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".to_string(),
        "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz".to_string(),
    ];
    let world = World {
        ct_templates: Some(&templates),
        ..world_with(&snap, &desired, &pools, &defaults)
    };
    let Intent::Create(new) =
        grammar::parse("create ct --name c1 --template debian", &world).unwrap()
    else {
        panic!("not a create");
    };
    let GuestConfig::Container(ct) = &new.guest.config else {
        panic!("not a container");
    };
    assert_eq!(ct.ostemplate.as_deref(), Some(templates[0].as_str()));
    let e = grammar::parse("create ct --name c1 --template centos", &world).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "no template 'centos'; templates: {}, {}",
            templates[0], templates[1]
        )
    );
}

#[test]
fn syntax_keeps_quoted_values_whole() {
    let s = parse_syntax("create vm --name web-03 --description 'two words' --tags=a,b").unwrap();
    assert_eq!(s.flags.len(), 3);
    assert_eq!(s.flags[1].value.as_deref(), Some("two words"));
    assert_eq!(s.flags[2].value.as_deref(), Some("a,b"));
    let s = parse_syntax("list vms -o json").unwrap();
    assert_eq!(s.list, Some(ListWhat::Vms));
    let s = parse_syntax("stop vm web-01 --yes").unwrap();
    assert_eq!(s.name.as_deref(), Some("web-01"));
    let (snap, desired, pools, defaults) = world_parts();
    let world = world_with(&snap, &desired, &pools, &defaults);
    assert!(matches!(
        grammar::parse("stop vm web-01 --yes", &world),
        Ok(Intent::Power {
            action: PowerAction::Stop,
            yes: true,
            ..
        })
    ));
}

fn hostile_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("create".to_string()),
        Just("vm".to_string()),
        Just("ct".to_string()),
        Just("--name".to_string()),
        Just("--memory".to_string()),
        Just("--disk".to_string()),
        Just("--net".to_string()),
        Just("--node".to_string()),
        Just("--vmid".to_string()),
        Just("--clone".to_string()),
        Just("--template".to_string()),
        Just("--mount".to_string()),
        Just("--".to_string()),
        Just("-o".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("web-01".to_string()),
        Just("=".to_string()),
        Just("scsi0=local-lvm:99999999999999G".to_string()),
        Just("vmbr0,tag=,firewall".to_string()),
        Just("1.7976931348623157e308".to_string()),
        Just("日本語".to_string()),
        Just("💥".to_string()),
        "[a-z0-9=:,./-]{0,12}",
        "\\PC{0,20}",
        "[a-z]{200,400}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn hostile_input_never_panics(words in prop::collection::vec(hostile_word(), 0..14)) {
        let (snap, desired, pools, defaults) = world_parts();
        let world = world_with(&snap, &desired, &pools, &defaults);
        let line = words.join(" ");
        let _ = grammar::parse(&line, &world);
        // Any refusal is a sentence, never empty and never the whole hostile line twice over.
        if let Err(e) = grammar::parse(&line, &world) {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.message.len() < 600, "message too long: {}", e.message.len());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(line in "\\PC{0,200}") {
        let (snap, desired, pools, defaults) = world_parts();
        let world = world_with(&snap, &desired, &pools, &defaults);
        let _ = grammar::parse(&line, &world);
        let _ = grammar::complete(&line, &grammar::Names::of(&world));
    }
}

#[test]
fn completion_offers_verbs_kinds_flags_and_names() {
    let (snap, desired, pools, defaults) = world_parts();
    let world = world_with(&snap, &desired, &pools, &defaults);
    let names = grammar::Names::of(&world);
    let c = |line: &str| grammar::complete(line, &names);
    assert_eq!(c("sn"), ["snapshot", "snapshots"]);
    assert_eq!(c("create "), ["container", "ct", "pool", "vm"]);
    assert_eq!(
        c("list "),
        [
            "containers",
            "networks",
            "nodes",
            "pools",
            "storages",
            "vms"
        ]
    );
    assert_eq!(c("start vm web"), ["web-01", "web-02"]);
    assert_eq!(c("set ct "), ["dns-01"]);
    assert_eq!(c("create vm --name x --no"), ["--node"]);
    assert_eq!(c("create vm --node "), ["pve1", "pve2", "pve3"]);
    assert_eq!(c("migrate vm web-01 --to pve"), ["pve1", "pve2", "pve3"]);
    assert_eq!(c("create vm --name x --net vm"), ["vmbr0", "vmbr1"]);
    assert_eq!(c("create vm --name x --disk n"), ["nas:"]);
    assert_eq!(c("create vm --name x --pool "), ["lab", "prod"]);
    assert_eq!(c("create vm --name x --clone deb"), ["debian-12-cloudinit"]);
    assert!(c("frobnicate ").is_empty());
}
