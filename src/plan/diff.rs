//! The pure diff: desired guests and pools (from the files) against an observed snapshot, with
//! the set of guests the workspace manages, gives a [`Plan`].
//!
//! Rules (issue 7): guests are matched by vmid; disks compare by slot and NICs by index, so
//! adding one never touches the others; a NIC or disk the files leave to the server (no MAC, a
//! `STORAGE:GiB` allocation) compares equal to what the server chose; a disk that grows is a
//! resize, one that shrinks is refused; `Delete` only for managed guests whose file is gone;
//! guests nobody manages are never planned; node networks and storages are not inputs at all.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::{Action, Change, FieldChange, Plan, Resize, ResourceKind};
use crate::model::propstring::format_size;
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestKind, GuestStatus, format_guest};

/// What a diff compares.
#[derive(Debug, Clone, Copy)]
pub struct DiffInput<'a> {
    /// Guests as the files describe them (vmid 0 = the server picks one on create).
    pub desired: &'a [Guest],
    /// Pools the files declare.
    pub desired_pools: &'a [String],
    pub observed: &'a ClusterSnapshot,
    /// vmids of the guests this workspace manages (imported or created through it).
    pub managed: &'a BTreeSet<u32>,
}

/// Keys PVE fills in by itself; when the files do not set them they are not a difference.
fn is_server_computed(kind: GuestKind, key: &str) -> bool {
    let numbered = |p: &str| {
        key.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(key, "vmgenid" | "smbios1" | "meta" | "digest" | "lock")
        || numbered("unused")
        || (kind == GuestKind::Lxc && matches!(key, "arch" | "ostype"))
}

/// The PVE keys of a guest as the plan compares them (no lock, digest or create-only keys).
pub fn comparable_config(guest: &Guest) -> BTreeMap<String, String> {
    let mut raw = format_guest(guest);
    raw.remove("lock");
    raw.remove("digest");
    // Used only when a container is created; PVE never reports it back.
    raw.remove("ostemplate");
    raw
}

/// True when two guests agree on everything [`comparable_config`] reads (`format_guest`: the
/// config, unmodelled keys, name, tags, description, onboot, template; `lock` is left out of
/// the comparison), so their comparable configs are equal.
fn same_config_inputs(a: &Guest, b: &Guest) -> bool {
    a.config == b.config
        && a.unmodelled == b.unmodelled
        && a.name == b.name
        && a.tags == b.tags
        && a.description == b.description
        && a.on_boot == b.on_boot
        && a.template == b.template
}

fn state_word(g: &Guest) -> Option<String> {
    if g.template {
        return None;
    }
    Some(
        if g.status == GuestStatus::Running {
            "running"
        } else {
            "stopped"
        }
        .to_string(),
    )
}

/// `STORAGE:GiB` (an allocation on create), as (storage, bytes).
fn allocation(volume: &str) -> Option<(&str, u64)> {
    let (storage, size) = volume.split_once(':')?;
    if storage.is_empty() || size.is_empty() {
        return None;
    }
    let gib: f64 = size.parse().ok()?;
    if !size.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((storage, (gib * (1u64 << 30) as f64) as u64))
}

/// A disk-like slot reduced to what the diff needs.
struct Slot<'a> {
    volume: &'a mut String,
    size: &'a mut Option<u64>,
}

fn slots(config: &mut GuestConfig) -> BTreeMap<String, Slot<'_>> {
    let mut out = BTreeMap::new();
    match config {
        GuestConfig::Vm(vm) => {
            for (slot, disk) in vm.disks.iter_mut() {
                if disk.is_cdrom() {
                    continue;
                }
                out.insert(
                    slot.clone(),
                    Slot {
                        volume: &mut disk.volume,
                        size: &mut disk.size_bytes,
                    },
                );
            }
        }
        GuestConfig::Container(ct) => {
            if let Some(root) = ct.rootfs.as_mut() {
                out.insert(
                    "rootfs".to_string(),
                    Slot {
                        volume: &mut root.volume,
                        size: &mut root.size_bytes,
                    },
                );
            }
            for (n, mp) in ct.mount_points.iter_mut() {
                out.insert(
                    format!("mp{n}"),
                    Slot {
                        volume: &mut mp.volume,
                        size: &mut mp.size_bytes,
                    },
                );
            }
        }
    }
    out
}

fn observed_slots(config: &GuestConfig) -> BTreeMap<String, (String, Option<u64>)> {
    let mut copy = config.clone();
    slots(&mut copy)
        .into_iter()
        .map(|(k, s)| (k, (s.volume.clone(), *s.size)))
        .collect()
}

/// Makes `desired` comparable with `observed`: fills in what the server chose (MACs, allocated
/// volumes) and takes disk growth out as resizes. Returns the resizes and the refusals.
fn align(desired: &mut Guest, observed: &Guest) -> (Vec<Resize>, Vec<String>) {
    let mut resizes = Vec::new();
    let mut refused = Vec::new();
    match (&mut desired.config, &observed.config) {
        (GuestConfig::Vm(d), GuestConfig::Vm(o)) => {
            for (index, nic) in d.nics.iter_mut() {
                if nic.mac.is_none()
                    && let Some(live) = o.nics.get(index)
                {
                    nic.mac = live.mac.clone();
                }
            }
        }
        (GuestConfig::Container(d), GuestConfig::Container(o)) => {
            for (index, nic) in d.nics.iter_mut() {
                if let Some(live) = o.nics.get(index) {
                    if nic.hwaddr.is_none() {
                        nic.hwaddr = live.hwaddr.clone();
                    }
                    // PVE adds `type=veth` when the file leaves it out.
                    if let Some(t) = live.extra.get("type") {
                        nic.extra.entry("type".into()).or_insert_with(|| t.clone());
                    }
                }
            }
        }
        _ => {}
    }
    let live = observed_slots(&observed.config);
    for (key, slot) in slots(&mut desired.config) {
        let Some((live_volume, live_size)) = live.get(&key) else {
            continue;
        };
        let want = match allocation(slot.volume) {
            Some((storage, bytes)) => {
                let live_storage = live_volume.split_once(':').map(|(s, _)| s);
                if live_storage != Some(storage) {
                    refused.push(format!(
                        "{key} is on {} but the file puts it on {storage}; moving a disk to another storage is not done by apply (use Move Disk on the node, then /sync)",
                        live_storage.unwrap_or("no storage")
                    ));
                }
                *slot.volume = live_volume.clone();
                Some(bytes)
            }
            None if slot.volume == live_volume => *slot.size,
            None => continue,
        };
        if let (Some(want), Some(have)) = (want, *live_size) {
            if want > have {
                resizes.push(Resize {
                    slot: key.clone(),
                    from_bytes: have,
                    to_bytes: want,
                });
            } else if want < have {
                refused.push(format!(
                    "{key} would shrink from {} to {}; PVE cannot shrink a disk (keep {} or larger in the file)",
                    format_size(have),
                    format_size(want),
                    format_size(have)
                ));
            }
        }
        *slot.size = *live_size;
    }
    (resizes, refused)
}

fn field_changes(
    kind: GuestKind,
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = desired.keys().chain(observed.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let new = desired.get(key);
            let old = observed.get(key);
            if new == old || (new.is_none() && is_server_computed(kind, key)) {
                return None;
            }
            Some(FieldChange {
                key: key.clone(),
                old: old.cloned(),
                new: new.cloned(),
            })
        })
        .collect()
}

fn pseudo(key: &str, old: Option<String>, new: Option<String>) -> Option<FieldChange> {
    (old != new).then(|| FieldChange {
        key: key.to_string(),
        old,
        new,
    })
}

fn new_change(id: usize, action: Action, guest: &Guest) -> Change {
    Change {
        id,
        action,
        resource: ResourceKind::of(guest.kind),
        name: guest.name.clone(),
        vmid: (guest.vmid != 0).then_some(guest.vmid),
        node: Some(guest.node.clone()),
        fields: Vec::new(),
        resizes: Vec::new(),
        reason: None,
        refused: Vec::new(),
        depends_on: Vec::new(),
        desired: None,
        observed: None,
    }
}

/// Every field a create sets.
fn create_fields(desired: &Guest) -> Vec<FieldChange> {
    let mut fields = vec![FieldChange {
        key: "node".into(),
        old: None,
        new: Some(desired.node.clone()),
    }];
    fields.extend(pseudo("pool", None, desired.pool.clone()));
    fields.extend(pseudo("state", None, state_word(desired)));
    fields.extend(
        comparable_config(desired)
            .into_iter()
            .map(|(key, v)| FieldChange {
                key,
                old: None,
                new: Some(v),
            }),
    );
    fields
}

/// Compares one desired guest with the guest observed under its vmid.
pub fn diff_guest(id: usize, desired: &Guest, observed: &Guest) -> Change {
    if desired.kind != observed.kind {
        let mut c = new_change(id, Action::Replace, desired);
        c.reason = Some(format!(
            "vmid {} is a {} on the server but a {} in the file; PVE cannot turn one into the other",
            observed.vmid,
            ResourceKind::of(observed.kind).as_str(),
            ResourceKind::of(desired.kind).as_str()
        ));
        c.fields = create_fields(desired);
        if let GuestConfig::Container(ct) = &desired.config
            && ct.ostemplate.is_none()
        {
            c.refused
                .push("creating a container needs `ostemplate` in the file".into());
        }
        c.desired = Some(desired.clone());
        c.observed = Some(observed.clone());
        return c;
    }
    let mut aligned = desired.clone();
    let (resizes, mut refused) = align(&mut aligned, observed);
    let mut fields = Vec::new();
    fields.extend(pseudo(
        "node",
        Some(observed.node.clone()),
        Some(desired.node.clone()),
    ));
    fields.extend(pseudo("pool", observed.pool.clone(), desired.pool.clone()));
    if !desired.template && !observed.template {
        fields.extend(pseudo("state", state_word(observed), state_word(desired)));
    }
    // Most guests of a large workspace are unchanged: when everything the config is made of
    // is equal, so are the two configs, and neither is formatted.
    let config_fields = if same_config_inputs(&aligned, observed) {
        Vec::new()
    } else {
        field_changes(
            desired.kind,
            &comparable_config(&aligned),
            &comparable_config(observed),
        )
    };
    let mut replace_reason = None;
    for f in &config_fields {
        match f.key.as_str() {
            "unprivileged" => {
                replace_reason = Some(
                    "PVE sets `unprivileged` only when a container is created".to_string(),
                );
            }
            "template" => refused.push(
                "turning a guest into a template (or back) is not done by apply; use the PVE GUI, then /sync"
                    .into(),
            ),
            _ => {}
        }
    }
    fields.extend(config_fields);
    for r in &resizes {
        fields.push(FieldChange {
            key: format!("{} size", r.slot),
            old: Some(format_size(r.from_bytes)),
            new: Some(format_size(r.to_bytes)),
        });
    }
    let action = match (&replace_reason, fields.is_empty() && refused.is_empty()) {
        (Some(_), _) => Action::Replace,
        (None, true) => Action::NoOp,
        (None, false) => Action::Update,
    };
    let mut c = new_change(id, action, desired);
    c.vmid = Some(observed.vmid);
    c.reason = replace_reason;
    c.fields = if action == Action::Replace {
        create_fields(desired)
    } else {
        fields
    };
    c.resizes = if action == Action::Replace {
        Vec::new()
    } else {
        resizes
    };
    if action == Action::Replace
        && let GuestConfig::Container(ct) = &desired.config
        && ct.ostemplate.is_none()
    {
        refused.push(
            "replacing a container creates it again, which needs `ostemplate` in the file".into(),
        );
    }
    c.refused = refused;
    c.desired = Some(desired.clone());
    c.observed = Some(observed.clone());
    c
}

/// Diffs desired against observed. Changes come in dependency order: pools first, then guest
/// creates, updates and replaces (each after the pool it joins), then deletes.
pub fn diff(input: DiffInput<'_>) -> Plan {
    let observed = input.observed;
    let mut plan = Plan::default();
    let mut changes: Vec<Change> = Vec::new();

    // Pools: every pool declared or referenced that does not exist yet is created first.
    let existing_pools: BTreeSet<&str> = observed.pools.iter().map(|p| p.id.as_str()).collect();
    let mut wanted_pools: BTreeSet<&str> = input.desired_pools.iter().map(String::as_str).collect();
    wanted_pools.extend(input.desired.iter().filter_map(|g| g.pool.as_deref()));
    let mut pool_change: BTreeMap<String, usize> = BTreeMap::new();
    for pool in wanted_pools {
        if existing_pools.contains(pool) {
            continue;
        }
        let id = changes.len();
        pool_change.insert(pool.to_string(), id);
        changes.push(Change {
            id,
            action: Action::Create,
            resource: ResourceKind::Pool,
            name: pool.to_string(),
            vmid: None,
            node: None,
            fields: vec![FieldChange {
                key: "poolid".into(),
                old: None,
                new: Some(pool.to_string()),
            }],
            resizes: Vec::new(),
            reason: None,
            refused: Vec::new(),
            depends_on: Vec::new(),
            desired: None,
            observed: None,
        });
    }

    // Guests in the files, in vmid order (new ones last, by name).
    let mut desired: Vec<&Guest> = input.desired.iter().collect();
    desired.sort_by(|a, b| (a.vmid == 0, a.vmid, &a.name).cmp(&(b.vmid == 0, b.vmid, &b.name)));
    let mut seen_vmids: BTreeSet<u32> = BTreeSet::new();
    // One index, not a scan of the cluster's guests per file.
    let live_by_vmid: std::collections::HashMap<u32, &Guest> =
        observed.guests.iter().map(|g| (g.vmid, g)).collect();
    // Each guest is compared on its own (most of a plan over a large cluster): on every core,
    // then the results are taken in order, so ids and notes are as a serial pass makes them.
    let first_id = changes.len();
    let compared: Vec<(Change, Option<String>)> = desired
        .par_iter()
        .enumerate()
        .map(|(k, guest)| compare_one(first_id + k, guest, &live_by_vmid, input.managed))
        .collect();
    for (guest, (mut change, note)) in desired.iter().zip(compared) {
        plan.notes.extend(note);
        if guest.vmid != 0 && !seen_vmids.insert(guest.vmid) {
            change.refused.push(format!(
                "vmid {} is used by more than one file; give each guest its own vmid",
                guest.vmid
            ));
        }
        if let Some(pool) = &guest.pool
            && let Some(&dep) = pool_change.get(pool)
            && change.action != Action::NoOp
        {
            change.depends_on.push(dep);
        }
        changes.push(change);
    }

    // Managed guests whose file is gone: destroy them. Unmanaged guests are left alone.
    let desired_vmids: BTreeSet<u32> = input.desired.iter().map(|g| g.vmid).collect();
    let mut unmanaged = 0usize;
    for live in &observed.guests {
        if desired_vmids.contains(&live.vmid) {
            continue;
        }
        if !input.managed.contains(&live.vmid) {
            unmanaged += 1;
            continue;
        }
        let id = changes.len();
        let mut c = new_change(id, Action::Delete, live);
        c.fields = comparable_config(live)
            .into_iter()
            .map(|(key, v)| FieldChange {
                key,
                old: Some(v),
                new: None,
            })
            .collect();
        if live.template {
            c.refused.push(
                "it is a template; destroying templates is not done by apply (linked clones may depend on it)"
                    .into(),
            );
        }
        c.observed = Some(live.clone());
        changes.push(c);
    }
    if unmanaged > 0 {
        plan.notes.push(format!(
            "{unmanaged} guests on the server are not managed by this workspace and are left alone (/sync imports them)"
        ));
    }
    plan.changes = changes;
    plan
}

/// One guest of the files against the server: its change and, for a managed guest gone from
/// the server, the note that says so.
fn compare_one(
    id: usize,
    guest: &Guest,
    live_by_vmid: &std::collections::HashMap<u32, &Guest>,
    managed: &BTreeSet<u32>,
) -> (Change, Option<String>) {
    let mut note = None;
    let mut change = match (guest.vmid, live_by_vmid.get(&guest.vmid).copied()) {
        (0, _) | (_, None) => {
            let mut c = new_change(id, Action::Create, guest);
            c.fields = create_fields(guest);
            if let GuestConfig::Container(ct) = &guest.config
                && ct.ostemplate.is_none()
            {
                c.refused.push(
                    "creating a container needs `ostemplate` (the template archive) in the file"
                        .into(),
                );
            }
            c.desired = Some(guest.clone());
            if guest.vmid != 0 && managed.contains(&guest.vmid) {
                note = Some(format!(
                    "{} is managed by this workspace but is gone from the server; it will be created again",
                    c.address()
                ));
            }
            c
        }
        (_, Some(live)) => diff_guest(id, guest, live),
    };
    if change.action == Action::NoOp {
        // Nothing reads a kept guest's bodies; without them a plan over 10,000 unchanged
        // guests is kilobytes in memory and in state.db rather than tens of megabytes.
        change.desired = None;
        change.observed = None;
    }
    (change, note)
}

/// The update a guest needs: keys to set (with the server's choices filled in), keys to delete,
/// and the disks to grow. Used by apply to build requests and, on resume, from a fresh read.
pub fn config_update(desired: &Guest, observed: &Guest) -> ConfigUpdate {
    let mut aligned = desired.clone();
    let (resizes, _) = align(&mut aligned, observed);
    let want = comparable_config(&aligned);
    let have = comparable_config(observed);
    let mut set = Vec::new();
    let mut delete = Vec::new();
    for f in field_changes(desired.kind, &want, &have) {
        match f.new {
            Some(v) => set.push((f.key, v)),
            None => delete.push(f.key),
        }
    }
    ConfigUpdate {
        set,
        delete,
        resizes,
    }
}

/// Config keys to change on an existing guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
    pub resizes: Vec<Resize>,
}

impl ConfigUpdate {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty() && self.resizes.is_empty()
    }
}
