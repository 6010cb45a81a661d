//! The three-way comparison of a guest: its file, the live guest, and the base, which is what
//! file and server last agreed on (recorded per guest and field by every `/sync`, kept in
//! `state.db`). A field where file and server differ is **drift** when only the server moved
//! away from the base, a **pending** change when only the file did (the next `/apply` carries it
//! out), and a **conflict** when both moved, to different values. Without a base for the guest
//! (a workspace synced before bases were kept) the side is unknown.
//!
//! Owns: a guest's fields as the files compare them ([`guest_fields`]: `node`, `pool`,
//! `state`, then PVE's config keys such as `memory` and `cores`), the classification
//! ([`compare`]), the base and how a sync moves it forward ([`GuestBase::merged`]), and turning
//! fields back into a guest ([`guest_from_fields`]) for `/resolve`. The sync engine, `/drift`,
//! `watch` and `/resolve` all classify here, so they never disagree.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::view::{file_view, raw_config};
use crate::model::{Guest, GuestKind, GuestStatus, guest_from_config};

/// The fields that are not PVE config keys, compared first and in this order.
pub const PSEUDO_FIELDS: [&str; 3] = ["node", "pool", "state"];

/// A guest's fields as the files compare them: `node`, `pool` (when in one), `state` (running
/// or stopped), then every PVE config key except the lock and the digest. Pass a live guest
/// through [`live_fields`] instead: the files cannot say "paused" or "template running".
pub fn guest_fields(guest: &Guest) -> BTreeMap<String, String> {
    let mut out = raw_config(guest);
    out.insert("node".into(), guest.node.clone());
    if let Some(pool) = &guest.pool {
        out.insert("pool".into(), pool.clone());
    }
    let state = if guest.status == GuestStatus::Running {
        "running"
    } else {
        "stopped"
    };
    out.insert("state".into(), state.into());
    out
}

/// A live guest's fields as its file would hold them ([`file_view`] first).
pub fn live_fields(live: &Guest) -> BTreeMap<String, String> {
    guest_fields(&file_view(live))
}

/// Rebuilds a guest of `kind` and `vmid` from [`guest_fields`] output (used to write one
/// field's value into a file without touching the others).
pub fn guest_from_fields(kind: GuestKind, vmid: u32, fields: &BTreeMap<String, String>) -> Guest {
    let mut raw = fields.clone();
    let node = raw.remove("node").unwrap_or_default();
    let pool = raw.remove("pool");
    let status = match raw.remove("state").as_deref() {
        Some("running") => GuestStatus::Running,
        _ => GuestStatus::Stopped,
    };
    let (mut guest, _warnings) = guest_from_config(vmid, &node, kind, status, pool, &raw);
    guest.lock = None;
    guest.digest = None;
    guest
}

/// Which side moved a field away from the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldChange {
    /// Only the server changed: the cluster drifted from the code.
    Drift,
    /// Only the file changed: a change `/apply` will make.
    Pending,
    /// Both changed, to different values.
    Conflict,
    /// No base is recorded for this field, so the side is not known.
    Unknown,
}

impl FieldChange {
    /// Words for a report line.
    pub fn describe(self) -> &'static str {
        match self {
            FieldChange::Drift => "changed on the server",
            FieldChange::Pending => "changed in the file; /apply makes it so",
            FieldChange::Conflict => "conflict: changed on the server and in the file",
            FieldChange::Unknown => "no record of the last sync for it",
        }
    }

    /// True when the server moved (or may have): what `/drift` and `watch` report as drift.
    pub fn server_moved(self) -> bool {
        self != FieldChange::Pending
    }
}

/// One field that differs between a guest's file and the live guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDrift {
    /// PVE config key (`memory`, `net0`) or `node`, `pool`, `state`.
    pub field: String,
    pub file: Option<String>,
    pub live: Option<String>,
    /// The value at the last sync (`None`: not set then, or not known; see `change`).
    pub base: Option<String>,
    pub change: FieldChange,
}

/// What file and server last agreed on for one guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestBase {
    /// Field -> value; a field not here was not set.
    pub fields: BTreeMap<String, String>,
    /// Fields whose base is not known: they differed when the guest was first recorded.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unknown: BTreeSet<String>,
}

/// The base of every guest, by vmid.
pub type Bases = BTreeMap<u32, GuestBase>;

impl GuestBase {
    /// The base when file and server agree on everything.
    pub fn agreed(fields: &BTreeMap<String, String>) -> Self {
        GuestBase {
            fields: fields.clone(),
            unknown: BTreeSet::new(),
        }
    }

    /// The base after a sync that leaves the file holding `file` and the server `live`: every
    /// field they agree on takes that value; every other field keeps its old base (unknown
    /// when there was none).
    pub fn merged(
        old: Option<&GuestBase>,
        file: &BTreeMap<String, String>,
        live: &BTreeMap<String, String>,
    ) -> Self {
        let mut next = old.cloned().unwrap_or_default();
        let keys: BTreeSet<&String> = file
            .keys()
            .chain(live.keys())
            .chain(old_keys(old))
            .collect();
        for key in keys {
            if file.get(key) == live.get(key) {
                next.unknown.remove(key);
                match live.get(key) {
                    Some(v) => next.fields.insert(key.clone(), v.clone()),
                    None => next.fields.remove(key),
                };
            } else if old.is_none() {
                next.fields.remove(key);
                next.unknown.insert(key.clone());
            }
        }
        next
    }

    /// Records that file and server agree on `field` at `value` (`None`: not set), as
    /// `/resolve` does for the side it keeps.
    pub fn settle(&mut self, field: &str, value: Option<&str>) {
        self.unknown.remove(field);
        match value {
            Some(v) => self.fields.insert(field.to_string(), v.to_string()),
            None => self.fields.remove(field),
        };
    }
}

fn old_keys(old: Option<&GuestBase>) -> impl Iterator<Item = &String> {
    old.into_iter()
        .flat_map(|b| b.fields.keys().chain(b.unknown.iter()))
}

/// Classifies one differing field against `base`.
fn classify(
    base: Option<&GuestBase>,
    field: &str,
    file: Option<&str>,
    live: Option<&str>,
) -> FieldChange {
    let Some(base) = base.filter(|b| !b.unknown.contains(field)) else {
        return FieldChange::Unknown;
    };
    let was = base.fields.get(field).map(String::as_str);
    if live == was {
        FieldChange::Pending
    } else if file == was {
        FieldChange::Drift
    } else {
        FieldChange::Conflict
    }
}

/// Every field where `file` and `live` differ (as [`guest_fields`] and [`live_fields`] give
/// them), pseudo fields first, then config keys in order, each classified against `base`.
pub fn compare(
    file: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
    base: Option<&GuestBase>,
) -> Vec<FieldDrift> {
    let rest: BTreeSet<&str> = file
        .keys()
        .chain(live.keys())
        .map(String::as_str)
        .filter(|k| !PSEUDO_FIELDS.contains(k))
        .collect();
    PSEUDO_FIELDS
        .iter()
        .copied()
        .chain(rest)
        .filter(|key| file.get(*key) != live.get(*key))
        .map(|key| {
            let (f, l) = (file.get(key).cloned(), live.get(key).cloned());
            let change = classify(base, key, f.as_deref(), l.as_deref());
            let base_value = match change {
                FieldChange::Unknown => None,
                _ => base.and_then(|b| b.fields.get(key).cloned()),
            };
            FieldDrift {
                field: key.to_string(),
                file: f,
                live: l,
                base: base_value,
                change,
            }
        })
        .collect()
}

/// Compares a guest as its file describes it with the live guest against `base`.
pub fn guest_changes(file: &Guest, live: &Guest, base: Option<&GuestBase>) -> Vec<FieldDrift> {
    compare(&guest_fields(file), &live_fields(live), base)
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
    fn each_side_is_named_against_the_base() {
        let base = GuestBase::agreed(&map(&[("memory", "2048"), ("cores", "2"), ("name", "a")]));
        let file = map(&[("memory", "3072"), ("cores", "2"), ("name", "b")]);
        let live = map(&[("memory", "4096"), ("cores", "4"), ("name", "a")]);
        let got = compare(&file, &live, Some(&base));
        let by: BTreeMap<&str, FieldChange> =
            got.iter().map(|f| (f.field.as_str(), f.change)).collect();
        assert_eq!(by["memory"], FieldChange::Conflict);
        assert_eq!(by["cores"], FieldChange::Drift);
        assert_eq!(by["name"], FieldChange::Pending);
        let memory = got.iter().find(|f| f.field == "memory").unwrap();
        assert_eq!(memory.base.as_deref(), Some("2048"));
        // Without a base the side is unknown, and no base value is claimed.
        let got = compare(&file, &live, None);
        assert!(
            got.iter()
                .all(|f| f.change == FieldChange::Unknown && f.base.is_none())
        );
    }

    #[test]
    fn a_merge_moves_only_the_fields_both_sides_agree_on() {
        let old = GuestBase::agreed(&map(&[("memory", "2048"), ("cores", "2")]));
        let file = map(&[("memory", "3072"), ("cores", "4"), ("onboot", "1")]);
        let live = map(&[("memory", "4096"), ("cores", "4"), ("onboot", "1")]);
        let next = GuestBase::merged(Some(&old), &file, &live);
        assert_eq!(
            next.fields,
            map(&[("memory", "2048"), ("cores", "4"), ("onboot", "1")])
        );
        // A first record knows only what agrees.
        let first = GuestBase::merged(None, &file, &live);
        assert_eq!(first.unknown, BTreeSet::from(["memory".to_string()]));
        assert!(!first.fields.contains_key("memory"));
        // A field removed on both sides leaves the base.
        let next = GuestBase::merged(
            Some(&old),
            &map(&[("memory", "2048")]),
            &map(&[("memory", "2048")]),
        );
        assert!(!next.fields.contains_key("cores"));
    }

    #[test]
    fn fields_turn_back_into_the_same_guest() {
        let raw = map(&[
            ("name", "web-01"),
            ("memory", "2048"),
            ("cores", "2"),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ("tags", "prod;web"),
        ]);
        let (guest, _) = guest_from_config(
            100,
            "pve1",
            GuestKind::Qemu,
            GuestStatus::Running,
            Some("prod".into()),
            &raw,
        );
        let fields = guest_fields(&guest);
        assert_eq!(fields["state"], "running");
        assert_eq!(fields["pool"], "prod");
        let back = guest_from_fields(GuestKind::Qemu, 100, &fields);
        assert_eq!(guest_fields(&back), fields);
    }
}
