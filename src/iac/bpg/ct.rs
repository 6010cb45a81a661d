//! `proxmox_virtual_environment_container`: the state bpg v0.111.1's Read stores on import
//! (docs/bpg-import.md §2). `ct.go` = `proxmoxtf/resource/container/container.go`,
//! `cts.go` = `proxmox/nodes/containers/containers_types.go`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::PveGuest;
use super::pve::{Props, bool_key, indexed, int_key, size_gib_floor};
use super::vm::{ip_pair, startup, tags};

type Config = BTreeMap<String, String>;

/// The predicted state of a container.
pub fn predict(guest: &PveGuest) -> Value {
    let c = guest.config;
    let mut s = Map::new();
    // ct.go:1230-1246: the importer sets id and node_name; Read never sets vm_id (`2692-2701`),
    // pool_id (`1019-1025`) nor the timeouts (`1097-1128`).
    s.insert("id".into(), json!(guest.vmid.to_string()));
    s.insert("node_name".into(), json!(guest.node));
    // ct.go:2706-2716: raw description or "".
    s.insert("description".into(), json!(text(c, "description")));
    // ct.go:3421-3439: split ";", trimmed, sorted; absent => null.
    s.insert("tags".into(), tags(c));
    // ct.go:3396-3407: onboot, absent => false.
    s.insert(
        "start_on_boot".into(),
        json!(bool_key(c, "onboot").unwrap_or(false)),
    );
    // ct.go:3467-3516: status == "running".
    s.insert("started".into(), json!(guest.running));
    // ct.go:3452-3465, 3366-3379, 3381-3394: template, unprivileged, protection or false.
    for (attr, key) in [
        ("template", "template"),
        ("unprivileged", "unprivileged"),
        ("protection", "protection"),
    ] {
        s.insert(attr.into(), json!(bool_key(c, key).unwrap_or(false)));
    }
    // ct.go:3409-3419: hookscript or "".
    s.insert("hook_script_file_id".into(), json!(text(c, "hookscript")));
    // ct.go:3441-3450: env (NUL-separated K=V) as a map, always set.
    s.insert("environment_variables".into(), environment(c));
    put(&mut s, "console", console(c));
    put(&mut s, "cpu", cpu(c));
    put(&mut s, "disk", disk(c));
    put(&mut s, "memory", memory(c));
    put(&mut s, "features", features(c));
    put(&mut s, "device_passthrough", device_passthrough(c));
    s.insert("idmap".into(), idmap(c));
    put(&mut s, "mount_point", mount_points(c));
    let (nics, ip_configs) = network_interfaces(c);
    s.insert("initialization".into(), initialization(c, ip_configs));
    s.insert("network_interface".into(), nics);
    // ct.go:3292-3332: like the VM, stored whenever `startup` is present.
    s.insert("startup".into(), startup(c));
    put(&mut s, "operating_system", operating_system(c));
    Value::Object(s)
}

fn put(s: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    s.insert(key.to_string(), value.unwrap_or_else(|| json!([])));
}

fn text(c: &Config, key: &str) -> String {
    c.get(key).cloned().unwrap_or_default()
}

fn environment(c: &Config) -> Value {
    let mut env = Map::new();
    if let Some(raw) = c.get("env") {
        for pair in raw.split('\0') {
            if let Some((k, v)) = pair.split_once('=') {
                env.insert(k.into(), json!(v));
            }
        }
    }
    Value::Object(env)
}

/// ct.go:2718-2755 (bpg-import.md §2.2 console, NOTES error 3): without a `console` key `enabled` is a Go
/// `bool` compared with `types.CustomBool(true)`, never equal => always stored. With the key:
/// stored iff console = 0, cmode != tty or tty != 2.
fn console(c: &Config) -> Option<Value> {
    let enabled = bool_key(c, "console");
    let mode = c.get("cmode").cloned().unwrap_or_else(|| "tty".into());
    let ttys = int_key(c, "tty").unwrap_or(2);
    let stored = enabled != Some(true) || mode != "tty" || ttys != 2;
    stored.then(|| json!([{ "enabled": enabled.unwrap_or(true), "type": mode, "tty_count": ttys }]))
}

/// ct.go:2757-2801 (bpg-import.md §2.2 cpu): stored iff arch != amd64 || cores != 1 || cpulimit != 0 ||
/// cpuunits != 0.
fn cpu(c: &Config) -> Option<Value> {
    let arch = c.get("arch").cloned().unwrap_or_else(|| "amd64".into());
    let cores = int_key(c, "cores").unwrap_or(1);
    let limit: f64 = c
        .get("cpulimit")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let units = int_key(c, "cpuunits").unwrap_or(0);
    let stored = arch != "amd64" || cores != 1 || limit != 0.0 || units != 0;
    stored
        .then(|| json!([{ "architecture": arch, "cores": cores, "limit": limit, "units": units }]))
}

/// ct.go:2803-2848 (bpg-import.md §2.2 disk): always stored when `rootfs` exists (`RootFS.ACL` is a
/// pointer, never equal to `false`); without rootfs the defaults are stored too (acl missing).
fn disk(c: &Config) -> Option<Value> {
    let Some(raw) = c.get("rootfs") else {
        return Some(json!([{
            "datastore_id": "local", "size": 4, "mount_options": [], "path_in_datastore": "",
        }]));
    };
    let p = Props::parse(raw);
    let volume = p.get("volume").or_else(|| p.bare()).unwrap_or_default();
    Some(json!([{
        "datastore_id": volume.split(':').next().unwrap_or_default(),
        "path_in_datastore": volume,
        // ct.go:2814: floor GiB (< 1 GiB => 0).
        "size": size_gib_floor(p.get("size")),
        "acl": p.flag("acl").unwrap_or(false),
        "quota": p.flag("quota").unwrap_or(false),
        "replicate": p.flag("replicate").unwrap_or(false),
        "mount_options": mount_options(&p),
    }]))
}

fn mount_options(p: &Props) -> Vec<String> {
    p.get("mountoptions")
        .filter(|m| !m.is_empty())
        .map(|m| m.split(';').map(str::to_string).collect())
        .unwrap_or_default()
}

/// ct.go:2850-2877 (bpg-import.md §2.2 memory): stored iff memory != 512 || swap != 0 (absent => 0).
fn memory(c: &Config) -> Option<Value> {
    let dedicated = int_key(c, "memory").unwrap_or(0);
    let swap = int_key(c, "swap").unwrap_or(0);
    (dedicated != 512 || swap != 0).then(|| json!([{ "dedicated": dedicated, "swap": swap }]))
}

/// ct.go:2879-2935 (bpg-import.md §2.2 features): stored iff a flag is 1 or `mount` is non-empty.
fn features(c: &Config) -> Option<Value> {
    let p = Props::parse(c.get("features").map_or("", String::as_str));
    let flag = |k: &str| p.flag(k).unwrap_or(false);
    let mount: Vec<String> = p
        .get("mount")
        .filter(|m| !m.is_empty())
        .map(|m| m.split(';').map(str::to_string).collect())
        .unwrap_or_default();
    let stored =
        flag("nesting") || flag("keyctl") || flag("fuse") || flag("mknod") || !mount.is_empty();
    stored.then(|| {
        json!([{ "nesting": flag("nesting"), "keyctl": flag("keyctl"), "fuse": flag("fuse"),
                 "mknod": flag("mknod"), "mount": mount }])
    })
}

/// ct.go:2993-3038 (bpg-import.md §2.2 device_passthrough): any `devN` => all of them in N order.
fn device_passthrough(c: &Config) -> Option<Value> {
    let devices: Vec<Value> = indexed(c, "dev", 256)
        .into_iter()
        .map(|(_, _, raw)| {
            let p = Props::parse(raw);
            json!({
                "path": p.get("path").or_else(|| p.bare()).unwrap_or_default(),
                "mode": p.get("mode").unwrap_or("0660"),
                "uid": p.int("uid").unwrap_or(0),
                "gid": p.int("gid").unwrap_or(0),
                "deny_write": p.flag("deny-write").unwrap_or(false),
            })
        })
        .collect();
    (!devices.is_empty()).then_some(Value::Array(devices))
}

/// ct.go:3040-3051 (bpg-import.md §2.2 idmap): always set; `lxc.idmap` lines in file order
/// (`cts.go:422-470`).
fn idmap(c: &Config) -> Value {
    let mut list = Vec::new();
    for line in c.get("lxc.idmap").map_or("", String::as_str).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [t, container, host, size] = f.as_slice() else {
            continue;
        };
        let kind = match *t {
            "u" => "uid",
            "g" => "gid",
            _ => continue,
        };
        let num = |s: &str| s.parse::<i64>().unwrap_or(0);
        list.push(json!({
            "type": kind, "container_id": num(container), "host_id": num(host), "size": num(size),
        }));
    }
    Value::Array(list)
}

/// ct.go:3053-3125 (bpg-import.md §2.2 mount_point): any `mpN` => all in N order; size is the string.
fn mount_points(c: &Config) -> Option<Value> {
    let mps: Vec<Value> = indexed(c, "mp", 256)
        .into_iter()
        .map(|(_, _, raw)| {
            let p = Props::parse(raw);
            let volume = p.bare().unwrap_or_default();
            json!({
                "volume": volume,
                "path_in_datastore": volume,
                "path": p.get("mp").unwrap_or_default(),
                "size": p.get("size").unwrap_or_default(),
                "acl": p.flag("acl").unwrap_or(false),
                "backup": p.flag("backup").unwrap_or(false),
                "quota": p.flag("quota").unwrap_or(false),
                "read_only": p.flag("ro").unwrap_or(false),
                "replicate": p.flag("replicate").unwrap_or(true),
                "shared": p.flag("shared").unwrap_or(false),
                "mount_options": mount_options(&p),
            })
        })
        .collect();
    (!mps.is_empty()).then_some(Value::Array(mps))
}

/// ct.go:3127-3229 (bpg-import.md §2.2 network_interface): always set, all NICs in N order (gaps
/// collapse); also the `ip_config` entries of the NICs that have ip/gw/ip6/gw6, in NIC order.
fn network_interfaces(c: &Config) -> (Value, Vec<Value>) {
    let mut nics = Vec::new();
    let mut ip_configs = Vec::new();
    for (_, _, raw) in indexed(c, "net", 32) {
        let p = Props::parse(raw);
        let (ip, gw, ip6, gw6) = (p.get("ip"), p.get("gw"), p.get("ip6"), p.get("gw6"));
        if ip.is_some() || gw.is_some() || ip6.is_some() || gw6.is_some() {
            ip_configs.push(json!({ "ipv4": ip_pair(ip, gw), "ipv6": ip_pair(ip6, gw6) }));
        }
        nics.push(json!({
            "name": p.get("name").or_else(|| p.bare()).unwrap_or_default(),
            "bridge": p.get("bridge").unwrap_or_default(),
            "enabled": true,
            "firewall": p.flag("firewall").unwrap_or(false),
            "host_managed": p.flag("host-managed").unwrap_or(false),
            "mac_address": p.get("hwaddr").unwrap_or_default(),
            "rate_limit": p.float("rate").unwrap_or(0.0),
            "vlan_id": p.int("tag").unwrap_or(0),
            "mtu": p.int("mtu").unwrap_or(0),
        }));
    }
    (Value::Array(nics), ip_configs)
}

/// ct.go:2937-2991, 3230-3290 (bpg-import.md §2.2 initialization): always stored (hostname and
/// entrypoint are always in the map); `dns` only with searchdomain/nameserver; no user_account.
fn initialization(c: &Config, ip_configs: Vec<Value>) -> Value {
    let mut init = Map::new();
    if c.contains_key("searchdomain") || c.contains_key("nameserver") {
        let mut dns = Map::new();
        dns.insert("domain".into(), json!(text(c, "searchdomain")));
        match c.get("nameserver") {
            // ct.go:2962-2969: empty prior state => `servers` = split " ".
            Some(ns) => {
                dns.insert("servers".into(), json!(ns.split(' ').collect::<Vec<_>>()));
            }
            None => {
                dns.insert("server".into(), json!(""));
                dns.insert("servers".into(), json!([]));
            }
        }
        init.insert("dns".into(), json!([dns]));
    }
    init.insert("hostname".into(), json!(text(c, "hostname")));
    init.insert("entrypoint".into(), json!(text(c, "entrypoint")));
    init.insert("ip_config".into(), Value::Array(ip_configs));
    json!([init])
}

/// ct.go:3334-3364 (bpg-import.md §2.2 operating_system): stored iff ostype != "unmanaged" (absent =>
/// ""); template_file_id is null.
fn operating_system(c: &Config) -> Option<Value> {
    let kind = text(c, "ostype");
    (kind != "unmanaged").then(|| json!([{ "type": kind }]))
}
