//! `/diff`: the same comparison as `/plan`, shown as a unified diff of PVE config keys
//! (`--- a/vm/102.conf` / `+++ b/vm/102.conf`, `-memory: 8192` / `+memory: 12288`).

use crate::commands::workspace_state::make_plan;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::plan::render::{render_unified, summary_line, to_json};
use crate::ui::{Item, OutputFormat, Table};

/// Runs `/diff` (`offline` plans against the last stored snapshot).
pub async fn run(ctx: &mut Ctx, offline: bool, machine: bool) -> Result<Report, CommandError> {
    let (plan, _, _) = make_plan(ctx, offline).await?;
    let mut items = Vec::new();
    if machine || ctx.ui.format != OutputFormat::Table {
        items.push(Item::Data {
            value: to_json(&plan),
            table: Table::new(&[]),
        });
    } else if !plan.is_empty() {
        items.push(Item::Text(render_unified(&plan)));
    }
    items.push(Item::Status(summary_line(&plan)));
    Ok(items)
}
