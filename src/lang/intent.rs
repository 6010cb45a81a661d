//! What a valid line asks for: the typed [`Intent`] and the pieces it carries. The commands
//! carry an intent out; nothing here acts.

use crate::model::{Guest, GuestKind, PowerAction};

use super::words::ListWhat;

/// A guest as a command names it, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub kind: GuestKind,
}

/// A new guest for the files, with what was chosen for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGuest {
    pub guest: Guest,
    /// Defaults picked by the console, said out loud ("node pve2 (most free memory)").
    pub chosen: Vec<String>,
    /// Why the console chose the node, when it did ("chose pve2: most free memory (...)").
    pub placement: Option<String>,
    /// `--ssh-key` file to read into cloud-init (read by the command, not here).
    pub ssh_key_file: Option<String>,
    /// The guest whose configuration was copied (`clone`, `--clone`).
    pub copied_from: Option<Target>,
}

/// Filters of `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub node: Option<String>,
    pub tag: Option<String>,
    pub status: Option<String>,
    pub pool: Option<String>,
    pub output: Option<String>,
}

/// What a valid line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Create(Box<NewGuest>),
    CreatePool {
        id: String,
        comment: Option<String>,
    },
    Clone(Box<NewGuest>),
    Set {
        target: Target,
        /// The guest as the file will describe it.
        guest: Box<Guest>,
        /// Short descriptions of each change (`memory 2048 -> 4096 MiB`).
        changes: Vec<String>,
    },
    Delete(Target),
    DeletePool(String),
    List(ListWhat, ListQuery),
    Show(Target),
    ShowPool(String),
    Power {
        action: PowerAction,
        target: Target,
        yes: bool,
    },
    Snapshot {
        target: Target,
        name: String,
        description: Option<String>,
    },
    Snapshots(Target),
    Rollback {
        target: Target,
        snapshot: String,
        yes: bool,
    },
    Migrate {
        target: Target,
        to: String,
        yes: bool,
    },
}
