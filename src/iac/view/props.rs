//! PVE property-string helpers both directions share: reading a flag or an option list out of
//! PVE's key/value text, and writing a view value back in the form PVE itself writes.

use std::collections::BTreeMap;

use super::types::StartupView;
use crate::model::propstring::parse_bool;

pub(super) fn bool_opt(extra: &BTreeMap<String, String>, key: &str) -> Option<bool> {
    extra.get(key).and_then(|v| parse_bool(v))
}

pub(super) fn put_bool(extra: &mut BTreeMap<String, String>, key: &str, value: Option<bool>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), if v { "1" } else { "0" }.to_string());
    }
}

pub(super) fn put_str(extra: &mut BTreeMap<String, String>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), v.clone());
    }
}

pub(super) fn put_num(extra: &mut BTreeMap<String, String>, key: &str, value: Option<f64>) {
    if let Some(v) = value {
        extra.insert(key.to_string(), format_number(v));
    }
}

/// A number as PVE writes it: `2`, not `2.0`.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

pub(super) fn put_startup(extra: &mut BTreeMap<String, String>, startup: Option<&StartupView>) {
    let Some(s) = startup else {
        return;
    };
    let parts: Vec<String> = [
        ("order", s.order),
        ("up", s.up_delay),
        ("down", s.down_delay),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    extra.insert("startup".into(), parts.join(","));
}

/// A property string's options, the bare first value under `bare_key` (`virtio=..`-style
/// strings have none).
pub(super) fn options(text: &str, bare_key: &str) -> BTreeMap<String, String> {
    // A string PVE would refuse (a repeated key) gives no attributes: the key then stays a
    // `# pve` line, which keeps the round trip exact.
    let Ok(parsed) = crate::model::propstring::PropertyString::parse(text) else {
        return BTreeMap::new();
    };
    let mut out = parsed.options;
    if let Some(bare) = parsed.bare {
        out.insert(bare_key.to_string(), bare);
    }
    out
}

pub(super) fn startup_view(text: &str) -> StartupView {
    let opts = options(text, "order");
    let int = |k: &str| opts.get(k).and_then(|v| v.parse().ok());
    StartupView {
        order: int("order"),
        up_delay: int("up"),
        down_delay: int("down"),
    }
}
