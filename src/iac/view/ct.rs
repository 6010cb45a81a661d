//! Building the `proxmox_virtual_environment_container` view of a container, one block group at
//! a time: the top-level attributes, console/cpu/memory, the root disk and mount points, the
//! NICs with their `initialization` addresses, and features, devices and the OS. Each block is
//! written only where bpg would store it after an import, so a fresh import plans no change.

use std::collections::BTreeMap;

use super::props::{bool_opt, options, startup_view};
use super::types::{
    AddressView, ConsoleView, CpuView, CtNetView, CtView, DeviceView, DnsView, FeaturesView,
    InitView, IpConfigView, MemoryView, MountView, OsView, RootDiskView,
};
use super::{UNKNOWN_TEMPLATE, sorted_tags, started, whole_gib};
use crate::model::propstring::{format_size, parse_bool};
use crate::model::{ContainerConfig, Guest, Mount};

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

pub(super) fn ct_view(guest: &Guest, ct: &ContainerConfig, warnings: &mut Vec<String>) -> CtView {
    let raw = &guest.unmodelled;
    let mut view = top_level(guest, ct);
    view.console = console(raw).into_iter().collect();
    view.cpu = cpu(ct, raw).into_iter().collect();
    view.memory = memory(ct).into_iter().collect();
    view.disk = ct
        .rootfs
        .as_ref()
        .map(|root| root_disk(root, warnings))
        .into_iter()
        .collect();
    view.mount_point = ct.mount_points.values().map(mount_view).collect();
    let (nics, init) = nics_and_init(ct, raw, warnings);
    view.network_interface = nics;
    view.initialization.push(init);
    view.features = features(ct).into_iter().collect();
    view.device_passthrough = devices(raw);
    view.operating_system.push(OsView {
        kind: ct
            .ostype
            .clone()
            .filter(|os| CT_OS_TYPES.contains(&os.as_str())),
        template_file_id: Some(UNKNOWN_TEMPLATE.to_string()),
    });
    view
}

/// The attributes outside any block.
fn top_level(guest: &Guest, ct: &ContainerConfig) -> CtView {
    let raw = &guest.unmodelled;
    CtView {
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
    }
}

fn console(raw: &BTreeMap<String, String>) -> Option<ConsoleView> {
    // console: with no `console` key bpg always stores the block (a Go bool compared with its
    // own bool type, container.go:2725, 2749-2753); otherwise only when it is not the default.
    let console = raw.get("console").and_then(|v| parse_bool(v));
    let cmode = raw.get("cmode").cloned();
    let tty: Option<u32> = raw.get("tty").and_then(|v| v.parse().ok());
    (console.is_none()
        || console == Some(false)
        || cmode.as_deref().is_some_and(|m| m != "tty")
        || tty.is_some_and(|t| t != 2))
    .then(|| ConsoleView {
        enabled: Some(console.unwrap_or(true)),
        kind: Some(cmode.unwrap_or_else(|| "tty".into())),
        tty_count: Some(tty.unwrap_or(2)),
    })
}

fn cpu(ct: &ContainerConfig, raw: &BTreeMap<String, String>) -> Option<CpuView> {
    // cpu: stored only when it differs from bpg's defaults (container.go:2787-2800).
    let num = |key: &str| raw.get(key).and_then(|v| v.parse::<f64>().ok());
    (ct.arch.as_deref().unwrap_or("amd64") != "amd64"
        || ct.cores.unwrap_or(1) != 1
        || num("cpulimit").unwrap_or(0.0) != 0.0
        || num("cpuunits").unwrap_or(0.0) != 0.0)
        .then(|| CpuView {
            cores: ct.cores,
            architecture: ct.arch.clone(),
            limit: num("cpulimit"),
            units: raw.get("cpuunits").and_then(|v| v.parse().ok()),
            ..CpuView::default()
        })
}

fn memory(ct: &ContainerConfig) -> Option<MemoryView> {
    // memory: stored only when it is not 512 MiB without swap (container.go:2865-2878).
    (ct.memory_mib.unwrap_or(0) != 512 || ct.swap_mib.unwrap_or(0) != 0).then_some(MemoryView {
        dedicated: ct.memory_mib,
        swap: ct.swap_mib,
        floating: None,
    })
}

fn root_disk(root: &Mount, warnings: &mut Vec<String>) -> RootDiskView {
    let storage = root.volume.split_once(':').map(|(s, _)| s.to_string());
    let size = root
        .size_bytes
        .map(|bytes| whole_gib("rootfs", bytes, warnings));
    RootDiskView {
        datastore_id: storage.unwrap_or_default(),
        size,
        acl: bool_opt(&root.extra, "acl"),
        quota: bool_opt(&root.extra, "quota"),
        replicate: bool_opt(&root.extra, "replicate"),
        mount_options: split_semicolons(root.extra.get("mountoptions")),
    }
}

fn mount_view(mount: &Mount) -> MountView {
    MountView {
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
    }
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

/// The `network_interface` blocks and the `initialization` block, built together because a
/// container's addresses live on its NICs.
fn nics_and_init(
    ct: &ContainerConfig,
    raw: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> (Vec<CtNetView>, InitView) {
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
    let mut nics = Vec::new();
    for (expected, (index, nic)) in ct.nics.iter().enumerate() {
        if usize::from(*index) != expected {
            warnings.push(format!(
                "net{index} follows a gap in the NIC numbers; bpg lists NICs by position, so it is kept as a comment (review by hand)"
            ));
            break;
        }
        nics.push(CtNetView {
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
    (nics, init)
}

fn features(ct: &ContainerConfig) -> Option<FeaturesView> {
    (!ct.features.is_empty()).then(|| FeaturesView {
        nesting: bool_opt(&ct.features, "nesting"),
        keyctl: bool_opt(&ct.features, "keyctl"),
        fuse: bool_opt(&ct.features, "fuse"),
        mknod: bool_opt(&ct.features, "mknod"),
        mount: ct
            .features
            .get("mount")
            .map(|m| m.split(';').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

fn devices(raw: &BTreeMap<String, String>) -> Vec<DeviceView> {
    // Device passthrough (/dev/dri for Plex and Jellyfin), in devN order (container.go:2993).
    let mut devs: Vec<(u32, &String)> = raw
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("dev")?.parse().ok()?, v)))
        .collect();
    devs.sort();
    let mut out = Vec::new();
    for (_, value) in devs {
        let opts = options(value, "path");
        if let Some(path) = opts.get("path") {
            out.push(DeviceView {
                path: path.clone(),
                mode: opts.get("mode").cloned(),
                uid: opts.get("uid").and_then(|v| v.parse().ok()),
                gid: opts.get("gid").and_then(|v| v.parse().ok()),
                deny_write: opts.get("deny-write").and_then(|v| parse_bool(v)),
            });
        }
    }
    out
}
