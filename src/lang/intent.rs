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
        to: MigrateTo,
        yes: bool,
    },
}

/// Where `migrate` moves a guest: another node of the cluster (`--to NODE`) or another
/// environment's cluster (`--to-env ENV`).
#[derive(Debug, Clone, PartialEq)]
pub enum MigrateTo {
    Node(String),
    Env(RemoteMove),
}

impl std::fmt::Display for MigrateTo {
    /// The node's name, or `env:NAME` for another cluster.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateTo::Node(node) => f.write_str(node),
            MigrateTo::Env(remote) => write!(f, "env:{}", remote.env),
        }
    }
}

/// `migrate ... --to-env ENV` and its flags, as typed (the command checks them against both
/// clusters).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteMove {
    pub env: String,
    /// `--target-storage local-lvm:data,nas:nas2` (or one id for all)
    pub storage_map: Option<String>,
    /// `--target-bridge vmbr0:vmbr1` (or one bridge for all)
    pub bridge_map: Option<String>,
    /// `--target-vmid N`: this VMID or a refusal
    pub vmid: Option<u32>,
    /// `--keep-source`: the source guest stays, stopped
    pub keep_source: bool,
}
