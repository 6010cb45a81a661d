//! The PVE API surface of the simulator: the route table and the handlers, i.e. what each served
//! endpoint does to the cluster and answers, with PVE's messages. Every route must exist in the
//! official schema (a test walks [`ROUTES`]).
//!
//! This file owns what every handler shares: the request context ([`Ctx`]), the answer
//! ([`Reply`]) and error ([`ApiError`]) types, the route type, the privilege model and a few small
//! helpers. The handlers live in one file per route family:
//!
//! - `routes`: the route table ([`ROUTES`]);
//! - `tasks`: worker tasks (UPIDs) and the task endpoints;
//! - `cluster`: `/version` and `/cluster/*` (status, resources, nextid);
//! - `nodes`: `/nodes`, node status, time and network;
//! - `rrd`: node and guest metrics;
//! - `storage`: storage configuration, node storages and their content;
//! - `pools`: `/pools`;
//! - `access`: `/access` (realms, tickets, permissions, tokens);
//! - `guests`: finding a guest, lock and digest checks, guest list and status;
//! - `config`: guest configuration (read, update, pending, unlink);
//! - `lifecycle`: create, destroy, template;
//! - `disks`: resize and the storage capacity check;
//! - `clone`, `migrate`, `power`, `snapshots`: the guest actions of those names;
//! - `agent`: the qemu guest agent and lxc interfaces;
//! - `backup`, `backup_jobs`: vzdump, backup volumes, restore, and scheduled backup jobs.
//! - `remote_migrate`: moving a guest to another (simulated) cluster over HTTPS.
//!
//! qemu and lxc share one handler per action (PVE's two APIs differ only in details, which the
//! handlers branch on by [`GuestKind`]), so there is no qemu/lxc split of files.

mod access;
pub(crate) use access::{builtin_roles, granted_to};
mod agent;
mod backup;
mod backup_jobs;
mod clone;
mod cluster;
mod config;
mod disks;
mod guests;
mod lifecycle;
mod migrate;
mod nodes;
mod pools;
mod power;
mod remote_migrate;
mod routes;
mod rrd;
mod snapshots;
mod storage;
mod tasks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::sim::TokenKind;
use crate::sim::cluster::{Cluster, GuestKind};
use crate::sim::server::{Caller, Shared};

pub(crate) use routes::ROUTES;

/// A handler's answer: `data`, optional `total`, and optionally a task to wait for
/// (`background_delay`).
#[derive(Debug)]
pub(crate) struct Reply {
    pub data: Value,
    pub total: Option<u64>,
    pub wait_for: Option<(String, Duration)>,
}

impl Reply {
    pub(crate) fn new(data: Value) -> Self {
        Self {
            data,
            total: None,
            wait_for: None,
        }
    }
}

/// PVE's error: status, message (reason phrase + `message`), optional per-parameter `errors`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: Option<BTreeMap<String, String>>,
    /// 401s have an empty body, except a failed login.
    pub with_body: bool,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
            with_body: true,
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self {
            with_body: false,
            ..Self::new(401, message)
        }
    }

    pub(crate) fn param(name: &str, message: &str) -> Self {
        Self::params(BTreeMap::from([(name.to_string(), message.to_string())]))
    }

    pub(crate) fn params(errors: BTreeMap<String, String>) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(400, "Parameter verification failed.")
        }
    }

    pub(crate) fn perm(path: &str, privilege: &str) -> Self {
        Self::new(
            403,
            format!("Permission check failed ({path}, {privilege})"),
        )
    }
}

/// One request, as handlers see it.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub params: BTreeMap<String, String>,
    pub caller: Caller,
    pub route_path: &'static str,
}

impl Ctx {
    fn p(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.p(key) == Some("1")
    }

    fn node(&self) -> &str {
        self.p("node").unwrap_or("")
    }

    fn vmid(&self) -> u32 {
        self.p("vmid").and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn kind(&self) -> GuestKind {
        if self.route_path.starts_with("/nodes/{node}/lxc") {
            GuestKind::Lxc
        } else {
            GuestKind::Qemu
        }
    }

    fn require(&self, path: &str, privilege: &str) -> Result<(), ApiError> {
        if self.caller.holds(privilege) {
            Ok(())
        } else {
            Err(ApiError::perm(path, privilege))
        }
    }

    fn is_root(&self) -> bool {
        self.caller.user == "root@pam"
    }
}

type Handler = fn(&Ctx) -> Result<Reply, ApiError>;

/// A served route: method, path template, the privilege it needs (path template, privilege).
pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub perm: Option<(&'static str, &'static str)>,
    pub handler: Handler,
}

/// Every privilege the simulator knows (a subset of PVE's).
pub(crate) const ALL_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Audit",
    "SDN.Use",
    "Sys.Audit",
    "Sys.Incoming",
    "Sys.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// Whether a token of this kind holds a privilege (on every path: the simulator's ACL is flat).
pub(crate) fn has_priv(kind: TokenKind, privilege: &str) -> bool {
    match kind {
        TokenKind::Full => true,
        TokenKind::ReadOnly => privilege.ends_with(".Audit"),
        TokenKind::NoAllocate => privilege != "VM.Allocate",
    }
}

// ---------------------------------------------------------------------------------------------
// helpers every handler family uses

const MIB: u64 = 1 << 20;

fn ok(data: Value) -> Result<Reply, ApiError> {
    Ok(Reply::new(data))
}

fn check_node(cl: &Cluster, node: &str) -> Result<(), ApiError> {
    if cl.node(node).is_some() {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        )))
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\t', '\n', '\0'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
