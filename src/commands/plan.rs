//! `/plan`: desired state (the workspace's `.tf` files, read by `iac::reader`) against the live
//! cluster (or, with `--offline`, the last stored snapshot) -> a [`Plan`], saved in `state.db`
//! and shown like `terraform plan` (or as JSON). `--detailed-exitcode` exits 2 when there are
//! changes, as Terraform does. Also holds what `/diff` and `/apply` share: reading the files,
//! observing, the managed set and the hash of the files.

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::model::{ClusterSnapshot, Guest, guest_from_config};
use crate::plan::render::{render_text, to_json};
use crate::plan::{DiffInput, Plan, diff};
use crate::pve::{Client, PveError};
use crate::state::StateDb;
use crate::ui::{Item, OutputFormat, Table};

/// What `/plan` needs to run.
#[derive(Debug, Clone, Default)]
pub struct PlanArgs {
    pub offline: bool,
    pub detailed_exitcode: bool,
    /// Data format asked for on this line (`--json`), beyond the global one.
    pub machine: bool,
}

/// The desired state read from the workspace.
#[derive(Debug, Clone)]
pub struct Desired {
    pub guests: Vec<Guest>,
    pub pools: Vec<String>,
    /// vmids of the guests whose files carry an import block (they are in the code).
    pub imported: BTreeSet<u32>,
}

/// Reads the desired state (`iac::desired`: every `.tf` file, with variables, locals and
/// references); a file that cannot be read stops the plan (planning without it would destroy
/// its guest).
pub fn read_desired(root: &Path) -> Result<Desired, CommandError> {
    let state = crate::iac::desired::read_desired(root).map_err(|e| {
        CommandError::user(format!("cannot read the desired state: {e}"))
            .hint("fix the file named above and run /plan again")
    })?;
    let imported = state
        .files
        .iter()
        .filter(|f| f.import_id.is_some() && f.guest.vmid != 0)
        .map(|f| f.guest.vmid)
        .collect();
    Ok(Desired {
        guests: state.guests(),
        pools: state.pools.clone(),
        imported,
    })
}

/// SHA-256 over every `.tf` file under `terraform/` (path and content), in path order.
pub fn files_hash(root: &Path) -> String {
    let mut paths = Vec::new();
    let mut stack = vec![root.join("terraform")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "tf") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut hasher = Sha256::new();
    for path in paths {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&path).unwrap_or_default());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
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
    let summary =
        serde_json::to_value(crate::commands::sync::summarize(&snapshot)).unwrap_or_default();
    let data = serde_json::to_string(&snapshot)
        .map_err(|e| CommandError::internal(format!("cannot store the snapshot: {e}")))?;
    let serial = db
        .record_snapshot(environment, &endpoint, &summary, &data)
        .await?;
    Ok((snapshot, serial))
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
    let mut desired = read_desired(&root)?;
    let db = state_db(ctx).await?;
    let (mut observed, serial, client) = if offline {
        let (s, serial) = last_snapshot(&db).await?;
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
    for g in &desired.guests {
        let on_server = observed
            .guest(g.vmid)
            .is_some_and(|live| live.name == g.name && live.kind == g.kind);
        if g.vmid != 0 && (desired.imported.contains(&g.vmid) || on_server) {
            db.set_managed(g.vmid, &g.name, &g.node, g.kind.as_str())
                .await?;
        }
    }
    let managed = db.managed_vmids().await?;
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
    plan.based_on_serial = Some(serial);
    plan.files_hash = Some(files_hash(&root));
    Ok((plan, db, client))
}

/// Saves a plan in state.db and returns its id.
pub async fn save(db: &StateDb, environment: &str, plan: &Plan) -> Result<i64, CommandError> {
    let data = serde_json::to_string(plan)
        .map_err(|e| CommandError::internal(format!("cannot store the plan: {e}")))?;
    let summary = serde_json::to_string(&plan.counts()).unwrap_or_default();
    Ok(db
        .save_plan(environment, plan.based_on_serial, &summary, &data)
        .await?)
}

/// The report items of a plan: the terraform-like text, or JSON data.
pub fn plan_items(ctx: &Ctx, plan: &Plan, machine: bool, plan_id: Option<i64>) -> Report {
    let machine = machine || ctx.ui.format != OutputFormat::Table;
    let mut items = Vec::new();
    if machine {
        let mut value = to_json(plan);
        value["plan_id"] = serde_json::json!(plan_id);
        let mut table = Table::new(&["action", "resource", "name", "vmid", "node"]);
        for c in plan.actionable() {
            table.row(vec![
                format!("{:?}", c.action).to_lowercase(),
                c.resource.as_str().to_string(),
                c.name.clone(),
                c.vmid.map(|v| v.to_string()).unwrap_or_default(),
                c.node.clone().unwrap_or_default(),
            ]);
        }
        items.push(Item::Data { value, table });
    } else {
        items.push(Item::Text(render_text(plan)));
    }
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        items.push(Item::Warning(format!(
            "this plan cannot be applied until these are fixed in the files:\n  {}",
            refusals.join("\n  ")
        )));
    } else if !plan.is_empty() {
        items.push(Item::Hint("run /apply to make these changes".into()));
    }
    items
}

/// Runs `/plan`.
pub async fn run(ctx: &mut Ctx, args: &PlanArgs) -> Result<Report, CommandError> {
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let (plan, db, _) = make_plan(ctx, args.offline).await?;
    let id = save(&db, &environment, &plan).await?;
    let items = plan_items(ctx, &plan, args.machine, Some(id));
    if args.detailed_exitcode && !plan.is_empty() {
        return Err(CommandError::changes_present(items));
    }
    Ok(items)
}
