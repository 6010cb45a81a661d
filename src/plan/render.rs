//! Showing a plan: text like `terraform plan` (`+ ~ - -/+`, field-level old -> new, the
//! summary line), a stable JSON document (`format_version` 1), and a unified diff of PVE config
//! keys for `/diff`. Pure functions returning strings and values; the caller prints.

use serde_json::{Value, json};

use super::{Action, Change, Plan};

/// The JSON format's version; bump only on an incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

fn quoted(value: &str) -> String {
    format!("{value:?}")
}

fn verb(change: &Change) -> &'static str {
    match change.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::NoOp => "has no changes",
    }
}

/// Returns the summary line: "Plan: 2 to add, 1 to change, 0 to destroy." or "No changes.".
pub fn summary_line(plan: &Plan) -> String {
    if plan.is_empty() {
        return "No changes. The cluster matches the files.".to_string();
    }
    let c = plan.counts();
    format!(
        "Plan: {} to add, {} to change, {} to destroy.",
        c.add, c.change, c.destroy
    )
}

/// Renders the plan like `terraform plan`.
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str(&summary_line(plan));
        out.push('\n');
        for note in &plan.notes {
            out.push_str(&format!("Note: {note}\n"));
        }
        return out;
    }
    out.push_str("proxmox-mpc will perform the following actions:\n\n");
    for change in plan.actionable() {
        out.push_str(&format!("  # {} {}", change.address(), verb(change)));
        if let Some(reason) = &change.reason {
            out.push_str(&format!(" ({reason})"));
        }
        out.push('\n');
        let symbol = change.action.symbol();
        out.push_str(&format!(
            "{symbol:>3} {} \"{}\" {{\n",
            change.resource.as_str(),
            change.name
        ));
        let width = change.fields.iter().map(|f| f.key.len()).max().unwrap_or(0);
        for f in &change.fields {
            let (mark, text) = match (&f.old, &f.new) {
                (None, Some(new)) => ("+", quoted(new)),
                (Some(old), None) => ("-", format!("{} -> null", quoted(old))),
                (Some(old), Some(new)) => ("~", format!("{} -> {}", quoted(old), quoted(new))),
                (None, None) => continue,
            };
            let mark = if change.action == Action::Delete {
                "-"
            } else {
                mark
            };
            out.push_str(&format!(
                "      {mark} {:<width$} = {text}\n",
                f.key,
                width = width
            ));
        }
        for r in &change.refused {
            out.push_str(&format!("      ! refused: {r}\n"));
        }
        out.push_str("    }\n\n");
    }
    for note in &plan.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

/// Returns the stable machine format of a plan (`--json`).
pub fn to_json(plan: &Plan) -> Value {
    let counts = plan.counts();
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "action": c.action,
                "resource": c.resource,
                "name": c.name,
                "vmid": c.vmid,
                "node": c.node,
                "fields": c.fields.iter().map(|f| json!({"key": f.key, "old": f.old, "new": f.new})).collect::<Vec<_>>(),
                "resizes": c.resizes.iter().map(|r| json!({"slot": r.slot, "from_bytes": r.from_bytes, "to_bytes": r.to_bytes})).collect::<Vec<_>>(),
                "reason": c.reason,
                "refused": c.refused,
                "depends_on": c.depends_on,
            })
        })
        .collect();
    json!({
        "format_version": JSON_FORMAT_VERSION,
        "based_on_serial": plan.based_on_serial,
        "files_hash": plan.files_hash,
        "summary": {"add": counts.add, "change": counts.change, "destroy": counts.destroy},
        "changes": changes,
        "notes": plan.notes,
    })
}

/// Renders the plan as a unified diff of PVE config keys (`key: value` lines, as in the
/// guest's `.conf` file); pseudo fields (`node`, `pool`, `state`) appear as `# key: value`.
pub fn render_unified(plan: &Plan) -> String {
    let mut out = String::new();
    for change in plan.actionable() {
        let file = match change.vmid {
            Some(v) => format!("{}/{v}.conf", change.resource.as_str()),
            None => format!("{}/{}.conf", change.resource.as_str(), change.name),
        };
        let old_name = if change.action == Action::Create {
            "/dev/null".to_string()
        } else {
            format!("a/{file}")
        };
        let new_name = if change.action == Action::Delete {
            "/dev/null".to_string()
        } else {
            format!("b/{file}")
        };
        out.push_str(&format!("--- {old_name}\n+++ {new_name}\n"));
        let removed: Vec<String> = change
            .fields
            .iter()
            .filter_map(|f| f.old.as_ref().map(|o| line(&f.key, o)))
            .collect();
        let added: Vec<String> = change
            .fields
            .iter()
            .filter_map(|f| f.new.as_ref().map(|n| line(&f.key, n)))
            .collect();
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@ {}\n",
            usize::from(!removed.is_empty()),
            removed.len(),
            usize::from(!added.is_empty()),
            added.len(),
            change.address()
        ));
        for l in removed {
            out.push_str(&format!("-{l}\n"));
        }
        for l in added {
            out.push_str(&format!("+{l}\n"));
        }
    }
    out
}

fn line(key: &str, value: &str) -> String {
    if matches!(key, "node" | "pool" | "state" | "poolid") || key.ends_with(" size") {
        format!("# {key}: {value}")
    } else {
        format!("{key}: {value}")
    }
}
