//! Flag values that need no world to check: guest names, pool ids, tags, snapshot names, disk
//! and NIC specs, addresses and container features. Each check follows what PVE accepts, so a
//! refusal here saves a failed `/apply`.

use std::collections::BTreeMap;

use super::error::{GrammarError, q};
use super::units::disk_gib;
use super::words::Kind;

/// Returns whether PVE would accept `name` as a VM name or container hostname (a DNS name).
pub fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub(super) fn check_name(kind: Kind, name: &str) -> Result<(), GrammarError> {
    if valid_dns_name(name) {
        return Ok(());
    }
    let what = if kind == Kind::Container {
        "hostname"
    } else {
        "name"
    };
    Err(GrammarError::new(format!(
        "{} is not a valid {what}: PVE accepts letters, digits and '-' in dot-separated parts (a DNS name), e.g. web-01",
        q(name)
    )))
}

/// Pool ids: PVE's `pve-poolid` (letters, digits, `-`, `_`).
pub(super) fn check_pool_id(id: &str) -> Result<(), GrammarError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "{} is not a valid pool id: use letters, digits, '-' and '_'",
            q(id)
        )))
    }
}

pub(super) fn parse_tags(text: &str) -> Result<Vec<String>, GrammarError> {
    let mut out = Vec::new();
    for tag in text.split([',', ';', ' ']).filter(|t| !t.is_empty()) {
        let lower = tag.to_ascii_lowercase();
        let ok = lower
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.'));
        if !ok {
            return Err(GrammarError::new(format!(
                "{} is not a valid tag: PVE tags use letters, digits, '_', '-', '+' and '.'",
                q(tag)
            )));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out.sort();
    Ok(out)
}

/// PVE snapshot names (`pve-configid`): a letter first, then letters, digits and `_`; 2 to 40.
pub(super) fn check_snapshot_name(name: &str) -> Result<(), GrammarError> {
    let ok = (2..=40).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "{} is not a valid snapshot name: a letter first, then letters, digits or '_' (2 to 40; PVE allows no '-')",
            q(name)
        )))
    }
}

/// A disk as typed: slot, storage and size in GiB; slot and storage fall back to defaults.
pub(super) type DiskSpec = (Option<String>, Option<String>, u64);

/// The disk slots PVE has, by bus: how many of each (`scsi0` to `scsi30`, ...).
pub const DISK_BUSES: [(&str, u32); 4] = [("scsi", 31), ("virtio", 16), ("sata", 6), ("ide", 4)];

/// True for a disk slot PVE has (`scsi1`, `virtio0`; not `scsi99`, `scsi01` or `nvme0`).
pub fn is_disk_slot(slot: &str) -> bool {
    DISK_BUSES.iter().any(|(bus, count)| {
        slot.strip_prefix(bus).is_some_and(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n == "0" || !n.starts_with('0'))
                && n.parse::<u32>().is_ok_and(|i| i < *count)
        })
    })
}

/// A disk spec: SIZE, STORAGE:SIZE or SLOT=STORAGE:SIZE.
pub(super) fn parse_disk_spec(flag: &str, text: &str) -> Result<DiskSpec, GrammarError> {
    let (slot, rest) = match text.split_once('=') {
        Some((slot, rest)) => (Some(slot.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    if let Some(slot) = &slot
        && !is_disk_slot(slot)
    {
        return Err(GrammarError::new(format!(
            "{} is not a disk slot; slots are scsi0-scsi30, virtio0-virtio15, sata0-sata5 \
             and ide0-ide3",
            q(slot)
        )));
    }
    let (storage, size) = match rest.rsplit_once(':') {
        Some((st, size)) => (Some(st.to_string()), size),
        None => (None, rest),
    };
    Ok((slot, storage, disk_gib(flag, size)?))
}

/// A NIC spec: BRIDGE[,tag=N][,firewall=0|1][,model=M].
pub(super) struct NetSpec {
    pub bridge: String,
    pub tag: Option<u16>,
    pub firewall: Option<bool>,
    pub model: Option<String>,
}

pub(super) fn parse_net_spec(flag: &str, text: &str) -> Result<NetSpec, GrammarError> {
    let mut parts = text.split(',');
    let bridge = parts.next().unwrap_or_default().to_string();
    if bridge.is_empty() || bridge.contains('=') {
        return Err(GrammarError::new(format!(
            "--{flag} {} must start with a bridge, e.g. --{flag} vmbr0,tag=20",
            q(text)
        )));
    }
    let mut spec = NetSpec {
        bridge,
        tag: None,
        firewall: None,
        model: None,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("tag", n)) => match n.parse::<u16>() {
                Ok(t) if (1..=4094).contains(&t) => spec.tag = Some(t),
                _ => {
                    return Err(GrammarError::new(format!(
                        "VLAN tag {} is out of range: use 1 to 4094",
                        q(n)
                    )));
                }
            },
            Some(("firewall", b)) => {
                spec.firewall = Some(match b {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    _ => {
                        return Err(GrammarError::new(format!(
                            "firewall={} must be 0 or 1",
                            q(b)
                        )));
                    }
                })
            }
            Some(("model", m)) if flag != "net" || !m.is_empty() => {
                let models = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];
                if !models.contains(&m) {
                    return Err(GrammarError::new(format!(
                        "unknown NIC model {}; models: {}",
                        q(m),
                        models.join(", ")
                    )));
                }
                spec.model = Some(m.to_string());
            }
            _ => {
                return Err(GrammarError::new(format!(
                    "unknown NIC option {} in --{flag}; options: tag=N, firewall=0|1, model=M",
                    q(part)
                )));
            }
        }
    }
    Ok(spec)
}

pub(super) fn check_ip(flag: &str, text: &str) -> Result<(), GrammarError> {
    if text == "dhcp" {
        return Ok(());
    }
    let ok = text.split_once('/').is_some_and(|(addr, len)| {
        addr.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
    });
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "--{flag} {} must be an address with its prefix length (10.0.0.5/24) or dhcp",
            q(text)
        )))
    }
}

pub(super) fn check_addr(flag: &str, text: &str) -> Result<(), GrammarError> {
    if text.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "--{flag} {} is not an IP address",
            q(text)
        )))
    }
}

pub(super) fn parse_features(text: &str) -> Result<BTreeMap<String, String>, GrammarError> {
    let known = ["nesting", "keyctl", "fuse", "mknod"];
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, "1"));
        if !known.contains(&k) || !matches!(v, "0" | "1") {
            return Err(GrammarError::new(format!(
                "unknown feature {}; features: nesting=1, keyctl=1, fuse=1, mknod=1",
                q(part)
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}
