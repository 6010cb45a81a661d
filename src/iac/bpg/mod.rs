//! A model of the bpg/proxmox provider v0.111.1's import, independent of our generator so it can
//! judge it.
//!
//! Owns: the predictor ([`predict_state`]): given a guest as PVE reports it ([`PveGuest`]), the
//! Terraform state bpg holds right after `terraform import` + Read (the read-back rules of
//! `docs/bpg-import.md` §1 and §2, each cited with the provider's `file:line`); the
//! comparator ([`compare`]): what `terraform plan` would show for a resource body against that
//! state, with its consequence (update, update with reboot, replace), following
//! terraform-plugin-sdk v2's diff rules (docs/bpg-import.md §0); and the checked-in provider schema
//! ([`schema`]). PVE property strings are parsed here the way bpg parses them ([`pve`]).
//! Nothing here does I/O.

mod compare;
mod ct;
pub mod pve;
mod vm;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::model::GuestKind;

pub use compare::compare;

/// One guest as PVE reports it, the input of the import model.
#[derive(Debug, Clone, Copy)]
pub struct PveGuest<'a> {
    pub kind: GuestKind,
    pub vmid: u32,
    pub node: &'a str,
    pub running: bool,
    /// The pool PVE lists the guest in (from /pools), if any.
    pub pool: Option<&'a str>,
    /// The config keys as PVE's API returns them (`memory` -> `2048`, `scsi0` ->
    /// `local-lvm:vm-100-disk-0,iothread=1,size=32G`, `tags` -> `a;b`, ...). Raw `lxc.*` lines
    /// appear as keys like `lxc.idmap`; several lines of one key are joined with `\n`.
    pub config: &'a BTreeMap<String, String>,
    /// Storage id -> PVE storage type (`dir`, `lvmthin`, `lvm`, `zfspool`, `nfs`, ...), for the
    /// file formats bpg looks up through the storage API.
    pub storage_types: &'a BTreeMap<String, String>,
}

/// The Terraform resource type bpg uses for a guest kind.
pub fn resource_type(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "proxmox_virtual_environment_vm",
        GuestKind::Lxc => "proxmox_virtual_environment_container",
    }
}

/// The state bpg v0.111.1 holds for this guest right after `terraform import` + Read: a JSON
/// object, attribute -> value, every block as an array of objects (empty array where Read stores
/// `[]`); attributes Read never sets are absent (null). Resource type from [`resource_type`].
pub fn predict_state(guest: &PveGuest) -> serde_json::Value {
    let mut state = match guest.kind {
        GuestKind::Qemu => vm::predict(guest),
        GuestKind::Lxc => ct::predict(guest),
    };
    // Blocks Read never touches (`clone`, container `wait_for_ip`) are empty lists in state.
    let blocks = resource_block(resource_type(guest.kind))
        .and_then(|b| b.get("block_types"))
        .and_then(serde_json::Value::as_object);
    if let (Some(blocks), Some(map)) = (blocks, state.as_object_mut()) {
        for name in blocks.keys() {
            map.entry(name.clone())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        }
    }
    state
}

/// What applying a planned change does to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consequence {
    /// Update in place, the guest keeps running.
    Update,
    /// Update in place that restarts the guest.
    Reboot,
    /// Destroy and re-create.
    Replace,
}

/// One attribute Terraform would plan to change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// Attribute path as Terraform shows it: `cpu[0].cores`, `operating_system`,
    /// `disk[scsi0].size` (lists keyed by interface/device use the key), `timeout_create`.
    pub attribute: String,
    /// What the file (with schema defaults) says, and what the state will hold; JSON null when
    /// absent.
    pub file: serde_json::Value,
    pub predicted: serde_json::Value,
    pub consequence: Consequence,
}

static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../../tests/fixtures/bpg-schema/schema.json"
    ))
    .unwrap_or(serde_json::Value::Null)
});

/// The checked-in provider schema (`tests/fixtures/bpg-schema/schema.json`), parsed once.
pub fn schema() -> &'static serde_json::Value {
    &SCHEMA
}

/// The schema block of a resource type, if the schema has it.
fn resource_block(resource_type: &str) -> Option<&'static serde_json::Value> {
    schema()
        .get("resource_schemas")?
        .get(resource_type)?
        .get("block")
}
