//! `/audit [--since TIME] [--origin O] [--json]`: the audit log as it is, oldest first, each
//! row with the front end that asked (`console`, `cli`, `api`, `mcp`, ...) and its principal;
//! and the `call` row [`crate::commands::execute`] writes for every operation a front end other
//! than the console or the command line runs (REST, MCP), so that what an API client or an AI
//! assistant asked is on record whether it changed anything or not. `--verify` checks the log's
//! hash chain ([`crate::state::audit_chain`]) and `--export FILE` writes it with its hashes.

use chrono::Utc;
use serde::Serialize;

use crate::commands::history::parse_since;
use crate::commands::request::AuditRequest;
use crate::commands::workspace_state::state_db;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::state::audit_chain;
use crate::ui::{Item, OutputFormat, Table};

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
pub async fn run(ctx: &mut Ctx, args: &AuditRequest) -> Result<Report, CommandError> {
    ctx.workspace()?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()
        .map_err(|m| CommandError::user(m).hint("for example: /audit --since 2h"))?
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if args.verify {
        return verify(ctx).await;
    }
    if let Some(file) = &args.export {
        return export(ctx, args, since.as_deref(), file).await;
    }
    let db = state_db(ctx).await?;
    let rows = db.audit_since(since.as_deref()).await?;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .filter(|r| args.origin.as_deref().is_none_or(|o| r.origin == o))
        .filter(|r| args.actor.as_deref().is_none_or(|a| r.actor == a))
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
    if entries.is_empty() && !args.json && ctx.ui.format == OutputFormat::Table {
        let filtered = args.since.is_some() || args.origin.is_some() || args.actor.is_some();
        items.push(Item::Status(if filtered {
            "No audit entries match.".into()
        } else {
            "The audit log has no entries yet.".into()
        }));
    }
    let value = serde_json::json!({ "entries": entries });
    items.push(Item::Data { value, table });
    Ok(items)
}

/// `/audit --verify`: checks the whole log's chain; fails (exit 1) naming the first entry
/// edited or removed.
async fn verify(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let db = state_db(ctx).await?;
    let rows = db.audit_chain().await?;
    let verdict = audit_chain::verify(&rows);
    let older = if verdict.unchained > 0 {
        format!(
            "; {} older entries were written before the chain existed and are not covered",
            verdict.unchained
        )
    } else {
        String::new()
    };
    if let Some(broken) = &verdict.broken {
        return Err(CommandError::user(format!("{broken}{older}")).hint(format!(
            "the audit log in {} was changed outside proxmox-mpc at entry {}; compare it with an earlier /audit --export, and keep the database from writers other than proxmox-mpc",
            db.path().display(),
            broken.id()
        )));
    }
    let head = verdict.head.clone().unwrap_or_default();
    let value = serde_json::json!({
        "verified": true,
        "chained": verdict.chained,
        "unchained": verdict.unchained,
        "head": verdict.head,
    });
    let mut table = Table::new(&["chained", "unchained", "head"]);
    table.row(vec![
        verdict.chained.to_string(),
        verdict.unchained.to_string(),
        head.clone(),
    ]);
    let mut items = Vec::new();
    if ctx.ui.format == OutputFormat::Table {
        items.push(Item::Status(format!(
            "The audit log's chain is intact: {} {}{older}.{}",
            verdict.chained,
            if verdict.chained == 1 { "entry" } else { "entries" },
            if head.is_empty() {
                String::new()
            } else {
                format!(" Its newest hash is {head} (keep it elsewhere to notice a removed newest entry).")
            }
        )));
    }
    items.push(Item::Data { value, table });
    Ok(items)
}

/// `/audit --export FILE`: the entries (filtered like the list) with their hashes, one JSON
/// object a line, written atomically. Only from the console or the command line: a remote
/// client could otherwise write a file anywhere the server may.
async fn export(
    ctx: &mut Ctx,
    args: &AuditRequest,
    since: Option<&str>,
    file: &std::path::Path,
) -> Result<Report, CommandError> {
    if !matches!(ctx.origin.as_str(), "console" | "cli") {
        return Err(CommandError::forbidden(format!(
            "/audit --export writes a file, which the {} front end may not ask for",
            ctx.origin
        ))
        .hint("run `proxmox-mpc audit --export FILE` on the workspace's machine, or read /audit --json"));
    }
    let path = ctx.resolve_path(file);
    if path.is_dir() {
        return Err(
            CommandError::user(format!("{} is a folder", path.display()))
                .hint("name a file, e.g. /audit --export audit.jsonl"),
        );
    }
    let db = state_db(ctx).await?;
    let rows: Vec<_> = db
        .audit_chain()
        .await?
        .into_iter()
        .filter(|r| since.is_none_or(|s| r.at.as_str() >= s))
        .filter(|r| args.origin.as_deref().is_none_or(|o| r.origin == o))
        .filter(|r| args.actor.as_deref().is_none_or(|a| r.actor == a))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let line = serde_json::to_string(row)
            .map_err(|e| CommandError::internal(format!("cannot write an audit entry: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    crate::workspace::write_atomic(&path, text.as_bytes(), 0o600).map_err(|e| {
        CommandError::user(format!("cannot write {}: {e}", path.display()))
            .hint("check that the folder exists and is writable; nothing was written")
    })?;
    let value = serde_json::json!({ "file": path.display().to_string(), "entries": rows.len() });
    let mut table = Table::new(&["file", "entries"]);
    table.row(vec![path.display().to_string(), rows.len().to_string()]);
    let mut items = Vec::new();
    if ctx.ui.format == OutputFormat::Table {
        items.push(Item::Status(format!(
            "Wrote {} audit {} with their hashes to {}.",
            rows.len(),
            if rows.len() == 1 { "entry" } else { "entries" },
            path.display()
        )));
    }
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
