//! Plans and applies: the pure diff of desired (files) against observed (cluster), the plan as
//! data, and the apply engine with its journal.
//!
//! - [`diff()`] (pure) turns desired guests and pools, the observed snapshot and the set of
//!   guests the workspace manages into a [`Plan`].
//! - [`render`] shows a plan like `terraform plan`, as stable JSON, and as a unified diff of PVE
//!   config keys.
//! - [`apply`] runs a plan through `pve::Client` with a journal in `state.db`.
//! - [`lock`] is the workspace apply lock.
//!
//! Nothing here prints; the front ends render what it returns.

pub mod apply;
pub mod diff;
pub mod lock;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use diff::{DiffInput, diff};

use crate::model::{Guest, GuestKind};

/// What a change does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl Action {
    /// Returns the verb for messages (`create`, `update`, ...).
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "destroy",
            Action::NoOp => "keep",
        }
    }

    /// Returns the `terraform plan` symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoOp => " ",
        }
    }
}

/// Which kind of resource a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Vm,
    Container,
    Pool,
}

impl ResourceKind {
    pub fn of(kind: GuestKind) -> Self {
        match kind {
            GuestKind::Qemu => ResourceKind::Vm,
            GuestKind::Lxc => ResourceKind::Container,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Vm => "vm",
            ResourceKind::Container => "container",
            ResourceKind::Pool => "pool",
        }
    }
}

/// One field that changes: a PVE config key (`memory`, `scsi1`, `net0`) or a pseudo field
/// (`node`, `pool`, `state`). `None` means not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A disk that grows: PVE resizes it in place (it never shrinks one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// `scsi0`, `rootfs`, `mp1`.
    pub slot: String,
    pub from_bytes: u64,
    pub to_bytes: u64,
}

/// One planned change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the plan; dependencies refer to it.
    pub id: usize,
    pub action: Action,
    pub resource: ResourceKind,
    /// Guest name or pool id.
    pub name: String,
    /// The guest's vmid: planned (from the file), observed, or `None` when the server picks it.
    pub vmid: Option<u32>,
    /// Node the guest is (or will be) on; `None` for pools.
    pub node: Option<String>,
    /// Field-level changes (for a create, every key set; for a delete, every key removed).
    pub fields: Vec<FieldChange>,
    /// Disks that grow (also listed in `fields`).
    pub resizes: Vec<Resize>,
    /// Why a replace is needed.
    pub reason: Option<String>,
    /// Changes PVE forbids (shrinking a disk), with the reason; a plan with any is not applied.
    pub refused: Vec<String>,
    /// Ids of changes that must finish first.
    pub depends_on: Vec<usize>,
    /// The guest as desired (create, update, replace).
    #[serde(with = "guest_serde")]
    pub desired: Option<Guest>,
    /// The guest as observed (update, replace, delete), with its config digest.
    #[serde(with = "guest_serde")]
    pub observed: Option<Guest>,
}

impl Change {
    /// Returns a label such as `vm "web" (101 on pve1)`.
    pub fn address(&self) -> String {
        let place = match (self.vmid, &self.node) {
            (Some(v), Some(n)) => format!(" ({v} on {n})"),
            (None, Some(n)) => format!(" (new on {n})"),
            (Some(v), None) => format!(" ({v})"),
            (None, None) => String::new(),
        };
        format!("{} \"{}\"{place}", self.resource.as_str(), self.name)
    }

    /// Returns true when the change destroys something (delete or replace).
    pub fn is_destructive(&self) -> bool {
        matches!(self.action, Action::Delete | Action::Replace)
    }

    /// Returns the storages this change allocates on (new disks, growth), for bounded
    /// parallelism per storage.
    pub fn storages(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields
            .iter()
            .filter(|f| is_storage_key(&f.key))
            .filter_map(|f| f.new.as_deref())
            .filter_map(|v| v.split(',').next())
            .filter_map(|v| v.split_once(':').map(|(s, _)| s.to_string()))
            .filter(|s| !s.is_empty() && s != "none")
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn is_storage_key(key: &str) -> bool {
    key == "rootfs" || key.starts_with("mp") || crate::model::config::is_vm_disk_slot(key)
}

/// A plan: the changes, in dependency order, and what it was made against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Serial of the snapshot the plan was made against (when it came from state.db).
    pub based_on_serial: Option<i64>,
    /// SHA-256 over the workspace's `.tf` files when the plan was made.
    pub files_hash: Option<String>,
    /// Notes for the user (unmanaged guests left alone, ...).
    pub notes: Vec<String>,
}

/// Counts in the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanCounts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    /// Returns the changes that do something (everything but no-ops).
    pub fn actionable(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action != Action::NoOp)
    }

    /// Returns true when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.actionable().next().is_none()
    }

    /// Counts as Terraform does: a replace is one add and one destroy.
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for change in self.actionable() {
            match change.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Delete => c.destroy += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1;
                }
                Action::NoOp => {}
            }
        }
        c
    }

    /// Returns every refused change, as sentences naming the resource.
    pub fn refusals(&self) -> Vec<String> {
        self.changes
            .iter()
            .flat_map(|c| {
                c.refused
                    .iter()
                    .map(move |r| format!("{}: {r}", c.address()))
            })
            .collect()
    }

    /// Returns the vmid -> observed digest of every existing guest the plan touches.
    pub fn touched_digests(&self) -> BTreeMap<u32, Option<String>> {
        self.actionable()
            .filter_map(|c| c.observed.as_ref())
            .map(|g| (g.vmid, g.digest.clone()))
            .collect()
    }

    /// Keeps only the changes for `targets` (guest names or pool ids) and what they depend on.
    pub fn targeted(&self, targets: &[String]) -> Result<Plan, String> {
        if targets.is_empty() {
            return Ok(self.clone());
        }
        let mut keep = std::collections::BTreeSet::new();
        for t in targets {
            let found: Vec<usize> = self
                .changes
                .iter()
                .filter(|c| &c.name == t || c.vmid.map(|v| v.to_string()).as_ref() == Some(t))
                .map(|c| c.id)
                .collect();
            if found.is_empty() {
                return Err(format!("no planned change for '{t}'"));
            }
            keep.extend(found);
        }
        // Dependencies come along so a target never runs before what it needs.
        let mut stack: Vec<usize> = keep.iter().copied().collect();
        while let Some(id) = stack.pop() {
            for &dep in &self.changes[id].depends_on {
                if keep.insert(dep) {
                    stack.push(dep);
                }
            }
        }
        let mut plan = self.clone();
        for change in &mut plan.changes {
            if !keep.contains(&change.id) {
                change.action = Action::NoOp;
                change.fields.clear();
                change.resizes.clear();
            }
        }
        Ok(plan)
    }
}

/// Stores a guest in a saved plan as PVE keys plus its place, and reads it back through the
/// model's parser (the model's typed config does not survive a JSON round trip inside the
/// internally tagged `GuestConfig`).
mod guest_serde {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::model::{
        Guest, GuestConfig, GuestKind, GuestStatus, format_guest, guest_from_config,
    };

    #[derive(Serialize, Deserialize)]
    struct Stored {
        vmid: u32,
        node: String,
        kind: GuestKind,
        status: GuestStatus,
        pool: Option<String>,
        digest: Option<String>,
        config: BTreeMap<String, String>,
    }

    pub fn serialize<S: Serializer>(guest: &Option<Guest>, s: S) -> Result<S::Ok, S::Error> {
        guest
            .as_ref()
            .map(|g| {
                let mut config = format_guest(g);
                if let Some(d) = &g.digest {
                    config.insert("digest".into(), d.clone());
                }
                Stored {
                    vmid: g.vmid,
                    node: g.node.clone(),
                    kind: g.kind,
                    status: g.status,
                    pool: g.pool.clone(),
                    digest: g.digest.clone(),
                    config,
                }
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Guest>, D::Error> {
        let stored: Option<Stored> = Option::deserialize(d)?;
        Ok(stored.map(|s| {
            let (mut guest, _) =
                guest_from_config(s.vmid, &s.node, s.kind, s.status, s.pool, &s.config);
            guest.digest = s.digest;
            if let GuestConfig::Container(ct) = &mut guest.config
                && let Some(t) = guest.unmodelled.remove("ostemplate")
            {
                ct.ostemplate = Some(t);
            }
            guest
        }))
    }
}
