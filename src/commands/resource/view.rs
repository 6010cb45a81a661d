//! `list` and `show`: the workspace files and the last observed snapshot side by side. Reads
//! no network: "live" is the newest snapshot `/sync` (or `/status --live`) recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::Loaded;
use crate::commands::Report;
use crate::error::CommandError;
use crate::iac::view::{file_view, raw_config};
use crate::lang::{ListQuery, ListWhat, Target, human_size};
use crate::model::{Guest, GuestConfig, GuestKind, GuestStatus};
use crate::ui::{Item, Table};

fn status_word(g: &Guest) -> &'static str {
    match (g.template, g.status) {
        (true, _) => "template",
        (_, GuestStatus::Running) => "running",
        (_, GuestStatus::Stopped) => "stopped",
        (_, GuestStatus::Paused) => "paused",
        (_, GuestStatus::Unknown) => "unknown",
    }
}

fn cores_memory(g: &Guest) -> (Option<u32>, Option<u64>) {
    match &g.config {
        GuestConfig::Vm(vm) => (vm.cores.map(|c| c * vm.sockets.unwrap_or(1)), vm.memory_mib),
        GuestConfig::Container(ct) => (ct.cores, ct.memory_mib),
    }
}

fn as_of(loaded: &Loaded) -> String {
    match loaded.serial {
        Some(s) => format!("live = snapshot #{s}"),
        None => "no snapshot yet: run /sync to see the cluster".into(),
    }
}

/// One `list`: a JSON value per row, the table, and the noun of the count line.
type Listing = (Vec<serde_json::Value>, Table, &'static str);

/// `list vms|containers|nodes|storages|networks|pools`.
pub fn list(loaded: &Loaded, what: ListWhat, q: &ListQuery) -> Result<Report, CommandError> {
    let (value, table, noun) = match what {
        ListWhat::Vms => list_guests(loaded, GuestKind::Qemu, q),
        ListWhat::Containers => list_guests(loaded, GuestKind::Lxc, q),
        ListWhat::Nodes => list_nodes(loaded, q),
        ListWhat::Storages => list_storages(loaded, q),
        ListWhat::Networks => list_networks(loaded, q),
        ListWhat::Pools => list_pools(loaded),
    };
    let count = value.len();
    Ok(vec![
        Item::Data {
            value: serde_json::Value::Array(value),
            table,
        },
        Item::Status(format!("{count} {noun} ({}).", as_of(loaded))),
    ])
}

/// The guests of `kind` in the files, on the server, or both, filtered by `q`.
fn list_guests(loaded: &Loaded, kind: GuestKind, q: &ListQuery) -> Listing {
    let snap = &loaded.snapshot;
    let files: BTreeMap<u32, &Guest> = loaded
        .desired
        .files
        .iter()
        .map(|f| (f.guest.vmid, &f.guest))
        .collect();
    let live: BTreeMap<u32, &Guest> = snap.guests.iter().map(|g| (g.vmid, g)).collect();
    let vmids: BTreeSet<u32> = files.keys().chain(live.keys()).copied().collect();
    let mut table = Table::new(&[
        "vmid", "name", "node", "status", "cores", "memory", "tags", "pool", "where",
    ]);
    let mut values = Vec::new();
    for vmid in vmids {
        let (f, l) = (files.get(&vmid).copied(), live.get(&vmid).copied());
        let Some(g) = l.or(f) else { continue };
        if g.kind != kind {
            continue;
        }
        let status = match l {
            Some(l) => status_word(l),
            None => "not created",
        };
        let shown = f.unwrap_or(g);
        if q.node.as_deref().is_some_and(|n| n != shown.node)
            || q.tag
                .as_deref()
                .is_some_and(|t| !shown.tags.iter().any(|x| x == t))
            || q.status.as_deref().is_some_and(|s| s != status)
            || q.pool
                .as_deref()
                .is_some_and(|p| shown.pool.as_deref() != Some(p))
        {
            continue;
        }
        let place = match (f.is_some(), l.is_some()) {
            (true, true) => "files+server",
            (true, false) => "files only",
            _ => "server only",
        };
        let (cores, mem) = cores_memory(shown);
        table.row(vec![
            vmid.to_string(),
            shown.name.clone(),
            shown.node.clone(),
            status.into(),
            cores.map(|c| c.to_string()).unwrap_or_default(),
            mem.map(|m| human_size(m << 20)).unwrap_or_default(),
            shown.tags.join(","),
            shown.pool.clone().unwrap_or_default(),
            place.into(),
        ]);
        values.push(json!({
            "vmid": vmid, "name": shown.name, "node": shown.node, "status": status,
            "cores": cores, "memory_mib": mem, "tags": shown.tags, "pool": shown.pool,
            "in_files": f.is_some(), "on_server": l.is_some(),
        }));
    }
    let noun = if kind == GuestKind::Qemu {
        "VM(s)"
    } else {
        "container(s)"
    };
    (values, table, noun)
}

/// The nodes of the last snapshot.
fn list_nodes(loaded: &Loaded, q: &ListQuery) -> Listing {
    let snap = &loaded.snapshot;
    let mut table = Table::new(&[
        "node",
        "status",
        "cpus",
        "memory used",
        "memory total",
        "guests",
    ]);
    let mut values = Vec::new();
    for n in &snap.nodes {
        if q.node.as_deref().is_some_and(|x| x != n.name) {
            continue;
        }
        let guests = snap.guests.iter().filter(|g| g.node == n.name).count();
        let status = format!("{:?}", n.status).to_ascii_lowercase();
        table.row(vec![
            n.name.clone(),
            status.clone(),
            n.cpus.map(|c| c.to_string()).unwrap_or_default(),
            n.memory_used_bytes.map(human_size).unwrap_or_default(),
            n.memory_bytes.map(human_size).unwrap_or_default(),
            guests.to_string(),
        ]);
        values.push(json!({
            "name": n.name, "status": status, "cpus": n.cpus,
            "memory_used_bytes": n.memory_used_bytes, "memory_bytes": n.memory_bytes,
            "guests": guests,
        }));
    }
    (values, table, "node(s)")
}

/// The storages of the last snapshot, per node.
fn list_storages(loaded: &Loaded, q: &ListQuery) -> Listing {
    let snap = &loaded.snapshot;
    let mut table = Table::new(&["storage", "node", "type", "content", "shared", "available"]);
    let mut values = Vec::new();
    for s in &snap.storages {
        if q.node.as_deref().is_some_and(|x| x != s.node) {
            continue;
        }
        table.row(vec![
            s.id.clone(),
            s.node.clone(),
            s.kind.clone(),
            s.content.join(","),
            if s.shared { "yes" } else { "no" }.into(),
            s.available_bytes.map(human_size).unwrap_or_default(),
        ]);
        values.push(json!({
            "id": s.id, "node": s.node, "type": s.kind, "content": s.content,
            "shared": s.shared, "available_bytes": s.available_bytes,
        }));
    }
    (values, table, "storage(s)")
}

/// The network interfaces of the last snapshot, per node.
fn list_networks(loaded: &Loaded, q: &ListQuery) -> Listing {
    let snap = &loaded.snapshot;
    let mut table = Table::new(&[
        "node",
        "iface",
        "type",
        "cidr",
        "ports",
        "vlan aware",
        "comment",
    ]);
    let mut values = Vec::new();
    for n in &snap.networks {
        if q.node.as_deref().is_some_and(|x| x != n.node) {
            continue;
        }
        table.row(vec![
            n.node.clone(),
            n.iface.clone(),
            n.kind.clone(),
            n.cidr.clone().unwrap_or_default(),
            n.bridge_ports.clone().unwrap_or_default(),
            if n.vlan_aware { "yes" } else { "" }.into(),
            n.comments.clone().unwrap_or_default().trim().to_string(),
        ]);
        values.push(json!({
            "node": n.node, "iface": n.iface, "type": n.kind, "cidr": n.cidr,
            "bridge_ports": n.bridge_ports, "vlan_aware": n.vlan_aware,
        }));
    }
    (values, table, "network(s)")
}

/// The pools in the files, on the server, or both.
fn list_pools(loaded: &Loaded) -> Listing {
    let snap = &loaded.snapshot;
    let mut ids: BTreeSet<String> = loaded.desired.pools.iter().cloned().collect();
    ids.extend(snap.pools.iter().map(|p| p.id.clone()));
    let mut table = Table::new(&["pool", "guests", "comment", "where"]);
    let mut values = Vec::new();
    for id in ids {
        let live = snap.pools.iter().find(|p| p.id == id);
        let in_files = loaded.desired.pools.contains(&id);
        let guests: Vec<u32> = live.map(|p| p.guests.clone()).unwrap_or_default();
        let comment = live
            .and_then(|p| p.comment.clone())
            .or_else(|| loaded.desired.pool_comments.get(&id).cloned())
            .unwrap_or_default();
        let place = match (in_files, live.is_some()) {
            (true, true) => "files+server",
            (true, false) => "files only",
            _ => "server only",
        };
        table.row(vec![
            id.clone(),
            guests.len().to_string(),
            comment.clone(),
            place.into(),
        ]);
        values.push(json!({"id": id, "guests": guests, "comment": comment, "in_files": in_files, "on_server": live.is_some()}));
    }
    (values, table, "pool(s)")
}

/// `show vm|container NAME`: the file's values next to the live ones, drift marked.
pub fn show(loaded: &Loaded, target: &Target) -> Result<Report, CommandError> {
    let file = loaded.desired.file_of(target.vmid);
    let live = loaded.snapshot.guest(target.vmid).map(file_view);
    let mut rows: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let pseudo = |g: &Guest| {
        vec![
            ("node".to_string(), Some(g.node.clone())),
            ("pool".to_string(), g.pool.clone()),
            (
                "state".to_string(),
                Some(
                    if g.status == GuestStatus::Running {
                        "running"
                    } else {
                        "stopped"
                    }
                    .into(),
                ),
            ),
        ]
    };
    if let Some(f) = file {
        for (k, v) in pseudo(&f.guest) {
            rows.entry(k).or_default().0 = v;
        }
        for (k, v) in raw_config(&f.guest) {
            rows.entry(k).or_default().0 = Some(v);
        }
    }
    if let Some(l) = &live {
        for (k, v) in pseudo(l) {
            rows.entry(k).or_default().1 = v;
        }
        for (k, v) in raw_config(l) {
            rows.entry(k).or_default().1 = Some(v);
        }
    }
    let mut table = Table::new(&["", "key", "file", "live"]);
    let mut values = Vec::new();
    let mut drift = 0;
    for (key, (f, l)) in &rows {
        let differs = file.is_some() && live.is_some() && f != l;
        if differs {
            drift += 1;
        }
        table.row(vec![
            if differs { "≠".into() } else { String::new() },
            key.clone(),
            f.clone().unwrap_or_else(|| "-".into()),
            l.clone().unwrap_or_else(|| "-".into()),
        ]);
        values.push(json!({"key": key, "file": f, "live": l, "drift": differs}));
    }
    let mut items = vec![Item::Data {
        value: json!({
            "vmid": target.vmid, "name": target.name, "kind": target.kind.as_str(),
            "file": file.map(|f| f.path.clone()), "fields": values,
        }),
        table,
    }];
    if let Some(f) = file {
        items.push(Item::Status(format!("File: {}.", f.path)));
        if !f.unmodelled.is_empty() {
            items.push(Item::Warning(format!(
                "{} also sets {} (kept in the file, not compared)",
                f.path,
                f.unmodelled.join(", ")
            )));
        }
    }
    items.push(Item::Status(match (file.is_some(), live.is_some()) {
        (true, true) if drift == 0 => format!("No drift ({}).", as_of(loaded)),
        (true, true) => format!(
            "{drift} field(s) differ (marked ≠; {}). /plan shows what /apply would do.",
            as_of(loaded)
        ),
        (true, false) => "Only in the files: /apply creates it.".into(),
        _ => "Only on the server: /sync imports it into the files.".into(),
    }));
    Ok(items)
}

/// `show pool ID`.
pub fn show_pool(loaded: &Loaded, id: &str) -> Result<Report, CommandError> {
    let mut table = Table::new(&["vmid", "name", "node", "kind", "where"]);
    let mut values = Vec::new();
    let live_members: BTreeSet<u32> = loaded
        .snapshot
        .pools
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.guests.iter().copied().collect())
        .unwrap_or_default();
    let mut members: BTreeMap<u32, (String, String, GuestKind, bool, bool)> = BTreeMap::new();
    for f in &loaded.desired.files {
        if f.guest.pool.as_deref() == Some(id) {
            members.insert(
                f.guest.vmid,
                (
                    f.guest.name.clone(),
                    f.guest.node.clone(),
                    f.guest.kind,
                    true,
                    false,
                ),
            );
        }
    }
    for vmid in &live_members {
        if let Some(g) = loaded.snapshot.guest(*vmid) {
            members
                .entry(*vmid)
                .or_insert((g.name.clone(), g.node.clone(), g.kind, false, true))
                .4 = true;
        }
    }
    for (vmid, (name, node, kind, in_files, on_server)) in &members {
        let place = match (in_files, on_server) {
            (true, true) => "files+server",
            (true, false) => "files only",
            _ => "server only",
        };
        table.row(vec![
            vmid.to_string(),
            name.clone(),
            node.clone(),
            kind.as_str().into(),
            place.into(),
        ]);
        values.push(json!({"vmid": vmid, "name": name, "node": node, "in_files": in_files, "on_server": on_server}));
    }
    Ok(vec![
        Item::Data {
            value: json!({"id": id, "members": values}),
            table,
        },
        Item::Status(format!("Pool {id}: {} guest(s).", members.len())),
    ])
}
