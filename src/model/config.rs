//! Mapping between PVE's flat guest config (`GET /nodes/{node}/{qemu|lxc}/{vmid}/config`, or the
//! top section of a `.conf` file) and the typed [`GuestConfig`].
//!
//! Rule: a key is moved into a typed field only if it parses; otherwise it stays in `unmodelled`
//! verbatim and a warning says why. Unknown keys and sub-options are kept too, so
//! `format(parse(x)) == x` for every config PVE writes (PVE prints property strings in a
//! canonical order, which [`super::propstring`] reproduces).

use std::collections::BTreeMap;

use super::guest::{
    Agent, CloudInit, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind, GuestStatus,
    IpConfig, Mount, Nic, VmConfig, cloud_init_or_none,
};
use super::propstring::{
    PropertyString, decode_sshkeys, encode_sshkeys, format_bool, format_parts, format_size,
    parse_bool, parse_size, split_list,
};

/// A config value as it arrives: a string from a `.conf` file, or a JSON value from the API
/// (numbers for integer keys, strings otherwise, `0/1` for booleans).
pub trait ConfigValue {
    /// Returns the value as PVE would print it in a `.conf` file; `None` for JSON null.
    fn to_config_string(&self) -> Option<String>;
}

impl ConfigValue for String {
    fn to_config_string(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl ConfigValue for &str {
    fn to_config_string(&self) -> Option<String> {
        Some((*self).to_string())
    }
}

impl ConfigValue for serde_json::Value {
    fn to_config_string(&self) -> Option<String> {
        match self {
            serde_json::Value::Null => None,
            serde_json::Value::Bool(b) => Some(format_bool(*b)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// Keys that belong to the [`Guest`] itself rather than its [`GuestConfig`].
const QEMU_META_KEYS: &[&str] = &[
    "name",
    "tags",
    "description",
    "onboot",
    "template",
    "lock",
    "digest",
];
const LXC_META_KEYS: &[&str] = &[
    "tags",
    "description",
    "onboot",
    "template",
    "lock",
    "digest",
];

/// qemu NIC models PVE knows (qemu-server `Network.pm` `$nic_model_list`).
const NIC_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

/// Key/value pairs still to be claimed, plus the warnings collected along the way.
struct Claim {
    left: BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Claim {
    fn new<V: ConfigValue>(raw: &BTreeMap<String, V>) -> Self {
        let left = raw
            .iter()
            .filter_map(|(k, v)| v.to_config_string().map(|s| (k.clone(), s)))
            .collect();
        Self {
            left,
            warnings: Vec::new(),
        }
    }

    /// Takes `key` if `parse` accepts it; otherwise leaves it unmodelled with a warning.
    fn take<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let text = self.left.get(key)?;
        match parse(text) {
            Ok(value) => {
                self.left.remove(key);
                Some(value)
            }
            Err(why) => {
                self.warnings.push(format!(
                    "config key '{key}' = '{text}' could not be read ({why}); kept as is"
                ));
                None
            }
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        self.take(key, |s| Ok(s.to_string()))
    }

    fn int<T: std::str::FromStr>(&mut self, key: &str) -> Option<T> {
        self.take(key, |s| {
            s.trim().parse().map_err(|_| "not a whole number".into())
        })
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        self.take(key, |s| parse_bool(s).ok_or_else(|| "not a boolean".into()))
    }

    /// Keys matching `prefix` + number, with the number.
    fn indexed(&self, prefix: &str) -> Vec<(String, u8)> {
        self.left
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?;
                if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                rest.parse::<u8>().ok().map(|n| (k.clone(), n))
            })
            .collect()
    }
}

fn property_string(text: &str) -> Result<PropertyString, String> {
    PropertyString::parse(text).map_err(|e| e.to_string())
}

fn take_size(ps: &mut PropertyString) -> Result<Option<u64>, String> {
    match ps.take("size") {
        None => Ok(None),
        Some(s) => parse_size(&s)
            .map(Some)
            .ok_or_else(|| format!("size '{s}' is not a PVE size")),
    }
}

fn take_tag(ps: &mut PropertyString) -> Result<Option<u16>, String> {
    match ps.take("tag") {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| format!("VLAN tag '{t}' is not a number")),
    }
}

fn take_flag(ps: &mut PropertyString, key: &str) -> Result<Option<bool>, String> {
    match ps.take(key) {
        None => Ok(None),
        Some(v) => parse_bool(&v)
            .map(Some)
            .ok_or_else(|| format!("{key} '{v}' is not a boolean")),
    }
}

/// Returns true for qemu disk slots the model keys disks by.
pub fn is_vm_disk_slot(key: &str) -> bool {
    if key == "efidisk0" || key == "tpmstate0" {
        return true;
    }
    ["scsi", "virtio", "sata", "ide"].iter().any(|prefix| {
        key.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn parse_disk(text: &str) -> Result<Disk, String> {
    let mut ps = property_string(text)?;
    let volume = match (ps.bare.take(), ps.take("file")) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => return Err("volume given twice".into()),
        (None, None) => return Err("no volume".into()),
    };
    let size_bytes = take_size(&mut ps)?;
    Ok(Disk {
        volume,
        size_bytes,
        media: ps.take("media"),
        extra: ps.options,
    })
}

fn format_disk(disk: &Disk) -> String {
    let mut options = disk.extra.clone();
    if let Some(size) = disk.size_bytes {
        options.insert("size".into(), format_size(size));
    }
    if let Some(media) = &disk.media {
        options.insert("media".into(), media.clone());
    }
    format_parts(Some(&disk.volume), &options)
}

fn parse_nic(text: &str) -> Result<Nic, String> {
    let mut ps = property_string(text)?;
    let (model, mac) = if let Some(model) = ps.bare.take() {
        (model, None)
    } else if let Some(model) = NIC_MODELS.iter().find(|m| ps.options.contains_key(**m)) {
        let mac = ps.take(model);
        (model.to_string(), mac.filter(|m| !m.is_empty()))
    } else if let Some(model) = ps.take("model") {
        (model, ps.take("macaddr"))
    } else {
        return Err("no NIC model".into());
    };
    Ok(Nic {
        model,
        mac,
        bridge: ps.take("bridge"),
        vlan_tag: take_tag(&mut ps)?,
        firewall: take_flag(&mut ps, "firewall")?,
        extra: ps.options,
    })
}

fn format_nic(nic: &Nic) -> String {
    let mut options = nic.extra.clone();
    if let Some(bridge) = &nic.bridge {
        options.insert("bridge".into(), bridge.clone());
    }
    if let Some(tag) = nic.vlan_tag {
        options.insert("tag".into(), tag.to_string());
    }
    if let Some(fw) = nic.firewall {
        options.insert("firewall".into(), format_bool(fw));
    }
    let head = match &nic.mac {
        Some(mac) => format!("{}={mac}", nic.model),
        None => nic.model.clone(),
    };
    format_parts(Some(&head), &options)
}

fn parse_ipconfig(text: &str) -> Result<IpConfig, String> {
    let mut ps = property_string(text)?;
    if ps.bare.is_some() {
        return Err("value without a key".into());
    }
    Ok(IpConfig {
        ip: ps.take("ip"),
        gw: ps.take("gw"),
        ip6: ps.take("ip6"),
        gw6: ps.take("gw6"),
        extra: ps.options,
    })
}

fn format_ipconfig(ip: &IpConfig) -> String {
    let mut options = ip.extra.clone();
    for (key, value) in [
        ("ip", &ip.ip),
        ("gw", &ip.gw),
        ("ip6", &ip.ip6),
        ("gw6", &ip.gw6),
    ] {
        if let Some(v) = value {
            options.insert(key.into(), v.clone());
        }
    }
    format_parts(None, &options)
}

/// Parses a value whose default key is `name` (`agent: 1`, `cpu: host`, `memory: 2048`).
fn parse_with_default_key(text: &str, name: &str) -> Result<PropertyString, String> {
    let mut ps = property_string(text)?;
    match (ps.bare.is_some(), ps.options.remove(name)) {
        (true, Some(_)) => Err(format!("'{name}' given twice")),
        (false, Some(v)) => {
            ps.bare = Some(v);
            Ok(ps)
        }
        (true, None) => Ok(ps),
        (false, None) => Err(format!("no '{name}' value")),
    }
}

fn parse_memory(text: &str) -> Result<u64, String> {
    let ps = parse_with_default_key(text, "current")?;
    if !ps.options.is_empty() {
        return Err("unknown memory options".into());
    }
    ps.bare
        .unwrap_or_default()
        .parse()
        .map_err(|_| "memory is not a whole number of MiB".into())
}

fn parse_boot_order(text: &str) -> Result<Vec<String>, String> {
    let mut ps = property_string(text)?;
    let order = ps.take("order");
    match order {
        Some(order) if ps.bare.is_none() && ps.options.is_empty() => Ok(order
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        _ => Err("only 'order=' boot settings are modelled".into()),
    }
}

fn parse_mount(text: &str, needs_path: bool) -> Result<Mount, String> {
    let mut ps = property_string(text)?;
    let volume = match (ps.bare.take(), ps.take("volume")) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => return Err("volume given twice".into()),
        (None, None) => return Err("no volume".into()),
    };
    let path = ps.take("mp");
    if needs_path && path.is_none() {
        return Err("mount point without 'mp='".into());
    }
    Ok(Mount {
        volume,
        path,
        size_bytes: take_size(&mut ps)?,
        extra: ps.options,
    })
}

/// Formats with a required key right after the bare value, as PVE prints required keys before
/// the optional ones (pve-common `JSONSchema.pm` `print_property_string`).
fn format_required_first(
    bare: Option<&str>,
    required: Option<(&str, &str)>,
    options: &BTreeMap<String, String>,
) -> String {
    let mut head = bare.unwrap_or_default().to_string();
    if let Some((key, value)) = required {
        if !head.is_empty() {
            head.push(',');
        }
        head.push_str(&format!("{key}={value}"));
    }
    if head.is_empty() {
        format_parts(None, options)
    } else {
        format_parts(Some(&head), options)
    }
}

fn format_mount(mount: &Mount) -> String {
    let mut options = mount.extra.clone();
    options.remove("mp");
    if let Some(size) = mount.size_bytes {
        options.insert("size".into(), format_size(size));
    }
    let path = mount.path.as_deref().map(|p| ("mp", p));
    format_required_first(Some(&mount.volume), path, &options)
}

fn parse_ct_nic(text: &str) -> Result<CtNic, String> {
    let mut ps = property_string(text)?;
    if ps.bare.is_some() {
        return Err("value without a key".into());
    }
    let name = ps.take("name").ok_or("container NIC without 'name='")?;
    Ok(CtNic {
        name,
        bridge: ps.take("bridge"),
        hwaddr: ps.take("hwaddr"),
        ip: ps.take("ip"),
        gw: ps.take("gw"),
        ip6: ps.take("ip6"),
        gw6: ps.take("gw6"),
        vlan_tag: take_tag(&mut ps)?,
        firewall: take_flag(&mut ps, "firewall")?,
        extra: ps.options,
    })
}

fn format_ct_nic(nic: &CtNic) -> String {
    let mut options = nic.extra.clone();
    options.remove("name");
    for (key, value) in [
        ("bridge", &nic.bridge),
        ("hwaddr", &nic.hwaddr),
        ("ip", &nic.ip),
        ("gw", &nic.gw),
        ("ip6", &nic.ip6),
        ("gw6", &nic.gw6),
    ] {
        if let Some(v) = value {
            options.insert(key.into(), v.clone());
        }
    }
    if let Some(tag) = nic.vlan_tag {
        options.insert("tag".into(), tag.to_string());
    }
    if let Some(fw) = nic.firewall {
        options.insert("firewall".into(), format_bool(fw));
    }
    format_required_first(None, Some(("name", &nic.name)), &options)
}

/// Decodes `sshkeys` into one entry per non-empty line.
fn ssh_key_lines(encoded: &str) -> Vec<String> {
    decode_sshkeys(encoded)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn parse_vm(claim: &mut Claim) -> VmConfig {
    let mut vm = VmConfig {
        cores: claim.int("cores"),
        sockets: claim.int("sockets"),
        memory_mib: claim.take("memory", parse_memory),
        balloon_mib: claim.int("balloon"),
        bios: claim.string("bios"),
        machine: claim.string("machine"),
        ostype: claim.string("ostype"),
        scsihw: claim.string("scsihw"),
        boot_order: claim.take("boot", parse_boot_order),
        agent: claim.take("agent", |s| {
            let mut ps = parse_with_default_key(s, "enabled")?;
            let enabled = parse_bool(ps.bare.as_deref().unwrap_or_default())
                .ok_or("agent 'enabled' is not a boolean")?;
            ps.bare = None;
            Ok(Agent {
                enabled,
                extra: ps.options,
            })
        }),
        ..VmConfig::default()
    };
    if let Some(mut cpu) = claim.take("cpu", |s| parse_with_default_key(s, "cputype")) {
        vm.cpu_type = cpu.bare.take();
        vm.cpu_extra = cpu.options;
    }
    let slots: Vec<String> = claim
        .left
        .keys()
        .filter(|k| is_vm_disk_slot(k))
        .cloned()
        .collect();
    for slot in slots {
        if let Some(disk) = claim.take(&slot, parse_disk) {
            vm.disks.insert(slot, disk);
        }
    }
    for (key, index) in claim.indexed("net") {
        if let Some(nic) = claim.take(&key, parse_nic) {
            vm.nics.insert(index, nic);
        }
    }
    let mut ci = CloudInit {
        user: claim.string("ciuser"),
        dns: claim.string("nameserver"),
        search: claim.string("searchdomain"),
        ..CloudInit::default()
    };
    if let Some(encoded) = claim.string("sshkeys") {
        ci.ssh_keys = ssh_key_lines(&encoded);
        if encode_sshkeys(&ci.ssh_keys.join("\n")) != encoded {
            // Another client's encoding (trailing newline, `%2b` case, ...): keep its spelling
            // so it is written back unchanged while the keys stay the same.
            claim.left.insert("sshkeys".to_string(), encoded);
        }
    }
    for (key, index) in claim.indexed("ipconfig") {
        if let Some(ip) = claim.take(&key, parse_ipconfig) {
            ci.ipconfigs.insert(index, ip);
        }
    }
    vm.cloud_init = cloud_init_or_none(ci);
    vm
}

fn parse_container(claim: &mut Claim) -> ContainerConfig {
    let mut ct = ContainerConfig {
        hostname: claim.string("hostname"),
        cores: claim.int("cores"),
        memory_mib: claim.int("memory"),
        swap_mib: claim.int("swap"),
        rootfs: claim.take("rootfs", |s| parse_mount(s, false)),
        unprivileged: claim.boolean("unprivileged"),
        ostype: claim.string("ostype"),
        arch: claim.string("arch"),
        features: claim
            .take("features", |s| {
                let ps = property_string(s)?;
                if ps.bare.is_some() {
                    return Err("value without a key".into());
                }
                Ok(ps.options)
            })
            .unwrap_or_default(),
        ..ContainerConfig::default()
    };
    for (key, index) in claim.indexed("mp") {
        if let Some(mount) = claim.take(&key, |s| parse_mount(s, true)) {
            ct.mount_points.insert(index, mount);
        }
    }
    for (key, index) in claim.indexed("net") {
        if let Some(nic) = claim.take(&key, parse_ct_nic) {
            ct.nics.insert(index, nic);
        }
    }
    ct
}

/// Maps a guest's PVE config to the model.
///
/// Returns the typed config, the keys the model does not map (verbatim), and warnings for keys
/// that looked modelled but did not parse (those stay in the unmodelled map). Guest metadata
/// keys (`name`, `tags`, `description`, `onboot`, `template`, `lock`, `digest`) are read by
/// [`guest_from_config`] and appear in neither.
pub fn parse_guest_config<V: ConfigValue>(
    kind: GuestKind,
    raw: &BTreeMap<String, V>,
) -> (GuestConfig, BTreeMap<String, String>, Vec<String>) {
    let mut claim = Claim::new(raw);
    let meta_keys = match kind {
        GuestKind::Qemu => QEMU_META_KEYS,
        GuestKind::Lxc => LXC_META_KEYS,
    };
    for key in meta_keys {
        claim.left.remove(*key);
    }
    let config = match kind {
        GuestKind::Qemu => GuestConfig::Vm(parse_vm(&mut claim)),
        GuestKind::Lxc => GuestConfig::Container(parse_container(&mut claim)),
    };
    (config, claim.left, claim.warnings)
}

fn put<T: ToString>(map: &mut BTreeMap<String, String>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v.to_string());
    }
}

/// Turns a typed config (plus the keys the model does not map) back into PVE's key/value set.
/// Typed fields win over an unmodelled entry of the same key.
pub fn format_guest_config(
    config: &GuestConfig,
    unmodelled: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = unmodelled.clone();
    match config {
        GuestConfig::Vm(vm) => {
            put(&mut out, "cores", &vm.cores);
            put(&mut out, "sockets", &vm.sockets);
            put(&mut out, "memory", &vm.memory_mib);
            put(&mut out, "balloon", &vm.balloon_mib);
            put(&mut out, "bios", &vm.bios);
            put(&mut out, "machine", &vm.machine);
            put(&mut out, "ostype", &vm.ostype);
            put(&mut out, "scsihw", &vm.scsihw);
            if let Some(cpu_type) = &vm.cpu_type {
                out.insert("cpu".into(), format_parts(Some(cpu_type), &vm.cpu_extra));
            }
            if let Some(order) = &vm.boot_order {
                out.insert("boot".into(), format!("order={}", order.join(";")));
            }
            if let Some(agent) = &vm.agent {
                let enabled = format_bool(agent.enabled);
                out.insert("agent".into(), format_parts(Some(&enabled), &agent.extra));
            }
            for (slot, disk) in &vm.disks {
                out.insert(slot.clone(), format_disk(disk));
            }
            for (index, nic) in &vm.nics {
                out.insert(format!("net{index}"), format_nic(nic));
            }
            if vm.cloud_init.is_none() {
                out.remove("sshkeys");
            }
            if let Some(ci) = &vm.cloud_init {
                put(&mut out, "ciuser", &ci.user);
                put(&mut out, "nameserver", &ci.dns);
                put(&mut out, "searchdomain", &ci.search);
                let original_matches = unmodelled
                    .get("sshkeys")
                    .is_some_and(|o| ssh_key_lines(o) == ci.ssh_keys);
                if !original_matches {
                    out.remove("sshkeys");
                    if !ci.ssh_keys.is_empty() {
                        out.insert("sshkeys".into(), encode_sshkeys(&ci.ssh_keys.join("\n")));
                    }
                }
                for (index, ip) in &ci.ipconfigs {
                    out.insert(format!("ipconfig{index}"), format_ipconfig(ip));
                }
            }
        }
        GuestConfig::Container(ct) => {
            put(&mut out, "hostname", &ct.hostname);
            put(&mut out, "cores", &ct.cores);
            put(&mut out, "memory", &ct.memory_mib);
            put(&mut out, "swap", &ct.swap_mib);
            put(&mut out, "ostype", &ct.ostype);
            put(&mut out, "arch", &ct.arch);
            put(&mut out, "ostemplate", &ct.ostemplate);
            if let Some(u) = ct.unprivileged {
                out.insert("unprivileged".into(), format_bool(u));
            }
            if let Some(rootfs) = &ct.rootfs {
                out.insert("rootfs".into(), format_mount(rootfs));
            }
            if !ct.features.is_empty() {
                out.insert("features".into(), format_parts(None, &ct.features));
            }
            for (index, mount) in &ct.mount_points {
                out.insert(format!("mp{index}"), format_mount(mount));
            }
            for (index, nic) in &ct.nics {
                out.insert(format!("net{index}"), format_ct_nic(nic));
            }
        }
    }
    out
}

/// Builds a [`Guest`] from its PVE config plus what `/cluster/resources` says about it.
///
/// `name` is empty when PVE has none (PVE then shows `VM <vmid>` / `CT <vmid>`). `onboot` and
/// `template` are modelled only when set to `1`; any other value stays in `unmodelled` so it is
/// written back unchanged.
pub fn guest_from_config<V: ConfigValue>(
    vmid: u32,
    node: &str,
    kind: GuestKind,
    status: GuestStatus,
    pool: Option<String>,
    raw: &BTreeMap<String, V>,
) -> (Guest, Vec<String>) {
    let (config, mut unmodelled, warnings) = parse_guest_config(kind, raw);
    let meta: BTreeMap<String, String> = raw
        .iter()
        .filter_map(|(k, v)| v.to_config_string().map(|s| (k.clone(), s)))
        .collect();
    let flag = |key: &str, unmodelled: &mut BTreeMap<String, String>| match meta.get(key) {
        Some(v) if v == "1" => true,
        Some(v) => {
            unmodelled.insert(key.to_string(), v.clone());
            false
        }
        None => false,
    };
    let tags: Vec<String> = meta.get("tags").map(|t| split_list(t)).unwrap_or_default();
    if let Some(text) = meta.get("tags")
        && *text != tags.join(";")
    {
        // Not PVE's canonical spelling (hand-edited or older PVE): keep it so it is written
        // back unchanged while the tags stay the same.
        unmodelled.insert("tags".to_string(), text.clone());
    }
    let on_boot = flag("onboot", &mut unmodelled);
    let template = flag("template", &mut unmodelled);
    let name = match (&config, kind) {
        (GuestConfig::Container(ct), _) => ct.hostname.clone().unwrap_or_default(),
        (_, _) => meta.get("name").cloned().unwrap_or_default(),
    };
    let guest = Guest {
        vmid,
        name,
        node: node.to_string(),
        kind,
        status,
        template,
        tags,
        pool,
        description: meta.get("description").cloned(),
        on_boot,
        lock: meta.get("lock").cloned(),
        config,
        unmodelled,
        digest: meta.get("digest").cloned(),
    };
    (guest, warnings)
}

/// Turns a whole guest back into PVE's config key/value set (without `digest`).
pub fn format_guest(guest: &Guest) -> BTreeMap<String, String> {
    let mut out = format_guest_config(&guest.config, &guest.unmodelled);
    match &guest.config {
        GuestConfig::Vm(_) => {
            if !guest.name.is_empty() {
                out.insert("name".into(), guest.name.clone());
            }
        }
        GuestConfig::Container(ct) => {
            if ct.hostname.is_none() && !guest.name.is_empty() {
                out.insert("hostname".into(), guest.name.clone());
            }
        }
    }
    let original_tags_match = guest
        .unmodelled
        .get("tags")
        .is_some_and(|t| split_list(t) == guest.tags);
    if !original_tags_match {
        out.remove("tags");
        if !guest.tags.is_empty() {
            out.insert("tags".into(), guest.tags.join(";"));
        }
    }
    put(&mut out, "description", &guest.description);
    put(&mut out, "lock", &guest.lock);
    if guest.on_boot {
        out.insert("onboot".into(), "1".into());
    }
    if guest.template {
        out.insert("template".into(), "1".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vm_config_maps_disks_nics_and_cloud_init() {
        let raw = map(&[
            ("cores", "2"),
            ("memory", "2048"),
            ("scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G"),
            ("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"),
            (
                "net0",
                "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1,tag=20",
            ),
            ("ipconfig0", "gw=10.0.0.1,ip=10.0.0.5/24"),
            ("sshkeys", "ssh-ed25519%20AAAA%20me%40host"),
            ("hostpci0", "00:ff.1"),
            ("name", "web"),
        ]);
        let (config, unmodelled, warnings) = parse_guest_config(GuestKind::Qemu, &raw);
        assert!(warnings.is_empty(), "{warnings:?}");
        let GuestConfig::Vm(vm) = &config else {
            panic!("expected a VM config")
        };
        assert_eq!(vm.disks["scsi0"].size_bytes, Some(32 << 30));
        assert!(vm.disks["ide2"].is_cloudinit());
        assert_eq!(vm.nics[&0].vlan_tag, Some(20));
        assert_eq!(vm.nics[&0].mac.as_deref(), Some("BC:24:11:00:00:01"));
        let ci = vm.cloud_init.as_ref().unwrap();
        assert_eq!(ci.ssh_keys, vec!["ssh-ed25519 AAAA me@host"]);
        assert_eq!(ci.ipconfigs[&0].ip.as_deref(), Some("10.0.0.5/24"));
        assert_eq!(unmodelled, map(&[("hostpci0", "00:ff.1")]));
        let mut back = format_guest_config(&config, &unmodelled);
        back.insert("name".into(), "web".into());
        assert_eq!(back, raw);
    }

    #[test]
    fn other_clients_sshkeys_encoding_is_kept_until_the_keys_change() {
        let raw = map(&[("sshkeys", "ssh-ed25519%20AAAA%20a%40b%0A")]);
        let (config, unmodelled, _) = parse_guest_config(GuestKind::Qemu, &raw);
        assert_eq!(format_guest_config(&config, &unmodelled), raw);
        let GuestConfig::Vm(mut vm) = config else {
            panic!("VM")
        };
        let ci = vm.cloud_init.as_mut().unwrap();
        assert_eq!(ci.ssh_keys, vec!["ssh-ed25519 AAAA a@b"]);
        ci.ssh_keys.push("ssh-rsa BBBB c@d".into());
        let out = format_guest_config(&GuestConfig::Vm(vm.clone()), &unmodelled);
        assert_eq!(
            out["sshkeys"],
            "ssh-ed25519%20AAAA%20a%40b%0Assh-rsa%20BBBB%20c%40d"
        );
        vm.cloud_init = None;
        let out = format_guest_config(&GuestConfig::Vm(vm), &unmodelled);
        assert!(!out.contains_key("sshkeys"));
    }

    #[test]
    fn hand_written_tags_are_kept_until_changed() {
        let raw = map(&[("tags", "Prod, DB"), ("cores", "1")]);
        let (mut guest, _) =
            guest_from_config(1, "n", GuestKind::Qemu, GuestStatus::Stopped, None, &raw);
        assert_eq!(guest.tags, vec!["Prod", "DB"]);
        assert_eq!(format_guest(&guest), raw);
        guest.tags.push("new".into());
        assert_eq!(format_guest(&guest)["tags"], "Prod;DB;new");
        guest.tags.clear();
        assert!(!format_guest(&guest).contains_key("tags"));
    }

    #[test]
    fn unreadable_values_stay_verbatim_with_a_warning() {
        let raw = map(&[
            ("cores", "lots"),
            ("scsi0", "a,b"),
            ("net0", "bridge=vmbr0"),
        ]);
        let (config, unmodelled, warnings) = parse_guest_config(GuestKind::Qemu, &raw);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("scsi0")));
        assert_eq!(unmodelled, raw);
        assert_eq!(format_guest_config(&config, &unmodelled), raw);
    }

    #[test]
    fn json_values_from_the_api_are_accepted() {
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"cores":2,"memory":"512","onboot":1,"hostname":"ct1","swap":0,
                "rootfs":"local-lvm:subvol-200-disk-0,size=8G","unprivileged":1,
                "net0":"name=eth0,bridge=vmbr0,ip=dhcp","digest":"abc","cpulimit":"1.5"}"#,
        )
        .unwrap();
        let (guest, warnings) = guest_from_config(
            200,
            "pve1",
            GuestKind::Lxc,
            GuestStatus::Running,
            None,
            &raw,
        );
        assert!(warnings.is_empty());
        assert_eq!(guest.name, "ct1");
        assert!(guest.on_boot);
        assert_eq!(guest.digest.as_deref(), Some("abc"));
        let GuestConfig::Container(ct) = &guest.config else {
            panic!("expected a container")
        };
        assert_eq!(ct.memory_mib, Some(512));
        assert_eq!(ct.rootfs.as_ref().unwrap().size_bytes, Some(8 << 30));
        assert_eq!(ct.nics[&0].ip.as_deref(), Some("dhcp"));
        assert_eq!(guest.unmodelled, map(&[("cpulimit", "1.5")]));
    }
}
