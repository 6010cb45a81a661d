//! `/rightsize [--window day|week|month] [--apply-to-code]` and `/cost`: both read the cluster
//! (one snapshot) and, per running guest, its RRD rows (`GET /nodes/{node}/{qemu|lxc}/{vmid}/
//! rrddata`, `cf=AVERAGE` and `cf=MAX`); the arithmetic is [`crate::policy::rightsize`].
//! `--apply-to-code` writes the recommended sizes into the guests' files through the resource
//! command `set` (the same file editing and commit as a typed `set vm NAME --cores N`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::commands::workspace_state::{observe, state_db, workspace_client};
use crate::commands::{Ctx, Report, connect, resource};
use crate::error::CommandError;
use crate::lang::{self, Verb};
use crate::model::{ClusterSnapshot, GuestKind, GuestStatus};
use crate::policy::rightsize::{CostModel, Pricer, Rates, Recommendation, recommend, round2};
use crate::pve::{Client, params};
use crate::ui::{Item, Table};

/// What `/rightsize` was asked.
#[derive(Debug, Clone, Default)]
pub struct RightsizeArgs {
    pub window: Option<String>,
    pub apply_to_code: bool,
    pub machine: bool,
}

fn window_of(word: Option<&str>) -> Result<String, CommandError> {
    match word.unwrap_or("week") {
        w @ ("day" | "week" | "month") => Ok(w.to_string()),
        other => Err(
            CommandError::cli(format!("`--window {other}`: say day, week or month"))
                .hint("the window is how far back the usage data goes (PVE's RRD timeframe)"),
        ),
    }
}

async fn read_cluster(ctx: &mut Ctx) -> Result<(Client, ClusterSnapshot, String), CommandError> {
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let db = state_db(ctx).await?;
    let (client, endpoint) = workspace_client(ctx)?;
    let spinner = ctx.ui.spinner("Reading the cluster");
    let observed = observe(&client, &db, &environment).await;
    drop(spinner);
    let (snapshot, _) = observed?;
    Ok((client, snapshot, endpoint))
}

/// Every non-template guest's recommendations over `window`.
async fn recommendations(
    client: &Client,
    snapshot: &ClusterSnapshot,
    window: &str,
    endpoint: &str,
) -> Result<Vec<Recommendation>, CommandError> {
    let mut out = Vec::new();
    for g in snapshot.guests.iter().filter(|g| !g.template) {
        let (average, max) = if g.status == GuestStatus::Running {
            let path = format!("/nodes/{}/{}/{}/rrddata", g.node, g.kind.as_str(), g.vmid);
            let get = |cf: &'static str| {
                client.get::<Vec<Value>>(&path, params([("timeframe", window), ("cf", cf)]))
            };
            let average = get("AVERAGE")
                .await
                .map_err(|e| connect::pve_error(e, endpoint))?;
            let max = get("MAX")
                .await
                .map_err(|e| connect::pve_error(e, endpoint))?;
            (average, max)
        } else {
            (Vec::new(), Vec::new())
        };
        out.extend(recommend(g, window, &average, &max));
    }
    Ok(out)
}

fn rates(ctx: &mut Ctx) -> Result<Rates, CommandError> {
    Ok(CostModel::rates(ctx.config()?.cost.as_ref()))
}

/// Runs `/rightsize`.
pub async fn run(ctx: &mut Ctx, args: &RightsizeArgs) -> Result<Report, CommandError> {
    let window = window_of(args.window.as_deref())?;
    let (client, snapshot, endpoint) = read_cluster(ctx).await?;
    let recs = recommendations(&client, &snapshot, &window, &endpoint).await?;
    let rates = rates(ctx)?;
    let pricer = Pricer::new(&rates, &snapshot.guests);
    let mut table = Table::new(&[
        "guest",
        "resource",
        "action",
        "current",
        "recommended",
        "confidence",
        "saving/month",
        "why",
    ]);
    let mut entries = Vec::new();
    let mut total = 0.0;
    for r in &recs {
        let saving = pricer.saving(r);
        total += saving;
        if r.action != "keep" && r.action != "unknown" {
            table.row(vec![
                r.guest.clone(),
                r.resource.clone(),
                r.action.clone(),
                format!("{} {}", r.current, r.unit),
                format!("{} {}", r.recommended, r.unit),
                r.confidence.clone(),
                format!("{saving:.2}"),
                r.reason.clone(),
            ]);
        }
        let mut entry = serde_json::to_value(r).unwrap_or_default();
        entry["saving_per_month"] = json!(saving);
        entries.push(entry);
    }
    let mut items = vec![Item::Data {
        value: json!({
            "window": window,
            "recommendations": entries,
            "savings_per_month": round2(total),
            "currency": rates.currency,
        }),
        table,
    }];
    if args.apply_to_code {
        items.extend(apply_to_code(ctx, &recs).await?);
    } else if recs
        .iter()
        .any(|r| r.action == "shrink" || r.action == "grow")
    {
        items.push(Item::Hint(
            "/rightsize --apply-to-code writes these sizes into the files; /plan then shows the change".into(),
        ));
    }
    Ok(items)
}

/// One `set` flag: name and value.
type SetFlag = (String, Option<String>);

/// Writes each reliable shrink or grow into the guest's file with `set`.
async fn apply_to_code(ctx: &mut Ctx, recs: &[Recommendation]) -> Result<Report, CommandError> {
    let mut by_guest: BTreeMap<(String, String), Vec<SetFlag>> = BTreeMap::new();
    let mut items = Vec::new();
    for r in recs
        .iter()
        .filter(|r| r.action == "shrink" || r.action == "grow")
    {
        if !r.reliable {
            items.push(Item::Warning(format!(
                "{}: {} left as it is: {}",
                r.guest, r.resource, r.reason
            )));
            continue;
        }
        let flag = match r.resource.as_str() {
            "cpu" => ("cores".to_string(), Some(r.recommended.to_string())),
            _ => ("memory".to_string(), Some(r.recommended.to_string())),
        };
        let kind = if r.kind == GuestKind::Lxc.as_str() {
            "container"
        } else {
            "vm"
        };
        by_guest
            .entry((kind.to_string(), r.guest.clone()))
            .or_default()
            .push(flag);
    }
    for ((kind, guest), flags) in by_guest {
        let syntax = lang::syntax_of(Verb::Set, Some(kind), vec![guest.clone()], flags)?;
        match Box::pin(resource::run_syntax(ctx, syntax)).await {
            Ok(report) => items.extend(report),
            Err(e) => items.push(Item::Warning(format!(
                "{guest}: the recommended size was not written: {}",
                e.message
            ))),
        }
    }
    Ok(items)
}

/// Runs `/cost`.
pub async fn cost(ctx: &mut Ctx, _machine: bool) -> Result<Report, CommandError> {
    let (client, snapshot, endpoint) = read_cluster(ctx).await?;
    let rates = rates(ctx)?;
    let pricer = Pricer::new(&rates, &snapshot.guests);
    let guests: Vec<_> = snapshot.guests.iter().map(|g| pricer.price(g)).collect();
    let mut by_pool: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_tag: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_node: BTreeMap<String, f64> = BTreeMap::new();
    for c in &guests {
        *by_pool
            .entry(c.pool.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += c.total;
        *by_node.entry(c.node.clone()).or_default() += c.total;
        for t in &c.tags {
            *by_tag.entry(t.clone()).or_default() += c.total;
        }
    }
    let round = |m: BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        m.into_iter().map(|(k, v)| (k, round2(v))).collect()
    };
    let total = round2(guests.iter().map(|c| c.total).sum());
    let recs = recommendations(&client, &snapshot, "week", &endpoint).await?;
    let savings = round2(recs.iter().map(|r| pricer.saving(r)).sum());
    let mut table = Table::new(&["guest", "node", "pool", "compute", "disk", "total"]);
    for c in &guests {
        table.row(vec![
            c.guest.clone(),
            c.node.clone(),
            c.pool.clone().unwrap_or_default(),
            format!("{:.2}", c.compute),
            format!("{:.2}", c.disk),
            format!("{:.2}", c.total),
        ]);
    }
    let mut items = Vec::new();
    if rates.defaults {
        items.push(Item::Warning(format!(
            "config.yml has no `cost:` section; using the defaults: {:.2} per vCPU, {:.2} per GiB of memory, {:.2} per GiB of disk, per month ({})",
            rates.per_vcpu, rates.per_gib_memory, rates.per_gib_disk, rates.currency
        )));
    }
    items.push(Item::Data {
        value: json!({
            "currency": rates.currency,
            "rates": rates,
            "defaults": rates.defaults,
            "guests": guests,
            "by_pool": round(by_pool),
            "by_tag": round(by_tag),
            "by_node": round(by_node),
            "total_per_month": total,
            "rightsize_savings_per_month": savings,
        }),
        table,
    });
    items.push(Item::Status(format!(
        "{total:.2} {} per month; right-sizing (/rightsize, last week) would save {savings:.2}.",
        rates.currency
    )));
    Ok(items)
}
