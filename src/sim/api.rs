//! The route table and the handlers: what each served PVE endpoint does to the cluster and
//! answers, with PVE's messages. Every route here must exist in the official schema (a test walks
//! [`ROUTES`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::TokenKind;
use super::cluster::{
    Cluster, Guest, GuestKind, Snapshot, Task, TaskState, format_size, is_disk_key, parse_size,
    size_of,
};
use super::conf::{canonical_value, config_to_json, digest, generated_mac};
use super::server::{Caller, Shared, lock, now};

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
        if has_priv(self.caller.kind, privilege) {
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

const fn r(
    method: &'static str,
    path: &'static str,
    perm: Option<(&'static str, &'static str)>,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        perm,
        handler,
    }
}

const VM: &str = "/vms/{vmid}";

/// Every route the simulator serves.
pub(crate) static ROUTES: &[Route] = &[
    r("GET", "/version", None, version),
    r(
        "GET",
        "/cluster/status",
        Some(("/", "Sys.Audit")),
        cluster_status,
    ),
    r("GET", "/cluster/resources", None, cluster_resources),
    r(
        "GET",
        "/nodes/{node}/time",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_time,
    ),
    r(
        "GET",
        "/storage/{storage}",
        Some(("/storage/{storage}", "Datastore.Allocate")),
        storage_get,
    ),
    r("GET", "/cluster/nextid", None, cluster_nextid),
    r("GET", "/cluster/tasks", None, cluster_tasks),
    r("GET", "/nodes", None, nodes_list),
    r(
        "GET",
        "/nodes/{node}/status",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_status,
    ),
    r(
        "GET",
        "/nodes/{node}/rrddata",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_rrddata,
    ),
    r("GET", "/nodes/{node}/network", None, node_network),
    r("GET", "/nodes/{node}/storage", None, node_storage),
    r(
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        Some(("/storage/{storage}", "Datastore.Audit")),
        storage_content,
    ),
    r("GET", "/nodes/{node}/tasks", None, node_tasks),
    r(
        "GET",
        "/nodes/{node}/tasks/{upid}/status",
        None,
        task_status,
    ),
    r("GET", "/nodes/{node}/tasks/{upid}/log", None, task_log),
    r("DELETE", "/nodes/{node}/tasks/{upid}", None, task_stop),
    r("GET", "/access/domains", None, access_domains),
    r(
        "GET",
        "/storage",
        Some(("/storage", "Datastore.Audit")),
        storage_config,
    ),
    r("GET", "/pools", None, pools_list),
    r(
        "POST",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_create,
    ),
    r(
        "PUT",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_update,
    ),
    r(
        "DELETE",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_delete,
    ),
    r(
        "GET",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Audit")),
        pool_get,
    ),
    r(
        "PUT",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_update,
    ),
    r(
        "DELETE",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_delete,
    ),
    r("POST", "/access/ticket", None, access_ticket),
    r("GET", "/access/permissions", None, access_permissions),
    r("GET", "/access/users/{userid}/token", None, token_list),
    r(
        "GET",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_get,
    ),
    r(
        "POST",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_create,
    ),
    r(
        "DELETE",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_delete,
    ),
    // qemu
    r("GET", "/nodes/{node}/qemu", None, guest_list),
    r(
        "POST",
        "/nodes/{node}/qemu",
        Some((VM, "VM.Allocate")),
        guest_create,
    ),
    r(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}",
        Some((VM, "VM.Allocate")),
        guest_destroy,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Audit")),
        guest_config_get,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_put,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_post,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/pending",
        Some((VM, "VM.Audit")),
        guest_pending,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/status/current",
        Some((VM, "VM.Audit")),
        guest_status,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/start",
        Some((VM, "VM.PowerMgmt")),
        guest_start,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/stop",
        Some((VM, "VM.PowerMgmt")),
        guest_stop,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
        Some((VM, "VM.PowerMgmt")),
        guest_shutdown,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reboot",
        Some((VM, "VM.PowerMgmt")),
        guest_reboot,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reset",
        Some((VM, "VM.PowerMgmt")),
        guest_reset,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/suspend",
        Some((VM, "VM.PowerMgmt")),
        guest_suspend,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/resume",
        Some((VM, "VM.PowerMgmt")),
        guest_resume,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/clone",
        Some((VM, "VM.Clone")),
        guest_clone,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/resize",
        Some((VM, "VM.Config.Disk")),
        guest_resize,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/unlink",
        Some((VM, "VM.Config.Disk")),
        guest_unlink,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/template",
        Some((VM, "VM.Allocate")),
        guest_template,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/migrate",
        Some((VM, "VM.Migrate")),
        guest_migrate,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        Some((VM, "VM.Audit")),
        snapshot_list,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        Some((VM, "VM.Snapshot")),
        snapshot_create,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
        Some((VM, "VM.Snapshot.Rollback")),
        snapshot_rollback,
    ),
    r(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
        Some((VM, "VM.Snapshot")),
        snapshot_delete,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/rrddata",
        Some((VM, "VM.Audit")),
        guest_rrddata,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_interfaces,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/exec",
        Some((VM, "VM.GuestAgent.Unrestricted")),
        agent_exec,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/exec-status",
        Some((VM, "VM.GuestAgent.Unrestricted")),
        agent_exec_status,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/ping",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_ping,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/get-osinfo",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_osinfo,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/get-host-name",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_host_name,
    ),
    // lxc
    r("GET", "/nodes/{node}/lxc", None, guest_list),
    r(
        "POST",
        "/nodes/{node}/lxc",
        Some((VM, "VM.Allocate")),
        guest_create,
    ),
    r(
        "DELETE",
        "/nodes/{node}/lxc/{vmid}",
        Some((VM, "VM.Allocate")),
        guest_destroy,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/config",
        Some((VM, "VM.Audit")),
        guest_config_get,
    ),
    r(
        "PUT",
        "/nodes/{node}/lxc/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_put,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/pending",
        Some((VM, "VM.Audit")),
        guest_pending,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/status/current",
        Some((VM, "VM.Audit")),
        guest_status,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/start",
        Some((VM, "VM.PowerMgmt")),
        guest_start,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/stop",
        Some((VM, "VM.PowerMgmt")),
        guest_stop,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/shutdown",
        Some((VM, "VM.PowerMgmt")),
        guest_shutdown,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/reboot",
        Some((VM, "VM.PowerMgmt")),
        guest_reboot,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/clone",
        Some((VM, "VM.Clone")),
        guest_clone,
    ),
    r(
        "PUT",
        "/nodes/{node}/lxc/{vmid}/resize",
        Some((VM, "VM.Config.Disk")),
        guest_resize,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/template",
        Some((VM, "VM.Allocate")),
        guest_template,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/migrate",
        Some((VM, "VM.Migrate")),
        guest_migrate,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/snapshot",
        Some((VM, "VM.Audit")),
        snapshot_list,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/snapshot",
        Some((VM, "VM.Snapshot")),
        snapshot_create,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
        Some((VM, "VM.Snapshot.Rollback")),
        snapshot_rollback,
    ),
    r(
        "DELETE",
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
        Some((VM, "VM.Snapshot")),
        snapshot_delete,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/rrddata",
        Some((VM, "VM.Audit")),
        guest_rrddata,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/interfaces",
        Some((VM, "VM.Audit")),
        lxc_interfaces,
    ),
];

/// Every privilege the simulator knows (a subset of PVE's).
pub(crate) const ALL_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Audit",
    "SDN.Use",
    "Sys.Audit",
    "Sys.Modify",
    "VM.Allocate",
    "VM.Audit",
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
// helpers

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

fn no_conf(kind: GuestKind, node: &str, vmid: u32) -> ApiError {
    ApiError::internal(format!(
        "Configuration file 'nodes/{node}/{}/{vmid}.conf' does not exist",
        kind.conf_dir()
    ))
}

fn guest<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Guest, ApiError> {
    check_node(cl, ctx.node())?;
    let kind = ctx.kind();
    cl.guests
        .get(&ctx.vmid())
        .filter(|g| g.kind == kind && g.node == ctx.node())
        .ok_or_else(|| no_conf(kind, ctx.node(), ctx.vmid()))
}

fn locked_message(g: &Guest) -> Option<String> {
    g.lock()
        .map(|l| format!("{} is locked ({l})", g.kind.word()))
}

/// Refuses a modifying call on a locked guest (`VM is locked (backup)`), or on a guest whose
/// config file a running worker holds (PVE's flock times out after 10 s; the simulator answers at
/// once).
fn check_lock(ctx: &Ctx, cl: &Cluster, g: &Guest) -> Result<(), ApiError> {
    if ctx.flag("skiplock") {
        if !ctx.is_root() {
            return Err(ApiError::new(403, "Only root may use this option."));
        }
        return Ok(());
    }
    if let Some(msg) = locked_message(g) {
        return Err(ApiError::internal(msg));
    }
    let id = g.vmid.to_string();
    let busy = cl
        .tasks
        .iter()
        .rev()
        .take(1000)
        .any(|t| t.state == TaskState::Running && t.id == id && t.node == g.node);
    if busy {
        return Err(ApiError::internal(format!(
            "can't lock file '/var/lock/{}/lock-{}.conf' - got timeout",
            g.kind.conf_dir(),
            g.vmid
        )));
    }
    Ok(())
}

/// Sets a config lock for the duration of a task.
fn set_lock(cl: &mut Cluster, vmid: u32, lock: &str) {
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.insert("lock".into(), lock.into());
    }
}

fn clear_lock(cl: &mut Cluster, vmid: u32) {
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.remove("lock");
    }
}

fn check_digest(ctx: &Ctx, g: &Guest) -> Result<(), ApiError> {
    if let Some(expected) = ctx.p("digest")
        && expected != digest(g)
    {
        return Err(ApiError::internal(match g.kind {
            GuestKind::Qemu => "checksum mismatch (file change by other user?)",
            GuestKind::Lxc => {
                "detected modified configuration - file changed by other user? Try again."
            }
        }));
    }
    Ok(())
}

/// Whether a request's answer is a UPID per the schema (some lxc calls are synchronous).
fn returns_upid(ctx: &Ctx, method: &str) -> bool {
    super::schema::route(&format!("{method} {}", ctx.route_path))
        .and_then(|r| r.pointer("/returns/type"))
        .and_then(Value::as_str)
        == Some("string")
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\t', '\n', '\0'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// tasks

type Run = Box<dyn FnOnce(&mut Cluster, &mut Vec<String>) -> Result<(), String> + Send>;
type Undo = Box<dyn FnOnce(&mut Cluster) + Send>;

/// Starts a worker task; returns its UPID. The work runs after the configured task duration
/// (immediately when it is zero). Errors end the task with `TASK ERROR: <msg>`.
fn start_task(
    ctx: &Ctx,
    cl: &mut Cluster,
    node: &str,
    task_type: &str,
    id: &str,
    run: Run,
    undo: Option<Undo>,
) -> String {
    let pid = cl.next_pid;
    cl.next_pid = cl.next_pid.wrapping_add(1).max(1000);
    let starttime = now();
    let boot = cl.node(node).map(|n| n.boot_time).unwrap_or(starttime);
    let pstart = starttime.saturating_sub(boot) * 100 + u64::from(pid % 97);
    let user = ctx.caller.user.clone();
    let upid =
        format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{id}:{user}:");
    cl.tasks.push(Task {
        upid: upid.clone(),
        node: node.to_string(),
        pid,
        pstart,
        starttime,
        kind: task_type.to_string(),
        id: id.to_string(),
        user,
        state: TaskState::Running,
        log: Vec::new(),
    });
    let idx = cl.tasks.len() - 1;
    cl.task_index.insert(upid.clone(), idx);
    let (duration, fail_rate) = {
        let f = lock(&ctx.shared.faults);
        (f.task_duration, f.task_failure_rate)
    };
    let fail = lock(&ctx.shared.rng).chance(fail_rate);
    if duration.is_zero() {
        finish_task(cl, &upid, run, undo, fail);
    } else {
        let shared = ctx.shared.clone();
        let upid2 = upid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            {
                let mut cl = lock(&shared.cluster);
                finish_task(&mut cl, &upid2, run, undo, fail);
            }
            shared.persist();
        });
    }
    upid
}

fn finish_task(cl: &mut Cluster, upid: &str, run: Run, undo: Option<Undo>, fail: bool) {
    if cl.task(upid).is_some_and(|t| t.state != TaskState::Running) {
        // stopped by DELETE .../tasks/{upid}: its work never happens
        if let Some(undo) = undo {
            undo(cl);
        }
        return;
    }
    let mut lines = Vec::new();
    let result = if fail {
        Err("simulated task failure (fault injection)".to_string())
    } else {
        run(cl, &mut lines)
    };
    if result.is_err()
        && let Some(undo) = undo
    {
        undo(cl);
    }
    let exitstatus = match &result {
        Ok(()) => "OK".to_string(),
        Err(e) => e.clone(),
    };
    lines.push(match &result {
        Ok(()) => "TASK OK".to_string(),
        Err(e) => format!("TASK ERROR: {e}"),
    });
    if let Some(task) = cl.task_mut(upid) {
        task.log.extend(lines);
        task.state = TaskState::Stopped {
            exitstatus,
            endtime: now(),
        };
    }
}

fn task_json(t: &Task, with_status: bool) -> Value {
    let mut o = json!({
        "upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
        "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user,
    });
    match &t.state {
        TaskState::Running => {
            if with_status {
                o["status"] = json!("running");
            }
        }
        TaskState::Stopped {
            exitstatus,
            endtime,
        } => {
            o["endtime"] = json!(endtime);
            if with_status {
                o["status"] = json!("stopped");
                o["exitstatus"] = json!(exitstatus);
            } else {
                o["status"] = json!(exitstatus);
            }
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// cluster and nodes

fn version(_ctx: &Ctx) -> Result<Reply, ApiError> {
    ok(json!({"version": "9.1.1", "release": "9.1", "repoid": "42d6f6e6", "console": "html5"}))
}

fn cluster_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let mut out = vec![json!({
        "type": "cluster", "id": "cluster", "name": cl.name, "version": cl.nodes.len(),
        "nodes": cl.nodes.len(), "quorate": 1,
    })];
    for (i, n) in cl.nodes.iter().enumerate() {
        out.push(json!({
            "type": "node", "id": format!("node/{}", n.name), "name": n.name, "nodeid": n.nodeid,
            "ip": n.ip, "online": u8::from(n.online), "local": u8::from(i == 0), "level": "",
        }));
    }
    ok(Value::Array(out))
}

fn usage(vmid: u32, running: bool, scale: u64) -> u64 {
    if running {
        (u64::from(vmid).wrapping_mul(2_654_435_761) % 1000 + 1) * scale
    } else {
        0
    }
}

fn guest_resource(cl: &Cluster, g: &Guest, now: u64) -> Value {
    let maxmem = g.memory_mib().saturating_mul(MIB);
    let mut o = json!({
        "id": format!("{}/{}", g.kind.as_str(), g.vmid), "type": g.kind.as_str(), "vmid": g.vmid,
        "node": g.node, "status": if g.running { "running" } else { "stopped" }, "name": g.name(),
        "template": u8::from(g.is_template()), "maxcpu": g.cpus(),
        "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
        "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
        "maxdisk": g.maxdisk(),
        "disk": if g.kind == GuestKind::Lxc && g.running { g.maxdisk() / 4 } else { 0 },
        "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
        "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
        "uptime": g.uptime(now),
    });
    if g.kind == GuestKind::Qemu {
        o["memhost"] = json!(if g.running { maxmem / 3 } else { 0 });
    }
    if let Some(pool) = cl.pool_of(g.vmid) {
        o["pool"] = json!(pool);
    }
    if let Some(tags) = g.config.get("tags") {
        o["tags"] = json!(tags);
    }
    if let Some(l) = g.lock() {
        o["lock"] = json!(l);
    }
    o
}

fn node_resource(cl: &Cluster, n: &super::cluster::Node, now: u64) -> Value {
    let used: u64 = cl
        .guests
        .values()
        .filter(|g| g.node == n.name && g.running)
        .map(|g| g.memory_mib().saturating_mul(MIB) / 3)
        .fold(0u64, u64::saturating_add);
    json!({
        "id": format!("node/{}", n.name), "type": "node", "node": n.name,
        "status": if n.online { "online" } else { "offline" }, "level": "",
        "cpu": 0.05 + f64::from(n.nodeid % 7) / 100.0, "maxcpu": n.maxcpu,
        "mem": (4u64 << 30).saturating_add(used), "maxmem": n.maxmem, "disk": n.maxdisk / 5, "maxdisk": n.maxdisk,
        "uptime": now.saturating_sub(n.boot_time), "cgroup-mode": 2,
    })
}

fn storage_resources(cl: &Cluster) -> Vec<Value> {
    let usage = cl.disk_usage();
    let mut out = Vec::new();
    for n in &cl.nodes {
        for s in cl.storages.iter().filter(|s| s.on_node(&n.name)) {
            out.push(json!({
                "id": format!("storage/{}/{}", n.name, s.id), "type": "storage", "node": n.name,
                "storage": s.id, "plugintype": s.kind, "shared": u8::from(s.shared),
                "content": s.content.join(","), "status": "available",
                "disk": cl.storage_used_in(&usage, s, &n.name), "maxdisk": s.total,
            }));
        }
    }
    out
}

fn cluster_resources(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = now();
    let want = ctx.p("type");
    let mut out = Vec::new();
    if want.is_none() || want == Some("vm") {
        out.extend(cl.guests.values().map(|g| guest_resource(&cl, g, t)));
    }
    if want.is_none() || want == Some("node") {
        out.extend(cl.nodes.iter().map(|n| node_resource(&cl, n, t)));
    }
    if want.is_none() || want == Some("storage") {
        out.extend(storage_resources(&cl));
    }
    if want.is_none() || want == Some("sdn") {
        for n in &cl.nodes {
            out.push(json!({
                "id": format!("sdn/{}/localnetwork", n.name), "type": "sdn",
                "sdn": "localnetwork", "node": n.name, "status": "ok",
            }));
        }
    }
    if want.is_none() {
        for p in cl.pools.keys() {
            out.push(json!({"id": format!("/pool/{p}"), "type": "pool", "pool": p}));
        }
    }
    ok(Value::Array(out))
}

fn cluster_nextid(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    if let Some(v) = ctx.p("vmid") {
        let vmid: u32 = v.parse().unwrap_or(0);
        if cl.guests.contains_key(&vmid) {
            return Err(ApiError::param(
                "vmid",
                &format!("VM {vmid} already exists"),
            ));
        }
        return ok(json!(vmid.to_string()));
    }
    let mut id = 100u32;
    while cl.guests.contains_key(&id) {
        id += 1;
    }
    // PVE stringifies the id by a hash lookup: the answer is a JSON string
    ok(json!(id.to_string()))
}

fn cluster_tasks(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let out: Vec<Value> = cl
        .tasks
        .iter()
        .rev()
        .take(2000)
        .map(|t| task_json(t, false))
        .collect();
    ok(Value::Array(out))
}

fn nodes_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = now();
    // PVE reports each node's own certificate; the simulator serves one for all nodes
    let fp = ctx.shared.fingerprint.as_str();
    let out: Vec<Value> = cl
        .nodes
        .iter()
        .map(|n| {
            let mut o = node_resource(&cl, n, t);
            o["ssl_fingerprint"] = json!(fp);
            if let Some(obj) = o.as_object_mut() {
                obj.remove("cgroup-mode");
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

fn node_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let n = cl
        .node(ctx.node())
        .ok_or_else(|| ApiError::internal("no such node"))?;
    let res = node_resource(&cl, n, now());
    let mem = res["mem"].as_u64().unwrap_or(0);
    ok(json!({
        "cpu": res["cpu"], "wait": 0.001, "idle": 0,
        "cpuinfo": {"cpus": n.maxcpu, "cores": n.maxcpu / 2, "sockets": 1, "model": "Simulated CPU @ 3.00GHz", "mhz": "3000.000", "hvm": "1", "flags": "fpu vme de pse tsc msr pae", "user_hz": 100},
        "memory": {"total": n.maxmem, "used": mem, "free": n.maxmem - mem.min(n.maxmem), "available": n.maxmem - mem.min(n.maxmem)},
        "swap": {"total": 8u64 << 30, "used": 0, "free": 8u64 << 30},
        "rootfs": {"total": n.maxdisk, "used": n.maxdisk / 5, "free": n.maxdisk - n.maxdisk / 5, "avail": n.maxdisk - n.maxdisk / 5},
        "ksm": {"shared": 0},
        "uptime": res["uptime"], "loadavg": ["0.42", "0.37", "0.31"],
        "kversion": "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4",
        "pveversion": "pve-manager/9.1.1/42d6f6e6",
        "boot-info": {"mode": "efi", "secureboot": 0},
        "current-kernel": {"sysname": "Linux", "release": "6.14.11-4-pve", "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4", "machine": "x86_64"},
    }))
}

fn rrd_points(ctx: &Ctx, seed: u64, guest: Option<&Guest>) -> Value {
    let step = match ctx.p("timeframe") {
        Some("day") => 1800,
        Some("week") => 3600 * 3,
        Some("month") => 43200,
        Some("year") => 7 * 86400,
        Some("decade") => 70 * 86400,
        _ => 60,
    };
    let end = now() / step * step;
    let points: Vec<Value> = (0..70u64)
        .rev()
        .map(|i| {
            let t = end - i * step;
            let wave = ((t / step + seed) % 20) as f64 / 100.0;
            match guest {
                Some(g) => {
                    let maxmem = g.memory_mib().saturating_mul(MIB);
                    json!({
                        "time": t, "cpu": if g.running { wave } else { 0.0 }, "maxcpu": g.cpus(),
                        "mem": if g.running { maxmem / 3 } else { 0 }, "maxmem": maxmem,
                        "disk": 0, "maxdisk": g.maxdisk(),
                        "netin": if g.running { wave * 1e5 } else { 0.0 }, "netout": if g.running { wave * 5e4 } else { 0.0 },
                        "diskread": if g.running { wave * 1e6 } else { 0.0 }, "diskwrite": if g.running { wave * 5e5 } else { 0.0 },
                    })
                }
                None => json!({
                    "time": t, "cpu": wave, "maxcpu": 16, "iowait": 0.001,
                    "loadavg": wave * 4.0, "memtotal": 64u64 << 30, "memused": 20u64 << 30,
                    "swaptotal": 8u64 << 30, "swapused": 0, "roottotal": 100u64 << 30, "rootused": 20u64 << 30,
                    "netin": wave * 1e6, "netout": wave * 5e5,
                }),
            }
        })
        .collect();
    Value::Array(points)
}

fn node_rrddata(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let seed = cl
        .node(ctx.node())
        .map(|n| u64::from(n.nodeid))
        .unwrap_or(0);
    ok(rrd_points(ctx, seed, None))
}

fn guest_rrddata(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    ok(rrd_points(ctx, u64::from(g.vmid), Some(g)))
}

fn node_network(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let want = ctx.p("type");
    let ifaces = cl.networks.get(ctx.node()).cloned().unwrap_or_default();
    let out: Vec<Value> = ifaces
        .iter()
        .filter(|i| match want {
            None | Some("any") => true,
            Some("any_bridge") | Some("any_local_bridge") => i.kind == "bridge",
            Some(t) => i.kind == t,
        })
        .enumerate()
        .map(|(n, i)| {
            let mut o = json!({
                "iface": i.iface, "type": i.kind,
                "method": if i.address.is_some() { "static" } else { "manual" },
                "method6": "manual", "active": 1, "autostart": 1, "priority": n + 1,
                "families": ["inet"],
            });
            if i.kind == "eth" {
                o["exists"] = json!(1);
            }
            if let Some(a) = &i.address {
                o["address"] = json!(a);
                o["netmask"] = json!("24");
            }
            if let Some(c) = &i.cidr {
                o["cidr"] = json!(c);
            }
            if let Some(g) = &i.gateway {
                o["gateway"] = json!(g);
            }
            if let Some(c) = &i.cidr6 {
                o["cidr6"] = json!(c);
                o["method6"] = json!("static");
                if let Some((a, m)) = c.split_once('/') {
                    o["address6"] = json!(a);
                    o["netmask6"] = json!(m);
                }
            }
            if let Some(g) = &i.gateway6 {
                o["gateway6"] = json!(g);
            }
            if let Some(m) = i.mtu {
                o["mtu"] = json!(m);
            }
            if i.kind == "bridge" {
                o["bridge_ports"] = json!(i.bridge_ports.clone().unwrap_or_default());
                o["bridge_stp"] = json!("off");
                o["bridge_fd"] = json!("0");
                if i.vlan_aware {
                    o["bridge_vlan_aware"] = json!(1);
                    o["bridge_vids"] = json!("2-4094");
                }
            }
            if i.kind == "vlan"
                && let Some((dev, id)) = i.iface.rsplit_once('.')
            {
                o["vlan-raw-device"] = json!(dev);
                o["vlan-id"] = json!(id);
            }
            if let Some(c) = &i.comments {
                o["comments"] = json!(format!("{c}\n"));
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

fn node_storage(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let node = ctx.node();
    let usage = cl.disk_usage();
    let out: Vec<Value> = cl
        .storages
        .iter()
        .filter(|s| s.on_node(node))
        .filter(|s| ctx.p("storage").is_none_or(|w| w == s.id))
        .filter(|s| {
            ctx.p("content")
                .is_none_or(|c| split_list(c).iter().all(|c| s.content.contains(c)))
        })
        .filter(|s| ctx.p("target").is_none_or(|t| s.on_node(t)))
        .map(|s| {
            let used = cl.storage_used_in(&usage, s, node).min(s.total);
            json!({
                "storage": s.id, "type": s.kind, "content": s.content.join(","),
                "active": 1, "enabled": 1, "shared": u8::from(s.shared),
                "total": s.total, "used": used, "avail": s.total - used,
                "used_fraction": used as f64 / s.total.max(1) as f64,
            })
        })
        .collect();
    ok(Value::Array(out))
}

fn storage_content(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let sid = ctx.p("storage").unwrap_or("");
    let s = cl
        .storage(sid)
        .filter(|s| s.on_node(ctx.node()))
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
    let want_content = ctx.p("content");
    let want_vmid: Option<u32> = ctx.p("vmid").and_then(|v| v.parse().ok());
    let mut out = Vec::new();
    for g in cl.guests.values() {
        if !s.shared && g.node != ctx.node() {
            continue;
        }
        if want_vmid.is_some_and(|v| v != g.vmid) {
            continue;
        }
        for (key, value) in &g.config {
            if !is_disk_key(g.kind, key) && !key.starts_with("unused") {
                continue;
            }
            let volid = value.split(',').next().unwrap_or("");
            if volid.split(':').next() != Some(s.id.as_str()) {
                continue;
            }
            let content = if g.kind == GuestKind::Lxc {
                "rootdir"
            } else {
                "images"
            };
            if want_content.is_some_and(|c| c != content) {
                continue;
            }
            let format = if volid.ends_with(".qcow2") {
                "qcow2"
            } else {
                "raw"
            };
            let size = if value.contains("cloudinit") {
                4 * MIB
            } else {
                size_of(value)
            };
            out.push(json!({
                "volid": volid, "content": content, "format": format, "size": size,
                "used": size / 3, "vmid": g.vmid, "ctime": 1_767_225_600u64,
            }));
        }
    }
    for (volid, content, size) in &s.files {
        if want_content.is_some_and(|c| c != content) || want_vmid.is_some() {
            continue;
        }
        let format = match content.as_str() {
            "iso" => "iso",
            "vztmpl" => "tzst",
            "backup" => "vma.zst",
            _ => "raw",
        };
        out.push(json!({"volid": volid, "content": content, "format": format, "size": size, "ctime": 1_767_225_600u64}));
    }
    ok(Value::Array(out))
}

fn node_time(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    // the simulated nodes run on UTC
    let t = now();
    ok(json!({"time": t, "localtime": t, "timezone": "UTC"}))
}

fn storage_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let sid = ctx.p("storage").unwrap_or("").to_string();
    let all = storage_config(ctx)?;
    all.data
        .as_array()
        .and_then(|list| list.iter().find(|s| s["storage"] == sid.as_str()).cloned())
        .map(Reply::new)
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))
}

fn storage_config(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let out: Vec<Value> = cl
        .storages
        .iter()
        .filter(|s| ctx.p("type").is_none_or(|t| t == s.kind))
        .map(|s| {
            let mut o = json!({
                "storage": s.id, "type": s.kind, "content": s.content.join(","),
                "digest": hex::encode(<sha1::Sha1 as sha1::Digest>::digest(s.id.as_bytes())),
            });
            if s.shared {
                o["shared"] = json!(1);
            }
            if let Some(p) = &s.path {
                o["path"] = json!(p);
            }
            if let Some(nodes) = &s.nodes {
                o["nodes"] = json!(nodes.join(","));
            }
            for (k, v) in &s.extra {
                o[k] = json!(v);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

// ---------------------------------------------------------------------------------------------
// tasks

fn parse_upid(upid: &str) -> Option<(String, u32)> {
    static UPID_RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = UPID_RE.get_or_init(|| regex::Regex::new(
        r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$",
    )
    .ok());
    let caps = re.as_ref()?.captures(upid)?;
    Some((
        caps.get(1)?.as_str().to_string(),
        u32::from_str_radix(caps.get(3)?.as_str(), 16).ok()?,
    ))
}

fn find_task<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Task, ApiError> {
    let upid = ctx.p("upid").unwrap_or("");
    if parse_upid(upid).is_none() {
        return Err(ApiError::param("upid", "unable to parse worker upid"));
    }
    cl.task(upid)
        .filter(|t| t.node == ctx.node())
        .ok_or_else(|| ApiError::param("upid", "no such task"))
}

fn task_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = find_task(&cl, ctx)?;
    let mut o = task_json(t, true);
    if let Some(obj) = o.as_object_mut() {
        obj.remove("endtime");
    }
    ok(o)
}

fn task_log(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = find_task(&cl, ctx)?;
    let start: usize = ctx.p("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = ctx.p("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    let mut lines = vec![format!("starting task {}", t.upid)];
    lines.extend(t.log.iter().cloned());
    let total = lines.len() as u64;
    let out: Vec<Value> = lines
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Reply {
        data: Value::Array(out),
        total: Some(total),
        wait_for: None,
    })
}

fn task_stop(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let upid = find_task(&cl, ctx)?.upid.clone();
    if let Some(task) = cl.task_mut(&upid)
        && task.state == TaskState::Running
    {
        task.log.push("received interrupt".to_string());
        task.log
            .push("TASK ERROR: interrupted by signal".to_string());
        task.state = TaskState::Stopped {
            exitstatus: "interrupted by signal".to_string(),
            endtime: now(),
        };
    }
    ok(Value::Null)
}

fn access_domains(_ctx: &Ctx) -> Result<Reply, ApiError> {
    ok(json!([
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server", "default": 1},
    ]))
}

fn node_tasks(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let start: usize = ctx.p("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = ctx.p("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    let source = ctx.p("source").unwrap_or("archive");
    let vmid = ctx.p("vmid");
    let errors_only = ctx.flag("errors");
    let statusfilter: Option<Vec<String>> = ctx.p("statusfilter").map(split_list);
    let matching: Vec<&Task> = cl
        .tasks
        .iter()
        .rev()
        .filter(|t| t.node == ctx.node())
        .filter(|t| match (source, &t.state) {
            ("active", TaskState::Running) => true,
            ("active", _) => false,
            ("archive", TaskState::Running) => false,
            _ => true,
        })
        .filter(|t| vmid.is_none_or(|v| t.id == v))
        .filter(|t| ctx.p("typefilter").is_none_or(|f| t.kind == f))
        .filter(|t| ctx.p("userfilter").is_none_or(|f| t.user.contains(f)))
        .filter(|t| {
            ctx.p("since")
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| t.starttime >= s)
        })
        .filter(|t| {
            ctx.p("until")
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| t.starttime <= s)
        })
        .filter(|t| {
            let class = match &t.state {
                TaskState::Running => "unknown",
                TaskState::Stopped { exitstatus, .. } if exitstatus == "OK" => "ok",
                TaskState::Stopped { exitstatus, .. } if exitstatus.starts_with("WARNINGS") => {
                    "warning"
                }
                TaskState::Stopped { .. } => "error",
            };
            (!errors_only || class == "error")
                && statusfilter
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|s| s == class))
        })
        .collect();
    let total = matching.len() as u64;
    let out: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|t| task_json(t, false))
        .collect();
    Ok(Reply {
        data: Value::Array(out),
        total: Some(total),
        wait_for: None,
    })
}

// ---------------------------------------------------------------------------------------------
// pools

fn pool_members(cl: &Cluster, pool: &str, want: Option<&str>) -> Vec<Value> {
    let t = now();
    let mut out: Vec<Value> = cl
        .guests
        .values()
        .filter(|g| g.pool.as_deref() == Some(pool))
        .filter(|g| want.is_none_or(|w| w == g.kind.as_str()))
        .map(|g| guest_resource(cl, g, t))
        .collect();
    if (want.is_none() || want == Some("storage"))
        && let Some(p) = cl.pools.get(pool)
    {
        {
            for sid in &p.storages {
                if let Some(s) = cl.storage(sid) {
                    for n in cl.nodes.iter().filter(|n| s.on_node(&n.name)) {
                        out.push(json!({
                            "id": format!("storage/{}/{}", n.name, s.id), "type": "storage",
                            "node": n.name, "storage": s.id, "plugintype": s.kind,
                            "shared": u8::from(s.shared), "content": s.content.join(","),
                            "status": "available", "disk": cl.storage_used(s, &n.name),
                            "maxdisk": s.total,
                        }));
                    }
                }
            }
        }
    }
    out
}

fn pools_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    if let Some(id) = ctx.p("poolid") {
        let p = cl
            .pools
            .get(id)
            .ok_or_else(|| ApiError::internal(format!("pool '{id}' does not exist")))?;
        return ok(json!([{
            "poolid": p.id, "comment": p.comment,
            "members": pool_members(&cl, id, ctx.p("type")),
        }]));
    }
    let out: Vec<Value> = cl
        .pools
        .values()
        .map(|p| {
            let mut o = json!({"poolid": p.id});
            if !p.comment.is_empty() {
                o["comment"] = json!(p.comment);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

fn pool_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("");
    let p = cl
        .pools
        .get(id)
        .ok_or_else(|| ApiError::internal(format!("pool '{id}' does not exist")))?;
    let mut o = json!({"members": pool_members(&cl, id, ctx.p("type"))});
    if !p.comment.is_empty() {
        o["comment"] = json!(p.comment);
    }
    ok(o)
}

fn pools_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    if cl.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' already exists")));
    }
    cl.pools.insert(
        id.clone(),
        super::cluster::Pool {
            id,
            comment: ctx.p("comment").unwrap_or("").to_string(),
            storages: BTreeSet::new(),
        },
    );
    ok(Value::Null)
}

fn pools_update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    if !cl.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' does not exist")));
    }
    let delete = ctx.flag("delete");
    let vms: Vec<u32> = ctx
        .p("vms")
        .map(split_list)
        .unwrap_or_default()
        .iter()
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| ApiError::param("vms", &format!("invalid vmid '{v}'")))
        })
        .collect::<Result<_, _>>()?;
    for vmid in &vms {
        let g = cl
            .guests
            .get(vmid)
            .ok_or_else(|| ApiError::internal(format!("no such VM '{vmid}'")))?;
        if delete {
            if g.pool.as_deref() != Some(id.as_str()) {
                return Err(ApiError::internal(format!(
                    "VM {vmid} is not a pool member"
                )));
            }
        } else if let Some(other) = &g.pool
            && other != &id
            && !ctx.flag("allow-move")
        {
            return Err(ApiError::internal(format!(
                "VM {vmid} belongs already to pool '{other}' and 'allow-move' is not set"
            )));
        }
    }
    let storages = ctx.p("storage").map(split_list).unwrap_or_default();
    for sid in &storages {
        if cl.storage(sid).is_none() {
            return Err(ApiError::internal(format!("no such storage '{sid}'")));
        }
    }
    for vmid in vms {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            g.pool = if delete { None } else { Some(id.clone()) };
        }
    }
    if let Some(p) = cl.pools.get_mut(&id) {
        for sid in storages {
            if delete {
                p.storages.remove(&sid);
            } else {
                p.storages.insert(sid);
            }
        }
        if let Some(c) = ctx.p("comment") {
            p.comment = c.to_string();
        }
    }
    ok(Value::Null)
}

fn pools_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    let Some(p) = cl.pools.get(&id) else {
        return Err(ApiError::internal(format!("pool '{id}' does not exist")));
    };
    if !p.storages.is_empty() || cl.guests.values().any(|g| g.pool.as_deref() == Some(&id)) {
        return Err(ApiError::internal(format!("pool '{id}' is not empty")));
    }
    cl.pools.remove(&id);
    ok(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// access

fn access_ticket(ctx: &Ctx) -> Result<Reply, ApiError> {
    let fail = || ApiError {
        with_body: true,
        ..ApiError::new(401, "authentication failure")
    };
    let mut user = ctx.p("username").unwrap_or("").to_string();
    if !user.contains('@')
        && let Some(realm) = ctx.p("realm")
    {
        user = format!("{user}@{realm}");
    }
    let password = ctx.p("password").unwrap_or("");
    let renewing = lock(&ctx.shared.tickets).get(password) == Some(&user);
    if user != "root@pam" || (password != ctx.shared.password && !renewing) {
        return Err(fail());
    }
    let t = now();
    let sig = <sha2::Sha256 as sha2::Digest>::digest(
        format!(
            "{}:{user}:{t}:{}",
            ctx.shared.seed_number,
            lock(&ctx.shared.tickets).len()
        )
        .as_bytes(),
    );
    let ticket = format!(
        "PVE:{user}:{t:08X}::{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig)
    );
    lock(&ctx.shared.tickets).insert(ticket.clone(), user.clone());
    let cluster_name = lock(&ctx.shared.cluster).name.clone();
    ok(json!({
        "username": user, "ticket": ticket, "CSRFPreventionToken": ctx.shared.csrf,
        "clustername": cluster_name,
        "cap": {"vms": {"VM.Allocate": 1, "VM.Audit": 1}, "storage": {"Datastore.Audit": 1}, "nodes": {"Sys.Audit": 1}, "access": {}, "dc": {}, "sdn": {}},
    }))
}

fn access_permissions(ctx: &Ctx) -> Result<Reply, ApiError> {
    let privs: Map<String, Value> = ALL_PRIVS
        .iter()
        .filter(|p| has_priv(ctx.caller.kind, p))
        .map(|p| (p.to_string(), json!(1)))
        .collect();
    let paths: Vec<String> = match ctx.p("path") {
        Some(p) => vec![p.to_string()],
        None => [
            "/", "/access", "/nodes", "/pool", "/sdn", "/storage", "/vms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    };
    let out: Map<String, Value> = paths
        .into_iter()
        .map(|p| (p, Value::Object(privs.clone())))
        .collect();
    ok(Value::Object(out))
}

fn token_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let userid = ctx.p("userid").unwrap_or("");
    let tokens = lock(&ctx.shared.tokens);
    let out: Vec<Value> = tokens
        .keys()
        .filter_map(|id| id.split_once('!'))
        .filter(|(u, _)| *u == userid)
        .map(
            |(_, t)| json!({"tokenid": t, "expire": 0, "privsep": 1, "comment": "simulator token"}),
        )
        .collect();
    ok(Value::Array(out))
}

fn full_tokenid(ctx: &Ctx) -> String {
    format!(
        "{}!{}",
        ctx.p("userid").unwrap_or(""),
        ctx.p("tokenid").unwrap_or("")
    )
}

fn token_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    if !lock(&ctx.shared.tokens).contains_key(&id) {
        return Err(ApiError::internal(format!(
            "no such token '{}' for user '{}'",
            ctx.p("tokenid").unwrap_or(""),
            ctx.p("userid").unwrap_or("")
        )));
    }
    ok(json!({"expire": 0, "privsep": 1, "comment": "simulator token"}))
}

fn token_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    let userid = ctx.p("userid").unwrap_or("");
    if !["root@pam", "auditor@pve", "operator@pve"].contains(&userid) {
        return Err(ApiError::internal(format!("no such user ('{userid}')")));
    }
    let mut tokens = lock(&ctx.shared.tokens);
    if tokens.contains_key(&id) {
        return Err(ApiError::internal("Token already exists."));
    }
    let privsep = ctx.p("privsep").unwrap_or("1");
    // the simulator has no ACL editor: a privilege-separated token gets audit rights only
    let kind = match (privsep, userid) {
        ("0", "root@pam") => TokenKind::Full,
        ("0", "operator@pve") => TokenKind::NoAllocate,
        _ => TokenKind::ReadOnly,
    };
    let digest = <sha2::Sha256 as sha2::Digest>::digest(
        format!("{}:{id}:{}", ctx.shared.seed_number, now()).as_bytes(),
    );
    let secret = format!("sim-{}", &hex::encode(digest)[..24]);
    tokens.insert(id.clone(), (secret.clone(), kind));
    ok(json!({
        "full-tokenid": id,
        "info": {"privsep": privsep, "expire": ctx.p("expire").unwrap_or("0"), "comment": ctx.p("comment").unwrap_or("")},
        "value": secret,
    }))
}

fn token_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    if lock(&ctx.shared.tokens).remove(&id).is_none() {
        return Err(ApiError::internal(format!(
            "no such token '{}' for user '{}'",
            ctx.p("tokenid").unwrap_or(""),
            ctx.p("userid").unwrap_or("")
        )));
    }
    ok(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// guests

fn guest_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let kind = ctx.kind();
    let t = now();
    let out: Vec<Value> = cl
        .guests
        .values()
        .filter(|g| g.kind == kind && g.node == ctx.node())
        .map(|g| {
            let maxmem = g.memory_mib().saturating_mul(MIB);
            let mut o = json!({
                "vmid": g.vmid, "name": g.name(),
                "status": if g.running { "running" } else { "stopped" },
                "cpus": g.cpus(), "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
                "maxdisk": g.maxdisk(), "disk": 0, "uptime": g.uptime(t),
                "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
                "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
                "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
            });
            if kind == GuestKind::Lxc {
                o["type"] = json!("lxc");
                o["maxswap"] = json!(512 * MIB);
            }
            if g.running {
                o["pid"] = json!(10_000 + g.vmid);
            }
            if g.is_template() {
                o["template"] = json!(1);
            }
            if let Some(tags) = g.config.get("tags") {
                o["tags"] = json!(tags);
            }
            if let Some(l) = g.lock() {
                o["lock"] = json!(l);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

fn guest_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let maxmem = g.memory_mib().saturating_mul(MIB);
    let mut o = json!({
        "vmid": g.vmid, "name": g.name(), "status": if g.running { "running" } else { "stopped" },
        "cpus": g.cpus(), "maxmem": maxmem, "mem": if g.running { maxmem / 3 } else { 0 },
        "maxdisk": g.maxdisk(), "disk": 0, "uptime": g.uptime(now()),
        "cpu": if g.running { (g.vmid % 50) as f64 / 1000.0 } else { 0.0 },
        "netin": usage(g.vmid, g.running, 4096), "netout": usage(g.vmid, g.running, 2048),
        "diskread": usage(g.vmid, g.running, 65536), "diskwrite": usage(g.vmid, g.running, 32768),
        "ha": {"managed": 0},
    });
    match g.kind {
        GuestKind::Qemu => {
            o["qmpstatus"] = json!(match (g.running, g.paused) {
                (true, true) => "paused",
                (true, false) => "running",
                _ => "stopped",
            });
            if g.config
                .get("agent")
                .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"))
            {
                o["agent"] = json!(1);
            }
            if g.running {
                o["running-machine"] = json!("pc-i440fx-9.2+pve1");
                o["running-qemu"] = json!("9.2.0");
            }
        }
        GuestKind::Lxc => {
            o["type"] = json!("lxc");
            o["maxswap"] = json!(512 * MIB);
            o["swap"] = json!(0);
        }
    }
    if g.running {
        o["pid"] = json!(10_000 + g.vmid);
    }
    if g.is_template() {
        o["template"] = json!(1);
    }
    if let Some(tags) = g.config.get("tags") {
        o["tags"] = json!(tags);
    }
    if let Some(l) = g.lock() {
        o["lock"] = json!(l);
    }
    ok(o)
}

fn guest_config_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let map = if let Some(snap) = ctx.p("snapshot") {
        g.snapshots
            .iter()
            .find(|s| s.name == snap)
            .map(|s| s.config.clone())
            .ok_or_else(|| ApiError::internal(format!("snapshot '{snap}' does not exist")))?
    } else if ctx.flag("current") {
        g.config.clone()
    } else {
        let mut merged = g.config.clone();
        for (k, v) in &g.pending {
            merged.insert(k.clone(), v.clone());
        }
        for k in &g.pending_delete {
            merged.remove(k);
        }
        merged
    };
    let mut obj = config_to_json(g.kind, &map);
    // PVE never hands out the cloud-init password hash
    if obj.contains_key("cipassword") {
        obj.insert("cipassword".into(), json!("**********"));
    }
    obj.insert("digest".into(), json!(digest(g)));
    ok(Value::Object(obj))
}

fn guest_pending(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let current = config_to_json(g.kind, &g.config);
    let pending = config_to_json(g.kind, &g.pending);
    let keys: BTreeSet<&String> = current
        .keys()
        .chain(pending.keys())
        .chain(g.pending_delete.iter())
        .collect();
    let out: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            let mut o = json!({"key": k});
            if let Some(v) = current.get(k) {
                o["value"] = v.clone();
            }
            if let Some(v) = pending.get(k) {
                o["pending"] = v.clone();
            }
            if g.pending_delete.contains(k) {
                o["delete"] = json!(1);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

/// Keys that need a restart to change on a running guest (they go to `[PENDING]`).
fn needs_restart(kind: GuestKind, key: &str) -> bool {
    let num = |p: &str| {
        key.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    match kind {
        GuestKind::Qemu => {
            matches!(
                key,
                "cores"
                    | "sockets"
                    | "memory"
                    | "cpu"
                    | "machine"
                    | "bios"
                    | "ostype"
                    | "vga"
                    | "args"
                    | "numa"
                    | "scsihw"
                    | "balloon"
                    | "agent"
                    | "tpmstate0"
                    | "efidisk0"
            ) || num("hostpci")
                || num("usb")
                || num("serial")
        }
        GuestKind::Lxc => {
            matches!(
                key,
                "ostype" | "arch" | "features" | "unprivileged" | "rootfs"
            ) || num("mp")
        }
    }
}

/// Parameters of a config update / create that are not config keys.
const NON_CONFIG: &[&str] = &[
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
    "start",
    "pool",
    "storage",
    "unique",
    "archive",
    "live-restore",
    "bwlimit",
    "ostemplate",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "restore",
    "ha-managed",
    "import-working-storage",
];

/// Turns `STORAGE:SIZE` disk values into allocated volumes; other values get canonical form.
fn prepare_values(
    cl: &Cluster,
    kind: GuestKind,
    node: &str,
    vmid: u32,
    existing: &BTreeMap<String, String>,
    changes: &BTreeMap<String, String>,
    mac_base: u64,
) -> Result<BTreeMap<String, String>, ApiError> {
    let alloc_re = regex::Regex::new(r"^([A-Za-z][A-Za-z0-9\-_.]*):(\d+(?:\.\d+)?)(,.*)?$")
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut next_disk = existing
        .values()
        .chain(
            cl.guests
                .get(&vmid)
                .map(|g| g.pending.values())
                .into_iter()
                .flatten(),
        )
        .filter_map(|v| {
            let pat = format!("-{vmid}-disk-");
            v.find(&pat).and_then(|i| {
                v[i + pat.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
            })
        })
        .max()
        .map(|n| n + 1)
        .unwrap_or(0);
    let mut out = BTreeMap::new();
    for (i, (key, value)) in changes.iter().enumerate() {
        let mut value = value.clone();
        if key == "cipassword" {
            let d = <sha2::Sha256 as sha2::Digest>::digest(value.as_bytes());
            value = format!("$5$simsalt${}", &hex::encode(d)[..43]);
        }
        if is_disk_key(kind, key)
            && !value.contains("media=cdrom")
            && let Some(caps) = alloc_re.captures(&value)
        {
            {
                let sid = caps.get(1).map(|m| m.as_str()).unwrap_or("");
                let size_gib: f64 = caps
                    .get(2)
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(0.0);
                let rest = caps.get(3).map(|m| m.as_str()).unwrap_or("");
                let s = cl
                    .storage(sid)
                    .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
                if !s.on_node(node) {
                    return Err(ApiError::internal(format!(
                        "storage '{sid}' is not available on node '{node}'"
                    )));
                }
                let wanted = if kind == GuestKind::Qemu {
                    "images"
                } else {
                    "rootdir"
                };
                if !s.content.iter().any(|c| c == wanted) {
                    return Err(ApiError::internal(format!(
                        "storage '{sid}' does not support {} content",
                        if kind == GuestKind::Qemu {
                            "vm image"
                        } else {
                            "container"
                        }
                    )));
                }
                if size_gib > 0.0 {
                    let n = next_disk;
                    next_disk += 1;
                    let volid = match s.kind.as_str() {
                        "lvmthin" | "lvm" | "zfspool" | "rbd" => {
                            format!("{sid}:vm-{vmid}-disk-{n}")
                        }
                        _ if kind == GuestKind::Lxc => {
                            format!("{sid}:{vmid}/vm-{vmid}-disk-{n}.raw")
                        }
                        _ => format!("{sid}:{vmid}/vm-{vmid}-disk-{n}.qcow2"),
                    };
                    let bytes = (size_gib * (1u64 << 30) as f64) as u64;
                    let rest = rest
                        .split(',')
                        .filter(|p| !p.is_empty() && !p.starts_with("size="))
                        .collect::<Vec<_>>()
                        .join(",");
                    value = format!("{volid},{rest},size={}", format_size(bytes));
                }
            }
        }
        let canonical = canonical_value(kind, key, &value, mac_base + i as u64);
        out.insert(key.clone(), canonical);
    }
    Ok(out)
}

fn config_changes(ctx: &Ctx) -> BTreeMap<String, String> {
    ctx.params
        .iter()
        .filter(|(k, _)| !NON_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies prepared changes, deletions and reverts to a guest (pending for a running guest where
/// the key needs a restart).
fn apply_changes(
    g: &mut Guest,
    values: BTreeMap<String, String>,
    deletes: &[String],
    reverts: &[String],
) {
    for k in reverts {
        g.pending.remove(k);
        g.pending_delete.remove(k);
    }
    for (k, v) in values {
        if g.running && needs_restart(g.kind, &k) {
            g.pending.insert(k.clone(), v);
            g.pending_delete.remove(&k);
        } else {
            g.config.insert(k.clone(), v);
            g.pending.remove(&k);
            g.pending_delete.remove(&k);
        }
    }
    for k in deletes {
        if g.running && needs_restart(g.kind, k) && g.config.contains_key(k) {
            g.pending_delete.insert(k.clone());
        } else {
            g.config.remove(k);
            g.pending.remove(k);
        }
    }
}

fn update_config(ctx: &Ctx, as_task: bool) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_digest(ctx, g)?;
    check_lock(ctx, &cl, g)?;
    let changes = config_changes(ctx);
    let deletes = ctx.p("delete").map(split_list).unwrap_or_default();
    let reverts = ctx.p("revert").map(split_list).unwrap_or_default();
    if changes.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(ApiError::internal("no options specified"));
    }
    for k in &deletes {
        if changes.contains_key(k) {
            return Err(ApiError::param(k, "conflicting parameters: delete and set"));
        }
    }
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let values = prepare_values(&cl, g.kind, &g.node, g.vmid, &g.config, &changes, mac_base)?;
    let vmid = g.vmid;
    if !as_task {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            apply_changes(g, values, &deletes, &reverts);
        }
        return ok(Value::Null);
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        "qmconfig",
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("VM {vmid} does not exist"))?;
            log.push(format!(
                "update VM {vmid}: {}",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            apply_changes(g, values, &deletes, &reverts);
            Ok(())
        }),
        None,
    );
    let delay: u64 = ctx
        .p("background_delay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Reply {
        data: json!(upid.clone()),
        total: None,
        wait_for: (delay > 0).then(|| (upid, Duration::from_secs(delay))),
    })
}

fn guest_config_put(ctx: &Ctx) -> Result<Reply, ApiError> {
    update_config(ctx, false)
}

fn guest_config_post(ctx: &Ctx) -> Result<Reply, ApiError> {
    update_config(ctx, true)
}

/// `PUT .../unlink` (used by Ansible's proxmox_disk to remove a disk): PVE runs it as a
/// synchronous config update with `idlist` as `delete` (qemu-server Qemu.pm, unlink ->
/// update_vm), so it answers `null` and errors as a config update would.
fn guest_unlink(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut params = ctx.params.clone();
    if let Some(ids) = params.remove("idlist") {
        params.insert("delete".to_string(), ids);
    }
    let update = Ctx {
        shared: ctx.shared.clone(),
        params,
        caller: ctx.caller.clone(),
        route_path: "/nodes/{node}/qemu/{vmid}/config",
    };
    update_config(&update, false)
}

/// Fails a task when a storage the guest uses is over capacity.
fn check_capacity(cl: &Cluster, vmid: u32) -> Result<(), String> {
    let Some(g) = cl.guests.get(&vmid) else {
        return Ok(());
    };
    for (_, volid, _) in g.disks() {
        let sid = volid.split(':').next().unwrap_or("");
        if let Some(s) = cl.storage(sid) {
            let used = cl.storage_used(s, &g.node);
            if used > s.total {
                return Err(format!(
                    "unable to create image: storage '{sid}' is full (needs {} more bytes than its {} bytes)",
                    used - s.total,
                    s.total
                ));
            }
        }
    }
    Ok(())
}

fn guest_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let kind = ctx.kind();
    let vmid = ctx.vmid();
    let node = ctx.node().to_string();
    if let Some(other) = cl.guests.get(&vmid) {
        return Err(ApiError::internal(format!(
            "{} {vmid} already exists on node '{}'",
            kind.word(),
            other.node
        )));
    }
    let pool = ctx.p("pool").map(str::to_string);
    if let Some(p) = &pool
        && !cl.pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    let mut changes = config_changes(ctx);
    if kind == GuestKind::Lxc && !changes.contains_key("rootfs") {
        let default_storage = ctx.p("storage").unwrap_or("local-lvm");
        changes.insert("rootfs".into(), format!("{default_storage}:4"));
    }
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    let mut config = prepare_values(&cl, kind, &node, vmid, &BTreeMap::new(), &changes, mac_base)?;
    let ctime = now();
    match kind {
        GuestKind::Qemu => {
            config.entry("smbios1".into()).or_insert_with(|| {
                format!(
                    "uuid=5f1c0a2e-0000-4000-8000-{:012x}",
                    (u64::from(vmid) ^ mac_base) & 0xffff_ffff_ffff
                )
            });
            config.entry("vmgenid".into()).or_insert_with(|| {
                format!(
                    "9b3e2c4d-0000-4000-8000-{:012x}",
                    (u64::from(vmid) ^ mac_base) & 0xffff_ffff_ffff
                )
            });
            config.insert("meta".into(), format!("creation-qemu=9.2.0,ctime={ctime}"));
        }
        GuestKind::Lxc => {
            config
                .entry("arch".into())
                .or_insert_with(|| "amd64".into());
            let template = ctx.p("ostemplate").unwrap_or("");
            let ostype = [
                "debian",
                "ubuntu",
                "alpine",
                "centos",
                "fedora",
                "archlinux",
            ]
            .into_iter()
            .find(|o| template.contains(o))
            .unwrap_or("unmanaged");
            config
                .entry("ostype".into())
                .or_insert_with(|| ostype.into());
        }
    }
    config.insert("lock".into(), "create".into());
    cl.guests.insert(
        vmid,
        Guest {
            vmid,
            kind,
            node: node.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            started_at: None,
            snapshots: Vec::new(),
            agent_running: false,
            paused: false,
            ip: None,
            pool: pool.clone(),
        },
    );
    let start = ctx.flag("start");
    let ostemplate = ctx.p("ostemplate").map(str::to_string);
    let task_type = format!("{}create", kind.task_prefix());
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &task_type,
        &vmid.to_string(),
        Box::new(move |cl, log| {
            if let Some(t) = &ostemplate {
                let exists = cl
                    .storages
                    .iter()
                    .any(|s| s.files.iter().any(|(v, _, _)| v == t));
                if !exists {
                    return Err(format!("volume '{t}' does not exist"));
                }
                log.push(format!("extracting archive '{t}'"));
            }
            check_capacity(cl, vmid)?;
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} vanished", kind.word()))?;
            for (key, volid, size) in g.disks() {
                log.push(format!(
                    "{key}: successfully created disk '{volid},size={}'",
                    format_size(size)
                ));
            }
            g.config.remove("lock");
            if start {
                g.running = true;
                g.started_at = Some(now());
                g.agent_running = g.config.contains_key("agent");
            }
            Ok(())
        }),
        Some(Box::new(move |cl| {
            cl.guests.remove(&vmid);
        })),
    );
    ok(json!(upid))
}

fn guest_destroy(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    if g.config.get("protection").is_some_and(|p| p == "1") {
        return Err(ApiError::internal(format!(
            "can't remove {} {} - protection mode enabled",
            g.kind.word(),
            g.vmid
        )));
    }
    if g.running {
        return Err(ApiError::internal(format!(
            "{} {} is running - destroy failed",
            g.kind.word(),
            g.vmid
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    let purge = ctx.flag("purge");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}destroy", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .remove(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            for (_, volid, _) in g.disks() {
                log.push(format!("Removing image: 100% complete...done. ({volid})"));
            }
            if purge {
                log.push(format!(
                    "purging {} {vmid} from related configurations",
                    kind.word()
                ));
            }
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}

fn power_task(
    ctx: &Ctx,
    action: &'static str,
    work: impl FnOnce(&mut Guest) -> Result<(), String> + Send + 'static,
) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let vmid = g.vmid;
    let kind = g.kind;
    let skiplock = ctx.flag("skiplock");
    if skiplock && !ctx.is_root() {
        return Err(ApiError::new(403, "Only root may use this option."));
    }
    // PVE checks these before forking the worker
    if kind == GuestKind::Lxc && matches!(action, "stop" | "shutdown" | "reboot") && !g.running {
        return Err(ApiError::internal(format!("CT {vmid} not running")));
    }
    if kind == GuestKind::Lxc && action == "start" && g.running {
        return Err(ApiError::internal(format!("CT {vmid} already running")));
    }
    if kind == GuestKind::Qemu && action == "reboot" && !g.running {
        return Err(ApiError::internal(format!("VM {vmid} not running")));
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}{action}", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            // a guest hibernated by suspend-to-disk is locked 'suspended'; start/resume wake it
            let waking = matches!(action, "start" | "resume") && g.lock() == Some("suspended");
            if !skiplock
                && !waking
                && let Some(msg) = locked_message(g)
            {
                return Err(msg);
            }
            work(g)
        }),
        None,
    );
    ok(json!(upid))
}

fn guest_reset(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "reset", |g| {
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        g.started_at = Some(now());
        g.paused = false;
        Ok(())
    })
}

fn guest_suspend(ctx: &Ctx) -> Result<Reply, ApiError> {
    let todisk = ctx.flag("todisk");
    power_task(ctx, "suspend", move |g| {
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        if todisk {
            // hibernate: the state goes to a volume and the VM stops, locked 'suspended'
            g.config.insert(
                "vmstate".into(),
                format!("local-lvm:vm-{}-state-suspend-{}", g.vmid, now()),
            );
            g.config.insert("lock".into(), "suspended".into());
            do_stop(g)
        } else {
            g.paused = true;
            Ok(())
        }
    })
}

fn guest_resume(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "resume", |g| {
        if g.lock() == Some("suspended") {
            g.config.remove("lock");
            g.config.remove("vmstate");
            g.running = true;
            g.started_at = Some(now());
            return Ok(());
        }
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        g.paused = false;
        Ok(())
    })
}

fn do_start(g: &mut Guest) -> Result<(), String> {
    if g.lock() == Some("suspended") {
        g.config.remove("lock");
        g.config.remove("vmstate");
    }
    if g.is_template() {
        return Err(format!(
            "{} {} is a template - start failed",
            g.kind.word(),
            g.vmid
        ));
    }
    if g.running {
        return Err(format!("{} {} already running", g.kind.word(), g.vmid));
    }
    // pending changes are applied on start
    let pending = std::mem::take(&mut g.pending);
    g.config.extend(pending);
    for k in std::mem::take(&mut g.pending_delete) {
        g.config.remove(&k);
    }
    g.running = true;
    g.started_at = Some(now());
    g.agent_running = g.kind == GuestKind::Qemu
        && g.config
            .get("agent")
            .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    Ok(())
}

fn do_stop(g: &mut Guest) -> Result<(), String> {
    g.running = false;
    g.paused = false;
    g.started_at = None;
    g.agent_running = false;
    Ok(())
}

fn do_shutdown(g: &mut Guest) -> Result<(), String> {
    if !g.running {
        return Err(format!("{} {} not running", g.kind.word(), g.vmid));
    }
    do_stop(g)
}

fn do_reboot(g: &mut Guest) -> Result<(), String> {
    if !g.running {
        return Err(format!("{} {} not running", g.kind.word(), g.vmid));
    }
    do_stop(g)?;
    do_start(g)
}

fn guest_start(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "start", do_start)
}

fn guest_stop(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "stop", do_stop)
}

fn guest_shutdown(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "shutdown", do_shutdown)
}

fn guest_reboot(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "reboot", do_reboot)
}

/// Rewrites a volume id for a clone: `local-lvm:vm-100-disk-0` -> `local-lvm:vm-123-disk-0`;
/// a linked clone of a template keeps its base: `local-lvm:base-9000-disk-0/vm-123-disk-0`.
fn clone_volid(
    volid: &str,
    src: u32,
    new: u32,
    linked: bool,
    target_storage: Option<&str>,
) -> String {
    let (sid, path) = volid.split_once(':').unwrap_or(("local", volid));
    let file = path.rsplit('/').next().unwrap_or(path);
    let renamed = file
        .replace(&format!("base-{src}-"), &format!("vm-{new}-"))
        .replace(&format!("vm-{src}-"), &format!("vm-{new}-"));
    if linked {
        return format!("{sid}:{file}/{renamed}");
    }
    let sid = target_storage.unwrap_or(sid);
    if path.contains('/') {
        format!("{sid}:{new}/{renamed}")
    } else {
        format!("{sid}:{renamed}")
    }
}

fn guest_clone(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let src = guest(&cl, ctx)?.clone();
    let newid: u32 = ctx.p("newid").and_then(|v| v.parse().ok()).unwrap_or(0);
    ctx.require(&format!("/vms/{newid}"), "VM.Allocate")?;
    if cl.guests.contains_key(&newid) {
        return Err(ApiError::internal(match src.kind {
            GuestKind::Qemu => format!("unable to create VM {newid}: config file already exists"),
            GuestKind::Lxc => format!(
                "CT {newid} already exists on node '{}'",
                cl.guests[&newid].node
            ),
        }));
    }
    if let Some(msg) = locked_message(&src) {
        return Err(ApiError::internal(msg));
    }
    let target = ctx.p("target").unwrap_or(ctx.node()).to_string();
    check_node(&cl, &target)?;
    let pool = ctx.p("pool").map(str::to_string);
    if let Some(p) = &pool
        && !cl.pools.contains_key(p)
    {
        return Err(ApiError::internal(format!("pool '{p}' does not exist")));
    }
    let linked = src.is_template() && !ctx.flag("full");
    if !linked && target != ctx.node() {
        for (_, volid, _) in src.disks() {
            let sid = volid.split(':').next().unwrap_or("");
            if cl.storage(sid).is_some_and(|s| !s.shared) && ctx.p("storage").is_none() {
                return Err(ApiError::internal(format!(
                    "can't clone VM to node '{target}' (VM uses local storage)"
                )));
            }
        }
    }
    let source_config = match ctx.p("snapname") {
        Some(snap) => src
            .snapshots
            .iter()
            .find(|s| s.name == snap)
            .map(|s| s.config.clone())
            .ok_or_else(|| ApiError::internal(format!("snapshot '{snap}' does not exist")))?,
        None => src.config.clone(),
    };
    let mut config = BTreeMap::new();
    let mac_base = ctx
        .shared
        .mac_counter
        .fetch_add(32, std::sync::atomic::Ordering::Relaxed);
    for (i, (k, v)) in source_config.iter().enumerate() {
        if matches!(
            k.as_str(),
            "template" | "lock" | "parent" | "snaptime" | "vmstate"
        ) {
            continue;
        }
        let value = if k.starts_with("net") && k[3..].bytes().all(|b| b.is_ascii_digit()) {
            // a fresh MAC for every NIC of the clone
            let stripped: Vec<&str> = v
                .split(',')
                .map(|p| match p.split_once('=') {
                    Some((m, _))
                        if src.kind == GuestKind::Qemu
                            && !p.starts_with("bridge")
                            && !m.contains("firewall")
                            && p.matches(':').count() == 5 =>
                    {
                        m
                    }
                    _ => p,
                })
                .filter(|p| !p.starts_with("hwaddr=") && !p.starts_with("macaddr="))
                .collect();
            canonical_value(src.kind, k, &stripped.join(","), mac_base + i as u64)
        } else if v.contains("cloudinit") {
            v.replace(
                &format!("vm-{}-cloudinit", src.vmid),
                &format!("vm-{newid}-cloudinit"),
            )
        } else if (is_disk_key(src.kind, k)) && !v.contains("media=cdrom") {
            let mut parts = v.splitn(2, ',');
            let volid = parts.next().unwrap_or("");
            let rest = parts.next().map(|r| format!(",{r}")).unwrap_or_default();
            format!(
                "{}{rest}",
                clone_volid(volid, src.vmid, newid, linked, ctx.p("storage"))
            )
        } else if k == "smbios1" {
            format!(
                "uuid=5f1c0a2e-0000-4000-8000-{:012x}",
                (u64::from(newid) ^ mac_base) & 0xffff_ffff_ffff
            )
        } else if k == "vmgenid" {
            format!(
                "9b3e2c4d-0000-4000-8000-{:012x}",
                (u64::from(newid) ^ mac_base) & 0xffff_ffff_ffff
            )
        } else {
            v.clone()
        };
        config.insert(k.clone(), value);
    }
    match src.kind {
        GuestKind::Qemu => {
            let name = ctx
                .p("name")
                .map(str::to_string)
                .unwrap_or_else(|| format!("Copy-of-VM-{}", src.name()));
            config.insert("name".into(), name);
        }
        GuestKind::Lxc => {
            if let Some(h) = ctx.p("hostname") {
                config.insert("hostname".into(), h.to_string());
            }
        }
    }
    if let Some(d) = ctx.p("description") {
        config.insert("description".into(), d.to_string());
    }
    config.insert("lock".into(), "clone".into());
    cl.guests.insert(
        newid,
        Guest {
            vmid: newid,
            kind: src.kind,
            node: target.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            started_at: None,
            snapshots: Vec::new(),
            agent_running: false,
            paused: false,
            ip: None,
            pool,
        },
    );
    let node = ctx.node().to_string();
    let kind = src.kind;
    let src_vmid = src.vmid;
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}clone", kind.task_prefix()),
        &src_vmid.to_string(),
        Box::new(move |cl, log| {
            check_capacity(cl, newid)?;
            let g = cl
                .guests
                .get_mut(&newid)
                .ok_or_else(|| format!("{} {newid} vanished", kind.word()))?;
            log.push(format!(
                "create {} clone of drive(s) of {} {src_vmid}",
                if linked { "linked" } else { "full" },
                kind.word()
            ));
            g.config.remove("lock");
            Ok(())
        }),
        Some(Box::new(move |cl| {
            cl.guests.remove(&newid);
        })),
    );
    ok(json!(upid))
}

fn guest_resize(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_digest(ctx, g)?;
    check_lock(ctx, &cl, g)?;
    let disk = ctx.p("disk").unwrap_or("").to_string();
    let Some(value) = g.config.get(&disk).filter(|v| !v.contains("media=cdrom")) else {
        return Err(ApiError::internal(format!("disk '{disk}' does not exist")));
    };
    let old = size_of(value);
    let size_text = ctx.p("size").unwrap_or("");
    let (plus, amount) = match size_text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, size_text),
    };
    let amount =
        parse_size(amount).ok_or_else(|| ApiError::param("size", "unable to parse size"))?;
    let new = if plus {
        old.saturating_add(amount)
    } else {
        amount
    };
    if new < old {
        return Err(ApiError::internal(format!(
            "shrinking disks is not supported (current {old} bytes, requested {new} bytes)"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        "resize",
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let Some(value) = g.config.get(&disk).cloned() else {
                return Err(format!("disk '{disk}' does not exist"));
            };
            let parts: Vec<String> = value
                .split(',')
                .filter(|p| !p.starts_with("size="))
                .map(str::to_string)
                .chain(std::iter::once(format!("size={}", format_size(new))))
                .collect();
            let old_value = value.clone();
            g.config.insert(
                disk.clone(),
                canonical_value(kind, &disk, &parts.join(","), 0),
            );
            if let Err(e) = check_capacity(cl, vmid) {
                if let Some(g) = cl.guests.get_mut(&vmid) {
                    g.config.insert(disk.clone(), old_value);
                }
                return Err(e);
            }
            log.push(format!(
                "Size of logical volume changed from {old} to {new} bytes."
            ));
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}

fn guest_template(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    if g.is_template() {
        return Err(ApiError::internal(format!(
            "{} {} is already a template",
            g.kind.word(),
            g.vmid
        )));
    }
    if g.running {
        return Err(ApiError::internal(format!(
            "you can't convert a running {} to template",
            if g.kind == GuestKind::Qemu {
                "VM"
            } else {
                "CT"
            }
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let convert = move |g: &mut Guest| {
        let disks: Vec<String> = g.disks().into_iter().map(|d| d.0).collect();
        for key in disks {
            if let Some(v) = g.config.get(&key).cloned() {
                g.config.insert(
                    key,
                    v.replacen(&format!("vm-{vmid}-disk"), &format!("base-{vmid}-disk"), 2),
                );
            }
        }
        g.config.insert("template".into(), "1".into());
    };
    if !returns_upid(ctx, "POST") {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            convert(g);
        }
        return ok(Value::Null);
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}template", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            convert(g);
            Ok(())
        }),
        None,
    );
    ok(json!(upid))
}

fn guest_migrate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let target = ctx.p("target").unwrap_or("").to_string();
    if cl.node(&target).is_none() {
        return Err(ApiError::param(
            "target",
            &format!("no such cluster node '{target}'"),
        ));
    }
    if target == ctx.node() {
        return Err(ApiError::param("target", "target is local node."));
    }
    if g.running && g.kind == GuestKind::Qemu && !ctx.flag("online") {
        return Err(ApiError::internal(
            "can't migrate running VM without --online",
        ));
    }
    if g.running && g.kind == GuestKind::Lxc && !ctx.flag("restart") {
        return Err(ApiError::internal(
            "lxc live migration is currently not implemented - use 'restart' migration mode",
        ));
    }
    for (_, volid, _) in g.disks() {
        let sid = volid.split(':').next().unwrap_or("");
        if let Some(s) = cl.storage(sid)
            && !s.shared
            && !s.on_node(&target)
        {
            return Err(ApiError::internal(format!(
                "storage '{sid}' is not available on node '{target}'"
            )));
        }
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "migrate");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!(
            "{}migrate",
            if kind == GuestKind::Qemu { "qm" } else { "vz" }
        )
        .replace("qmmigrate", "qmigrate"),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            log.push(format!(
                "starting migration of {} {vmid} to node '{target}'",
                kind.word()
            ));
            g.node = target;
            g.config.remove("lock");
            log.push("migration finished successfully".to_string());
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}

fn snapshot_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let mut out: Vec<Value> = g
        .snapshots
        .iter()
        .map(|s| {
            let mut o =
                json!({"name": s.name, "description": s.description, "snaptime": s.snaptime});
            if let Some(p) = &s.parent {
                o["parent"] = json!(p);
            }
            if s.config.contains_key("vmstate") {
                o["vmstate"] = json!(1);
            }
            o
        })
        .collect();
    let mut current =
        json!({"name": "current", "description": "You are here!", "running": u8::from(g.running)});
    if let Some(p) = g.config.get("parent") {
        current["parent"] = json!(p);
    }
    out.push(current);
    ok(Value::Array(out))
}

fn snapshot_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if name == "current" || g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot name '{name}' already used"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let description = ctx.p("description").unwrap_or("").to_string();
    let vmstate = ctx.flag("vmstate") && g.running;
    if let Some(g) = cl.guests.get_mut(&vmid) {
        g.config.insert("lock".into(), "snapshot".into());
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}snapshot", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            g.config.remove("lock");
            let mut config = g.config.clone();
            let snaptime = now();
            config.insert("snaptime".into(), snaptime.to_string());
            if vmstate {
                config.insert(
                    "vmstate".into(),
                    format!("local-lvm:vm-{vmid}-state-{name}"),
                );
            }
            if !description.is_empty() {
                config.insert("description".into(), description.clone());
            }
            g.snapshots.push(Snapshot {
                name: name.clone(),
                description,
                snaptime,
                parent: g.config.get("parent").cloned(),
                config,
            });
            g.config.insert("parent".into(), name.clone());
            log.push(format!("snapshot '{name}' created"));
            Ok(())
        }),
        Some(Box::new(move |cl| {
            if let Some(g) = cl.guests.get_mut(&vmid) {
                g.config.remove("lock");
            }
        })),
    );
    ok(json!(upid))
}

fn snapshot_rollback(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot '{name}' does not exist"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let start = ctx.flag("start");
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "rollback");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}rollback", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let snap = g
                .snapshots
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
            let mut config = snap.config.clone();
            let had_state = config.remove("vmstate").is_some();
            config.remove("snaptime");
            config.insert("parent".into(), name.clone());
            g.config = config;
            g.pending.clear();
            g.pending_delete.clear();
            if !had_state {
                do_stop(g)?;
            }
            if start && !g.running {
                do_start(g)?;
            }
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}

fn snapshot_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    if !ctx.flag("force") {
        check_lock(ctx, &cl, g)?;
    }
    let name = ctx.p("snapname").unwrap_or("").to_string();
    if !g.snapshots.iter().any(|s| s.name == name) {
        return Err(ApiError::internal(format!(
            "snapshot '{name}' does not exist"
        )));
    }
    let vmid = g.vmid;
    let kind = g.kind;
    let node = ctx.node().to_string();
    set_lock(&mut cl, vmid, "snapshot-delete");
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}delsnapshot", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            let idx = g
                .snapshots
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| format!("snapshot '{name}' does not exist"))?;
            g.config.remove("lock");
            let removed = g.snapshots.remove(idx);
            for s in &mut g.snapshots {
                if s.parent.as_deref() == Some(name.as_str()) {
                    s.parent = removed.parent.clone();
                    match &removed.parent {
                        Some(p) => s.config.insert("parent".into(), p.clone()),
                        None => s.config.remove("parent"),
                    };
                }
            }
            if g.config.get("parent") == Some(&name) {
                match removed.parent {
                    Some(p) => g.config.insert("parent".into(), p),
                    None => g.config.remove("parent"),
                };
            }
            Ok(())
        }),
        Some(Box::new(move |cl| clear_lock(cl, vmid))),
    );
    ok(json!(upid))
}

// ---------------------------------------------------------------------------------------------
// guest agent and interfaces

/// Bridge and VLAN tag of a guest's first NIC.
fn net_of(g: &Guest) -> Option<(String, Option<String>)> {
    let net = g.config.get("net0")?;
    let mut bridge = None;
    let mut tag = None;
    for part in net.split(',') {
        if let Some(b) = part.strip_prefix("bridge=") {
            bridge = Some(b.to_string());
        }
        if let Some(t) = part.strip_prefix("tag=") {
            tag = Some(t.to_string());
        }
    }
    Some((bridge?, tag))
}

fn mac_of(g: &Guest) -> String {
    g.config
        .get("net0")
        .and_then(|n| {
            n.split(',').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k == "hwaddr" || v.matches(':').count() == 5).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| generated_mac(u64::from(g.vmid)))
}

fn guest_ip(g: &Guest) -> Option<String> {
    if let Some(ip) = &g.ip {
        return Some(ip.clone());
    }
    let text = g.config.get("ipconfig0").or_else(|| g.config.get("net0"))?;
    text.split(',')
        .find_map(|p| p.strip_prefix("ip="))
        .filter(|ip| ip.starts_with("127."))
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

fn agent_guest<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Guest, ApiError> {
    let g = guest(cl, ctx)?;
    let enabled = g
        .config
        .get("agent")
        .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    if !enabled {
        return Err(ApiError::internal("No QEMU guest agent configured"));
    }
    if !g.running {
        return Err(ApiError::internal(format!("VM {} is not running", g.vmid)));
    }
    if !g.agent_running {
        return Err(ApiError::internal("QEMU guest agent is not running"));
    }
    Ok(g)
}

fn agent_interfaces(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let mut ifaces = vec![json!({
        "name": "lo", "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}],
        "statistics": {"rx-bytes": 0, "rx-packets": 0, "rx-errs": 0, "rx-dropped": 0, "tx-bytes": 0, "tx-packets": 0, "tx-errs": 0, "tx-dropped": 0},
    })];
    let mut addrs = Vec::new();
    if let Some(ip) = guest_ip(g) {
        addrs.push(json!({"ip-address": ip, "ip-address-type": "ipv4", "prefix": 8}));
    }
    ifaces.push(json!({
        "name": "eth0", "hardware-address": mac_of(g).to_lowercase(), "ip-addresses": addrs,
        "statistics": {"rx-bytes": 1024, "rx-packets": 10, "rx-errs": 0, "rx-dropped": 0, "tx-bytes": 512, "tx-packets": 5, "tx-errs": 0, "tx-dropped": 0},
    }));
    ok(json!({"result": ifaces}))
}

fn agent_ping(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    agent_guest(&cl, ctx)?;
    ok(json!({"result": {}}))
}

fn agent_osinfo(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let ostype = g.config.get("ostype").map(String::as_str).unwrap_or("l26");
    let info = if ostype.starts_with('w') {
        json!({"id": "mswindows", "name": "Microsoft Windows", "pretty-name": "Windows Server 2022 Standard", "version": "Microsoft Windows Server 2022", "kernel-release": "20348", "machine": "x86_64"})
    } else {
        json!({"id": "debian", "name": "Debian GNU/Linux", "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version": "12 (bookworm)", "version-id": "12", "kernel-release": "6.1.0-28-amd64", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", "machine": "x86_64"})
    };
    ok(json!({"result": info}))
}

fn agent_host_name(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    ok(json!({"result": {"host-name": g.name()}}))
}

fn agent_exec(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?.clone();
    let raw = ctx.p("command").unwrap_or("");
    let argv: Vec<String> = if raw.contains('\0') {
        raw.split('\0').map(str::to_string).collect()
    } else {
        raw.split_whitespace().map(str::to_string).collect()
    };
    let result = match argv.first().map(String::as_str) {
        Some("ping") => {
            let target = argv.last().cloned().unwrap_or_default();
            let peer = cl
                .guests
                .values()
                .find(|o| guest_ip(o).as_deref() == Some(target.as_str()));
            let reachable = match peer {
                Some(p) => {
                    p.running && p.vmid != g.vmid && net_of(p).is_some() && net_of(p) == net_of(&g)
                }
                None => guest_ip(&g).as_deref() == Some(target.as_str()) || target == "127.0.0.1",
            };
            if reachable {
                super::cluster::ExecResult {
                    exitcode: 0,
                    out: format!(
                        "PING {target} ({target}) 56(84) bytes of data.\n64 bytes from {target}: icmp_seq=1 ttl=64 time=0.2 ms\n\n--- {target} ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss\n"
                    ),
                    err: String::new(),
                }
            } else {
                super::cluster::ExecResult {
                    exitcode: 1,
                    out: format!(
                        "PING {target} ({target}) 56(84) bytes of data.\n\n--- {target} ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss\n"
                    ),
                    err: String::new(),
                }
            }
        }
        Some("hostname") => super::cluster::ExecResult {
            exitcode: 0,
            out: format!("{}\n", g.name()),
            err: String::new(),
        },
        Some("true") => super::cluster::ExecResult {
            exitcode: 0,
            out: String::new(),
            err: String::new(),
        },
        Some(cmd) => super::cluster::ExecResult {
            exitcode: 127,
            out: String::new(),
            err: format!("{cmd}: command not found in the simulated guest\n"),
        },
        None => {
            return Err(ApiError::param(
                "command",
                "property is missing and it is not optional",
            ));
        }
    };
    cl.next_exec_pid += 1;
    let pid = cl.next_exec_pid;
    cl.exec_results.insert(format!("{}:{pid}", g.vmid), result);
    ok(json!({"pid": pid}))
}

fn agent_exec_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = agent_guest(&cl, ctx)?;
    let pid = ctx.p("pid").unwrap_or("");
    let r = cl
        .exec_results
        .get(&format!("{}:{pid}", g.vmid))
        .ok_or_else(|| {
            ApiError::internal(format!("Agent error: Invalid parameter 'pid' ({pid})"))
        })?;
    let mut o = json!({"exited": 1, "exitcode": r.exitcode});
    if !r.out.is_empty() {
        o["out-data"] = json!(r.out);
    }
    if !r.err.is_empty() {
        o["err-data"] = json!(r.err);
    }
    ok(o)
}

fn lxc_interfaces(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    if !g.running {
        return Err(ApiError::internal(format!("CT {} not running", g.vmid)));
    }
    let mut out = vec![
        json!({"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"}),
    ];
    let mut eth = json!({"name": "eth0", "hwaddr": mac_of(g).to_lowercase()});
    if let Some(ip) = guest_ip(g) {
        eth["inet"] = json!(format!("{ip}/8"));
    }
    out.push(eth);
    ok(Value::Array(out))
}
