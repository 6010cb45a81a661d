//! Guest config files as PVE keeps them: parsing `.conf` text, writing it back (for the digest),
//! canonical property strings, and the JSON shape `GET .../config` answers with.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use super::cluster::{Guest, GuestKind};
use super::schema::config_key_type;

/// A parsed `.conf` file: the top section, `[PENDING]`, and snapshot sections.
#[derive(Debug, Default, Clone)]
pub struct ParsedConf {
    pub config: BTreeMap<String, String>,
    pub pending: BTreeMap<String, String>,
    pub snapshots: Vec<(String, BTreeMap<String, String>)>,
}

/// Parses a `.conf` file's text and returns its top section (description comments joined into
/// `description`).
pub fn parse_conf_text(text: &str) -> BTreeMap<String, String> {
    parse_conf(text).config
}

pub(crate) fn parse_conf(text: &str) -> ParsedConf {
    let mut parsed = ParsedConf::default();
    let mut section: Option<String> = None;
    let mut current = BTreeMap::new();
    let mut description: Vec<String> = Vec::new();
    let flush = |parsed: &mut ParsedConf,
                 section: &Option<String>,
                 current: &mut BTreeMap<String, String>,
                 description: &mut Vec<String>| {
        if !description.is_empty() {
            current.insert("description".to_string(), description.join("\n"));
            description.clear();
        }
        let map = std::mem::take(current);
        match section.as_deref() {
            None => parsed.config = map,
            Some("PENDING") => parsed.pending = map,
            Some(name) => parsed.snapshots.push((name.to_string(), map)),
        }
    };
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut parsed, &section, &mut current, &mut description);
            section = Some(name.to_string());
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            description.push(decode_text(comment));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    flush(&mut parsed, &section, &mut current, &mut description);
    parsed
}

fn decode_text(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn write_section(out: &mut String, config: &BTreeMap<String, String>) {
    if let Some(descr) = config.get("description") {
        for line in descr.split('\n') {
            out.push('#');
            out.push_str(&encode_text(line));
            out.push('\n');
        }
    }
    for (key, value) in config {
        if key != "description" {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
    }
}

/// Writes a guest's config file as PVE would keep it on disk.
pub(crate) fn serialize(guest: &Guest) -> String {
    let mut out = String::new();
    write_section(&mut out, &guest.config);
    if !guest.pending.is_empty() || !guest.pending_delete.is_empty() {
        out.push_str("\n[PENDING]\n");
        let mut pending = guest.pending.clone();
        if !guest.pending_delete.is_empty() {
            let keys: Vec<&str> = guest.pending_delete.iter().map(String::as_str).collect();
            pending.insert("delete".to_string(), keys.join(","));
        }
        write_section(&mut out, &pending);
    }
    for snap in &guest.snapshots {
        out.push_str(&format!("\n[{}]\n", snap.name));
        write_section(&mut out, &snap.config);
    }
    out
}

/// SHA-1 hex of the config file, as `digest` in `GET .../config`.
pub(crate) fn digest(guest: &Guest) -> String {
    hex::encode(Sha1::digest(serialize(guest).as_bytes()))
}

/// Converts a raw config section to the JSON object `GET .../config` returns: integer and boolean
/// keys as numbers, every other key (including schema `number`s such as `cpulimit`) as a string.
pub fn config_to_json(kind: GuestKind, config: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in config {
        out.insert(key.clone(), typed_value(kind, key, value));
    }
    out
}

fn typed_value(kind: GuestKind, key: &str, value: &str) -> Value {
    match config_key_type(kind, key) {
        "integer" => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(value)),
        "boolean" => match value.to_ascii_lowercase().as_str() {
            "1" | "on" | "yes" | "true" => Value::from(1),
            "0" | "off" | "no" | "false" => Value::from(0),
            _ => Value::from(value),
        },
        _ => Value::from(value),
    }
}

/// Tags as PVE stores them: lowercased, de-duplicated, sorted, `;`-joined.
pub(crate) fn canonical_tags(value: &str) -> String {
    let mut tags: Vec<String> = value
        .split([',', ';', ' '])
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags.join(";")
}

/// A property string the way PVE's print_property_string writes it: the default key's value first
/// (bare), then the required keys, then the optional keys, each group sorted.
fn canonical_property_string(value: &str, default_key: &str) -> String {
    canonical_with_required(value, default_key, &[])
}

fn canonical_with_required(value: &str, default_key: &str, required: &[&str]) -> String {
    let mut bare = None;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) if k == default_key => bare = Some(v.to_string()),
            Some((k, v)) => pairs.push((k.to_string(), v.to_string())),
            None => bare = Some(part.to_string()),
        }
    }
    pairs.sort_by(|a, b| {
        let rank = |k: &str| usize::from(!required.contains(&k));
        (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0))
    });
    let mut parts: Vec<String> = bare.into_iter().collect();
    parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(",")
}

const NIC_MODELS: &[&str] = &[
    "virtio",
    "e1000",
    "e1000e",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "vmxnet3",
];

/// A qemu NIC as PVE writes it: `virtio=BC:24:11:..,bridge=vmbr0,firewall=1` (a MAC is generated
/// with Proxmox's OUI when none was given).
fn canonical_qemu_net(value: &str, mac_seed: u64) -> String {
    let mut model = None;
    let mut mac = None;
    let mut bridge = None;
    let mut rest: Vec<(String, String)> = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("model", m)) => model = Some(m.to_string()),
            Some(("macaddr", m)) => mac = Some(m.to_string()),
            Some(("bridge", b)) => bridge = Some(b.to_string()),
            Some((k, v)) if NIC_MODELS.contains(&k) => {
                model = Some(k.to_string());
                mac = Some(v.to_string());
            }
            Some((k, v)) => rest.push((k.to_string(), normalise_bool(v))),
            None => model = Some(part.to_string()),
        }
    }
    let mac = mac.unwrap_or_else(|| generated_mac(mac_seed));
    let mut parts = vec![format!(
        "{}={}",
        model.unwrap_or_else(|| "virtio".to_string()),
        mac.to_uppercase()
    )];
    if let Some(b) = bridge {
        parts.push(format!("bridge={b}"));
    }
    rest.sort();
    parts.extend(rest.into_iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(",")
}

/// An LXC NIC: `name=eth0,bridge=vmbr0,hwaddr=BC:24:11:..,ip=dhcp,type=veth` (the required
/// `name` first, then sorted keys).
fn canonical_lxc_net(value: &str, mac_seed: u64) -> String {
    let mut pairs: Vec<(String, String)> = value
        .split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), normalise_bool(v)))
        .collect();
    if !pairs.iter().any(|(k, _)| k == "hwaddr") {
        pairs.push(("hwaddr".to_string(), generated_mac(mac_seed)));
    }
    if !pairs.iter().any(|(k, _)| k == "type") {
        pairs.push(("type".to_string(), "veth".to_string()));
    }
    pairs.sort_by(|a, b| ((a.0 != "name"), &a.0).cmp(&((b.0 != "name"), &b.0)));
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn normalise_bool(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => "1".to_string(),
        "off" | "no" | "false" => "0".to_string(),
        _ => v.to_string(),
    }
}

/// A MAC with the Proxmox OUI `BC:24:11`, deterministic for the seed.
pub(crate) fn generated_mac(seed: u64) -> String {
    let h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        h & 0xff
    )
}

/// Returns the value as PVE would store it for this key.
pub(crate) fn canonical_value(kind: GuestKind, key: &str, value: &str, mac_seed: u64) -> String {
    let numbered = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    match (kind, key) {
        (_, "tags") => canonical_tags(value),
        (GuestKind::Qemu, _) if numbered("net") => canonical_qemu_net(value, mac_seed),
        (GuestKind::Lxc, _) if numbered("net") => canonical_lxc_net(value, mac_seed),
        (GuestKind::Lxc, "rootfs") => canonical_property_string(value, "volume"),
        (GuestKind::Lxc, _) if numbered("mp") => canonical_with_required(value, "volume", &["mp"]),
        (GuestKind::Lxc, "features") => canonical_property_string(value, "__none__"),
        (GuestKind::Qemu, _)
            if [
                "scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused",
            ]
            .iter()
            .any(|p| numbered(p)) =>
        {
            canonical_property_string(value, "file")
        }
        _ => value.to_string(),
    }
}
