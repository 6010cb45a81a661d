//! Moving a guest to another cluster (`POST /nodes/{node}/qemu|lxc/{vmid}/remote_migrate`, PVE
//! 8/9, "EXPERIMENTAL" there): the parameters as the schema defines them (SCHEMA
//! `POST /nodes/{node}/qemu/{vmid}/remote_migrate`: `target-endpoint` in the `proxmox-remote`
//! format `apitoken=PVEAPIToken=USER@REALM!TOKEN=SECRET,host=ADDRESS[,fingerprint=FP][,port=N]`,
//! the required `target-storage` and `target-bridge` maps, `target-vmid`, `delete`, `online`;
//! the lxc route adds `restart` and `timeout`), and the move itself done for real: a worker
//! task on the source talks HTTPS to the target simulator's API (the project's own client,
//! reqwest on rustls with the target's certificate fingerprint pinned), checks that the token
//! holds `Sys.Incoming` and `VM.Allocate` on the target (what PVE's target-side `mtunnel`
//! endpoint checks: SCHEMA `POST /nodes/{node}/qemu/{vmid}/mtunnel`, permissions), creates the
//! guest there with the mapped storages and bridges, starts it if the source ran, and only then
//! removes the source guest (`delete=1`; by default the source stays, stopped, as in PVE).
//!
//! PVE moves the disks through a websocket tunnel (`mtunnelwebsocket`); the simulator allocates
//! disks of the same sizes on the mapped storages instead, through the target's ordinary
//! create call, so the target's own checks (storage exists on the node, content type, VMID
//! free) apply. The simulator only ever talks to a target on 127.0.0.0/8.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::pve::{Auth, Client, ClientConfig, Secret, TlsMode, Upid, params};
use crate::sim::cluster::{Cluster, Guest, GuestKind, Task, TaskState, is_disk_key};
use crate::sim::server::{Shared, lock, now};

use super::guests::{check_lock, guest};
use super::{ApiError, Ctx, Reply, ok};

/// `target-endpoint`, parsed; the secret stays inside the token and is never logged.
struct Endpoint {
    host: String,
    port: u16,
    token_id: String,
    secret: String,
    fingerprint: Option<String>,
}

fn bad(name: &str, msg: &str) -> ApiError {
    ApiError::param(name, msg)
}

/// Parses the `proxmox-remote` property string.
fn parse_endpoint(text: &str) -> Result<Endpoint, ApiError> {
    let name = "target-endpoint";
    let mut keys: BTreeMap<&str, &str> = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(name, &format!("invalid format - missing '=' in '{part}'")))?;
        if !["apitoken", "host", "fingerprint", "port"].contains(&k) {
            return Err(bad(
                name,
                &format!("invalid format - property '{k}' is not defined in schema"),
            ));
        }
        keys.insert(k, v);
    }
    let host = keys
        .get("host")
        .ok_or_else(|| bad(name, "invalid format - property 'host' is missing"))?;
    let token = keys
        .get("apitoken")
        .ok_or_else(|| bad(name, "invalid format - property 'apitoken' is missing"))?;
    let token = token.strip_prefix("PVEAPIToken=").ok_or_else(|| {
        bad(
            name,
            "invalid format - apitoken must be 'PVEAPIToken=USER@REALM!TOKEN=SECRET'",
        )
    })?;
    let (token_id, secret) = token
        .split_once('=')
        .filter(|(id, s)| id.contains('!') && id.contains('@') && !s.is_empty())
        .ok_or_else(|| {
            bad(
                name,
                "invalid format - apitoken must be 'PVEAPIToken=USER@REALM!TOKEN=SECRET'",
            )
        })?;
    let port = match keys.get("port") {
        Some(p) => p
            .parse()
            .map_err(|_| bad(name, &format!("invalid format - port '{p}' is not a port")))?,
        None => 8006,
    };
    let loopback = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
        || *host == "localhost";
    if !loopback {
        return Err(bad(
            name,
            "the simulator migrates only to a simulator on this machine (127.0.0.0/8)",
        ));
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
        token_id: token_id.to_string(),
        secret: secret.to_string(),
        fingerprint: keys.get("fingerprint").map(|s| s.to_string()),
    })
}

/// A `storage-pair-list`/`bridge-pair-list`: `a:b,c:d`, one id for all, or `1` for identity.
struct PairMap {
    pairs: BTreeMap<String, String>,
    all: Option<String>,
}

impl PairMap {
    fn parse(name: &str, text: &str) -> Result<Self, ApiError> {
        let items: Vec<&str> = text
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(bad(name, "value may not be empty"));
        }
        if let [one] = items.as_slice()
            && !one.contains(':')
        {
            return Ok(Self {
                pairs: BTreeMap::new(),
                all: (*one != "1").then(|| one.to_string()),
            });
        }
        let mut pairs = BTreeMap::new();
        for item in items {
            let (from, to) = item.split_once(':').ok_or_else(|| {
                bad(
                    name,
                    &format!("invalid format - '{item}' is not SOURCE:TARGET"),
                )
            })?;
            if pairs.insert(from.to_string(), to.to_string()).is_some() {
                return Err(bad(name, &format!("duplicate mapping for '{from}'")));
            }
        }
        Ok(Self { pairs, all: None })
    }

    /// The target name of `from`; identity for `1`, `None` when a list does not name it.
    fn map(&self, from: &str) -> Option<String> {
        match (&self.all, self.pairs.is_empty()) {
            (Some(all), _) => Some(all.clone()),
            (None, true) => Some(from.to_string()),
            (None, false) => self.pairs.get(from).cloned(),
        }
    }
}

/// The configuration the target guest is created with: disks as `STORAGE:GIB` on the mapped
/// storage (same size), bridges mapped, MAC addresses and the rest kept; what belongs to the
/// source cluster only (lock, snapshots' parent, unused volumes) left behind.
fn target_config(
    g: &Guest,
    storages: &PairMap,
    bridges: &PairMap,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (key, value) in &g.config {
        if ["lock", "digest", "parent", "meta"].contains(&key.as_str()) || key.starts_with("unused")
        {
            continue;
        }
        let mut value = value.clone();
        if is_disk_key(g.kind, key) {
            let (volid, rest) = value.split_once(',').unwrap_or((value.as_str(), ""));
            if let Some((sid, vol)) = volid.split_once(':')
                && !volid.starts_with('/')
                && sid != "none"
            {
                let Some(to) = storages.map(sid) else {
                    missing.push(format!("storage '{sid}'"));
                    continue;
                };
                let opts: Vec<&str> = rest
                    .split(',')
                    .filter(|p| !p.is_empty() && !p.starts_with("size="))
                    .collect();
                let head = if rest.contains("media=cdrom") {
                    if vol.contains("cloudinit") {
                        format!("{to}:cloudinit")
                    } else {
                        volid.to_string()
                    }
                } else {
                    let bytes = crate::sim::cluster::size_of(&value);
                    format!("{to}:{}", bytes.div_ceil(1 << 30).max(1))
                };
                value = std::iter::once(head.as_str())
                    .chain(opts)
                    .collect::<Vec<_>>()
                    .join(",");
            }
        } else if key.starts_with("net") {
            let parts: Vec<String> = value
                .split(',')
                .map(|p| match p.strip_prefix("bridge=") {
                    Some(b) => match bridges.map(b) {
                        Some(to) => format!("bridge={to}"),
                        None => {
                            missing.push(format!("bridge '{b}'"));
                            p.to_string()
                        }
                    },
                    None => p.to_string(),
                })
                .collect();
            value = parts.join(",");
        }
        out.push((key.clone(), value));
    }
    if !missing.is_empty() {
        return Err(ApiError::internal(format!(
            "no target mapping for {}",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// Starts a task record that the move finishes itself (its work is asynchronous: calls to the
/// target), returning the UPID.
fn begin_task(ctx: &Ctx, cl: &mut Cluster, node: &str, kind: &str, vmid: u32) -> String {
    let pid = cl.next_pid;
    cl.next_pid = cl.next_pid.wrapping_add(1).max(1000);
    let starttime = now();
    let boot = cl.node(node).map(|n| n.boot_time).unwrap_or(starttime);
    let pstart = starttime.saturating_sub(boot) * 100 + u64::from(pid % 97);
    let user = ctx.caller.user.clone();
    let upid = format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{vmid}:{user}:");
    cl.tasks.push(Task {
        upid: upid.clone(),
        node: node.to_string(),
        pid,
        pstart,
        starttime,
        kind: kind.to_string(),
        id: vmid.to_string(),
        user,
        state: TaskState::Running,
        log: Vec::new(),
    });
    let idx = cl.tasks.len() - 1;
    cl.task_index.insert(upid.clone(), idx);
    upid
}

fn end_task(cl: &mut Cluster, upid: &str, mut log: Vec<String>, result: Result<(), String>) {
    let exitstatus = match &result {
        Ok(()) => {
            log.push("TASK OK".into());
            "OK".to_string()
        }
        Err(e) => {
            log.push(format!("TASK ERROR: {e}"));
            e.clone()
        }
    };
    if let Some(task) = cl.task_mut(upid) {
        task.log.extend(log);
        task.state = TaskState::Stopped {
            exitstatus,
            endtime: now(),
        };
    }
}

/// What the worker needs, copied out of the request.
struct Move {
    endpoint: Endpoint,
    kind: GuestKind,
    vmid: u32,
    target_vmid: u32,
    config: Vec<(String, String)>,
    running: bool,
    delete: bool,
}

pub(super) fn guest_remote_migrate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let endpoint = parse_endpoint(ctx.p("target-endpoint").unwrap_or(""))?;
    let storages = PairMap::parse("target-storage", ctx.p("target-storage").unwrap_or(""))?;
    let bridges = PairMap::parse("target-bridge", ctx.p("target-bridge").unwrap_or(""))?;
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    check_lock(ctx, &cl, g)?;
    let kind = g.kind;
    // PVE: a running VM moves only live (`online`); a container only by restart (QS
    // API2/Qemu.pm remote_migrate_vm, CT API2/LXC.pm remote_migrate_vm @ e6352be / 94f5585).
    if g.running && kind == GuestKind::Qemu && !ctx.flag("online") {
        return Err(ApiError::internal(
            "can't migrate running VM without --online",
        ));
    }
    if g.running && kind == GuestKind::Lxc && !ctx.flag("restart") {
        return Err(ApiError::internal(
            "lxc live migration is currently not implemented - use 'restart' migration mode",
        ));
    }
    let config = target_config(g, &storages, &bridges)?;
    let vmid = g.vmid;
    let mv = Move {
        endpoint,
        kind,
        vmid,
        target_vmid: ctx
            .p("target-vmid")
            .and_then(|v| v.parse().ok())
            .unwrap_or(vmid),
        config,
        running: g.running,
        delete: ctx.flag("delete"),
    };
    let node = ctx.node().to_string();
    super::guests::set_lock(&mut cl, vmid, "migrate");
    let task_kind = match kind {
        GuestKind::Qemu => "qmigrate",
        GuestKind::Lxc => "vzmigrate",
    };
    let upid = begin_task(ctx, &mut cl, &node, task_kind, vmid);
    drop(cl);
    let shared = ctx.shared.clone();
    let upid2 = upid.clone();
    tokio::spawn(async move {
        let mut log = Vec::new();
        let result = run_move(&shared, &mv, &mut log).await;
        {
            let mut cl = lock(&shared.cluster);
            match &result {
                Ok(()) if mv.delete => {
                    cl.guests.remove(&mv.vmid);
                    log.push(format!("removed the source {} {}", mv.kind.word(), mv.vmid));
                }
                Ok(()) => {
                    if let Some(g) = cl.guests.get_mut(&mv.vmid) {
                        g.running = false;
                        g.started_at = None;
                    }
                    super::guests::clear_lock(&mut cl, mv.vmid);
                    log.push("the source guest is kept, stopped (delete=0)".into());
                }
                Err(_) => {
                    super::guests::clear_lock(&mut cl, mv.vmid);
                    log.push("the source guest is unchanged".into());
                }
            }
            end_task(&mut cl, &upid2, log, result);
        }
        shared.persist();
    });
    ok(json!(upid))
}

fn target_client(e: &Endpoint) -> Result<Client, String> {
    let tls = match &e.fingerprint {
        Some(fp) => TlsMode::Pinned(fp.clone()),
        None => TlsMode::Verify,
    };
    let mut config = ClientConfig::new(
        format!("https://{}:{}", e.host, e.port),
        Auth::Token {
            id: e.token_id.clone(),
            secret: Secret::new(e.secret.clone()),
        },
        tls,
    );
    config.retries = 0;
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(30);
    Client::new(config).map_err(|e| format!("target: {e}"))
}

/// The calls to the target; the source is not touched here.
async fn run_move(_shared: &Shared, mv: &Move, log: &mut Vec<String>) -> Result<(), String> {
    let e = &mv.endpoint;
    log.push(format!(
        "remote migration of {} {} to {}:{} as vmid {}",
        mv.kind.word(),
        mv.vmid,
        e.host,
        e.port,
        mv.target_vmid
    ));
    let client = target_client(e)?;
    let fail = |what: &str, err: crate::pve::PveError| format!("target {what} failed: {err}");
    let perms: Value = client
        .get("/access/permissions", params([("path", "/")]))
        .await
        .map_err(|err| fail("permission check", err))?;
    let held = perms.get("/").cloned().unwrap_or(Value::Null);
    for privilege in ["Sys.Incoming", "VM.Allocate"] {
        if held.get(privilege).is_none() {
            return Err(format!(
                "the target token {} lacks {privilege} on '/'",
                e.token_id
            ));
        }
    }
    let status: Vec<Value> = client
        .get("/cluster/status", params::<&str, &str>([]))
        .await
        .map_err(|err| fail("cluster status", err))?;
    let node = status
        .iter()
        .find(|n| n["type"] == "node" && n["local"].as_u64() == Some(1))
        .or_else(|| status.iter().find(|n| n["type"] == "node"))
        .and_then(|n| n["name"].as_str())
        .ok_or("the target cluster has no node")?
        .to_string();
    let kind = mv.kind.as_str();
    let mut body = params([("vmid", mv.target_vmid.to_string())]);
    body.extend(mv.config.iter().cloned());
    if mv.kind == GuestKind::Lxc {
        // PVE fills the container from the tunnel; the simulator's create needs a template
        body.push(("ostemplate".into(), target_template(&client, &node).await?));
    }
    let created = client
        .write(Method::POST, &format!("/nodes/{node}/{kind}"), body)
        .await
        .map_err(|err| fail("create", err))?;
    log.push(format!(
        "creating {} {} on the target's node {node}",
        mv.kind.word(),
        mv.target_vmid
    ));
    if let Err(err) = wait(&client, &created).await {
        // a half-made target guest is not left behind when it can be removed
        let path = format!("/nodes/{node}/{kind}/{}", mv.target_vmid);
        let _ = client
            .write(Method::DELETE, &path, params::<&str, &str>([]))
            .await;
        return Err(format!("creating the target guest failed: {err}"));
    }
    if mv.running {
        let path = format!("/nodes/{node}/{kind}/{}/status/start", mv.target_vmid);
        let started = client
            .write(Method::POST, &path, params::<&str, &str>([]))
            .await
            .map_err(|err| fail("start", err))?;
        wait(&client, &started)
            .await
            .map_err(|err| format!("starting the target guest failed: {err}"))?;
        log.push("the target guest is running".into());
    }
    log.push(format!(
        "migration finished: {} {} is complete on the target",
        mv.kind.word(),
        mv.target_vmid
    ));
    Ok(())
}

/// An OS template on the target node (the simulator's container create needs one).
async fn target_template(client: &Client, node: &str) -> Result<String, String> {
    let storages: Vec<Value> = client
        .get(
            &format!("/nodes/{node}/storage"),
            params([("content", "vztmpl")]),
        )
        .await
        .map_err(|e| format!("target storage list failed: {e}"))?;
    for s in storages.iter().filter_map(|s| s["storage"].as_str()) {
        let content: Vec<Value> = client
            .get(
                &format!("/nodes/{node}/storage/{s}/content"),
                params([("content", "vztmpl")]),
            )
            .await
            .map_err(|e| format!("target storage content failed: {e}"))?;
        if let Some(volid) = content.iter().find_map(|c| c["volid"].as_str()) {
            return Ok(volid.to_string());
        }
    }
    Err(format!(
        "node {node} of the target has no container template"
    ))
}

async fn wait(client: &Client, reply: &Value) -> Result<(), String> {
    let upid: Upid = reply
        .as_str()
        .ok_or("the target answered no task")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    client
        .wait(&upid)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
