//! `/sync`: import the live cluster into the workspace as Terraform, Ansible, test specs and
//! docs. Discovery (progress: guests read / total) -> a numbered snapshot in `state.db` ->
//! render -> write what changed. A difference between a guest's file and the server is reported
//! field by field against the last sync (drift, pending change, conflict) and the file left
//! alone (`--adopt` takes the live values, conflicts included, and says so); guests gone from
//! the server keep their files (`--prune` removes them). Each guest's new base (what file and
//! server agree on) is kept in `state.db` after the files are written.
//!
//! The snapshot is recorded only after discovery finished and nothing is written before every
//! file is rendered, so an interrupted sync leaves the previous files and snapshot as they were.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::commands::workspace_state::{record_snapshot, state_db, workspace_client};
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::iac::fidelity::GuestPlan;
use crate::iac::sync::{
    FieldChange, FieldDrift, GuestOutcome, SyncOptions, SyncReport, apply_sync, plan_sync_against,
};
use crate::iac::terraform::StorageConfigs;
use crate::iac::{IacError, Templates};
use crate::model::{ClusterSnapshot, GuestKind, GuestStatus};
use crate::pve::Client;
use crate::state::StateDb;
use crate::ui::{Item, LONG_LIST, Table};

/// What `/sync` did, for the front end and for tests.
#[derive(Debug, Clone)]
pub struct SyncRun {
    pub snapshot: ClusterSnapshot,
    /// Serial of the snapshot row in state.db, when a database was given.
    pub serial: Option<i64>,
    /// Discovery's notes (guests gone mid-read, keys kept verbatim, offline nodes).
    pub discovery_warnings: Vec<String>,
    /// With `--agent-ips`: how many guest agents were asked and how many gave an address.
    pub agents: Option<AgentQuery>,
    pub report: SyncReport,
    /// Guests whose files a `terraform plan` right after import would still change (settings
    /// bpg cannot express, or hand edits), from the model of bpg's import.
    pub terraform_changes: Vec<GuestPlan>,
}

/// What `--agent-ips` asked: one `network-get-interfaces` request per running VM with the
/// agent enabled.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AgentQuery {
    pub asked: usize,
    /// vmid -> the address its agent reported (used as `ansible_host`).
    pub addresses: BTreeMap<u32, String>,
}

/// The VMs whose guest agent can answer: running, not templates, with `agent: 1`.
pub fn agent_candidates(snapshot: &ClusterSnapshot) -> Vec<(String, u32)> {
    snapshot
        .guests
        .iter()
        .filter(|g| g.kind == GuestKind::Qemu && !g.template && g.status == GuestStatus::Running)
        .filter(|g| match &g.config {
            crate::model::GuestConfig::Vm(vm) => vm.agent.as_ref().is_some_and(|a| a.enabled),
            crate::model::GuestConfig::Container(_) => false,
        })
        .map(|g| (g.node.clone(), g.vmid))
        .collect()
}

/// Asks every candidate's guest agent for its addresses, all at once within the client's
/// concurrency limit and the short agent timeout. An agent that fails or has no usable address
/// is noted in `warnings`; its guest keeps its static address.
pub async fn agent_addresses(
    client: &Client,
    snapshot: &ClusterSnapshot,
    warnings: &mut Vec<String>,
) -> AgentQuery {
    let candidates = agent_candidates(snapshot);
    let answers = futures::future::join_all(
        candidates
            .iter()
            .map(|(node, vmid)| async move { (*vmid, client.agent_network(node, *vmid).await) }),
    )
    .await;
    let mut query = AgentQuery {
        asked: candidates.len(),
        ..AgentQuery::default()
    };
    let mut silent = Vec::new();
    for (vmid, answer) in answers {
        match answer.map(|v| crate::iac::ansible::agent_address(&v)) {
            Ok(Some(address)) => {
                query.addresses.insert(vmid, address);
            }
            Ok(None) => silent.push(format!("{vmid} (no address reported)")),
            Err(e) => silent.push(format!("{vmid} ({e})")),
        }
    }
    if !silent.is_empty() {
        warnings.push(format!(
            "{} of {} guest agents gave no address; those guests keep their static address in ansible/inventory.yml: {}",
            silent.len(),
            query.asked,
            silent.join(", ")
        ));
    }
    query
}

impl From<IacError> for CommandError {
    fn from(e: IacError) -> Self {
        let hint = match &e {
            IacError::Template { .. } => {
                "fix or remove the template override in .proxmox/templates/ (the built-in one is used when none is there)"
            }
            IacError::Parse { .. } => "fix the file by hand, or move it away and run /sync again",
            IacError::Read { .. } | IacError::Write { .. } => {
                "check that the workspace folder is writable and has space"
            }
        };
        CommandError::user(e.to_string()).hint(hint)
    }
}

/// Reads the cluster's storage configuration (`GET /storage`: paths, volume groups, servers),
/// which the per-node storage list does not carry. One request.
pub async fn storage_configs(client: &Client) -> Result<StorageConfigs, crate::pve::PveError> {
    let list: Vec<serde_json::Value> = client.get("/storage", Vec::new()).await?;
    let mut out = StorageConfigs::new();
    for entry in list {
        let Some(obj) = entry.as_object() else {
            continue;
        };
        let Some(id) = obj.get("storage").and_then(|v| v.as_str()) else {
            continue;
        };
        let fields: BTreeMap<String, String> = obj
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect();
        out.insert(id.to_string(), fields);
    }
    Ok(out)
}

/// Discovers the cluster through `client`, records the snapshot in `db` (if given) and syncs
/// the workspace at `root`. `progress(done, total)` follows the guest configs being read.
pub async fn sync_with(
    client: &Client,
    root: &Path,
    db: Option<(&StateDb, &str)>,
    options: SyncOptions,
    progress: impl Fn(usize, usize),
) -> Result<SyncRun, CommandError> {
    let endpoint = client.endpoint().to_string();
    let discovery = client
        .discover_detailed(progress)
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let mut discovery_warnings = discovery.warnings;
    let configs = match storage_configs(client).await {
        Ok(c) => c,
        Err(e) => {
            discovery_warnings.push(format!(
                "cannot read the storage configuration (GET /storage: {e}); storages are documented but not imported"
            ));
            StorageConfigs::new()
        }
    };
    let snapshot = discovery.snapshot;
    phase("sync: cluster read");
    let agents = if options.agent_ips {
        Some(agent_addresses(client, &snapshot, &mut discovery_warnings).await)
    } else {
        None
    };
    let (serial, bases) = match db {
        Some((db, environment)) => (
            Some(record_snapshot(db, environment, &endpoint, &snapshot).await?),
            crate::commands::sync_base::load(db, environment).await?,
        ),
        None => (None, Default::default()),
    };
    phase("sync: snapshot recorded");
    let templates = Templates::with_overrides(Some(&root.join(".proxmox/templates")))?;
    let no_addresses = BTreeMap::new();
    let addresses = agents.as_ref().map_or(&no_addresses, |a| &a.addresses);
    let plan = plan_sync_against(
        root, &templates, &snapshot, &configs, options, addresses, &bases,
    )?;
    phase("sync: files planned");
    let mut report = apply_sync(root, plan)?;
    phase("sync: files written");
    crate::commands::backup::sync_jobs(client, root, &mut report).await;
    phase("sync: backup jobs read");
    if let Some((db, environment)) = db {
        db.record_written(root, &mut report.notes).await?;
        phase("sync: file hashes recorded");
        // The base moves only once the files are written: a sync that failed before keeps
        // the old base, so nothing is judged against files that were never there.
        let pruned: Vec<u32> = report
            .guests
            .iter()
            .filter(|g| g.outcome == GuestOutcome::Pruned)
            .map(|g| g.vmid)
            .collect();
        crate::commands::sync_base::save(db, environment, serial, &report.bases, &pruned).await?;
        phase("sync: bases recorded");
    }
    // The guest files this sync wrote (new or adopted) are judged for what bpg reads back; an
    // unchanged file was judged when it was written, and a drifted one is reported as drift.
    // A sync that wrote no guest file reads nothing more.
    let fresh: std::collections::BTreeSet<u32> = report
        .guests
        .iter()
        .filter(|g| matches!(g.outcome, GuestOutcome::New | GuestOutcome::Adopted(_)))
        .map(|g| g.vmid)
        .collect();
    let judged: Vec<_> = if fresh.is_empty() {
        Vec::new()
    } else {
        crate::iac::desired::read_workspace(root)
            .state
            .files
            .into_iter()
            .filter(|f| fresh.contains(&f.guest.vmid))
            .collect()
    };
    phase("sync: written files read");
    let terraform_changes = crate::iac::fidelity::workspace_plans(&judged, &snapshot);
    phase("sync: written files judged");
    Ok(SyncRun {
        snapshot,
        serial,
        discovery_warnings,
        agents,
        report,
        terraform_changes,
    })
}

/// A debug event for the `-v` log: a step of a sync done, with the memory held then.
fn phase(what: &'static str) {
    tracing::debug!(rss_mib = ?crate::ui::resident_mib(), "{what}");
}

/// Runs `/sync` in the current workspace.
pub async fn run(ctx: &mut Ctx, options: SyncOptions) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    // A sync rewrites the files an apply writes back into: never both at once.
    let _lock = crate::commands::role::lock(ctx, "sync").await?;
    // Discovery reads every guest: the workspace client's normal retries.
    let (client, endpoint) = workspace_client(ctx)?;
    let environment = ctx.config()?.active.clone();
    let db = state_db(ctx).await?;
    let spinner = ctx.ui.spinner(&format!("Reading {endpoint}"));
    let agent_ips = options.agent_ips;
    let run = sync_with(
        &client,
        &root,
        Some((&db, environment.as_str())),
        options,
        |done, total| {
            if agent_ips && done == total {
                spinner.set_message("Asking the guest agents of running VMs for addresses");
            } else {
                spinner.set_message(&format!("Reading guest configs {done}/{total}"));
            }
        },
    )
    .await;
    drop(spinner);
    let run = run?;
    // What the commit of this sync says, and the files it wrote (recorded by sync_with).
    ctx.change = crate::commands::commit::sync_note(&run);
    Ok(render_with(&run, crate::ui::full_lists(&ctx.ui)))
}

fn outcome_word(outcome: &GuestOutcome) -> &'static str {
    match outcome {
        GuestOutcome::New => "new",
        GuestOutcome::Unchanged => "unchanged",
        GuestOutcome::Drift(_) => "drift",
        GuestOutcome::Conflict(_) => "conflict",
        GuestOutcome::Adopted(_) => "adopted",
        GuestOutcome::Gone => "gone",
        GuestOutcome::Pruned => "pruned",
    }
}

/// Turns a sync into report items: a table of the guests that are not unchanged, drift field
/// by field, warnings, and one status line; every guest however many there are.
pub fn render(run: &SyncRun) -> Report {
    render_with(run, true)
}

/// As [`render`]; unless `full` (`-v`, `-o json`), more than [`LONG_LIST`] changed guests are
/// summarised: counts per outcome with the first names, the first guests' differences. The data
/// value (`-o json`) is the whole run either way.
pub fn render_with(run: &SyncRun, full: bool) -> Report {
    let report = &run.report;
    let counts = report.counts();
    let mut items = vec![guest_table(run, &counts, full)];
    items.extend(guest_warnings(report, full));
    if let Some(agents) = &run.agents {
        items.push(Item::Status(format!(
            "Asked {} guest agents for addresses (one request each, short timeout): {} answered with an address used as ansible_host.",
            agents.asked,
            agents.addresses.len()
        )));
    }
    for w in run.discovery_warnings.iter().chain(&report.warnings) {
        items.push(Item::Warning(w.clone()));
    }
    items.push(summary_line(run, &counts));
    for plan in &run.terraform_changes {
        items.push(Item::Warning(format!(
            "{} ({}): terraform plan would still change it after import: {}",
            plan.name,
            plan.file,
            plan.lines().join("; ")
        )));
    }
    if !report.moved.is_empty() {
        items.push(moved_line(&report.moved));
    }
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    if n("conflict") > 0 {
        items.push(Item::Hint(
            "settle each conflict with /resolve GUEST FIELD --take server (the file takes the server's value) or --take code (the next /apply changes the server), or take every server value with /sync --adopt".into(),
        ));
    }
    if n("drift") > 0 {
        items.push(Item::Hint(
            "keep the files and change the server with /plan and /apply, or take the live values with /sync --adopt".into(),
        ));
    }
    if n("gone") > 0 {
        items.push(Item::Hint(
            "remove the files of gone guests with /sync --prune".into(),
        ));
    }
    items
}

/// The order outcomes are counted in when the guest table is summarised.
const OUTCOMES: [&str; 6] = ["new", "adopted", "drift", "conflict", "gone", "pruned"];

/// How many names a summarised row or list shows before "and N more".
const FIRST_FEW: usize = 5;

/// `names`, the first [`FIRST_FEW`] of them and how many more.
fn first_few(names: &[&str]) -> String {
    let shown = names[..names.len().min(FIRST_FEW)].join(", ");
    match names.len().saturating_sub(FIRST_FEW) {
        0 => shown,
        more => format!("{shown}, … and {more} more"),
    }
}

/// The guests that are not unchanged (or one line saying all match), with the whole run as
/// data for `-o json`. Past [`LONG_LIST`] of them and unless `full`, one row per outcome with
/// its count and first names instead (a first sync of hundreds of guests stays on a screen).
fn guest_table(run: &SyncRun, counts: &BTreeMap<&'static str, usize>, full: bool) -> Item {
    let report = &run.report;
    let mut table = Table::new(&["vmid", "name", "outcome", "file"]);
    for g in report
        .guests
        .iter()
        .filter(|g| g.outcome != GuestOutcome::Unchanged)
    {
        table.row(vec![
            g.vmid.to_string(),
            g.name.clone(),
            outcome_word(&g.outcome).to_string(),
            g.file.clone(),
        ]);
    }
    if table.rows.is_empty() {
        table = Table::default();
        table.row(vec![format!(
            "All {} guests match their files.",
            report.guests.len()
        )]);
    } else if !full && table.rows.len() > LONG_LIST {
        table = outcome_counts(report);
    }
    Item::Data {
        value: json!({
            "serial": run.serial,
            "guests": report.guests,
            "counts": counts,
            "written": report.written,
            "removed": report.removed,
            "moved": report.moved,
            "terraform_changes": run.terraform_changes,
            "unchanged_files": report.unchanged_files,
            "warnings": report.warnings,
            "discovery_warnings": run.discovery_warnings,
            "agents": run.agents,
        }),
        table,
    }
}

/// The summarised guest table: per outcome, how many guests and the first of them; the last
/// row says how to see every guest.
fn outcome_counts(report: &SyncReport) -> Table {
    let mut table = Table::new(&["outcome", "guests", "first ones"]);
    for word in OUTCOMES {
        let names: Vec<&str> = report
            .guests
            .iter()
            .filter(|g| outcome_word(&g.outcome) == word)
            .map(|g| g.name.as_str())
            .collect();
        if !names.is_empty() {
            table.row(vec![
                word.to_string(),
                names.len().to_string(),
                first_few(&names),
            ]);
        }
    }
    table.row(vec![
        "(every guest)".into(),
        String::new(),
        "/sync -v or -o json lists them".into(),
    ]);
    table
}

/// One differing field as a report line: file and server values, and which side moved since
/// the last sync.
pub fn field_line(f: &FieldDrift, adopted: bool) -> String {
    let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
    let side = match (f.change, adopted) {
        (FieldChange::Unknown, _) => String::new(),
        (FieldChange::Conflict, true) => format!(
            " (conflict: last sync {}; your edit {} was replaced by the server's value)",
            value(&f.base),
            value(&f.file)
        ),
        (FieldChange::Pending, true) => format!(
            " (changed in the file; your edit {} was replaced by the server's value)",
            value(&f.file)
        ),
        (FieldChange::Conflict, false) => format!(
            " (conflict: both changed since the last sync, which had {})",
            value(&f.base)
        ),
        (change, _) => format!(" ({})", change.describe()),
    };
    format!(
        "  {}: file {} -> live {}{side}",
        f.field,
        value(&f.file),
        value(&f.live)
    )
}

/// Per guest: differences field by field, a gone guest, and the warnings of guests not
/// unchanged. Past [`LONG_LIST`] such guests and unless `full`, the first few and a count.
fn guest_warnings(report: &SyncReport, full: bool) -> Vec<Item> {
    let mut groups: Vec<Vec<Item>> = Vec::new();
    for g in &report.guests {
        let mut items = Vec::new();
        match &g.outcome {
            GuestOutcome::Drift(fields)
            | GuestOutcome::Conflict(fields)
            | GuestOutcome::Adopted(fields) => {
                let adopted = matches!(g.outcome, GuestOutcome::Adopted(_));
                let verb = match g.outcome {
                    GuestOutcome::Drift(_) => "differs from its file (file left as is)",
                    GuestOutcome::Conflict(_) => {
                        "has conflicts: changed on the server and in its file since the last sync (file left as edited)"
                    }
                    _ => "differed from its file (file now holds the live values)",
                };
                let lines: Vec<String> = fields.iter().map(|f| field_line(f, adopted)).collect();
                items.push(Item::Warning(format!(
                    "guest {} ({}) {verb}:\n{}",
                    g.vmid,
                    g.file,
                    lines.join("\n")
                )));
            }
            GuestOutcome::Gone => items.push(Item::Warning(format!(
                "guest {} ({}) is gone from the server; its file is kept",
                g.vmid, g.file
            ))),
            _ => {}
        }
        for w in &g.warnings {
            if g.outcome != GuestOutcome::Unchanged {
                items.push(Item::Warning(format!("guest {}: {w}", g.vmid)));
            }
        }
        if !items.is_empty() {
            groups.push(items);
        }
    }
    let more = if full || groups.len() <= LONG_LIST {
        0
    } else {
        groups.len() - FIRST_FEW
    };
    groups.truncate(groups.len() - more);
    let mut items: Vec<Item> = groups.into_iter().flatten().collect();
    if more > 0 {
        items.push(Item::Warning(format!(
            "{more} more guests differ from their files, are gone or have notes; /sync -v shows each of them"
        )));
    }
    items.extend(conflicts_table(report, full));
    items
}

/// Every conflict as a row (guest, field, last sync, server, file): what `/resolve` settles,
/// or what `--adopt` took the server's value for.
fn conflicts_table(report: &SyncReport, full: bool) -> Option<Item> {
    let mut rows = Vec::new();
    let mut adopted = 0;
    for g in &report.guests {
        let (GuestOutcome::Conflict(fields) | GuestOutcome::Adopted(fields)) = &g.outcome else {
            continue;
        };
        for f in fields.iter().filter(|f| f.change == FieldChange::Conflict) {
            if matches!(g.outcome, GuestOutcome::Adopted(_)) {
                adopted += 1;
            }
            let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
            rows.push(format!(
                "  {} ({}) {}: last sync {}, server {}, file {}",
                g.name,
                g.vmid,
                f.field,
                v(&f.base),
                v(&f.live),
                v(&f.file)
            ));
        }
    }
    if rows.is_empty() {
        return None;
    }
    let head = if adopted == rows.len() {
        format!(
            "--adopt took the server's value for {} conflicting field(s), replacing the edits in the files:",
            rows.len()
        )
    } else {
        format!(
            "{} conflict(s) between the server and the files; the files keep your edits until /resolve or /sync --adopt:",
            rows.len()
        )
    };
    let total = rows.len();
    if !full && total > LONG_LIST {
        rows.truncate(FIRST_FEW);
        rows.push(format!(
            "  … and {} more (/sync -v lists them)",
            total - FIRST_FEW
        ));
    }
    Some(Item::Warning(format!("{head}\n{}", rows.join("\n"))))
}

/// The one status line: the guests per outcome and what was written.
fn summary_line(run: &SyncRun, counts: &BTreeMap<&'static str, usize>) -> Item {
    let report = &run.report;
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let summary = format!(
        "{} new, {} unchanged, {} drift, {} conflict, {} adopted, {} gone, {} pruned",
        n("new"),
        n("unchanged"),
        n("drift"),
        n("conflict"),
        n("adopted"),
        n("gone"),
        n("pruned")
    );
    let serial = run
        .serial
        .map(|s| format!(" (snapshot {s})"))
        .unwrap_or_default();
    if report.changed_nothing() {
        Item::Status(format!(
            "Synced {} guests{serial}: {summary}. Nothing changed: no file was written.",
            run.snapshot.guests.len()
        ))
    } else {
        Item::Status(format!(
            "Synced {} guests{serial}: {summary}. Wrote {} files, removed {}, {} unchanged.",
            run.snapshot.guests.len(),
            report.written.len(),
            report.removed.len(),
            report.unchanged_files
        ))
    }
}

/// The guest files moved into the root module, the first few by name.
fn moved_line(moved: &[(String, String)]) -> Item {
    // A long list says how many; every pair is in `-o json` ("moved").
    let pairs: Vec<String> = moved
        .iter()
        .take(5)
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    let more = moved.len().saturating_sub(pairs.len());
    Item::Status(format!(
        "Moved {} guest files from terraform/guests/ into the root module terraform/, where Terraform loads them, as they were (hand edits included): {}{}",
        moved.len(),
        pairs.join(", "),
        if more > 0 {
            format!(" and {more} more (all with -o json)")
        } else {
            String::new()
        }
    ))
}
