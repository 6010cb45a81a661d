//! The vocabulary: verbs, kinds and the words `list` takes, each with its aliases.

use crate::model::GuestKind;

/// The verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Set,
    Delete,
    List,
    Show,
    Start,
    Stop,
    Shutdown,
    Reboot,
    Snapshot,
    Snapshots,
    Rollback,
    Migrate,
    Clone,
}

/// Every verb word (aliases included) with its verb.
pub const VERBS: &[(&str, Verb)] = &[
    ("create", Verb::Create),
    ("set", Verb::Set),
    ("delete", Verb::Delete),
    ("rm", Verb::Delete),
    ("list", Verb::List),
    ("show", Verb::Show),
    ("start", Verb::Start),
    ("stop", Verb::Stop),
    ("shutdown", Verb::Shutdown),
    ("reboot", Verb::Reboot),
    ("snapshot", Verb::Snapshot),
    ("snapshots", Verb::Snapshots),
    ("rollback", Verb::Rollback),
    ("migrate", Verb::Migrate),
    ("clone", Verb::Clone),
];

impl Verb {
    pub fn as_str(self) -> &'static str {
        VERBS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(w, _)| w)
    }

    /// Returns true for verbs that act on the server at once.
    pub fn is_imperative(self) -> bool {
        matches!(
            self,
            Verb::Start
                | Verb::Stop
                | Verb::Shutdown
                | Verb::Reboot
                | Verb::Snapshot
                | Verb::Snapshots
                | Verb::Rollback
                | Verb::Migrate
        )
    }
}

/// What a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vm,
    Container,
    Pool,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vm => "vm",
            Kind::Container => "container",
            Kind::Pool => "pool",
        }
    }

    pub(super) fn guest_kind(self) -> Option<GuestKind> {
        match self {
            Kind::Vm => Some(GuestKind::Qemu),
            Kind::Container => Some(GuestKind::Lxc),
            Kind::Pool => None,
        }
    }
}

/// Kind words (aliases included).
pub const KINDS: &[(&str, Kind)] = &[
    ("vm", Kind::Vm),
    ("container", Kind::Container),
    ("ct", Kind::Container),
    ("lxc", Kind::Container),
    ("pool", Kind::Pool),
];

/// What `list` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListWhat {
    Vms,
    Containers,
    Nodes,
    Storages,
    Networks,
    Pools,
}

/// `list` words (singular forms accepted too).
pub const LIST_WORDS: &[(&str, ListWhat)] = &[
    ("vms", ListWhat::Vms),
    ("vm", ListWhat::Vms),
    ("containers", ListWhat::Containers),
    ("container", ListWhat::Containers),
    ("cts", ListWhat::Containers),
    ("ct", ListWhat::Containers),
    ("lxc", ListWhat::Containers),
    ("nodes", ListWhat::Nodes),
    ("node", ListWhat::Nodes),
    ("storages", ListWhat::Storages),
    ("storage", ListWhat::Storages),
    ("networks", ListWhat::Networks),
    ("network", ListWhat::Networks),
    ("bridges", ListWhat::Networks),
    ("pools", ListWhat::Pools),
    ("pool", ListWhat::Pools),
];
