//! The `/sync` engine: given a discovered snapshot and a workspace folder, decides what every
//! generated file should hold, compares guests already in the files with the live ones, and
//! writes only what changed, each file atomically.
//!
//! Rules: a guest new on the server gets its file; a guest whose file differs from the server
//! is reported field by field and its file left alone (`adopt` takes the live values). Each
//! field is judged against the last sync ([`super::drift`]): drift (the server moved), a
//! pending change (the file moved) or a conflict (both moved); a conflicting hand edit is never
//! overwritten without `adopt`. A file whose guest is gone is reported and kept (`prune`
//! removes it). The report carries each guest's next base for the caller to keep. Everything
//! is rendered in memory before the first write, so a failure while rendering leaves every
//! file as it was.
//! Generated text holds no timestamps, ports or fingerprints, so a second sync with nothing
//! changed writes no byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::desired::{
    DesiredFile, LEGACY_GUEST_DIR, ROOT_MODULE, WorkspaceRead, read_workspace_hashed, tf_files,
};
use super::desired_cache::Detail;
use super::drift::{Bases, GuestBase, guest_changes, guest_fields, live_fields};
pub use super::drift::{FieldChange, FieldDrift};
use super::names::assign_guest_idents;
use super::terraform::{self, StorageConfigs};
use super::{IacError, Templates, ansible, docs, spec};
use crate::model::{ClusterSnapshot, Guest};
use crate::state::written::Written;

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Rewrite drifted guest files with the live values.
    pub adopt: bool,
    /// Remove the files of guests that are gone from the server.
    pub prune: bool,
    /// Ask the guest agents of running VMs for their addresses (`ansible_host`).
    pub agent_ips: bool,
}

/// What happened to one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "fields")]
pub enum GuestOutcome {
    /// Not in the files before: imported now.
    New,
    /// Same as its file.
    Unchanged,
    /// Differs from its file (each field's side in [`FieldDrift::change`]: the server, the
    /// file, or not known), with no conflict; the file was left alone.
    Drift(Vec<FieldDrift>),
    /// Differs from its file, and some field changed on the server and in the file since the
    /// last sync, to different values; the file was left as edited.
    Conflict(Vec<FieldDrift>),
    /// Differed from its file; the file now holds the live values (`--adopt`).
    Adopted(Vec<FieldDrift>),
    /// In the files but not on the server; the file is kept.
    Gone,
    /// In the files but not on the server; the file was removed (`--prune`).
    Pruned,
}

/// One guest's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestReport {
    pub vmid: u32,
    pub name: String,
    /// File path relative to the workspace.
    pub file: String,
    #[serde(flatten)]
    pub outcome: GuestOutcome,
    /// What a reviewer should look at (from rendering).
    pub warnings: Vec<String>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub guests: Vec<GuestReport>,
    /// Files written (new or changed content), relative to the workspace.
    pub written: Vec<String>,
    /// Files removed (`--prune`).
    pub removed: Vec<String>,
    /// Generated files whose content was already right.
    pub unchanged_files: usize,
    /// Guest files moved from `terraform/guests/` into the root module, as (from, to).
    pub moved: Vec<(String, String)>,
    /// Problems worth knowing that did not stop the sync.
    pub warnings: Vec<String>,
    /// The hashes of the files written or confirmed and the files removed, for `state.db`
    /// ([`crate::state::StateDb::record_written`]); not part of the printed report.
    #[serde(skip)]
    pub notes: Written,
    /// Each live guest's base after this sync (what file and server now agree on), for the
    /// caller to keep in `state.db`; not part of the printed report.
    #[serde(skip)]
    pub bases: Bases,
    /// Each pool that differs between `pools.tf` and the server (`pools.tf` left alone).
    #[serde(skip)]
    pub pool_drift: Vec<String>,
}

impl SyncReport {
    /// Returns how many guests had each outcome: new, unchanged, drift, adopted, gone, pruned.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for g in &self.guests {
            let key = match g.outcome {
                GuestOutcome::New => "new",
                GuestOutcome::Unchanged => "unchanged",
                GuestOutcome::Drift(_) => "drift",
                GuestOutcome::Conflict(_) => "conflict",
                GuestOutcome::Adopted(_) => "adopted",
                GuestOutcome::Gone => "gone",
                GuestOutcome::Pruned => "pruned",
            };
            *out.entry(key).or_insert(0) += 1;
        }
        out
    }

    /// Returns true when no file was written, moved or removed.
    pub fn changed_nothing(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty() && self.moved.is_empty()
    }
}

/// Compares a guest as its file describes it with the live guest, field by field (no base:
/// every field's side is unknown; [`super::drift::guest_changes`] takes one).
pub fn guest_drift(file: &Guest, live: &Guest) -> Vec<FieldDrift> {
    guest_changes(file, live, None)
}

/// Everything a sync decided, before anything is written.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// Path relative to the workspace -> full content, only for files whose content differs
    /// from what is on disk (so a re-sync holds no file text in memory).
    pub writes: BTreeMap<String, String>,
    pub removes: Vec<String>,
    /// Guest files to move as they are (hand edits included), as (from, to): written at the
    /// new path first, then removed from the old one.
    pub moves: Vec<(String, String)>,
    pub report: SyncReport,
    root: PathBuf,
    /// Files put but not yet compared with the disk ([`SyncPlan::settle`]).
    pending: Vec<(String, String)>,
}

/// Files compared with the disk together, on every core: enough to keep the cores busy,
/// few enough that a re-sync holds little text of unchanged files.
const SETTLE_BATCH: usize = 512;

impl SyncPlan {
    /// Keeps `text` for `rel_path` if the file on disk differs; counts it unchanged otherwise
    /// (decided in batches by [`Self::settle`]).
    fn put(&mut self, rel_path: String, text: String) {
        self.pending.push((rel_path, text));
        if self.pending.len() >= SETTLE_BATCH {
            self.settle();
        }
    }

    /// Compares the pending files with the disk (reading them on every core) and keeps those
    /// that differ.
    fn settle(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let root = &self.root;
        // A file already as the console would write it is recorded as written (this also
        // covers workspaces synced before state.db kept file hashes): its path resolved and its
        // text hashed here too, on every core.
        let same: Vec<Option<(PathBuf, String)>> = pending
            .par_iter()
            .map(|(rel_path, text)| {
                let path = root.join(rel_path);
                let same = std::fs::read(&path).is_ok_and(|old| old == text.as_bytes());
                same.then(|| {
                    (
                        crate::state::written::resolved(&path),
                        crate::state::written::sha256_hex(text.as_bytes()),
                    )
                })
            })
            .collect();
        for ((rel_path, text), same) in pending.into_iter().zip(same) {
            match same {
                Some((path, sha256)) => {
                    self.report.notes.note_written_resolved(path, sha256);
                    self.report.unchanged_files += 1;
                }
                None => {
                    self.writes.insert(rel_path, text);
                }
            }
        }
    }
}

fn vmid_of(file: &DesiredFile) -> u32 {
    file.import_id
        .as_deref()
        .and_then(|id| id.rsplit_once('/'))
        .and_then(|(_, vmid)| vmid.parse().ok())
        .unwrap_or(file.guest.vmid)
}

/// The files the console writes into the root module besides the guests.
const GENERATED_STEMS: &[&str] = &[
    "provider",
    "variables",
    "pools",
    "networks",
    "storages",
    "backup_jobs",
];

fn file_stem(rel_path: &str) -> String {
    Path::new(rel_path)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Names a new guest file must not take: the generated files', and every `.tf` already in the
/// root module or the legacy guest folder (a person's own `main.tf`, a gone guest's file).
pub fn reserved_file_stems(root: &Path) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = GENERATED_STEMS.iter().map(|s| s.to_string()).collect();
    for dir in [ROOT_MODULE, LEGACY_GUEST_DIR] {
        for path in tf_files(&root.join(dir)) {
            if let Some(stem) = path.file_stem() {
                out.insert(stem.to_string_lossy().to_string());
            }
        }
    }
    out
}

/// Every `.tf` file of the legacy guest folder moves into the root module under its own name
/// (or `NAME_2.tf` and so on where that is taken): Terraform loads only the root module's own
/// files, and import blocks are allowed only there.
fn plan_moves(root: &Path) -> Vec<(String, String)> {
    let mut taken: BTreeSet<String> = tf_files(&root.join(ROOT_MODULE))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .chain(GENERATED_STEMS.iter().map(|s| s.to_string()))
        .collect();
    let mut moves = Vec::new();
    for path in tf_files(&root.join(LEGACY_GUEST_DIR)) {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let from = format!("{LEGACY_GUEST_DIR}/{stem}.tf");
        let same_as_target = std::fs::read(&path).ok().is_some_and(|bytes| {
            std::fs::read(root.join(ROOT_MODULE).join(format!("{stem}.tf")))
                .is_ok_and(|there| there == bytes)
        });
        let mut name = stem.clone();
        let mut n = 2;
        // A move that a killed sync finished only halfway (same bytes at the target) ends here.
        while taken.contains(&name) && !same_as_target {
            name = format!("{stem}_{n}");
            n += 1;
        }
        taken.insert(name.clone());
        moves.push((from, format!("{ROOT_MODULE}/{name}.tf")));
    }
    moves
}

/// Decides the content of every generated file for `snapshot` in the workspace at `root`.
pub fn plan_sync(
    root: &Path,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    options: SyncOptions,
) -> Result<SyncPlan, IacError> {
    plan_sync_with(
        root,
        templates,
        snapshot,
        storage_configs,
        options,
        &BTreeMap::new(),
    )
}

/// As [`plan_sync`], with the addresses guest agents reported (vmid -> address) used as the
/// inventory's `ansible_host`.
pub fn plan_sync_with(
    root: &Path,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    options: SyncOptions,
    agent_addresses: &BTreeMap<u32, String>,
) -> Result<SyncPlan, IacError> {
    plan_sync_against(
        root,
        templates,
        snapshot,
        storage_configs,
        options,
        agent_addresses,
        &Bases::new(),
    )
}

/// As [`plan_sync_with`], judging each differing field against `bases`, what file and server
/// agreed on at the last sync (drift, pending change or conflict).
pub fn plan_sync_against(
    root: &Path,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    options: SyncOptions,
    agent_addresses: &BTreeMap<u32, String>,
    bases: &Bases,
) -> Result<SyncPlan, IacError> {
    let mut plan = SyncPlan {
        root: root.to_path_buf(),
        ..SyncPlan::default()
    };
    // What a sync compares is each file's model guest, path and identifier: the evaluated
    // bodies of unchanged files (what the reader's cache holds beside them) stay unread.
    let existing = read_workspace_hashed(root, Detail::Guests).0;
    let known = know_workspace(root, &existing, snapshot, &mut plan.report);
    let (pool_idents, write_pools) =
        plan_pools(root, &existing, snapshot, options.adopt, &mut plan.report);
    // The files made from the whole cluster (provider, networks, storages, inventory,
    // provision playbook, docs) render beside the guests' files: a few of them are one long
    // serial render each, which would otherwise leave a core idle at the end.
    let (spec_guests, whole) = rayon::join(
        || {
            plan_guest_files(
                &mut plan,
                templates,
                snapshot,
                &known,
                &pool_idents,
                options,
                bases,
            )
        },
        || {
            render_whole_cluster_files(
                templates,
                snapshot,
                storage_configs,
                &known.idents,
                agent_addresses,
                write_pools,
            )
        },
    );
    let spec_guests = spec_guests?;
    // A file to move that is also pruned is removed where it is.
    for (from, to) in &known.moves {
        match plan.removes.iter().position(|r| r == to) {
            Some(i) => plan.removes[i] = from.clone(),
            None => plan.moves.push((from.clone(), to.clone())),
        }
    }
    let whole = whole?;
    plan.report.warnings.extend(whole.warnings);
    for (rel_path, text) in whole.files {
        plan.put(rel_path, text);
    }
    plan_other_files(&mut plan, templates, snapshot, &known.idents, &spec_guests)?;
    plan.settle();
    Ok(plan)
}

/// The guest files already in the workspace, keyed for this sync.
struct KnownFiles<'a> {
    /// The file describing each vmid (the last one read when two do).
    by_vmid: BTreeMap<u32, &'a DesiredFile>,
    /// Legacy guest files to move into the root module, as (from, to).
    moves: Vec<(String, String)>,
    /// The identifier (and file stem) of every live guest.
    idents: BTreeMap<u32, String>,
}

/// Reads what the workspace holds and names every live guest: a guest keeps the identifier of
/// its file, and a new one takes a name no file already has (nor a gone guest's, nor a moved
/// file's new one).
fn know_workspace<'a>(
    root: &Path,
    existing: &'a WorkspaceRead,
    snapshot: &ClusterSnapshot,
    report: &mut SyncReport,
) -> KnownFiles<'a> {
    let mut reserved = reserved_file_stems(root);
    for e in &existing.problems {
        report
            .warnings
            .push(format!("{e}; the file is left as it is"));
    }
    let mut by_vmid: BTreeMap<u32, &DesiredFile> = BTreeMap::new();
    for f in &existing.state.files {
        let vmid = vmid_of(f);
        if let Some(other) = by_vmid.insert(vmid, f) {
            report.warnings.push(format!(
                "{} and {} both describe guest {vmid}; only the second is compared",
                other.path, f.path
            ));
        }
    }
    let live: BTreeSet<u32> = snapshot.guests.iter().map(|g| g.vmid).collect();
    for (vmid, f) in &by_vmid {
        if !live.contains(vmid) {
            reserved.insert(f.ident.clone());
        }
    }
    let existing_idents: BTreeMap<u32, String> = by_vmid
        .iter()
        .filter(|(vmid, _)| live.contains(vmid))
        .map(|(vmid, f)| (*vmid, f.ident.clone()))
        .collect();
    let moves = plan_moves(root);
    reserved.extend(moves.iter().map(|(_, to)| file_stem(to)));
    let pairs: Vec<(u32, &str)> = snapshot
        .guests
        .iter()
        .map(|g| (g.vmid, g.name.as_str()))
        .collect();
    let idents = assign_guest_idents(&pairs, &existing_idents, &reserved);
    KnownFiles {
        by_vmid,
        moves,
        idents,
    }
}

/// Where a guest file ends up: its new path if it moves, else where it is.
fn moved_to(moves: &[(String, String)], path: &str) -> String {
    moves
        .iter()
        .find(|(from, _)| from == path)
        .map(|(_, to)| to.clone())
        .unwrap_or_else(|| path.to_string())
}

/// Decides whether `pools.tf` is written, and the pool identifiers guest files refer to.
fn plan_pools(
    root: &Path,
    existing: &WorkspaceRead,
    snapshot: &ClusterSnapshot,
    adopt: bool,
    report: &mut SyncReport,
) -> (BTreeMap<String, String>, bool) {
    // Pools are managed like guests: a pools.tf that differs from the server (a pool added by
    // a resource command, a changed comment) is reported and left alone unless --adopt.
    let mut pool_idents = terraform::pool_idents(&snapshot.pools);
    let mut write_pools = true;
    let pools_rel = format!("{ROOT_MODULE}/pools.tf");
    if existing
        .problems
        .iter()
        .any(|p| p.path == root.join(&pools_rel))
    {
        write_pools = false;
        pool_idents.clear();
    } else if root.join(&pools_rel).is_file() {
        let in_file: BTreeMap<&str, Option<&str>> = existing
            .state
            .pools
            .iter()
            .map(|id| {
                (
                    id.as_str(),
                    existing.state.pool_comments.get(id).map(String::as_str),
                )
            })
            .collect();
        let live: BTreeMap<&str, Option<&str>> = snapshot
            .pools
            .iter()
            .map(|p| (p.id.as_str(), p.comment.as_deref()))
            .collect();
        if in_file != live && !adopt {
            report.pool_drift = pool_diffs(&in_file, &live);
            report.warnings.push(format!(
                "{pools_rel} differs from the server ({}); the file is left as it is (/sync --adopt takes the server's pools)",
                report.pool_drift.join("; ")
            ));
            write_pools = false;
            pool_idents = existing.state.pool_idents.clone();
        }
    }
    (pool_idents, write_pools)
}

/// Each pool that differs between `pools.tf` and the server, in id order.
fn pool_diffs(
    in_file: &BTreeMap<&str, Option<&str>>,
    live: &BTreeMap<&str, Option<&str>>,
) -> Vec<String> {
    let ids: BTreeSet<&str> = in_file.keys().chain(live.keys()).copied().collect();
    ids.into_iter()
        .filter(|id| in_file.get(id) != live.get(id))
        .map(|id| match (in_file.get(id), live.get(id)) {
            (Some(_), None) => format!("{id} is only in the file"),
            (None, Some(_)) => format!("{id} is only on the server"),
            (Some(a), Some(b)) => format!(
                "{id} comment: file {} -> live {}",
                a.unwrap_or("(not set)"),
                b.unwrap_or("(not set)")
            ),
            (None, None) => String::new(),
        })
        .collect()
}

/// A guest's file text when it was rendered (new guests), and its view's warnings.
type RenderedForSync = (Option<String>, Vec<String>);

/// Renders every live guest's file and reports every guest, live or gone, sorted by vmid.
/// Returns the guests whose spec is written, each as its file says it.
fn plan_guest_files<'a>(
    plan: &mut SyncPlan,
    templates: &Templates,
    snapshot: &'a ClusterSnapshot,
    known: &'a KnownFiles<'a>,
    pool_idents: &BTreeMap<String, String>,
    options: SyncOptions,
    bases: &Bases,
) -> Result<Vec<(&'a str, &'a Guest)>, IacError> {
    let mut spec_guests: Vec<(&str, &Guest)> = Vec::new();
    // Rendering is most of a sync's own work and each guest renders on its own: on every core
    // (the templates are shared read-only), then the files are decided in order. A guest
    // whose file exists is written only when `--adopt` takes the server's values over a
    // difference, so only new guests are rendered here (an adopted one below, when it is
    // one); every guest's view is made for its warnings. Only the text and the warnings are
    // kept: the view is not needed once the file is rendered.
    let rendered_all: Vec<Result<RenderedForSync, IacError>> = snapshot
        .guests
        .par_iter()
        .map(|guest| {
            let view = terraform::guest_view(guest);
            let text = if known.by_vmid.contains_key(&guest.vmid) {
                None
            } else {
                let ident = &known.idents[&guest.vmid];
                Some(terraform::render_guest_view(
                    templates,
                    guest,
                    &view,
                    ident,
                    pool_idents,
                )?)
            };
            Ok((text, view.warnings))
        })
        .collect();
    for (guest, rendered) in snapshot.guests.iter().zip(rendered_all) {
        let ident = &known.idents[&guest.vmid];
        let (rendered_text, warnings) = rendered?;
        // A new guest's text was rendered above; an adopted one's is rendered here.
        let text = |rendered: Option<String>| match rendered {
            Some(text) => Ok(text),
            None => terraform::render_guest(templates, guest, ident, pool_idents).map(|r| r.text),
        };
        let live = live_fields(guest);
        let (file, outcome) = match known.by_vmid.get(&guest.vmid) {
            None => {
                let file = format!("{ROOT_MODULE}/{ident}.tf");
                plan.put(file.clone(), text(rendered_text)?);
                spec_guests.push((ident, guest));
                plan.report
                    .bases
                    .insert(guest.vmid, GuestBase::agreed(&live));
                (file, GuestOutcome::New)
            }
            Some(existing) => {
                let file = moved_to(&known.moves, &existing.path);
                let base = bases.get(&guest.vmid);
                let in_file = guest_fields(&existing.guest);
                let drift = super::drift::compare(&in_file, &live, base);
                let outcome = if drift.is_empty() {
                    spec_guests.push((ident, guest));
                    GuestOutcome::Unchanged
                } else if options.adopt {
                    plan.put(file.clone(), text(rendered_text)?);
                    spec_guests.push((ident, guest));
                    GuestOutcome::Adopted(drift)
                } else {
                    // The file is the desired state: its spec says what the file says, and a
                    // field edited on both sides keeps the hand edit until /resolve or --adopt.
                    spec_guests.push((ident, &existing.guest));
                    if drift.iter().any(|f| f.change == FieldChange::Conflict) {
                        GuestOutcome::Conflict(drift)
                    } else {
                        GuestOutcome::Drift(drift)
                    }
                };
                let next = match outcome {
                    GuestOutcome::Drift(_) | GuestOutcome::Conflict(_) => {
                        GuestBase::merged(base, &in_file, &live)
                    }
                    _ => GuestBase::agreed(&live),
                };
                plan.report.bases.insert(guest.vmid, next);
                (file, outcome)
            }
        };
        plan.report.guests.push(GuestReport {
            vmid: guest.vmid,
            name: guest.name.clone(),
            file,
            outcome,
            warnings,
        });
    }
    let live: BTreeSet<u32> = snapshot.guests.iter().map(|g| g.vmid).collect();
    for (vmid, f) in &known.by_vmid {
        if live.contains(vmid) {
            continue;
        }
        let file = moved_to(&known.moves, &f.path);
        let outcome = if options.prune {
            plan.removes.push(file.clone());
            plan.removes.push(format!("tests/{}.yml", f.ident));
            GuestOutcome::Pruned
        } else {
            GuestOutcome::Gone
        };
        plan.report.guests.push(GuestReport {
            vmid: *vmid,
            name: f.guest.name.clone(),
            file,
            outcome,
            warnings: Vec::new(),
        });
    }
    plan.report.guests.sort_by_key(|g| g.vmid);
    Ok(spec_guests)
}

/// The files [`render_whole_cluster_files`] makes, as (path, text), and its warnings.
struct WholeClusterFiles {
    files: Vec<(String, String)>,
    warnings: Vec<String>,
}

/// The files made from the cluster as a whole rather than one guest: the Terraform files
/// besides the guests', the Ansible inventory, provision playbook and site playbook, and the
/// inventory doc.
fn render_whole_cluster_files(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    idents: &BTreeMap<u32, String>,
    agent_addresses: &BTreeMap<u32, String>,
    write_pools: bool,
) -> Result<WholeClusterFiles, IacError> {
    let mut files = vec![
        (
            "terraform/provider.tf".to_string(),
            terraform::render_provider(templates, snapshot)?,
        ),
        (
            "terraform/variables.tf".to_string(),
            terraform::render_variables(templates)?,
        ),
    ];
    if write_pools {
        files.push((
            "terraform/pools.tf".into(),
            terraform::render_pools(templates, &snapshot.pools)?,
        ));
    }
    files.push((
        "terraform/networks.tf".into(),
        terraform::render_networks(templates, &snapshot.networks)?,
    ));
    let (storages, warnings) =
        terraform::render_storages(templates, &snapshot.storages, storage_configs)?;
    files.push(("terraform/storages.tf".into(), storages));
    files.push((
        "ansible/inventory.yml".into(),
        ansible::render_inventory_with(templates, snapshot, idents, agent_addresses)?,
    ));
    files.push((
        "ansible/provision.yml".into(),
        ansible::render_provision(templates, snapshot)?,
    ));
    files.push((
        "ansible/site.yml".into(),
        ansible::render_site(templates, snapshot, idents)?,
    ));
    files.push((
        "docs/inventory.md".into(),
        docs::render_inventory_doc(templates, snapshot)?,
    ));
    Ok(WholeClusterFiles { files, warnings })
}

/// The roles' task files that do not exist yet, and the guests' specs.
fn plan_other_files(
    plan: &mut SyncPlan,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    idents: &BTreeMap<u32, String>,
    spec_guests: &[(&str, &Guest)],
) -> Result<(), IacError> {
    for (group, _) in ansible::role_groups(snapshot, idents) {
        let path = format!("ansible/roles/{group}/tasks/main.yml");
        if !plan.root.join(&path).exists() {
            plan.put(path, ansible::render_role_tasks(templates, &group)?);
        }
    }
    let specs: Vec<Result<String, IacError>> = spec_guests
        .par_iter()
        .map(|(_, guest)| spec::render_spec(templates, guest))
        .collect();
    for ((ident, _), spec) in spec_guests.iter().zip(specs) {
        plan.put(format!("tests/{ident}.yml"), spec?);
    }
    Ok(())
}

/// Writes the plan's files (only those whose content differs) and removes the pruned ones.
pub fn apply_sync(root: &Path, mut plan: SyncPlan) -> Result<SyncReport, IacError> {
    // Test-only: `PMPC_CRASH_AT=sync-write:N` dies like a killed process after N files.
    let crash_after: Option<usize> = std::env::var("PMPC_CRASH_AT")
        .ok()
        .and_then(|v| v.strip_prefix("sync-write:")?.parse().ok());
    let dirs: std::collections::BTreeSet<PathBuf> = plan
        .writes
        .keys()
        .filter_map(|rel_path| root.join(rel_path).parent().map(Path::to_path_buf))
        .collect();
    // Each folder is made and resolved once, not once per file written into it.
    let mut resolved_dirs: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for dir in &dirs {
        remove_stale_temps(dir);
        std::fs::create_dir_all(dir).map_err(|e| IacError::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        let resolved = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        resolved_dirs.insert(dir.clone(), resolved);
    }
    // Moves first copy the file as it is (unless it is rewritten anyway); the old one goes only
    // once every write is done, so a killed sync leaves the guest in one place or both, and
    // the next sync finishes the move (same bytes at the target).
    for (from, to) in &plan.moves {
        if plan.writes.contains_key(to) {
            continue;
        }
        let from_path = root.join(from);
        let bytes = std::fs::read(&from_path).map_err(|e| IacError::Read {
            path: from_path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&root.join(to), &bytes, &mut plan.report.notes)?;
    }
    for rel_path in plan.writes.keys() {
        if (rel_path == "terraform/networks.tf" || rel_path == "terraform/storages.tf")
            && root.join(rel_path).exists()
        {
            // Never planned or changed by the console: what changed is the server.
            plan.report.warnings.push(format!(
                "the server's {} changed since the last sync; {rel_path} now shows them as they are (review before any terraform apply)",
                if rel_path.ends_with("networks.tf") { "node networks" } else { "storages" }
            ));
        }
    }
    // Each file on its own, on every core: creating thousands of files is most of a large
    // sync's writing, and each stays old or new whatever order they land in.
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let (started, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let hashed: Vec<Result<(PathBuf, String), IacError>> = plan
        .writes
        .par_iter()
        .map(|(rel_path, text)| {
            // The crash hook dies once exactly N files are written: the write that would be
            // the N+1th waits for the N before it to land, then aborts.
            if let Some(n) = crash_after
                && started.fetch_add(1, SeqCst) >= n
            {
                while done.load(SeqCst) < n {
                    std::thread::yield_now();
                }
                std::process::abort();
            }
            let path = root.join(rel_path);
            let written = write_into_existing_dir(&path, text.as_bytes());
            done.fetch_add(1, SeqCst);
            written?;
            let resolved = match (path.parent(), path.file_name()) {
                (Some(dir), Some(name)) => resolved_dirs.get(dir).map(|d| d.join(name)),
                _ => None,
            };
            Ok((
                resolved.unwrap_or_else(|| crate::state::written::resolved(&path)),
                crate::state::written::sha256_hex(text.as_bytes()),
            ))
        })
        .collect();
    for (rel_path, result) in plan.writes.keys().zip(hashed) {
        let (path, sha256) = result?;
        plan.report.notes.note_written_resolved(path, sha256);
        plan.report.written.push(rel_path.clone());
    }
    for (from, to) in &plan.moves {
        remove_file(root, from, &mut plan.report.notes)?;
        plan.report.moved.push((from.clone(), to.clone()));
    }
    // The legacy folder goes once it is empty (a person's other files keep it).
    let _ = std::fs::remove_dir(root.join(LEGACY_GUEST_DIR));
    for rel_path in &plan.removes {
        let path = root.join(rel_path);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                plan.report.notes.note_removed(&path);
                plan.report.removed.push(rel_path.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(IacError::Write {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(plan.report)
}

fn remove_file(root: &Path, rel_path: &str, written: &mut Written) -> Result<(), IacError> {
    let path = root.join(rel_path);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            written.note_removed(&path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IacError::Write {
            path,
            message: e.to_string(),
        }),
    }
}

/// Plans and applies a sync.
pub fn sync_workspace(
    root: &Path,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    options: SyncOptions,
) -> Result<SyncReport, IacError> {
    let plan = plan_sync(root, templates, snapshot, storage_configs, options)?;
    apply_sync(root, plan)
}

/// As [`sync_workspace`], with guest-agent addresses for the inventory.
pub fn sync_workspace_with(
    root: &Path,
    templates: &Templates,
    snapshot: &ClusterSnapshot,
    storage_configs: &StorageConfigs,
    options: SyncOptions,
    agent_addresses: &BTreeMap<u32, String>,
) -> Result<SyncReport, IacError> {
    let plan = plan_sync_with(
        root,
        templates,
        snapshot,
        storage_configs,
        options,
        agent_addresses,
    )?;
    apply_sync(root, plan)
}

/// Removes the temporary files (`.NAME.tmp-PID`) that a killed writer left in `dir`, when that
/// process is gone; a live writer's file is left alone.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp-"))
            .and_then(|(_, pid)| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a file through a temporary file in the same folder and a rename, so a reader never
/// sees half a file, and notes its SHA-256 in `written` for `state.db`
/// ([`crate::state::written`]).
pub fn write_atomic(path: &Path, bytes: &[u8], written: &mut Written) -> Result<(), IacError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| IacError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    write_into_existing_dir(path, bytes)?;
    // Every file the console writes passes here: note its hash for state.db (`/test` tells
    // hand edits from generated text with it).
    written.note_written(path, bytes);
    Ok(())
}

/// A temporary file in the file's folder (which exists), then a rename over the file.
fn write_into_existing_dir(path: &Path, bytes: &[u8]) -> Result<(), IacError> {
    let err = |e: std::io::Error| IacError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}
