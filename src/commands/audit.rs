//! `/audit [--since TIME] [--origin O] [--json]`: the audit log as it is, oldest first, each
//! row with the front end that asked (`console`, `cli`, `api`, `mcp`, ...) and its principal;
//! and the `call` row [`crate::commands::execute`] writes for every operation a front end other
//! than the console or the command line runs (REST, MCP), so that what an API client or an AI
//! assistant asked is on record whether it changed anything or not.

use chrono::Utc;
use serde::Serialize;

use crate::commands::history::parse_since;
use crate::commands::workspace_state::state_db;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::ui::{Item, OutputFormat, Table};

/// What `/audit` was asked.
#[derive(Debug, Clone, Default)]
pub struct AuditArgs {
    /// Only rows at or after this time (`2h`, `3d`, `2024-05-01`, RFC 3339).
    pub since: Option<String>,
    /// Only rows from this front end.
    pub origin: Option<String>,
    pub machine: bool,
}

/// One audit row as `/audit --json` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub environment: String,
    pub origin: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The row's detail, JSON when it was written as JSON.
    pub detail: serde_json::Value,
}

/// Runs `/audit`.
pub async fn run(ctx: &mut Ctx, args: &AuditArgs) -> Result<Report, CommandError> {
    ctx.workspace()?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()
        .map_err(|m| CommandError::user(m).hint("for example: /audit --since 2h"))?
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let db = state_db(ctx).await?;
    let rows = db.audit_since(since.as_deref()).await?;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .filter(|r| args.origin.as_deref().is_none_or(|o| r.origin == o))
        .map(|r| AuditEntry {
            detail: r
                .detail
                .as_deref()
                .map(|d| {
                    serde_json::from_str(d).unwrap_or_else(|_| serde_json::Value::String(d.into()))
                })
                .unwrap_or(serde_json::Value::Null),
            id: r.id,
            at: r.at,
            environment: r.environment,
            origin: r.origin,
            actor: r.actor,
            action: r.action,
            target: r.target,
        })
        .collect();
    let mut table = Table::new(&["id", "at", "origin", "actor", "action", "target"]);
    for e in &entries {
        table.row(vec![
            e.id.to_string(),
            e.at.clone(),
            e.origin.clone(),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
        ]);
    }
    let mut items = Vec::new();
    if entries.is_empty() && !args.machine && ctx.ui.format == OutputFormat::Table {
        items.push(Item::Status("The audit log has no entries yet.".into()));
    }
    let value = serde_json::json!({ "entries": entries });
    items.push(Item::Data { value, table });
    Ok(items)
}

/// Records that a front end other than the console or the command line ran `operation`
/// (origin and actor from the context), and how it ended (`refusal`: the error's message).
/// The request's input is not kept, so nothing a client sent (a secret included) lands in the
/// log.
pub async fn record_call(ctx: &mut Ctx, operation: &str, refusal: Option<String>) {
    if matches!(ctx.origin.as_str(), "console" | "cli") || ctx.workspace_opt().is_none() {
        return;
    }
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let detail = match refusal {
        None => serde_json::json!({ "operation": operation, "outcome": "ok" }),
        Some(error) => serde_json::json!({
            "operation": operation,
            "outcome": "refused",
            "error": error,
        }),
    };
    let Ok(db) = state_db(ctx).await else {
        return;
    };
    if let Err(e) = db
        .audit(&environment, "call", operation, Some(&detail.to_string()))
        .await
    {
        tracing::warn!("cannot record the {operation} call in the audit log: {e}");
    }
}
