//! `create vm`, `create container` and `clone` (also `create vm --clone`): a complete new
//! model guest for the files, with every default it picked named, and the disk, mount and
//! template checks the new guest needs against the world.

use std::collections::BTreeMap;

use crate::model::{
    Agent, CloudInit, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind, GuestStatus,
    IpConfig, Mount, Nic, VmConfig,
};

use super::error::{GrammarError, closest, list_of, q};
use super::intent::NewGuest;
use super::parse::Syntax;
use super::place::{Need, Placement, pick_vmid, place};
use super::units::{GIB, count, memory_mib};
use super::values::{
    DiskSpec, NetSpec, check_addr, check_ip, check_name, parse_disk_spec, parse_features,
    parse_net_spec, parse_tags,
};
use super::words::Kind;
use super::world::{World, target_of};

/// A valid name no guest has yet.
fn check_new_name(world: &World<'_>, kind: Kind, name: &str) -> Result<(), GrammarError> {
    check_name(kind, name)?;
    if let Some(g) = world.all_guests().iter().find(|g| g.name == name) {
        let k = if g.kind == GuestKind::Qemu {
            "vm"
        } else {
            "container"
        };
        return Err(GrammarError::new(format!(
            "a {k} named {} already exists (vmid {})",
            q(name),
            g.vmid
        ))
        .hint("pick another name, or change it with `set`"));
    }
    Ok(())
}

/// A stopped guest with nothing but its identity and configuration.
fn new_guest(vmid: u32, name: &str, node: &str, config: GuestConfig) -> Guest {
    Guest {
        vmid,
        name: name.to_string(),
        node: node.to_string(),
        kind: config.kind(),
        status: GuestStatus::Stopped,
        template: false,
        tags: Vec::new(),
        pool: None,
        description: None,
        on_boot: false,
        lock: None,
        config,
        unmodelled: BTreeMap::new(),
        digest: None,
    }
}

/// Tags, pool, description and `--start`, which every new guest takes alike.
fn common_fields(
    syntax: &Syntax,
    world: &World<'_>,
    guest: &mut Guest,
) -> Result<(), GrammarError> {
    if let Some(tags) = syntax.get("tags") {
        guest.tags = parse_tags(tags)?;
    }
    if let Some(pool) = syntax.get("pool") {
        world.check_pool(pool)?;
        guest.pool = Some(pool.to_string());
    }
    if let Some(d) = syntax.get("description") {
        guest.description = Some(d.to_string());
    }
    if syntax.has("start") {
        guest.status = GuestStatus::Running;
    }
    Ok(())
}

/// What a new guest has settled before its kind's configuration is built.
struct Basics<'p> {
    place: &'p Placement,
    cores: Option<u32>,
    memory: Option<u64>,
    /// At least one: the placement's bridge when no `--net` was given.
    nics: Vec<NetSpec>,
    /// `--dns`, checked and joined with spaces.
    dns: Option<String>,
}

pub(super) fn create(
    syntax: &Syntax,
    world: &World<'_>,
    kind: Kind,
) -> Result<NewGuest, GrammarError> {
    let name = syntax
        .get("name")
        .map(str::to_string)
        .or_else(|| syntax.name.clone())
        .ok_or_else(|| {
            GrammarError::new(format!("`create {}` needs --name", kind.as_str()))
                .hint(format!("e.g. create {} --name web-01", kind.as_str()))
        })?;
    check_new_name(world, kind, &name)?;
    if kind == Kind::Vm
        && let Some(source) = syntax.get("clone")
    {
        let source = world.desired_guest(Kind::Vm, source)?.clone();
        return clone(syntax, world, kind, &source).map(|mut g| {
            g.guest.name = name.clone();
            g
        });
    }
    let disks = syntax.all(if kind == Kind::Vm { "disk" } else { "rootfs" });
    let nets = syntax.all("net");
    let first_disk = disks
        .first()
        .map(|d| parse_disk_spec(if kind == Kind::Vm { "disk" } else { "rootfs" }, d))
        .transpose()?;
    let first_net = nets.first().map(|n| parse_net_spec("net", n)).transpose()?;
    let content = if kind == Kind::Vm {
        "images"
    } else {
        "rootdir"
    };
    let need = need_of(syntax, kind, &disks)?;
    let p = place(
        syntax,
        world,
        content,
        first_disk.as_ref().and_then(|d| d.1.as_deref()),
        first_net.as_ref().map(|n| n.bridge.as_str()),
        need,
    )?;
    let mut chosen = p.chosen.clone();
    let vmid = pick_vmid(syntax, world, &mut chosen)?;
    let mut basics = settle(syntax, world, &p, &nets)?;
    let config = match kind {
        Kind::Vm => GuestConfig::Vm(vm_config(syntax, world, basics, &disks)?),
        _ => {
            let dns = basics.dns.take();
            let ct = ct_config(syntax, world, &name, basics, first_disk.as_ref())?;
            if let Some(dns) = dns {
                // PVE's `nameserver` key; the model keeps it verbatim.
                let mut g = new_guest(vmid, &name, &p.node, GuestConfig::Container(ct));
                g.unmodelled.insert("nameserver".into(), dns);
                common_fields(syntax, world, &mut g)?;
                return Ok(NewGuest {
                    guest: g,
                    chosen,
                    placement: p.why.clone(),
                    ssh_key_file: None,
                    copied_from: None,
                });
            }
            GuestConfig::Container(ct)
        }
    };
    let mut guest = new_guest(vmid, &name, &p.node, config);
    common_fields(syntax, world, &mut guest)?;
    Ok(NewGuest {
        guest,
        chosen,
        placement: p.why.clone(),
        ssh_key_file: syntax.get("ssh-key").map(str::to_string),
        copied_from: None,
    })
}

/// What the new guest asks of its node: memory (the defaults of `vm_config`/`ct_config` when
/// not given) and its disks (32 GiB for a VM, 8 GiB of root disk for a container by default).
fn need_of(syntax: &Syntax, kind: Kind, disks: &[&str]) -> Result<Need, GrammarError> {
    let memory_mib = match syntax.get("memory") {
        Some(m) => memory_mib("memory", m)?,
        None if kind == Kind::Vm => 2048,
        None => 512,
    };
    let flag = if kind == Kind::Vm { "disk" } else { "rootfs" };
    let mut disk_gib = 0;
    for d in disks {
        disk_gib += parse_disk_spec(flag, d)?.2;
    }
    if disks.is_empty() {
        disk_gib = if kind == Kind::Vm { 32 } else { 8 };
    }
    Ok(Need {
        memory: memory_mib << 20,
        disk: disk_gib * GIB,
    })
}

/// The flags both kinds share: cores, memory, NICs and the addresses.
fn settle<'p>(
    syntax: &Syntax,
    world: &World<'_>,
    p: &'p Placement,
    nets: &[&str],
) -> Result<Basics<'p>, GrammarError> {
    let cores = syntax
        .get("cores")
        .map(|c| count("cores", c, 512))
        .transpose()?;
    let memory = syntax
        .get("memory")
        .map(|m| memory_mib("memory", m))
        .transpose()?;
    let mut nics = Vec::new();
    for n in nets {
        let spec = parse_net_spec("net", n)?;
        world.check_bridge(&p.node, &spec.bridge)?;
        nics.push(spec);
    }
    if nics.is_empty() {
        nics.push(NetSpec {
            bridge: p.bridge.clone(),
            tag: None,
            firewall: None,
            model: None,
        });
    }
    if let Some(ip) = syntax.get("ip") {
        check_ip("ip", ip)?;
    }
    if let Some(gw) = syntax.get("gw") {
        check_addr("gw", gw)?;
    }
    let dns = syntax
        .get("dns")
        .map(|d| {
            let servers: Vec<&str> = d.split([',', ' ']).filter(|s| !s.is_empty()).collect();
            for s in &servers {
                check_addr("dns", s)?;
            }
            Ok::<_, GrammarError>(servers.join(" "))
        })
        .transpose()?;
    Ok(Basics {
        place: p,
        cores,
        memory,
        nics,
        dns,
    })
}

/// A new VM: disks (32 GiB by default), NICs, and cloud-init when any of its flags is given.
fn vm_config(
    syntax: &Syntax,
    world: &World<'_>,
    b: Basics<'_>,
    disks: &[&str],
) -> Result<VmConfig, GrammarError> {
    let p = b.place;
    let mut vm = VmConfig {
        cores: Some(b.cores.unwrap_or(2)),
        sockets: Some(
            syntax
                .get("sockets")
                .map(|s| count("sockets", s, 4))
                .transpose()?
                .unwrap_or(1),
        ),
        memory_mib: Some(b.memory.unwrap_or(2048)),
        ostype: Some("l26".into()),
        scsihw: Some("virtio-scsi-single".into()),
        agent: Some(Agent {
            enabled: true,
            extra: BTreeMap::new(),
        }),
        ..VmConfig::default()
    };
    let specs: Vec<DiskSpec> = if disks.is_empty() {
        vec![(None, None, 32)]
    } else {
        disks
            .iter()
            .map(|d| parse_disk_spec("disk", d))
            .collect::<Result<_, _>>()?
    };
    add_disks(world, &p.node, &p.storage, &mut vm, specs)?;
    for (i, spec) in b.nics.into_iter().enumerate() {
        vm.nics.insert(
            i as u8,
            Nic {
                model: spec.model.unwrap_or_else(|| "virtio".into()),
                mac: None,
                bridge: Some(spec.bridge),
                vlan_tag: spec.tag,
                firewall: spec.firewall,
                extra: BTreeMap::new(),
            },
        );
    }
    let wants_ci = ["ip", "gw", "dns", "ssh-key", "user"]
        .iter()
        .any(|f| syntax.has(f));
    if wants_ci {
        let mut ci = CloudInit {
            user: syntax.get("user").map(str::to_string),
            dns: b.dns,
            ..CloudInit::default()
        };
        if syntax.has("ip") || syntax.has("gw") {
            ci.ipconfigs.insert(
                0,
                IpConfig {
                    ip: syntax.get("ip").map(str::to_string),
                    gw: syntax.get("gw").map(str::to_string),
                    ..IpConfig::default()
                },
            );
        }
        vm.cloud_init = Some(ci);
        let mut drive = Disk::new(format!("{}:cloudinit", p.storage));
        drive.media = Some("cdrom".into());
        vm.disks.insert("ide2".into(), drive);
    }
    Ok(vm)
}

/// A new container: template, root disk (8 GiB by default), mount points, features, NICs.
fn ct_config(
    syntax: &Syntax,
    world: &World<'_>,
    name: &str,
    b: Basics<'_>,
    first_disk: Option<&DiskSpec>,
) -> Result<ContainerConfig, GrammarError> {
    let p = b.place;
    let template = syntax.get("template").ok_or_else(|| {
        GrammarError::new("`create container` needs --template, the OS template").hint(match world
            .ct_templates
        {
            Some(t) if !t.is_empty() => format!("templates: {}", list_of(t)),
            _ => "e.g. --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".to_string(),
        })
    })?;
    let template = resolve_template(world, &p.node, template)?;
    let rootfs_gib = first_disk.map_or(8, |d| d.2);
    if first_disk.is_some_and(|d| d.0.is_some()) {
        return Err(GrammarError::new(
            "--rootfs takes SIZE or STORAGE:SIZE (no slot)",
        ));
    }
    let mut ct = ContainerConfig {
        hostname: Some(name.to_string()),
        cores: Some(b.cores.unwrap_or(1)),
        memory_mib: Some(b.memory.unwrap_or(512)),
        swap_mib: Some(
            syntax
                .get("swap")
                .map(|m| memory_mib("swap", m))
                .transpose()?
                .unwrap_or(512),
        ),
        rootfs: Some(Mount {
            volume: format!("{}:{rootfs_gib}", p.storage),
            path: None,
            size_bytes: Some(rootfs_gib * GIB),
            extra: BTreeMap::new(),
        }),
        unprivileged: Some(!syntax.has("privileged")),
        ostemplate: Some(template),
        ..ContainerConfig::default()
    };
    if syntax.has("privileged") && syntax.has("unprivileged") {
        return Err(GrammarError::new(
            "--privileged and --unprivileged contradict each other",
        ));
    }
    for (i, m) in syntax.all("mount").iter().enumerate() {
        ct.mount_points
            .insert(i as u8, parse_mount(world, &p.node, m)?);
    }
    if let Some(f) = syntax.get("features") {
        ct.features = parse_features(f)?;
    }
    for (i, spec) in b.nics.into_iter().enumerate() {
        let first = i == 0;
        ct.nics.insert(
            i as u8,
            CtNic {
                name: format!("eth{i}"),
                bridge: Some(spec.bridge),
                ip: if first {
                    Some(syntax.get("ip").unwrap_or("dhcp").to_string())
                } else {
                    Some("dhcp".into())
                },
                gw: if first {
                    syntax.get("gw").map(str::to_string)
                } else {
                    None
                },
                vlan_tag: spec.tag,
                firewall: spec.firewall,
                ..CtNic::default()
            },
        );
    }
    Ok(ct)
}

/// The OS template as a volume id: exact, or the one known template whose file name starts
/// with `text`; checked only as a volume id when the templates could not be read.
fn resolve_template(world: &World<'_>, node: &str, text: &str) -> Result<String, GrammarError> {
    if let Some(known) = world.ct_templates {
        if known.iter().any(|t| t == text) {
            return Ok(text.to_string());
        }
        let matching: Vec<&String> = known
            .iter()
            .filter(|t| t.rsplit('/').next().is_some_and(|f| f.starts_with(text)))
            .collect();
        if let [one] = matching.as_slice() {
            return Ok((*one).clone());
        }
        let mut err = GrammarError::new(format!(
            "no template {}; templates: {}",
            q(text),
            list_of(known)
        ));
        if let Some(best) = closest(text, known.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        return Err(err);
    }
    let Some((storage, path)) = text.split_once(':') else {
        return Err(GrammarError::new(format!(
            "template {} must be a volume id such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            q(text)
        )));
    };
    if !path.starts_with("vztmpl/") {
        return Err(GrammarError::new(format!(
            "template {} is not under vztmpl/ on its storage",
            q(text)
        )));
    }
    world.check_storage(node, storage, "vztmpl")?;
    Ok(text.to_string())
}

/// A mount point, STORAGE:SIZE,PATH, on a storage that holds container volumes.
pub(super) fn parse_mount(
    world: &World<'_>,
    node: &str,
    text: &str,
) -> Result<Mount, GrammarError> {
    let Some((volume, path)) = text.split_once(',') else {
        return Err(GrammarError::new(format!(
            "--mount {} must be STORAGE:SIZE,PATH, e.g. local-lvm:10G,/srv",
            q(text)
        )));
    };
    if !path.starts_with('/') {
        return Err(GrammarError::new(format!(
            "mount path {} must be absolute",
            q(path)
        )));
    }
    let (_, storage, gib) = parse_disk_spec("mount", volume)?;
    let storage = storage.ok_or_else(|| {
        GrammarError::new(format!(
            "--mount {} needs a storage, e.g. local-lvm:10G,/srv",
            q(text)
        ))
    })?;
    world.check_storage(node, &storage, "rootdir")?;
    Ok(Mount {
        volume: format!("{storage}:{gib}"),
        path: Some(path.to_string()),
        size_bytes: Some(gib * GIB),
        extra: BTreeMap::new(),
    })
}

/// Adds disks to a VM, each in the given or the first free scsi slot; returns what was added.
pub(super) fn add_disks(
    world: &World<'_>,
    node: &str,
    default_storage: &str,
    vm: &mut VmConfig,
    specs: Vec<DiskSpec>,
) -> Result<Vec<String>, GrammarError> {
    let mut added = Vec::new();
    for (slot, storage, gib) in specs {
        let storage = storage.unwrap_or_else(|| default_storage.to_string());
        world.check_storage(node, &storage, "images")?;
        let slot = match slot {
            Some(s) => {
                if vm.disks.contains_key(&s) {
                    return Err(GrammarError::new(format!("slot {s} is already in use")));
                }
                s
            }
            None => (0..31)
                .map(|n| format!("scsi{n}"))
                .find(|s| !vm.disks.contains_key(s))
                .ok_or_else(|| GrammarError::new("no free scsi slot is left"))?,
        };
        let mut disk = Disk::new(format!("{storage}:{gib}"));
        disk.size_bytes = Some(gib * GIB);
        vm.disks.insert(slot.clone(), disk);
        added.push(format!("{gib} GiB {slot} on {storage}"));
    }
    Ok(added)
}

/// A copy of `source` under a new name and vmid: no MACs, lock or digest, disks sized in
/// whole GiB on storages the target node has.
pub(super) fn clone(
    syntax: &Syntax,
    world: &World<'_>,
    kind: Kind,
    source: &Guest,
) -> Result<NewGuest, GrammarError> {
    let name = syntax.get("name").map(str::to_string).ok_or_else(|| {
        GrammarError::new(format!(
            "`clone {}` needs --name for the copy",
            kind.as_str()
        ))
        .hint(format!(
            "e.g. clone {} {} --name {}-2",
            kind.as_str(),
            source.name,
            source.name
        ))
    })?;
    check_new_name(world, kind, &name)?;
    let mut chosen = Vec::new();
    let node = match syntax.get("node") {
        Some(n) => n.to_string(),
        None => {
            chosen.push(format!("node {} (same as {})", source.node, source.name));
            source.node.clone()
        }
    };
    world.check_node(&node)?;
    let vmid = pick_vmid(syntax, world, &mut chosen)?;
    let mut guest = source.clone();
    guest.vmid = vmid;
    guest.name = name;
    guest.node = node.clone();
    guest.template = false;
    guest.status = GuestStatus::Stopped;
    guest.lock = None;
    guest.digest = None;
    guest.unmodelled.remove("lock");
    if let GuestConfig::Vm(vm) = &mut guest.config {
        for nic in vm.nics.values_mut() {
            nic.mac = None;
            if let Some(b) = &nic.bridge {
                world.check_bridge(&node, b)?;
            }
        }
        for (slot, disk) in vm.disks.iter_mut() {
            if disk.is_cdrom() {
                if disk.is_cloudinit()
                    && let Some(st) = disk.storage()
                {
                    disk.volume = format!("{st}:cloudinit");
                }
                continue;
            }
            let Some(storage) = disk.storage().map(str::to_string) else {
                continue;
            };
            world
                .check_storage(&node, &storage, "images")
                .map_err(|e| {
                    GrammarError::new(format!("{slot} of {}: {}", source.name, e.message))
                })?;
            let gib = disk.size_bytes.unwrap_or(GIB).div_ceil(GIB).max(1);
            disk.volume = format!("{storage}:{gib}");
            disk.size_bytes = Some(gib * GIB);
        }
    }
    if let Some(pool) = syntax.get("pool") {
        world.check_pool(pool)?;
        guest.pool = Some(pool.to_string());
    }
    if syntax.has("start") {
        guest.status = GuestStatus::Running;
    }
    Ok(NewGuest {
        guest,
        chosen,
        placement: None,
        ssh_key_file: None,
        copied_from: Some(target_of(source)),
    })
}
