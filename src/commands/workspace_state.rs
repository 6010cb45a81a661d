//! The workspace state the planning and syncing commands (`/plan`, `/diff`, `/apply`,
//! `/sync`) share, so no command calls another: opening state.db, the whole-cluster client,
//! the desired state read from the `.tf` files and their hash, observing the cluster and
//! recording or loading snapshots, and making and saving a plan from them.

use std::collections::BTreeSet;
use std::path::Path;

use crate::commands::{Ctx, connect};
use crate::error::CommandError;
use crate::model::{ClusterSnapshot, Guest, guest_from_config};
use crate::plan::{DiffInput, Plan, diff};
use crate::pve::{Client, PveError};
use crate::state::{SnapshotSummary, StateDb};

/// The desired state read from the workspace.
#[derive(Debug, Clone)]
pub struct Desired {
    pub guests: Vec<Guest>,
    pub pools: Vec<String>,
    /// vmids of the guests whose files carry an import block (they are in the code).
    pub imported: BTreeSet<u32>,
    /// [`files_hash`] of the texts this was read from.
    pub files_hash: String,
}

/// Reads the desired state (`iac::desired`: every `.tf` file, with variables, locals and
/// references); a file that cannot be read stops the plan (planning without it would destroy
/// its guest).
pub fn read_desired(root: &Path) -> Result<Desired, CommandError> {
    let (read, files_hash) =
        crate::iac::desired::read_workspace_hashed(root, crate::iac::desired::Detail::Guests);
    if !read.problems.is_empty() {
        let e = crate::iac::desired::DesiredError {
            problems: read.problems,
        };
        return Err(
            CommandError::user(format!("cannot read the desired state: {e}"))
                .hint("fix the file named above and run /plan again"),
        );
    }
    let state = read.state;
    let imported = state
        .files
        .iter()
        .filter(|f| f.import_id.is_some() && f.guest.vmid != 0)
        .map(|f| f.guest.vmid)
        .collect();
    Ok(Desired {
        // Moved out, not cloned: at 10,000 guests a copy is tens of megabytes.
        guests: state.files.into_iter().map(|f| f.guest).collect(),
        pools: state.pools,
        imported,
        files_hash,
    })
}

/// SHA-256 over every `.tf` file under `terraform/` ([`crate::iac::desired::files_hash`]).
pub fn files_hash(root: &Path) -> String {
    crate::iac::desired::files_hash(root, &std::collections::BTreeMap::new())
}

/// A client for the active environment and its endpoint. Reading or changing the whole cluster
/// (`/plan`, `/apply`, `/sync`) allows the client's normal retries rather than the interactive
/// single retry.
pub fn workspace_client(ctx: &mut Ctx) -> Result<(Client, String), CommandError> {
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let mut client_config = client.config().clone();
    client_config.retries = 3;
    let client = Client::new(client_config).map_err(|e| connect::pve_error(e, &endpoint))?;
    Ok((client, endpoint))
}

/// Returns the state database, opened.
pub async fn state_db(ctx: &mut Ctx) -> Result<StateDb, CommandError> {
    ctx.state().await?;
    ctx.state_if_open()
        .cloned()
        .ok_or_else(|| CommandError::internal("the state database did not open"))
}

/// Reads the cluster and records the snapshot; returns it with its serial.
pub async fn observe(
    client: &Client,
    db: &StateDb,
    environment: &str,
) -> Result<(ClusterSnapshot, i64), CommandError> {
    let endpoint = client.endpoint().to_string();
    let snapshot = client
        .discover(|_, _| {})
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let serial = record_snapshot(db, environment, &endpoint, &snapshot).await?;
    Ok((snapshot, serial))
}

/// Records `snapshot` (with the counts `/status` shows) in state.db; returns its serial.
pub async fn record_snapshot(
    db: &StateDb,
    environment: &str,
    endpoint: &str,
    snapshot: &ClusterSnapshot,
) -> Result<i64, CommandError> {
    let summary = serde_json::to_value(SnapshotSummary::of(snapshot)).unwrap_or_default();
    let data = serde_json::to_string(snapshot)
        .map_err(|e| CommandError::internal(format!("cannot store the snapshot: {e}")))?;
    Ok(db
        .record_snapshot(environment, endpoint, &summary, &data)
        .await?)
}

/// The last stored snapshot (for `--offline`).
pub async fn last_snapshot(db: &StateDb) -> Result<(ClusterSnapshot, i64), CommandError> {
    let Some((serial, data)) = db.latest_snapshot_data().await? else {
        return Err(
            CommandError::user("there is no stored snapshot to plan against offline")
                .hint("run /sync (or /plan without --offline) once while the cluster is reachable"),
        );
    };
    let snapshot = serde_json::from_str(&data).map_err(|e| {
        CommandError::internal(format!("snapshot {serial} in state.db cannot be read: {e}"))
    })?;
    Ok((snapshot, serial))
}

/// A managed guest missing from the listing is read directly before anything concludes it is
/// gone (PVE hides from a listing what a token may not see).
async fn confirm_missing(
    client: &Client,
    desired: &Desired,
    managed: &BTreeSet<u32>,
    observed: &mut ClusterSnapshot,
) -> Result<(), CommandError> {
    for g in &desired.guests {
        if g.vmid == 0 || !managed.contains(&g.vmid) || observed.guest(g.vmid).is_some() {
            continue;
        }
        match client.guest_config(&g.node, g.kind, g.vmid).await {
            Ok(raw) => {
                let (live, _) = guest_from_config(
                    g.vmid,
                    &g.node,
                    g.kind,
                    crate::model::GuestStatus::Unknown,
                    None,
                    &raw,
                );
                observed.guests.push(live);
            }
            Err(PveError::NotFound { .. }) => {}
            Err(e) => return Err(connect::pve_error(e, client.endpoint())),
        }
    }
    Ok(())
}

/// Makes a plan for the workspace at `root`: reads the files, observes (or loads the last
/// snapshot), updates the managed set with the guests in the code, and diffs.
pub async fn make_plan(
    ctx: &mut Ctx,
    offline: bool,
) -> Result<(Plan, StateDb, Option<Client>), CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let started = std::time::Instant::now();
    let db = state_db(ctx).await?;
    // The files are read on other threads meanwhile: offline, the stored snapshot (one long
    // JSON parse) loads at the same time; online, the files are read before anything is
    // asked of the cluster, so files that do not read cost no requests.
    let reading = tokio::task::spawn_blocking({
        let root = root.clone();
        move || read_desired(&root)
    });
    let (desired, loaded) = if offline {
        let (desired, loaded) = tokio::join!(reading, last_snapshot(&db));
        (desired, Some(loaded))
    } else {
        (reading.await, None)
    };
    let mut desired = desired.map_err(|e| {
        CommandError::internal(format!("reading the workspace's files stopped: {e}"))
    })??;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        rss_mib = ?crate::ui::resident_mib(),
        guests = desired.guests.len(),
        "plan: files read"
    );
    let (mut observed, serial, client) = if let Some(loaded) = loaded {
        let (s, serial) = loaded?;
        (s, serial, None)
    } else {
        let (client, _) = workspace_client(ctx)?;
        let spinner = ctx.ui.spinner("Reading the cluster");
        let observed = observe(&client, &db, &environment).await;
        drop(spinner);
        let (s, serial) = observed?;
        (s, serial, Some(client))
    };
    // Guests in the code are managed from now on: imported ones, and ones whose vmid exists
    // on the server with the file's name and kind (a create whose answer was lost).
    let live_by_vmid: std::collections::HashMap<u32, &crate::model::Guest> =
        observed.guests.iter().map(|g| (g.vmid, g)).collect();
    let now_managed: Vec<(u32, &str, &str, &str)> = desired
        .guests
        .iter()
        .filter(|g| {
            let on_server = live_by_vmid
                .get(&g.vmid)
                .is_some_and(|live| live.name == g.name && live.kind == g.kind);
            g.vmid != 0 && (desired.imported.contains(&g.vmid) || on_server)
        })
        .map(|g| (g.vmid, g.name.as_str(), g.node.as_str(), g.kind.as_str()))
        .collect();
    let managed = db.set_managed_all(&now_managed).await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        rss_mib = ?crate::ui::resident_mib(),
        "plan: managed set"
    );
    // A guest created by an earlier apply whose file does not carry its vmid yet.
    for g in desired.guests.iter_mut().filter(|g| g.vmid == 0) {
        if let Some(live) = observed.guest_by_name(&g.name)
            && managed.contains(&live.vmid)
            && live.kind == g.kind
        {
            g.vmid = live.vmid;
        }
    }
    if let Some(client) = &client {
        confirm_missing(client, &desired, &managed, &mut observed).await?;
    }
    let mut plan = diff(DiffInput {
        desired: &desired.guests,
        desired_pools: &desired.pools,
        observed: &observed,
        managed: &managed,
    });
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        rss_mib = ?crate::ui::resident_mib(),
        "plan: compared"
    );
    plan.based_on_serial = Some(serial);
    plan.files_hash = Some(std::mem::take(&mut desired.files_hash));
    Ok((plan, db, client))
}

/// The hash of a saved plan, over the JSON stored in state.db: what a reviewer of the plan saw,
/// so `/apply --plan-id N --plan-hash H` (and the REST API and MCP server) apply exactly it.
pub fn plan_hash(stored_data: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(stored_data.as_bytes()))
}

/// Saves a plan in state.db and returns its id.
pub async fn save_plan(db: &StateDb, environment: &str, plan: &Plan) -> Result<i64, CommandError> {
    let data = serde_json::to_string(plan)
        .map_err(|e| CommandError::internal(format!("cannot store the plan: {e}")))?;
    let summary = serde_json::to_string(&plan.counts()).unwrap_or_default();
    Ok(db
        .save_plan(environment, plan.based_on_serial, &summary, &data)
        .await?)
}

/// Records in the workspace's `state.db` the hashes of the files the last command wrote (the
/// context's [`Ctx::written`], see [`crate::state::written`]); opens the database only when
/// there is something to record.
pub async fn record_written(ctx: &mut Ctx) -> Result<(), CommandError> {
    let Some(root) = ctx.workspace_opt().map(|w| w.root().to_path_buf()) else {
        return Ok(());
    };
    if !ctx.written.has_notes_for(&root) {
        return Ok(());
    }
    let db = ctx.state().await?.clone();
    db.record_written(&root, &mut ctx.written).await?;
    Ok(())
}
