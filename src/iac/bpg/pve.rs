//! PVE value parsing the way bpg v0.111.1 parses it: property strings, sizes, indexed keys and
//! the key order bpg lists map entries in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A PVE property string split as bpg's `UnmarshalJSON` functions split it: on `,`, each token
/// trimmed and split on every `=`; one part is a bare token, two parts a pair, more is ignored
/// (e.g. `vms/custom_storage_device.go:251-253`).
#[derive(Debug, Default)]
pub struct Props {
    bare: Vec<String>,
    pairs: Vec<(String, String)>,
}

impl Props {
    /// Splits `text` with `strings.Split(p, "=")` semantics.
    pub fn parse(text: &str) -> Self {
        Self::split(text, false)
    }

    /// Splits `text` on the first `=` only (`strings.SplitN(p, "=", 2)`, e.g. `custom_smbios.go`).
    pub fn parse_first_eq(text: &str) -> Self {
        Self::split(text, true)
    }

    fn split(text: &str, first_only: bool) -> Self {
        let mut props = Props::default();
        for token in text.split(',') {
            let token = token.trim();
            let parts: Vec<&str> = if first_only {
                token.splitn(2, '=').collect()
            } else {
                token.split('=').collect()
            };
            match parts.as_slice() {
                [bare] => props.bare.push((*bare).to_string()),
                [k, v] => props.pairs.push(((*k).to_string(), (*v).to_string())),
                _ => {}
            }
        }
        props
    }

    /// The last bare token (Go parsers overwrite the field for each one).
    pub fn bare(&self) -> Option<&str> {
        self.bare.last().map(String::as_str)
    }

    /// The first token when it is bare (`custom_amdsev.go`: `len(v) == 1 && i == 0`).
    pub fn first_bare(&self, text: &str) -> Option<String> {
        let first = text.split(',').next()?.trim();
        (!first.contains('=')).then(|| first.to_string())
    }

    /// The value of `key` (last occurrence wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key=1` as bpg reads `types.CustomBool(v == "1")`; `None` when absent.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v == "1")
    }

    /// An integer option; `None` when absent or not an integer (bpg would fail the Read).
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// A float option (`ptr.ParseFloat64Ptr`).
    pub fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// A PVE boolean key (`"1"` is true), as `types.CustomBool` decodes it.
pub fn bool_key(config: &BTreeMap<String, String>, key: &str) -> Option<bool> {
    config.get(key).map(|v| v.trim() == "1")
}

/// An integer key.
pub fn int_key(config: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    config.get(key).and_then(|v| v.trim().parse().ok())
}

/// A PVE size (`32G`, `2252M`, `512K`, `1T`, `1.5G`, plain bytes) in bytes, rounded up as
/// `types.ParseDiskSize` does (`proxmox/types/disk_size.go:19,80-103`).
pub fn size_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((value * factor).ceil() as u64)
}

/// Whole GiB, truncated: `DiskSize.InGigabytes` (`proxmox/types/disk_size.go:40-46`); a missing
/// or unparsable size is 0.
pub fn size_gib_floor(text: Option<&str>) -> i64 {
    text.and_then(size_bytes)
        .map_or(0, |b| (b / (1024 * 1024 * 1024)) as i64)
}

/// The `(index, value)` of every key `<prefix><N>` with `N < max`, ordered by `N`.
pub fn indexed<'a>(
    config: &'a BTreeMap<String, String>,
    prefix: &str,
    max: u32,
) -> Vec<(u32, &'a str, &'a str)> {
    let mut found: Vec<(u32, &str, &str)> = config
        .iter()
        .filter_map(|(k, v)| {
            let digits = k.strip_prefix(prefix)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = digits.parse().ok()?;
            (n < max).then_some((n, k.as_str(), v.as_str()))
        })
        .collect();
    found.sort_by_key(|(n, _, _)| *n);
    found
}

/// `utils.CompareWithPrefix` (`utils/maps.go:39-...`): with a common prefix the rests compare as
/// numbers when both parse, else the whole strings compare.
pub fn compare_with_prefix(a: &str, b: &str) -> Ordering {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    if common > 0 {
        let (ra, rb) = (&a[common..], &b[common..]);
        if let (Ok(na), Ok(nb)) = (ra.parse::<i64>(), rb.parse::<i64>()) {
            let by_number = na.cmp(&nb);
            if by_number != Ordering::Equal {
                return by_number;
            }
        }
    }
    a.cmp(b)
}

/// The extension of the path part of a volume (`filepath.Ext`), without the dot.
pub fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let dot = name.rfind('.')?;
    let ext = &name[dot + 1..];
    (!ext.is_empty()).then_some(ext)
}

/// `url.QueryUnescape`: `%XX` decoded, `+` is a space; invalid escapes leave the text as is.
pub fn query_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => return text.to_string(),
                }
            }
            b'%' => return text.to_string(),
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_gib_floor(Some("32G")), 32);
        assert_eq!(size_gib_floor(Some("2252M")), 2);
        assert_eq!(size_gib_floor(Some("512K")), 0);
        assert_eq!(size_gib_floor(Some("1T")), 1024);
        assert_eq!(size_gib_floor(None), 0);
        assert_eq!(size_bytes("4M"), Some(4 * 1024 * 1024));
    }

    #[test]
    fn props_split_like_go() {
        let p = Props::parse("local-lvm:vm-1-disk-0,iothread=1,size=32G,bad=a=b");
        assert_eq!(p.bare(), Some("local-lvm:vm-1-disk-0"));
        assert_eq!(p.flag("iothread"), Some(true));
        assert_eq!(p.get("bad"), None);
    }

    #[test]
    fn key_order_is_numeric_within_prefix() {
        let mut keys = vec!["scsi10", "scsi2", "ide0", "sata1", "virtio0"];
        keys.sort_by(|a, b| compare_with_prefix(a, b));
        assert_eq!(keys, vec!["ide0", "sata1", "scsi2", "scsi10", "virtio0"]);
    }

    #[test]
    fn unescape() {
        assert_eq!(
            query_unescape("ssh-ed25519%20AAA%0Ab"),
            "ssh-ed25519 AAA\nb"
        );
    }
}
