//! The Terraform view of a guest: the bpg/proxmox attribute and block values (`VmView`,
//! `CtView`), made from a [`Guest`] for rendering and turned back into a [`Guest`] when reading a
//! file.
//!
//! The round trip is exact by construction. After building a view, the renderer turns it back
//! into PVE's key/value config and compares that with the guest's own: every key the bpg
//! attributes cannot carry exactly (an EFI disk's volume, a `hostpci0`, a second CD-ROM, an
//! unknown sub-option) becomes a `# pve <key> = "<value>"` comment in the resource, and every
//! key the attributes would invent becomes `# pve-absent <key>`. The reader applies those lines
//! after the attributes, so `read(render(g)) == file_view(g)` for every guest, and nothing PVE
//! reports is silently dropped.
//!
//! This file holds the public API (building a [`GuestView`], reading one back, the file view of
//! a guest) and the few values both directions share. The rest is split by concern:
//! `types` the serde structs, `vm` and `ct` building the views, `reverse` turning a view back
//! into a guest, `ignore` the `lifecycle.ignore_changes` entries, and `props` the PVE
//! property-string helpers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Guest, GuestConfig, GuestKind, GuestStatus, format_guest, guest_from_config};

mod ct;
mod ignore;
mod props;
mod reverse;
mod types;
mod vm;

pub use types::*;

const GIB: u64 = 1 << 30;

/// Placeholder for a container's template: PVE does not record it, and the resource ignores
/// changes to `operating_system`, so the value is never used for an imported container.
pub const UNKNOWN_TEMPLATE: &str = "local:vztmpl/unknown-imported-by-proxmox-mpc.tar.zst";

/// The resource of one guest, either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceView {
    Vm(Box<VmView>),
    Ct(Box<CtView>),
}

/// A PVE key kept as a comment because no attribute carries it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verbatim {
    pub key: String,
    pub value: String,
}

/// Everything the guest template needs besides the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestView {
    pub resource: ResourceView,
    /// `# pve key = "value"` lines.
    pub verbatim: Vec<Verbatim>,
    /// `# pve-absent key` lines.
    pub absent: Vec<String>,
    /// Things a reviewer should look at (shown as comments and reported by `/sync`).
    pub warnings: Vec<String>,
    /// `lifecycle.ignore_changes`: what bpg cannot read back after an import, each with why.
    pub ignore_changes: Vec<IgnoredChange>,
}

/// One `lifecycle.ignore_changes` entry and the reason, written as a comment beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredChange {
    pub path: String,
    pub why: String,
}

/// Returns the guest as the workspace files describe it: what Terraform can say about a guest.
/// Run state becomes running or stopped (bpg's `started`), and the lock and digest, which are
/// moments rather than configuration, are dropped.
pub fn file_view(guest: &Guest) -> Guest {
    let mut g = guest.clone();
    g.status = if !g.template && g.status == GuestStatus::Running {
        GuestStatus::Running
    } else {
        GuestStatus::Stopped
    };
    g.lock = None;
    g.digest = None;
    g.unmodelled.remove("lock");
    g.unmodelled.remove("digest");
    g
}

/// PVE's key/value config of a guest as the files compare it (no lock, no digest).
pub fn raw_config(guest: &Guest) -> BTreeMap<String, String> {
    let mut raw = format_guest(guest);
    raw.remove("lock");
    raw.remove("digest");
    raw
}

/// Whole GiB, rounded down as bpg reads sizes (disk/disk.go:462, container.go:2814).
fn floor_gib(bytes: u64) -> u64 {
    bytes / GIB
}

/// The size a file states for the disk `what` of `bytes`: whole GiB rounded down (at least 1),
/// with a warning when that is not the size PVE has.
fn whole_gib(what: &str, bytes: u64, warnings: &mut Vec<String>) -> u64 {
    let gib = floor_gib(bytes).max(1);
    if !bytes.is_multiple_of(GIB) {
        warnings.push(format!(
            "{what} is {} and bpg counts whole GiB (rounding down): the file says {gib} GiB",
            crate::model::propstring::format_size(bytes)
        ));
    }
    gib
}

fn sorted_tags(guest: &Guest) -> Vec<String> {
    let mut tags = guest.tags.clone();
    tags.sort();
    tags
}

fn started(guest: &Guest) -> Option<bool> {
    (!guest.template).then_some(guest.status == GuestStatus::Running)
}

/// Builds the Terraform view of a guest, with the verbatim comments that make it exact.
pub fn to_view(guest: &Guest) -> GuestView {
    let mut warnings = Vec::new();
    let resource = match &guest.config {
        GuestConfig::Vm(vm) => ResourceView::Vm(Box::new(vm::vm_view(guest, vm, &mut warnings))),
        GuestConfig::Container(ct) => {
            ResourceView::Ct(Box::new(ct::ct_view(guest, ct, &mut warnings)))
        }
    };
    let back = from_resource(&resource);
    let original = raw_config(&file_view(guest));
    let read = raw_config(&back);
    let verbatim = original
        .iter()
        .filter(|(k, v)| read.get(*k) != Some(v))
        .map(|(k, v)| Verbatim {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    let absent = read
        .keys()
        .filter(|k| !original.contains_key(*k))
        .cloned()
        .collect();
    let ignore_changes = ignore::ignored_changes(guest);
    GuestView {
        resource,
        verbatim,
        absent,
        warnings,
        ignore_changes,
    }
}

/// Turns a resource view back into a guest (before the verbatim comments are applied).
pub fn from_resource(resource: &ResourceView) -> Guest {
    match resource {
        ResourceView::Vm(vm) => reverse::vm_from_view(vm),
        ResourceView::Ct(ct) => reverse::ct_from_view(ct),
    }
}

/// Rebuilds the guest a file describes: the attributes, then the verbatim comments on top.
pub fn guest_from_file_parts(
    resource: &ResourceView,
    verbatim: &[Verbatim],
    absent: &[String],
) -> Guest {
    let kind = match resource {
        ResourceView::Vm(_) => GuestKind::Qemu,
        ResourceView::Ct(_) => GuestKind::Lxc,
    };
    let base = from_resource(resource);
    let mut raw = raw_config(&base);
    for key in absent {
        raw.remove(key);
    }
    for v in verbatim {
        raw.insert(v.key.clone(), v.value.clone());
    }
    let (mut guest, _warnings) = guest_from_config(
        base.vmid,
        &base.node,
        kind,
        base.status,
        base.pool.clone(),
        &raw,
    );
    guest.lock = None;
    guest.digest = None;
    guest
}
