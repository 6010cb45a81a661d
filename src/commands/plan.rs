//! `/plan`: desired state (the workspace's `.tf` files, read by `iac::reader`) against the live
//! cluster (or, with `--offline`, the last stored snapshot) -> a [`Plan`], saved in `state.db`
//! and shown like `terraform plan` (or as JSON). `--detailed-exitcode` exits 2 when there are
//! changes, as Terraform does. Making the plan is shared with `/diff` and `/apply` in
//! [`crate::commands::workspace_state`].

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
    let id = save_plan(&db, &environment, &plan).await?;
    let mut items = plan_items(ctx, &plan, args.machine, Some(id));
    items.extend(crate::commands::policy::plan_items(ctx, &plan, &db).await);
    if args.detailed_exitcode && !plan.is_empty() {
        return Err(CommandError::changes_present(items));
    }
    Ok(items)
}
