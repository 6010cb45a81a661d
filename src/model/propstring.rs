//! PVE property strings (`local-lvm:vm-100-disk-0,discard=on,size=32G`), PVE sizes (`32G`) and
//! the `urlencoded` format of `sshkeys`, parsed and formatted the way PVE itself prints them.
//!
//! PVE prints a property string as the default key's bare value first, then every other key in
//! sorted order (pve-common `JSONSchema.pm` `print_property_string`). Formatting here follows
//! that order, so a value PVE wrote comes back byte for byte.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed property string: the bare (default-key) value, if any, and the `key=value` options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyString {
    /// The part without `key=`, e.g. the volume in a disk or `1` in `agent: 1`.
    pub bare: Option<String>,
    /// Every `key=value` part, keys unique.
    pub options: BTreeMap<String, String>,
}

/// Why a property string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyStringError(pub String);

impl fmt::Display for PropertyStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PropertyStringError {}

impl PropertyString {
    /// Parses `bare,key=value,...`. Empty parts are skipped; a second bare value or a repeated
    /// key is an error because PVE would reject it too.
    pub fn parse(text: &str) -> Result<Self, PropertyStringError> {
        let mut parsed = PropertyString::default();
        for part in text.split(',') {
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((key, value)) => {
                    if key.is_empty() {
                        return Err(PropertyStringError(format!(
                            "empty option name in '{text}'"
                        )));
                    }
                    if parsed
                        .options
                        .insert(key.to_string(), value.to_string())
                        .is_some()
                    {
                        return Err(PropertyStringError(format!(
                            "option '{key}' appears twice in '{text}'"
                        )));
                    }
                }
                None => {
                    if parsed.bare.is_some() {
                        return Err(PropertyStringError(format!(
                            "more than one value without a key in '{text}'"
                        )));
                    }
                    parsed.bare = Some(part.to_string());
                }
            }
        }
        Ok(parsed)
    }

    /// Removes and returns an option.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    /// Formats as PVE does: bare value first, then options sorted by key.
    pub fn format(&self) -> String {
        format_parts(self.bare.as_deref(), &self.options)
    }
}

/// Formats a bare value and options in PVE's order (bare first, then sorted keys).
pub fn format_parts(bare: Option<&str>, options: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    if let Some(bare) = bare {
        out.push_str(bare);
    }
    for (key, value) in options {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Parses a PVE boolean as property strings accept it (`1/0`, `on/off`, `yes/no`,
/// `true/false`, any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Formats a boolean the way PVE stores it.
pub fn format_bool(value: bool) -> String {
    if value { "1" } else { "0" }.to_string()
}

/// Parses a PVE disk size (`32G`, `104858K`, `4M`, `1.5T`, plain bytes) into bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((idx, c)) if c.is_ascii_alphabetic() => (&text[..idx], Some(c.to_ascii_uppercase())),
        _ => (text, None),
    };
    let multiplier: u64 = match unit {
        None => 1,
        Some('K') => 1 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        Some('T') => 1 << 40,
        Some(_) => return None,
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier);
    }
    let fractional: f64 = number.parse().ok()?;
    let bytes = (fractional * multiplier as f64).round();
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Some(bytes as u64)
    } else {
        None
    }
}

/// Formats bytes with the largest unit that divides them exactly, as PVE's `format_size` does.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    if bytes == 0 {
        return "0".to_string();
    }
    for (size, suffix) in UNITS {
        if bytes.is_multiple_of(size) {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Characters left as they are by [`encode_sshkeys`]: RFC 3986 unreserved.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes text for PVE's `urlencoded` format (used by `sshkeys`): everything outside
/// RFC 3986 unreserved becomes `%XX`.
pub fn encode_sshkeys(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if is_unreserved(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes a `urlencoded` value. Invalid escapes are kept literally, as PVE's own decoder does.
pub fn decode_sshkeys(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Splits a PVE list (`pve-tag-list` and similar): separators are `,` `;` and whitespace.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_string_round_trips_in_pve_order() {
        let text = "local:8006/vm-8006-disk-0.qcow2,discard=on,iothread=1,size=104858K";
        let parsed = PropertyString::parse(text).unwrap();
        assert_eq!(
            parsed.bare.as_deref(),
            Some("local:8006/vm-8006-disk-0.qcow2")
        );
        assert_eq!(parsed.options["size"], "104858K");
        assert_eq!(parsed.format(), text);
    }

    #[test]
    fn repeated_key_and_two_bare_values_are_errors() {
        assert!(PropertyString::parse("a,b").is_err());
        assert!(PropertyString::parse("x=1,x=2").is_err());
        assert!(PropertyString::parse("=1").is_err());
    }

    #[test]
    fn sizes_use_largest_exact_unit() {
        assert_eq!(parse_size("104858K"), Some(104858 * 1024));
        assert_eq!(format_size(104858 * 1024), "104858K");
        assert_eq!(parse_size("32G"), Some(32 << 30));
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(parse_size("1.5G"), Some(1536 << 20));
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("G"), None);
    }

    #[test]
    fn sshkeys_encoding_is_symmetric_and_matches_pve_pattern() {
        let keys = "ssh-ed25519 AAAAC3Nz+/= user@host\nssh-rsa AAAB3 other";
        let encoded = encode_sshkeys(keys);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-%_.!~*'()".contains(&b))
        );
        assert!(encoded.contains("%20") && encoded.contains("%0A") && encoded.contains("%2B"));
        assert_eq!(decode_sshkeys(&encoded), keys);
    }

    #[test]
    fn lists_split_on_all_pve_separators() {
        assert_eq!(split_list("a;b, c d"), vec!["a", "b", "c", "d"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn booleans_accept_pve_spellings() {
        for t in ["1", "on", "YES", "true"] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["0", "off", "no", "False"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
