//! `/status`: the workspace, the endpoint, guests by state from the last sync, pending changes,
//! last sync and apply. Reads only the database unless `--live` asks the server.

use serde_json::json;

use crate::commands::connect;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::ui::{Item, Table};

/// Shows the status.
pub async fn run(ctx: &mut Ctx, live: bool) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let config = ctx.config()?.clone();
    let env = config.active_env().clone();
    let db = ctx.state().await?;
    let snapshot = db.latest_snapshot().await?;
    let pending = db.pending_plans().await?;
    let last_apply = db.last_apply().await?;

    let mut table = Table::default();
    let mut add = |k: &str, v: String| {
        table.row(vec![k.to_string(), v]);
    };
    add("workspace", root.display().to_string());
    add("environment", config.active.clone());
    add("endpoint", env.endpoint.clone());
    add("token", env.token_id.clone());
    let mut value = json!({
        "workspace": root,
        "environment": config.active,
        "endpoint": env.endpoint,
        "token_id": env.token_id,
        "pending_plans": pending,
        "last_apply": last_apply,
    });

    match &snapshot {
        Some(s) => {
            let summary = s.summary();
            let fmt_counts = |m: &std::collections::BTreeMap<String, u32>| {
                if m.is_empty() {
                    "none".to_string()
                } else {
                    m.iter()
                        .map(|(state, n)| format!("{n} {state}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            add("last sync", s.taken_at.clone());
            add(
                "nodes",
                format!(
                    "{} online, {} offline",
                    summary.nodes_online, summary.nodes_offline
                ),
            );
            add("vms", fmt_counts(&summary.vms));
            add("containers", fmt_counts(&summary.containers));
            value["last_sync"] = json!(s.taken_at);
            value["snapshot_serial"] = json!(s.serial);
            value["summary"] = serde_json::to_value(&summary).unwrap_or_default();
        }
        None => {
            add("last sync", "never".into());
            value["last_sync"] = serde_json::Value::Null;
        }
    }
    add(
        "pending changes",
        if pending == 0 {
            "none".into()
        } else {
            format!("{pending} unapplied plan(s)")
        },
    );
    add(
        "last apply",
        last_apply.clone().unwrap_or_else(|| "never".into()),
    );

    let mut items = Vec::new();
    if live {
        let client = ctx.client()?;
        let _spinner = ctx.ui.spinner(&format!("Asking {}", env.endpoint));
        let info = connect::probe(&client, &env.endpoint).await?;
        let online: Vec<&str> = info
            .nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect();
        let offline: Vec<&str> = info
            .nodes
            .iter()
            .filter(|n| !n.online)
            .map(|n| n.name.as_str())
            .collect();
        add("server", format!("Proxmox VE {} (answering)", info.version));
        add(
            "nodes now",
            format!(
                "{} online{}, {} offline{}",
                online.len(),
                list(&online),
                offline.len(),
                list(&offline)
            ),
        );
        value["live"] = json!({
            "version": info.version,
            "nodes_online": online,
            "nodes_offline": offline,
        });
    }
    items.push(Item::Data { value, table });
    if snapshot.is_none() {
        items.push(Item::Hint(
            "no sync yet: /sync imports the cluster; /status --live asks the server now".into(),
        ));
    }
    Ok(items)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}
