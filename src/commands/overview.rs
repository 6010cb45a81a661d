//! `/overview`: code versus cluster at a glance, the view the dashboard opens on. Every node
//! with its load and memory, every guest with one badge (in sync, drifted, pending change, not
//! managed), and for one guest its fields side by side: the file, the server and the last sync.
//!
//! The badges come from `/drift`'s comparison ([`drift::check_with_snapshot`], the sync
//! engine's own), so a badge says exactly what `/drift` and the next `/plan` would find. Reads
//! the cluster, writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::commands::drift::{self, DriftCheck, DriftKind};
use crate::commands::request::OverviewRequest;
use crate::commands::workspace_state::{state_db, workspace_client};
use crate::commands::{Ctx, Report, connect, sync_base};
use crate::error::CommandError;
use crate::iac::drift::{guest_fields, live_fields};
use crate::model::{ClusterSnapshot, Guest, GuestKind, GuestStatus};
use crate::pve::{Client, params};
use crate::ui::{Item, Table};

/// One guest's standing between its file and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Badge {
    /// Described by a file that matches the server.
    InSync,
    /// The server moved away from the file (or the guest is gone from it).
    Drifted,
    /// The file moved: the next `/apply` changes (or creates) the guest.
    Pending,
    /// On the server, described by no file.
    Unmanaged,
}

impl Badge {
    pub fn word(self) -> &'static str {
        match self {
            Badge::InSync => "in-sync",
            Badge::Drifted => "drifted",
            Badge::Pending => "pending",
            Badge::Unmanaged => "unmanaged",
        }
    }
}

/// The badge of the guest `vmid` from what the comparison found about it.
fn badge_of(found: &DriftCheck, vmid: u32) -> Badge {
    let kinds: BTreeSet<DriftKind> = found
        .entries
        .iter()
        .filter(|e| e.vmid == Some(vmid))
        .map(|e| e.change)
        .collect();
    if kinds.contains(&DriftKind::NewGuest) {
        Badge::Unmanaged
    } else if kinds.iter().any(|k| k.is_drift()) {
        Badge::Drifted
    } else if kinds.contains(&DriftKind::Pending) {
        Badge::Pending
    } else if found.files.contains_key(&vmid) {
        Badge::InSync
    } else {
        Badge::Unmanaged
    }
}

fn kind_word(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "container",
    }
}

fn status_word(guest: &Guest) -> String {
    match guest.status {
        GuestStatus::Running => "running".into(),
        GuestStatus::Stopped => "stopped".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Runs `/overview`.
pub async fn run(ctx: &mut Ctx, args: &OverviewRequest) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, endpoint) = workspace_client(ctx)?;
    let environment = ctx.config()?.active.clone();
    let db = state_db(ctx).await?;
    let spinner = ctx.ui.spinner(&format!("Reading {endpoint}"));
    let read = drift::check_with_snapshot(&client, &root, Some((&db, environment.as_str()))).await;
    drop(spinner);
    let (found, snapshot) = read?;
    let mut items: Report = found.warnings.iter().cloned().map(Item::Warning).collect();
    match &args.guest {
        None => {
            let nodes = node_loads(&client, &snapshot, &endpoint).await?;
            let synced_at = db.latest_snapshot().await?.map(|s| s.taken_at);
            items.push(cluster_item(
                &found,
                &snapshot,
                nodes,
                &environment,
                synced_at,
            ));
        }
        Some(name) => {
            let bases = sync_base::load(&db, &environment).await?;
            let desired = crate::iac::desired::read_workspace(&root);
            let file_guest = |vmid: u32| {
                desired
                    .state
                    .files
                    .iter()
                    .find(|f| f.guest.vmid == vmid)
                    .map(|f| f.guest.clone())
            };
            let live = find_live(&snapshot, name);
            let vmid = match (&live, name.parse::<u32>()) {
                (Some(g), _) => g.vmid,
                (None, _) => desired
                    .state
                    .files
                    .iter()
                    .find(|f| f.guest.name == *name || f.guest.vmid.to_string() == *name)
                    .map(|f| f.guest.vmid)
                    .ok_or_else(|| {
                        CommandError::user(format!(
                            "there is no guest `{name}` on {endpoint} or in the files"
                        ))
                        .hint("/overview lists every guest with its badge")
                    })?,
            };
            let file = file_guest(vmid);
            let base = bases.get(&vmid).map(|b| b.fields.clone());
            items.push(guest_item(&found, vmid, live, file, base));
        }
    }
    Ok(items)
}

fn find_live(snapshot: &ClusterSnapshot, name: &str) -> Option<Guest> {
    snapshot
        .guests
        .iter()
        .find(|g| g.name == name || g.vmid.to_string() == name)
        .cloned()
}

/// Each node's CPU load and memory, from `/cluster/resources` (the snapshot keeps only the
/// sizes); a node the resources omit shows what the snapshot knows.
async fn node_loads(
    client: &Client,
    snapshot: &ClusterSnapshot,
    endpoint: &str,
) -> Result<Vec<Value>, CommandError> {
    let resources: Vec<Value> = client
        .get("/cluster/resources", params([("type", "node")]))
        .await
        .map_err(|e| connect::pve_error(e, endpoint))?;
    let by_name: BTreeMap<&str, &Value> = resources
        .iter()
        .filter_map(|r| Some((r["node"].as_str()?, r)))
        .collect();
    Ok(snapshot
        .nodes
        .iter()
        .map(|n| {
            let r = by_name.get(n.name.as_str());
            let num = |key: &str| r.and_then(|r| r[key].as_f64());
            json!({
                "name": n.name,
                "status": format!("{:?}", n.status).to_lowercase(),
                "cpu": num("cpu").unwrap_or(0.0),
                "maxcpu": num("maxcpu").or(n.cpus.map(f64::from)),
                "mem": num("mem").or(n.memory_used_bytes.map(|b| b as f64)),
                "maxmem": num("maxmem").or(n.memory_bytes.map(|b| b as f64)),
            })
        })
        .collect())
}

fn cluster_item(
    found: &DriftCheck,
    snapshot: &ClusterSnapshot,
    nodes: Vec<Value>,
    environment: &str,
    synced_at: Option<String>,
) -> Item {
    let mut table = Table::new(&["NAME", "VMID", "KIND", "NODE", "STATUS", "BADGE", "FILE"]);
    let mut guests = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let on_server: BTreeSet<u32> = snapshot.guests.iter().map(|g| g.vmid).collect();
    for g in &snapshot.guests {
        let badge = badge_of(found, g.vmid);
        let file = found
            .files
            .get(&g.vmid)
            .filter(|_| badge != Badge::Unmanaged);
        *counts.entry(badge.word()).or_default() += 1;
        table.row(vec![
            g.name.clone(),
            g.vmid.to_string(),
            kind_word(g.kind).into(),
            g.node.clone(),
            status_word(g),
            badge.word().into(),
            file.cloned().unwrap_or_default(),
        ]);
        guests.push(json!({
            "name": g.name, "vmid": g.vmid, "kind": kind_word(g.kind), "node": g.node,
            "status": status_word(g), "template": g.template, "tags": g.tags, "pool": g.pool,
            "badge": badge, "file": file,
        }));
    }
    // Files whose guest is not on the server: still to be created, or gone.
    for e in found.entries.iter().filter(|e| e.field == "guest") {
        let Some(vmid) = e.vmid.filter(|v| !on_server.contains(v)) else {
            continue;
        };
        let (badge, status) = match e.change {
            DriftKind::Pending => (Badge::Pending, "planned"),
            _ => (Badge::Drifted, "gone"),
        };
        *counts.entry(badge.word()).or_default() += 1;
        table.row(vec![
            e.guest.clone(),
            vmid.to_string(),
            String::new(),
            String::new(),
            status.into(),
            badge.word().into(),
            e.path.clone(),
        ]);
        guests.push(json!({
            "name": e.guest, "vmid": vmid, "kind": null, "node": null, "status": status,
            "template": false, "tags": [], "pool": null, "badge": badge, "file": e.path,
        }));
    }
    Item::Data {
        value: json!({
            "environment": environment,
            "endpoint": found.endpoint,
            "synced_at": synced_at,
            "nodes": nodes,
            "guests": guests,
            "counts": counts,
        }),
        table,
    }
}

fn guest_item(
    found: &DriftCheck,
    vmid: u32,
    live: Option<Guest>,
    file: Option<Guest>,
    base: Option<BTreeMap<String, String>>,
) -> Item {
    let live_values = live.as_ref().map(live_fields).unwrap_or_default();
    let file_values = file.as_ref().map(guest_fields).unwrap_or_default();
    let base_values = base.unwrap_or_default();
    let changed: BTreeMap<&str, DriftKind> = found
        .entries
        .iter()
        .filter(|e| e.vmid == Some(vmid))
        .map(|e| (e.field.as_str(), e.change))
        .collect();
    let names: BTreeSet<&String> = live_values.keys().chain(file_values.keys()).collect();
    let mut table = Table::new(&["FIELD", "FILE", "SERVER", "LAST SYNC", "CHANGE"]);
    let mut fields = Vec::new();
    for name in names {
        let change = changed.get(name.as_str()).copied();
        let drifted = change.is_some_and(|c| c.is_drift());
        let pending = change == Some(DriftKind::Pending);
        let mark = match (drifted, pending) {
            (true, _) => "drifted",
            (_, true) => "pending",
            _ => "",
        };
        let cell = |m: &BTreeMap<String, String>| m.get(name).cloned().unwrap_or_default();
        table.row(vec![
            name.clone(),
            cell(&file_values),
            cell(&live_values),
            cell(&base_values),
            mark.into(),
        ]);
        fields.push(json!({
            "field": name, "file": file_values.get(name), "live": live_values.get(name),
            "base": base_values.get(name), "drifted": drifted, "pending": pending,
        }));
    }
    let shown = live.as_ref().or(file.as_ref());
    let badge = if live.is_none() {
        if changed.values().any(|c| *c == DriftKind::Pending) {
            Badge::Pending
        } else {
            Badge::Drifted
        }
    } else {
        badge_of(found, vmid)
    };
    Item::Data {
        value: json!({
            "guest": {
                "name": shown.map(|g| g.name.clone()),
                "vmid": vmid,
                "kind": shown.map(|g| kind_word(g.kind)),
                "node": shown.map(|g| g.node.clone()),
                "status": live.as_ref().map(status_word),
                "badge": badge,
                "file": found.files.get(&vmid).filter(|_| file.is_some()),
            },
            "fields": fields,
        }),
        table,
    }
}
