//! The world a line is checked against: the workspace's desired guests and pools, the last
//! observed snapshot and config.yml's defaults; and the lookups on it that name the valid
//! choices when a node, storage, bridge, pool or guest is not there.

use std::collections::BTreeSet;

use crate::model::{ClusterSnapshot, Guest, GuestKind};

use super::error::{GrammarError, closest, list_of, q};
use super::intent::Target;
use super::words::Kind;

/// PVE accepts vmids from 100 to 999999999.
pub const VMID_MIN: u32 = 100;
pub const VMID_MAX: u32 = 999_999_999;

/// Where a new guest goes when the line does not say: the node, storage and bridge of the
/// active environment's `defaults` in config.yml (`workspace::config::Defaults`, whose
/// parallelism and timeout are no concern of the language).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementDefaults {
    pub node: Option<String>,
    pub storage: Option<String>,
    pub bridge: Option<String>,
}

impl From<&crate::workspace::config::Defaults> for PlacementDefaults {
    fn from(defaults: &crate::workspace::config::Defaults) -> Self {
        PlacementDefaults {
            node: defaults.node.clone(),
            storage: defaults.storage.clone(),
            bridge: defaults.bridge.clone(),
        }
    }
}

/// What validation checks against: the workspace's desired guests and pools (from the files),
/// the last observed snapshot, and config.yml's defaults.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    pub desired: &'a [Guest],
    pub desired_pools: &'a [String],
    pub snapshot: &'a ClusterSnapshot,
    pub defaults: &'a PlacementDefaults,
    /// OS templates known to exist (`local:vztmpl/...`), when they were read.
    pub ct_templates: Option<&'a [String]>,
}

impl World<'_> {
    pub(super) fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.snapshot.nodes.iter().map(|n| n.name.clone()).collect();
        names.sort();
        names
    }

    pub(super) fn check_node(&self, node: &str) -> Result<(), GrammarError> {
        let names = self.node_names();
        if names.iter().any(|n| n == node) {
            return Ok(());
        }
        if names.is_empty() {
            return Err(GrammarError::new(format!(
                "no node {}: the workspace has no snapshot of the cluster yet",
                q(node)
            ))
            .hint("run /sync first"));
        }
        let mut err = GrammarError::new(format!("no node {}; nodes: {}", q(node), list_of(&names)));
        if let Some(best) = closest(node, names.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    pub(super) fn storages_on(&self, node: &str, content: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .snapshot
            .storages
            .iter()
            .filter(|s| s.node == node && s.content.iter().any(|c| c == content))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub(super) fn check_storage(
        &self,
        node: &str,
        id: &str,
        content: &str,
    ) -> Result<(), GrammarError> {
        let holders = self.storages_on(node, content);
        let what = if content == "images" {
            "disks"
        } else {
            "container volumes"
        };
        if holders.iter().any(|h| h == id) {
            return Ok(());
        }
        if let Some(st) = self
            .snapshot
            .storages
            .iter()
            .find(|s| s.node == node && s.id == id)
        {
            return Err(GrammarError::new(format!(
                "storage {} cannot hold {what} (content: {}); storages that can: {}",
                q(id),
                st.content.join(", "),
                list_of(&holders)
            )));
        }
        let mut err = GrammarError::new(format!(
            "no storage {} on {node}; storages that hold {what}: {}",
            q(id),
            list_of(&holders)
        ));
        if let Some(best) = closest(id, holders.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    pub(super) fn bridges_on(&self, node: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot
            .networks
            .iter()
            .filter(|n| n.node == node && (n.kind == "bridge" || n.kind == "OVSBridge"))
            .map(|n| n.iface.clone())
            .collect();
        names.sort();
        names
    }

    pub(super) fn check_bridge(&self, node: &str, bridge: &str) -> Result<(), GrammarError> {
        let names = self.bridges_on(node);
        if names.iter().any(|b| b == bridge) {
            return Ok(());
        }
        let mut err = GrammarError::new(format!(
            "no bridge {} on {node}; bridges: {}",
            q(bridge),
            list_of(&names)
        ));
        if let Some(best) = closest(bridge, names.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    pub(super) fn pool_ids(&self) -> Vec<String> {
        let mut ids: BTreeSet<String> = self.desired_pools.iter().cloned().collect();
        ids.extend(self.snapshot.pools.iter().map(|p| p.id.clone()));
        ids.into_iter().collect()
    }

    pub(super) fn check_pool(&self, id: &str) -> Result<(), GrammarError> {
        let ids = self.pool_ids();
        if ids.iter().any(|p| p == id) {
            return Ok(());
        }
        let mut err = GrammarError::new(format!("no pool {}; pools: {}", q(id), list_of(&ids)));
        err = match closest(id, ids.iter().map(String::as_str)) {
            Some(best) => err.hint(format!("did you mean {best}?")),
            None => err.hint(format!("create it first: create pool {id}")),
        };
        Err(err)
    }

    /// Every guest known: files first, then the live ones not in the files.
    pub(super) fn all_guests(&self) -> Vec<&Guest> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for g in self.desired.iter().chain(self.snapshot.guests.iter()) {
            if seen.insert(g.vmid) {
                out.push(g);
            }
        }
        out
    }

    /// Finds a guest of `kind` by name or vmid among `guests`.
    pub(super) fn find_in<'g>(
        &self,
        guests: &[&'g Guest],
        kind: Kind,
        word: &str,
        place: &str,
    ) -> Result<&'g Guest, GrammarError> {
        let gk = kind.guest_kind();
        let of_kind: Vec<&Guest> = guests
            .iter()
            .copied()
            .filter(|g| Some(g.kind) == gk)
            .collect();
        if let Ok(vmid) = word.parse::<u32>()
            && let Some(g) = of_kind.iter().find(|g| g.vmid == vmid)
        {
            return Ok(g);
        }
        let named: Vec<&&Guest> = of_kind.iter().filter(|g| g.name == word).collect();
        match named.as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => {
                let ids: Vec<String> = many.iter().map(|g| g.vmid.to_string()).collect();
                return Err(GrammarError::new(format!(
                    "{} {} is ambiguous: vmids {}",
                    kind.as_str(),
                    q(word),
                    ids.join(", ")
                ))
                .hint("name it by vmid"));
            }
        }
        if let Some(other) = guests
            .iter()
            .find(|g| g.name == word || g.vmid.to_string() == word)
        {
            let other_kind = if other.kind == GuestKind::Qemu {
                "vm"
            } else {
                "container"
            };
            return Err(GrammarError::new(format!(
                "{} is a {other_kind}, not a {}",
                q(word),
                kind.as_str()
            ))
            .hint(format!("use `{other_kind}` instead of `{}`", kind.as_str())));
        }
        let names: Vec<String> = of_kind.iter().map(|g| g.name.clone()).collect();
        let mut err = GrammarError::new(format!("no {} {}{place}", kind.as_str(), q(word)));
        err = match closest(word, names.iter().map(String::as_str)) {
            Some(best) => err.hint(format!("did you mean {best}?")),
            None if names.is_empty() => err.hint("run /sync to import the cluster's guests"),
            None => err.hint(format!("{}s: {}", kind.as_str(), list_of(&names))),
        };
        Err(err)
    }

    /// A guest in the workspace files (for declarative verbs).
    pub(super) fn desired_guest(&self, kind: Kind, word: &str) -> Result<&Guest, GrammarError> {
        let files: Vec<&Guest> = self.desired.iter().collect();
        self.find_in(&files, kind, word, " in the workspace files")
            .map_err(|e| {
                if e.message.starts_with("no ")
                    && self
                        .snapshot
                        .guests
                        .iter()
                        .any(|g| g.name == word || g.vmid.to_string() == word)
                {
                    GrammarError::new(format!(
                        "{} {} is on the server but not in the workspace files",
                        kind.as_str(),
                        q(word)
                    ))
                    .hint("run /sync to import it first")
                } else {
                    e
                }
            })
    }

    /// A guest on the server, as last observed (for imperative verbs).
    pub(super) fn live_guest(&self, kind: Kind, word: &str) -> Result<&Guest, GrammarError> {
        let live: Vec<&Guest> = self.snapshot.guests.iter().collect();
        self.find_in(&live, kind, word, " on the server")
            .map_err(|e| {
                if e.message.starts_with("no ") && self.desired.iter().any(|g| g.name == word) {
                    GrammarError::new(format!(
                        "{} {} is in the files but not on the server yet",
                        kind.as_str(),
                        q(word)
                    ))
                    .hint("run /apply to create it, then /sync")
                } else {
                    e
                }
            })
    }

    pub(super) fn vmid_owner(&self, vmid: u32) -> Option<&Guest> {
        self.all_guests().into_iter().find(|g| g.vmid == vmid)
    }

    pub(super) fn free_vmid(&self) -> Option<u32> {
        let used: BTreeSet<u32> = self.all_guests().iter().map(|g| g.vmid).collect();
        (VMID_MIN..=VMID_MAX).find(|id| !used.contains(id))
    }
}

/// The target a command names, from the guest it resolved to.
pub(super) fn target_of(g: &Guest) -> Target {
    Target {
        vmid: g.vmid,
        name: g.name.clone(),
        node: g.node.clone(),
        kind: g.kind,
    }
}
