//! `migrate vm|container NAME --to-env ENV [--target-storage MAP] [--target-bridge MAP]
//! [--target-vmid N] [--keep-source] [--yes]`: moves a guest to another environment's cluster
//! with PVE's `remote_migrate` (issue 18, the last part).
//!
//! Owns the pre-flight, the move and the files afterwards. The pre-flight reads both clusters
//! and names every missing piece before anything changes: the target environment exists and
//! answers, its token holds `Sys.Incoming` and what creating a guest takes, every storage and
//! bridge of the guest has a mapping that exists on the target, a running guest can move live
//! (a VM can; a container cannot), and the VMID (kept when free, else the next free one; a
//! forced `--target-vmid` that is taken is refused). Then the source cluster moves the guest
//! (its task creates the guest on the target first and removes the source only once the target
//! guest is complete). Afterwards the guest's file leaves the source environment's files and is
//! written, with an import block for the target cluster, into the target's (both by a `/sync`
//! of each, so both plans are clean), and each environment's state.db gets an audit row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use super::resource::Loaded;
use crate::commands::backup::follow;
use crate::commands::promote::free_vmid;
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::lang::{RemoteMove, Target};
use crate::model::GuestKind;
use crate::pve::{Client, Params, Upid, params};
use crate::state::StateDb;
use crate::ui::{Item, Table};
use crate::workspace::Workspace;
use crate::workspace::config::{Environment, NameMap};

/// What creating the guest on the target takes, besides `Sys.Incoming` (PVE's `mtunnel`:
/// `VM.Allocate` on the guest and `Sys.Incoming` on `/`; the disks need space on a storage).
const TARGET_PRIVS: &[&str] = &["Sys.Incoming", "VM.Allocate", "Datastore.AllocateSpace"];

const NOTHING: &str = "nothing was changed";

fn kind_word(kind: GuestKind) -> &'static str {
    crate::commands::backup::kind_word(kind)
}

/// The source guest as the pre-flight saw it.
struct Source {
    config: BTreeMap<String, String>,
    running: bool,
}

/// The target cluster as the pre-flight saw it.
struct TargetCluster {
    node: String,
    storages: BTreeSet<String>,
    bridges: BTreeSet<String>,
    vmids: BTreeSet<u32>,
    names: BTreeSet<String>,
}

/// Everything the move needs, checked.
struct Checked {
    vmid: u32,
    node: String,
    storage_pairs: Vec<(String, String)>,
    bridge_pairs: Vec<(String, String)>,
    online: bool,
}

/// Runs `migrate ... --to-env ENV`.
pub async fn run(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
    remote: &RemoteMove,
    yes: bool,
) -> Result<Report, CommandError> {
    let config = ctx.config()?.clone();
    let from = config.active.clone();
    let to = remote.env.as_str();
    let Some(to_env) = config.environments.get(to).cloned() else {
        let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        return Err(CommandError::user(format!(
            "there is no environment `{to}` in this workspace"
        ))
        .hint(format!(
            "the environments are: {} (/env add {to} --endpoint URL ... adds it); {NOTHING}",
            names.join(", ")
        )));
    };
    if to == from {
        return Err(CommandError::user(format!(
            "{} {} is in `{to}` already",
            kind_word(target.kind),
            target.name
        ))
        .hint("--to-env names another environment; --to NODE moves a guest inside this cluster"));
    }
    let top = Workspace::at(ctx.workspace()?.top());
    let (a, b) = (top.for_env(&from), top.for_env(to));
    if !b.root().is_dir() {
        return Err(CommandError::user(format!(
            "the environment `{to}` has no folder {}",
            b.root().display()
        ))
        .hint(format!(
            "/env remove {to}, then /env add it again; {NOTHING}"
        )));
    }
    let source_endpoint = config.active_env().endpoint.clone();
    let source_client = ctx.client()?;
    let source = read_source(&source_client, target, &source_endpoint).await?;
    let target_client = ctx.client_for(&to_env)?;
    let cluster = read_target(&target_client, to, &to_env).await?;
    let target_files = crate::iac::desired::read_desired(b.root())?;
    let checked = preflight(
        target,
        remote,
        &source,
        &cluster,
        &target_files,
        &to_env.map,
        to,
    )?;
    if !yes {
        ctx.confirm(&format!(
            "Move {} {} (vmid {}) from {from} to {to} as vmid {} on {}{}?",
            kind_word(target.kind),
            target.name,
            target.vmid,
            checked.vmid,
            checked.node,
            if remote.keep_source {
                ", keeping the source stopped".to_string()
            } else {
                format!(", then remove it from {from}")
            }
        ))?;
    }
    let endpoint_param = target_endpoint(ctx, &to_env)?;
    let body = move_params(&checked, remote, endpoint_param);
    let path = format!(
        "/nodes/{}/{}/{}/remote_migrate",
        target.node,
        target.kind.as_str(),
        target.vmid
    );
    let reply = source_client
        .write(Method::POST, &path, body)
        .await
        .map_err(|e| connect::pve_error(e, &source_endpoint))?;
    let upid: Upid = reply.as_str().unwrap_or_default().parse().map_err(|_| {
        CommandError::internal(format!("{from}'s cluster answered no task for the move"))
    })?;
    let what = format!("move {} to {to}", target.name);
    let took = match follow(ctx, &source_client, &upid, &what, &source_endpoint).await {
        Ok((took, _)) => took,
        Err(e) => return Err(failed(&source_client, target, &from, to, e).await),
    };
    let mut items = vec![Item::Status(format!(
        "Moved {} {} from {from} to {to}: vmid {} on {}{} in {:.1} s.",
        kind_word(target.kind),
        target.name,
        checked.vmid,
        checked.node,
        if checked.online { " (live)" } else { "" },
        took.as_secs_f64()
    ))];
    let detail = format!(
        "{from} vmid {} -> {to} vmid {} on {} ({upid})",
        target.vmid, checked.vmid, checked.node
    );
    let sides = Sides {
        from: (&from, a.root(), &source_client),
        to: (to, b.root(), &target_client),
        to_db: b.state_db_path(),
        top: top.top(),
    };
    // the guest has moved: what follows reports its problems as warnings, never as a failure
    match after_move(ctx, loaded, target, remote, &sides, &detail).await {
        Ok(more) => items.extend(more),
        Err(e) => items.push(Item::Warning(format!(
            "{} moved, but the files and records were not all brought up to date: {}; run /sync in both environments",
            target.name, e.message
        ))),
    }
    ctx.change.subject = Some(format!(
        "migrate {} from {from} to {to} (vmid {})",
        target.name, checked.vmid
    ));
    items.push(Item::Data {
        value: json!({
            "name": target.name, "from": from, "to": to, "vmid": checked.vmid,
            "node": checked.node, "online": checked.online,
            "kept_source": remote.keep_source, "seconds": took.as_secs_f64(),
        }),
        table: Table::new(&[]),
    });
    Ok(items)
}

/// The two environments of a move: name, folder and client of each, and the workspace root.
struct Sides<'a> {
    from: (&'a str, &'a Path, &'a Client),
    to: (&'a str, &'a Path, &'a Client),
    /// The target environment's state.db.
    to_db: PathBuf,
    top: &'a Path,
}

/// After the move: the source's file goes (unless the guest stays), each environment is synced
/// (the target's file with its import block; a fresh snapshot on both sides) and gets an audit
/// row; the files of both folders go into one commit.
async fn after_move(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
    remote: &RemoteMove,
    sides: &Sides<'_>,
    detail: &str,
) -> Result<Report, CommandError> {
    let (from, a_root, source_client) = sides.from;
    let (to, b_root, target_client) = sides.to;
    let mut items = Vec::new();
    let subject = format!("{} {} {}", kind_word(target.kind), target.vmid, target.name);
    let source_db = crate::commands::workspace_state::state_db(ctx).await?;
    if !remote.keep_source
        && let Some(file) = loaded.desired.file_of(target.vmid)
    {
        let path = a_root.join(&file.path);
        std::fs::remove_file(&path).map_err(|e| {
            CommandError::user(format!("cannot remove {}: {e}", path.display()))
                .hint("the guest moved; remove the file by hand and run /sync")
        })?;
        ctx.written.note_removed(&path);
        items.push(Item::Status(format!("Removed {} from {from}.", file.path)));
    }
    source_db
        .audit(from, "migrate-out", &subject, Some(detail))
        .await?;
    let (more, mut commit_paths) = resync(source_client, a_root, &source_db, from).await;
    items.extend(more);
    let mut target_db = StateDb::open(&sides.to_db).await?;
    target_db.set_principal(ctx.principal());
    target_db
        .audit(to, "migrate-in", &subject, Some(detail))
        .await?;
    let (more, written) = resync(target_client, b_root, &target_db, to).await;
    items.extend(more);
    // one commit for both environments: the target's files named from the active one's folder
    let rel = relative_to(a_root, b_root, sides.top);
    commit_paths.extend(written.iter().map(|w| rel.join(w).display().to_string()));
    ctx.change.paths.extend(commit_paths);
    Ok(items)
}

/// The guest's configuration and state on the source cluster.
async fn read_source(
    client: &Client,
    target: &Target,
    endpoint: &str,
) -> Result<Source, CommandError> {
    let raw = client
        .guest_config(&target.node, target.kind, target.vmid)
        .await
        .map_err(|e| connect::pve_error(e, endpoint))?;
    let config = raw
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    let running = client
        .guest_status(&target.node, target.kind, target.vmid)
        .await
        .map(|s| s.status == "running")
        .map_err(|e| connect::pve_error(e, endpoint))?;
    Ok(Source { config, running })
}

/// Reads what the pre-flight needs from the target: it answers, the token's privileges, the
/// node the guest lands on (the one the endpoint names: `local` in `/cluster/status`), its
/// storages and bridges, and the VMIDs and names in use.
async fn read_target(
    client: &Client,
    to: &str,
    env: &Environment,
) -> Result<TargetCluster, CommandError> {
    let down = |e: crate::pve::PveError| {
        let err = connect::pve_error(e, &env.endpoint);
        CommandError::user(format!(
            "environment `{to}` ({}) does not answer: {}",
            env.endpoint, err.message
        ))
        .hint(format!(
            "bring {to}'s cluster up (or fix its address with /env), then try again; {NOTHING}"
        ))
    };
    let perms: Value = client
        .get("/access/permissions", params([("path", "/")]))
        .await
        .map_err(down)?;
    let held = perms.get("/").cloned().unwrap_or(Value::Null);
    let missing: Vec<&str> = TARGET_PRIVS
        .iter()
        .copied()
        .filter(|p| held.get(*p).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CommandError::user(format!(
            "the token of `{to}` ({}) lacks {} on '/' of {to}'s cluster: a guest cannot move in",
            env.token_id,
            missing.join(", ")
        ))
        .hint(format!(
            "grant them to the token on {to}'s cluster: pveum acl modify / --tokens '{}' --roles ROLE, with a role that has them (the built-in Administrator does); {NOTHING}",
            env.token_id
        )));
    }
    let status: Vec<Value> = client
        .get("/cluster/status", Params::new())
        .await
        .map_err(down)?;
    let node = status
        .iter()
        .find(|n| n["type"] == "node" && n["local"].as_u64() == Some(1))
        .or_else(|| status.iter().find(|n| n["type"] == "node"))
        .and_then(|n| n["name"].as_str())
        .ok_or_else(|| {
            CommandError::user(format!("{to}'s cluster reports no node"))
                .hint(format!("check {to}'s cluster; {NOTHING}"))
        })?
        .to_string();
    let storages = client
        .storages(&node)
        .await
        .map_err(down)?
        .into_iter()
        .map(|s| s.storage)
        .collect();
    let bridges = client
        .networks(&node)
        .await
        .map_err(down)?
        .into_iter()
        .filter(|n| n.kind.as_deref() == Some("bridge") || n.kind.as_deref() == Some("OVSBridge"))
        .map(|n| n.iface)
        .collect();
    let guests = client.cluster_resources(Some("vm")).await.map_err(down)?;
    Ok(TargetCluster {
        node,
        storages,
        bridges,
        vmids: guests.iter().filter_map(|g| g.vmid).collect(),
        names: guests.iter().filter_map(|g| g.name.clone()).collect(),
    })
}

/// A `--target-storage`/`--target-bridge` value: `a:b,c:d`, or one name for all.
fn parse_map(
    flag: &str,
    text: &str,
) -> Result<(BTreeMap<String, String>, Option<String>), CommandError> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if let [one] = items.as_slice()
        && !one.contains(':')
    {
        return Ok((BTreeMap::new(), Some(one.to_string())));
    }
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once(':') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                out.insert(from.to_string(), to.to_string());
            }
            _ => {
                return Err(CommandError::user(format!(
                    "--{flag} {text}: `{item}` is not SOURCE:TARGET"
                ))
                .hint(format!(
                    "e.g. --{flag} local-lvm:data,nas:nas2 (or one name for all); {NOTHING}"
                )));
            }
        }
    }
    Ok((out, None))
}

/// The storages (every disk but a plain CD-ROM) and bridges the guest uses.
fn used_names(
    kind: GuestKind,
    config: &BTreeMap<String, String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut storages = BTreeSet::new();
    let mut bridges = BTreeSet::new();
    for (key, value) in config {
        if key.starts_with("unused") {
            continue;
        }
        if is_disk_key(kind, key) {
            let volid = value.split(',').next().unwrap_or_default();
            let cdrom = value.contains("media=cdrom") && !volid.contains("cloudinit");
            if let Some((sid, _)) = volid.split_once(':')
                && !cdrom
                && !volid.starts_with('/')
            {
                storages.insert(sid.to_string());
            }
        } else if key.starts_with("net")
            && let Some(b) = value.split(',').find_map(|p| p.strip_prefix("bridge="))
        {
            bridges.insert(b.to_string());
        }
    }
    (storages, bridges)
}

/// Whether a config key names a disk: qemu's drive slots, a container's rootfs and mount points.
fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    match kind {
        GuestKind::Qemu => crate::model::config::is_vm_disk_slot(key),
        GuestKind::Lxc => {
            key == "rootfs"
                || key
                    .strip_prefix("mp")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
    }
}

/// Maps each used name: the flag's map, else the environment's map in config.yml, else the
/// same name; returns the pairs, or every name without a mapping that exists on the target.
fn map_all(
    what: &str,
    used: &BTreeSet<String>,
    flag: Option<&(BTreeMap<String, String>, Option<String>)>,
    env_map: &BTreeMap<String, String>,
    there: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for name in used {
        let mapped = match flag {
            Some((_, Some(all))) => all.clone(),
            Some((pairs, None)) if pairs.contains_key(name) => pairs[name].clone(),
            _ => env_map.get(name).cloned().unwrap_or_else(|| name.clone()),
        };
        if there.contains(&mapped) {
            pairs.push((name.clone(), mapped));
        } else if mapped == *name {
            problems.push(format!(
                "{what} `{name}` has no mapping (the target has no {what} of that name; it has: {})",
                there.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        } else {
            problems.push(format!(
                "{what} `{name}` maps to `{mapped}`, which the target does not have (it has: {})",
                there.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    pairs
}

/// Every check before anything changes; all problems are named at once.
fn preflight(
    target: &Target,
    remote: &RemoteMove,
    source: &Source,
    cluster: &TargetCluster,
    target_files: &crate::iac::desired::DesiredState,
    env_map: &NameMap,
    to: &str,
) -> Result<Checked, CommandError> {
    let label = format!("{} {}", kind_word(target.kind), target.name);
    if let Some(lock) = source.config.get("lock") {
        return Err(CommandError::user(format!("{label} is locked ({lock})"))
            .hint(format!("wait for the running operation to end; {NOTHING}")));
    }
    let storage_flag = remote
        .storage_map
        .as_deref()
        .map(|t| parse_map("target-storage", t))
        .transpose()?;
    let bridge_flag = remote
        .bridge_map
        .as_deref()
        .map(|t| parse_map("target-bridge", t))
        .transpose()?;
    let (storages, bridges) = used_names(target.kind, &source.config);
    let mut problems = Vec::new();
    let storage_pairs = map_all(
        "storage",
        &storages,
        storage_flag.as_ref(),
        &env_map.storage,
        &cluster.storages,
        &mut problems,
    );
    let bridge_pairs = map_all(
        "bridge",
        &bridges,
        bridge_flag.as_ref(),
        &env_map.bridge,
        &cluster.bridges,
        &mut problems,
    );
    // PVE moves a running VM live; a container has no live migration between clusters
    if source.running && target.kind == GuestKind::Lxc {
        problems.push(format!(
            "{label} is running, and a container cannot move live to another cluster: stop it first (stop container {})",
            target.name
        ));
    }
    let mut taken: BTreeSet<u32> = cluster.vmids.clone();
    taken.extend(target_files.files.iter().map(|f| f.guest.vmid));
    let vmid = match remote.vmid {
        Some(v) if taken.contains(&v) => {
            problems.push(format!("vmid {v} (--target-vmid) is taken on {to}"));
            v
        }
        Some(v) => v,
        None => free_vmid(target.vmid, &taken),
    };
    let in_files = target_files
        .files
        .iter()
        .any(|f| f.guest.name == target.name);
    if cluster.names.contains(&target.name) || in_files {
        problems.push(format!("{to} has a guest named {} already", target.name));
    }
    if !problems.is_empty() {
        let mut hints = Vec::new();
        if problems
            .iter()
            .any(|p| p.starts_with("storage") || p.starts_with("bridge"))
        {
            hints.push(format!(
                "map storages and bridges with --target-storage SRC:DST,... and --target-bridge SRC:DST,... (or under environments.{to}.map in config.yml)"
            ));
        }
        if problems.iter().any(|p| p.contains("--target-vmid")) {
            hints.push("leave out --target-vmid to take the next free VMID".to_string());
        }
        if problems.iter().any(|p| p.contains("already")) {
            hints.push(format!(
                "rename one of them first (proxmox-mpc --env {to} list vms shows {to}'s guests)"
            ));
        }
        hints.push(NOTHING.to_string());
        return Err(CommandError::user(format!(
            "cannot move {label} to {to}:\n  - {}",
            problems.join("\n  - ")
        ))
        .hint(hints.join("; ")));
    }
    Ok(Checked {
        vmid,
        node: cluster.node.clone(),
        storage_pairs,
        bridge_pairs,
        online: source.running && target.kind == GuestKind::Qemu,
    })
}

/// PVE's `proxmox-remote` string: `apitoken=PVEAPIToken=ID=SECRET,host=H,port=P[,fingerprint=F]`.
/// It carries the target's secret to the source cluster only (the request body over TLS); it is
/// never printed or stored.
fn target_endpoint(ctx: &mut Ctx, env: &Environment) -> Result<String, CommandError> {
    let url = url::Url::parse(&env.endpoint).map_err(|e| {
        CommandError::config(format!("the endpoint {} is not a URL: {e}", env.endpoint))
    })?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port().unwrap_or(8006);
    let token = ctx.resolve_token(env)?;
    let mut out = format!(
        "apitoken=PVEAPIToken={}={},host={host},port={port}",
        token.id,
        token.secret.expose()
    );
    if let Some(fp) = &env.tls.fingerprint {
        out.push_str(&format!(",fingerprint={fp}"));
    }
    Ok(out)
}

fn pair_list(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        // PVE wants the map even when nothing uses it: `1` maps each to itself
        return "1".into();
    }
    pairs
        .iter()
        .map(|(a, b)| format!("{a}:{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn move_params(checked: &Checked, remote: &RemoteMove, endpoint: String) -> Params {
    let mut body = params([
        ("target-endpoint", endpoint),
        ("target-storage", pair_list(&checked.storage_pairs)),
        ("target-bridge", pair_list(&checked.bridge_pairs)),
        ("target-vmid", checked.vmid.to_string()),
        (
            "delete",
            if remote.keep_source { "0" } else { "1" }.to_string(),
        ),
    ]);
    if checked.online {
        body.push(("online".into(), "1".into()));
    }
    body
}

/// `to` as seen from `from`, both folders of the workspace at `top` (`environments/x` from the
/// root; `../..` from `environments/x` to the root).
fn relative_to(from: &Path, to: &Path, top: &Path) -> PathBuf {
    let up = from.strip_prefix(top).map_or(0, |p| p.components().count());
    let mut out = PathBuf::new();
    for _ in 0..up {
        out.push("..");
    }
    out.join(to.strip_prefix(top).unwrap_or(to))
}

/// The move's task failed: says where the guest is now.
async fn failed(
    client: &Client,
    target: &Target,
    from: &str,
    to: &str,
    e: CommandError,
) -> CommandError {
    let still_there = client
        .guest_status(&target.node, target.kind, target.vmid)
        .await
        .is_ok();
    let where_ = if still_there {
        format!(
            "{} is still in {from} (vmid {} on {}), unchanged; its files were not touched",
            target.name, target.vmid, target.node
        )
    } else {
        format!(
            "{} is no longer on {from}'s cluster: run /sync in both environments",
            target.name
        )
    };
    CommandError::user(format!(
        "the move of {} to {to} failed: {}",
        target.name, e.message
    ))
    .hint(format!("{where_}; fix {to}'s cluster and try again"))
}

/// A `/sync` of one environment after the move: its files follow its cluster (the moved
/// guest's file with an import block on the target) and its newest snapshot is the cluster
/// as it is now, so its plan is clean. A failure is a warning: the guest has moved.
async fn resync(client: &Client, root: &Path, db: &StateDb, env: &str) -> (Report, Vec<String>) {
    let shown = crate::workspace::env_dir(env)
        .join("")
        .display()
        .to_string()
        .trim_start_matches("./")
        .trim_start_matches('.')
        .trim_start_matches('/')
        .to_string();
    let run = crate::commands::sync::sync_with(
        client,
        root,
        Some((db, env)),
        crate::iac::sync::SyncOptions::default(),
        |_, _| {},
    )
    .await;
    match run {
        Ok(run) => (
            run.report
                .guests
                .iter()
                .filter(|g| g.outcome == crate::iac::sync::GuestOutcome::New)
                .map(|g| {
                    Item::Status(format!(
                        "Wrote {shown}{} in {env} with its import block.",
                        g.file
                    ))
                })
                .collect(),
            run.report.written.clone(),
        ),
        Err(e) => (
            vec![Item::Warning(format!(
                "the guest moved, but {env}'s files were not brought up to date: {}; run proxmox-mpc --env {env} sync",
                e.message
            ))],
            Vec::new(),
        ),
    }
}
