//! `/plan`: desired state (the workspace's `.tf` files, read by `iac::reader`) against the live
//! cluster (or, with `--offline`, the last stored snapshot) -> a [`Plan`], saved in `state.db`
//! and shown like `terraform plan` (or as JSON). `--detailed-exitcode` exits 2 when there are
//! changes, as Terraform does. Making the plan is shared with `/diff` and `/apply` in
//! [`crate::commands::workspace_state`]. `--out FILE` also writes the plan as a [`PlanFile`],
//! the reviewed plan a pipeline hands from its review job to `apply --plan FILE`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::commands::workspace_state::{make_plan, save_plan};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::plan::Plan;
use crate::plan::render::{render_text, to_json};
use crate::ui::{Item, OutputFormat, Table};

/// What `/plan` needs to run.
#[derive(Debug, Clone, Default)]
pub struct PlanArgs {
    pub offline: bool,
    pub detailed_exitcode: bool,
    /// Data format asked for on this line (`--json`), beyond the global one.
    pub machine: bool,
    /// Also write the plan here ([`PlanFile`]).
    pub out: Option<PathBuf>,
}

/// What [`PlanFile::kind`] always says, so `apply --plan` refuses any other JSON.
pub const PLAN_FILE_KIND: &str = "proxmox-mpc-plan";

/// The reviewed plan as a file (`plan --out FILE`, read by `apply --plan FILE` and `ci
/// comment`). It carries what staleness is judged by: the hash of the `.tf` files and, in
/// each change, the live config digest the plan was made against; the snapshot serial and
/// plan id are for people (another runner has another state.db). It holds the plan and
/// endpoint only: the token secret is never in a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`PLAN_FILE_KIND`].
    pub kind: String,
    pub format_version: u32,
    /// The plan's id in the state.db of the machine that made it.
    pub plan_id: i64,
    pub environment: String,
    pub endpoint: String,
    /// SHA-256 over the `.tf` files the plan was made from.
    pub files_hash: Option<String>,
    /// Serial of the cluster snapshot it was made against (in that state.db).
    pub snapshot_serial: Option<i64>,
    pub summary: crate::plan::PlanCounts,
    /// The plan as `/plan` shows it, for the review comment.
    pub text: String,
    pub plan: Plan,
}

impl PlanFile {
    /// Reads a plan file, refusing anything `plan --out` did not write.
    pub fn read(path: &Path) -> Result<PlanFile, CommandError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CommandError::user(format!("cannot read the plan file {}: {e}", path.display()))
                .hint("make it with `proxmox-mpc plan --out FILE`")
        })?;
        let file: PlanFile = serde_json::from_str(&text)
            .ok()
            .filter(|f: &PlanFile| f.kind == PLAN_FILE_KIND)
            .ok_or_else(|| {
                CommandError::user(format!(
                    "{} is not a plan file written by `proxmox-mpc plan --out`",
                    path.display()
                ))
                .hint("make it with `proxmox-mpc plan --out FILE`")
            })?;
        Ok(file)
    }
}

/// Writes the plan file for `apply --plan` (relative paths from the current folder).
fn write_plan_file(
    ctx: &mut Ctx,
    path: &Path,
    plan: &Plan,
    plan_id: i64,
    environment: &str,
) -> Result<(), CommandError> {
    let file = PlanFile {
        kind: PLAN_FILE_KIND.into(),
        format_version: 1,
        plan_id,
        environment: environment.to_string(),
        endpoint: ctx.config()?.active_env().endpoint.clone(),
        files_hash: plan.files_hash.clone(),
        snapshot_serial: plan.based_on_serial,
        summary: plan.counts(),
        text: render_text(plan),
        plan: plan.clone(),
    };
    let path = ctx.cwd.join(path);
    let json = serde_json::to_string_pretty(&file)
        .map_err(|e| CommandError::internal(format!("cannot write the plan file: {e}")))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, json + "\n").map_err(|e| {
        CommandError::user(format!(
            "cannot write the plan file {}: {e}",
            path.display()
        ))
        .hint("give --out a path in a folder you can write")
    })
}

/// The report items of a plan: the terraform-like text, or JSON data.
pub fn plan_items(ctx: &Ctx, plan: &Plan, machine: bool, plan_id: Option<i64>) -> Report {
    let machine = machine || ctx.ui.format != OutputFormat::Table;
    let mut items = Vec::new();
    if machine {
        let mut value = to_json(plan);
        value["plan_id"] = serde_json::json!(plan_id);
        if plan_id.is_some() {
            // Over the JSON save_plan stored: the same serialization of the same plan.
            let stored = serde_json::to_string(plan).unwrap_or_default();
            value["plan_hash"] =
                serde_json::json!(crate::commands::workspace_state::plan_hash(&stored));
        }
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
    let id = save_plan(&db, &environment, &plan).await?;
    if let Some(out) = &args.out {
        write_plan_file(ctx, out, &plan, id, &environment)?;
    }
    let mut items = plan_items(ctx, &plan, args.machine, Some(id));
    items.extend(crate::commands::policy::plan_items(ctx, &plan, &db).await);
    if args.detailed_exitcode && !plan.is_empty() {
        return Err(CommandError::changes_present(items));
    }
    Ok(items)
}
