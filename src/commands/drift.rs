//! `/drift`: reads the cluster and reports, field by field, where it differs from the workspace
//! files and which side moved since the last sync, writing nothing (no file, no snapshot, so a
//! saved plan stays fresh). The comparison is the sync engine's own
//! ([`crate::iac::sync::plan_sync_against`], planned and never applied), so `/drift` says
//! exactly what the next `/sync` would find. `--detailed-exitcode` exits 0 without drift, 2
//! with drift and 1 on error; a pending change (only the file moved) is not drift. `watch`
//! repeats [`check`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::commands::workspace_state::{state_db, workspace_client};
use crate::commands::{Ctx, Report, connect, sync_base};
use crate::error::CommandError;
use crate::iac::Templates;
use crate::iac::drift::FieldChange;
use crate::iac::sync::{GuestOutcome, SyncOptions, plan_sync_against};
use crate::model::ClusterSnapshot;
use crate::pve::Client;
use crate::state::StateDb;
use crate::ui::{Item, Table};

/// What `/drift` needs to run.
#[derive(Debug, Clone, Default)]
pub struct DriftArgs {
    pub detailed_exitcode: bool,
}

/// What one difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Changed on the server since the last sync.
    Drift,
    /// Changed on the server and in the file, to different values.
    Conflict,
    /// Differs, and no base is recorded to tell which side moved.
    Unknown,
    /// On the server, not in the files.
    NewGuest,
    /// In the files (imported or synced before), gone from the server.
    GoneGuest,
    /// Node networks, storages or pools differ from their file.
    Cluster,
    /// Changed only in the file: `/apply` carries it out. Not drift.
    Pending,
}

impl DriftKind {
    /// True for everything but a pending change: the server moved away from the files.
    pub fn is_drift(self) -> bool {
        self != DriftKind::Pending
    }

    pub fn word(self) -> &'static str {
        match self {
            DriftKind::Drift => "drift",
            DriftKind::Conflict => "conflict",
            DriftKind::Unknown => "differs",
            DriftKind::NewGuest => "new guest",
            DriftKind::GoneGuest => "gone guest",
            DriftKind::Cluster => "cluster",
            DriftKind::Pending => "pending",
        }
    }
}

/// One difference between the cluster and the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftEntry {
    /// The guest's name ("" for node networks, storages and pools).
    pub guest: String,
    pub vmid: Option<u32>,
    /// The workspace file, relative to the workspace.
    pub path: String,
    /// `memory`, `cores`, `net0`, `node`, `state`... (`guest` for a whole guest, `pools`,
    /// `networks`, `storages`).
    pub field: String,
    pub change: DriftKind,
    /// The value at the last sync, when known.
    pub last_sync: Option<String>,
    pub server: Option<String>,
    pub file: Option<String>,
}

impl DriftEntry {
    /// The key `watch` follows an entry by: the same field of the same guest.
    pub fn key(&self) -> (Option<u32>, String, String) {
        (self.vmid, self.path.clone(), self.field.clone())
    }

    /// "web-01 (100) memory: file 2048, server 4096, last sync 2048".
    pub fn describe(&self) -> String {
        let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
        let who = match self.vmid {
            Some(vmid) => format!("{} ({vmid})", self.guest),
            None => self.path.clone(),
        };
        match self.change {
            DriftKind::NewGuest => format!("{who}: on the server, not in the files"),
            DriftKind::GoneGuest => {
                format!("{who}: in {} but gone from the server", self.path)
            }
            DriftKind::Cluster => format!("{who}: {}", v(&self.server)),
            _ => {
                let base = match (&self.change, &self.last_sync) {
                    (DriftKind::Unknown, _) => String::new(),
                    (_, base) => format!(", last sync {}", v(base)),
                };
                format!(
                    "{who} {}: file {}, server {}{base}",
                    self.field,
                    v(&self.file),
                    v(&self.server)
                )
            }
        }
    }
}

/// What one look at the cluster found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DriftCheck {
    pub endpoint: String,
    /// Guests on the server.
    pub guests: usize,
    pub entries: Vec<DriftEntry>,
    /// Discovery's notes and files that could not be read.
    pub warnings: Vec<String>,
    /// Each compared guest's file (relative to the workspace), by vmid: the guests on the
    /// server that have one and the files whose guest is not there.
    #[serde(skip)]
    pub files: BTreeMap<u32, String>,
}

impl DriftCheck {
    /// The entries where the server moved (everything but pending changes).
    pub fn drifted(&self) -> impl Iterator<Item = &DriftEntry> {
        self.entries.iter().filter(|e| e.change.is_drift())
    }

    pub fn has_drift(&self) -> bool {
        self.drifted().next().is_some()
    }
}

fn field_kind(change: FieldChange) -> DriftKind {
    match change {
        FieldChange::Drift => DriftKind::Drift,
        FieldChange::Pending => DriftKind::Pending,
        FieldChange::Conflict => DriftKind::Conflict,
        FieldChange::Unknown => DriftKind::Unknown,
    }
}

/// Reads the cluster through `client` and compares it with the workspace at `root` and with
/// the bases in `db` (for `environment`). Writes nothing.
pub async fn check(
    client: &Client,
    root: &Path,
    db: Option<(&StateDb, &str)>,
) -> Result<DriftCheck, CommandError> {
    check_with_snapshot(client, root, db)
        .await
        .map(|(found, _)| found)
}

/// [`check`], also answering the cluster as read (the dashboard's overview shows both).
pub async fn check_with_snapshot(
    client: &Client,
    root: &Path,
    db: Option<(&StateDb, &str)>,
) -> Result<(DriftCheck, ClusterSnapshot), CommandError> {
    let endpoint = client.endpoint().to_string();
    let discovery = client
        .discover_detailed(|_, _| {})
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let mut warnings = discovery.warnings;
    // Without the storage configuration storages.tf would render differently; it is then
    // not compared rather than reported as drift.
    let configs = match crate::commands::sync::storage_configs(client).await {
        Ok(c) => Some(c),
        Err(e) => {
            warnings.push(format!(
                "cannot read the storage configuration (GET /storage: {e}); storages are not compared"
            ));
            None
        }
    };
    let bases = match db {
        Some((db, environment)) => sync_base::load(db, environment).await?,
        None => Default::default(),
    };
    let snapshot = discovery.snapshot;
    let templates = Templates::with_overrides(Some(&root.join(".proxmox/templates")))?;
    let plan = plan_sync_against(
        root,
        &templates,
        &snapshot,
        &configs.clone().unwrap_or_default(),
        SyncOptions::default(),
        &BTreeMap::new(),
        &bases,
    )?;
    let report = &plan.report;
    warnings.extend(report.warnings.iter().cloned());
    let mut entries = Vec::new();
    let mut unsynced_gone = BTreeSet::new();
    let mut files = BTreeMap::new();
    for g in &report.guests {
        if !g.file.is_empty() {
            files.insert(g.vmid, g.file.clone());
        }
        let entry = |field: &str, change: DriftKind| DriftEntry {
            guest: g.name.clone(),
            vmid: Some(g.vmid),
            path: g.file.clone(),
            field: field.to_string(),
            change,
            last_sync: None,
            server: None,
            file: None,
        };
        match &g.outcome {
            GuestOutcome::Drift(fields) | GuestOutcome::Conflict(fields) => {
                entries.extend(fields.iter().map(|f| DriftEntry {
                    last_sync: f.base.clone(),
                    server: f.live.clone(),
                    file: f.file.clone(),
                    ..entry(&f.field, field_kind(f.change))
                }));
            }
            GuestOutcome::New => entries.push(entry("guest", DriftKind::NewGuest)),
            GuestOutcome::Gone => {
                if !bases.contains_key(&g.vmid) {
                    unsynced_gone.insert(g.vmid);
                }
                entries.push(entry("guest", DriftKind::GoneGuest));
            }
            _ => {}
        }
    }
    if !unsynced_gone.is_empty() {
        // A file no sync recorded and without an import block is a guest still to be created
        // by /apply: a pending change, not a guest gone from the server.
        let read = crate::iac::desired::read_workspace(root);
        for f in read.state.files.iter().filter(|f| f.import_id.is_none()) {
            for e in entries.iter_mut() {
                if e.vmid == Some(f.guest.vmid) && unsynced_gone.contains(&f.guest.vmid) {
                    e.change = DriftKind::Pending;
                }
            }
        }
    }
    for (path, what) in [
        ("terraform/networks.tf", "networks"),
        ("terraform/storages.tf", "storages"),
    ] {
        if what == "storages" && configs.is_none() {
            continue;
        }
        if plan.writes.contains_key(path) && root.join(path).is_file() {
            entries.push(cluster_entry(
                path,
                what,
                format!("the server's {what} differ from the file (/sync rewrites it)"),
            ));
        }
    }
    for diff in &report.pool_drift {
        // One entry per pool ("staging is only in the file"), followed by its id.
        let id = diff.split_whitespace().next().unwrap_or_default();
        entries.push(cluster_entry(
            "terraform/pools.tf",
            &format!("pool {id}"),
            diff.clone(),
        ));
    }
    let found = DriftCheck {
        endpoint,
        guests: snapshot.guests.len(),
        entries,
        warnings,
        files,
    };
    Ok((found, snapshot))
}

fn cluster_entry(path: &str, field: &str, what: String) -> DriftEntry {
    DriftEntry {
        guest: String::new(),
        vmid: None,
        path: path.to_string(),
        field: field.to_string(),
        change: DriftKind::Cluster,
        last_sync: None,
        server: Some(what),
        file: None,
    }
}

/// Runs `/drift` in the current workspace.
pub async fn run(ctx: &mut Ctx, args: &DriftArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, endpoint) = workspace_client(ctx)?;
    let environment = ctx.config()?.active.clone();
    let db = state_db(ctx).await?;
    let spinner = ctx.ui.spinner(&format!("Reading {endpoint}"));
    let found = check(&client, &root, Some((&db, environment.as_str()))).await;
    drop(spinner);
    let found = found?;
    record_found(&db, &environment, &found, "drift").await;
    let items = items(&found);
    if args.detailed_exitcode && found.has_drift() {
        let mut e = CommandError::changes_present(items);
        e.message = "the cluster drifted from the workspace files".into();
        return Err(e);
    }
    Ok(items)
}

/// Notes drift found in the audit log (what `/history` lists as `drift`): the guests, and
/// each field with the server's and the file's values. Nothing is noted when nothing drifted;
/// a database that cannot be written costs the note, not the check.
pub async fn record_found(db: &StateDb, environment: &str, found: &DriftCheck, by: &str) {
    let drifted: Vec<&DriftEntry> = found.drifted().collect();
    if drifted.is_empty() {
        return;
    }
    let mut guests: Vec<&str> = drifted
        .iter()
        .map(|e| {
            if e.guest.is_empty() {
                e.path.as_str()
            } else {
                e.guest.as_str()
            }
        })
        .collect();
    guests.dedup();
    let detail = serde_json::json!({
        "found_by": by,
        "fields": drifted.iter().map(|e| serde_json::json!({
            "guest": e.guest, "vmid": e.vmid, "field": e.field,
            "server": e.server, "file": e.file,
        })).collect::<Vec<_>>(),
    });
    if let Err(e) = db
        .audit(
            environment,
            "drift",
            &guests.join(", "),
            Some(&detail.to_string()),
        )
        .await
    {
        tracing::warn!(error = %e, "drift found but not noted in the audit log");
    }
}

/// The report of one check: a table of every difference (the whole check as data for
/// `-o json`), the warnings, one status line and the next steps.
pub fn items(found: &DriftCheck) -> Report {
    let mut table = Table::new(&["guest", "field", "change", "last sync", "server", "file"]);
    let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for e in &found.entries {
        let who = match e.vmid {
            Some(vmid) => format!("{} ({vmid})", e.guest),
            None => e.path.clone(),
        };
        table.row(vec![
            who,
            e.field.clone(),
            e.change.word().to_string(),
            v(&e.last_sync),
            v(&e.server),
            v(&e.file),
        ]);
    }
    if table.rows.is_empty() {
        table = Table::default();
        table.row(vec![format!(
            "All {} guests match their files.",
            found.guests
        )]);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &found.entries {
        *counts.entry(e.change.word()).or_default() += 1;
    }
    let mut items = vec![Item::Data {
        value: json!({
            "drift": found.has_drift(),
            "endpoint": found.endpoint,
            "guests": found.guests,
            "entries": found.entries,
            "counts": counts,
            "warnings": found.warnings,
        }),
        table,
    }];
    items.extend(found.warnings.iter().cloned().map(Item::Warning));
    items.push(summary(found));
    items.extend(next_steps(found));
    items
}

fn summary(found: &DriftCheck) -> Item {
    let drifted: Vec<&DriftEntry> = found.drifted().collect();
    let pending = found.entries.len() - drifted.len();
    let pending_note = if pending > 0 {
        format!(" {pending} pending change(s) in the files: /plan shows what /apply would do.")
    } else {
        String::new()
    };
    if drifted.is_empty() {
        return Item::Status(format!(
            "No drift: the cluster matches the files ({} guests). Nothing was written.{pending_note}",
            found.guests
        ));
    }
    let guests: BTreeSet<String> = drifted
        .iter()
        .map(|e| e.vmid.map_or(e.path.clone(), |_| e.guest.clone()))
        .collect();
    let names: Vec<String> = drifted
        .iter()
        .take(5)
        .map(|e| match e.vmid {
            Some(_) => format!("{} {}", e.guest, e.field),
            None => e.path.clone(),
        })
        .collect();
    let more = drifted.len().saturating_sub(names.len());
    Item::Status(format!(
        "Drift: {} difference(s) on {} guest(s) or file(s): {}{}. Nothing was written.{pending_note}",
        drifted.len(),
        guests.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

fn next_steps(found: &DriftCheck) -> Vec<Item> {
    let has = |k: DriftKind| found.entries.iter().any(|e| e.change == k);
    let mut out = Vec::new();
    if has(DriftKind::Conflict) {
        out.push(Item::Hint(
            "settle a conflict with /resolve GUEST FIELD --take server|code".into(),
        ));
    }
    if has(DriftKind::Drift) || has(DriftKind::Unknown) || has(DriftKind::Cluster) {
        out.push(Item::Hint(
            "take the server's values into the files with /sync --adopt, or put the server back with /plan and /apply".into(),
        ));
    }
    if has(DriftKind::NewGuest) {
        out.push(Item::Hint("/sync imports the new guests".into()));
    }
    if has(DriftKind::GoneGuest) {
        out.push(Item::Hint(
            "/sync --prune removes the files of gone guests".into(),
        ));
    }
    out
}
