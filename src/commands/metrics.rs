//! `/metrics GUEST`: a guest's CPU, memory, network and disk over the last hour, day or week,
//! from PVE's round-robin database (`rrddata`, `cf=AVERAGE`). The dashboard draws the points;
//! the console prints each series' lowest, average and highest value. Reads only.

use serde_json::{Value, json};

use crate::commands::request::MetricsRequest;
use crate::commands::workspace_state::workspace_client;
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::lang::human_size;
use crate::pve::params;
use crate::ui::{Item, Table};

/// The timeframes PVE keeps that a dashboard shows.
pub const TIMEFRAMES: [&str; 3] = ["hour", "day", "week"];

/// The series every point carries, in the order they are shown.
const SERIES: [&str; 7] = [
    "cpu",
    "mem",
    "maxmem",
    "netin",
    "netout",
    "diskread",
    "diskwrite",
];

/// Runs `/metrics`.
pub async fn run(ctx: &mut Ctx, args: &MetricsRequest) -> Result<Report, CommandError> {
    let timeframe = args.timeframe.as_deref().unwrap_or("hour");
    if !TIMEFRAMES.contains(&timeframe) {
        return Err(
            CommandError::user(format!("`{timeframe}` is not a timeframe /metrics shows"))
                .hint("use --timeframe hour, day or week"),
        );
    }
    let (client, endpoint) = workspace_client(ctx)?;
    let resources: Vec<Value> = client
        .get("/cluster/resources", params([("type", "vm")]))
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    let found = resources
        .iter()
        .find(|r| {
            r["name"].as_str() == Some(args.guest.as_str())
                || r["vmid"].as_u64().map(|v| v.to_string()).as_deref() == Some(&args.guest)
        })
        .ok_or_else(|| {
            CommandError::user(format!("there is no guest `{}` on {endpoint}", args.guest))
                .hint("/list vms and /list containers name the guests")
        })?;
    let text = |k: &str| found[k].as_str().unwrap_or_default().to_string();
    let (name, node, kind) = (text("name"), text("node"), text("type"));
    let vmid = found["vmid"].as_u64().unwrap_or_default();
    let path = format!("/nodes/{node}/{kind}/{vmid}/rrddata");
    let rows: Vec<Value> = client
        .get(&path, params([("timeframe", timeframe), ("cf", "AVERAGE")]))
        .await
        .map_err(|e| connect::pve_error(e, &endpoint))?;
    // PVE leaves a field out of a step it has no sample for; such a step is kept (its time
    // still counts) with the field null.
    let points: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let mut point = json!({ "time": r["time"].as_u64()? });
            for s in SERIES {
                point[s] = r
                    .get(s)
                    .and_then(Value::as_f64)
                    .map_or(Value::Null, |v| json!(v));
            }
            Some(point)
        })
        .collect();
    let mut table = Table::new(&["SERIES", "LOWEST", "AVERAGE", "HIGHEST"]);
    for s in ["cpu", "mem", "netin", "netout", "diskread", "diskwrite"] {
        let values: Vec<f64> = points.iter().filter_map(|p| p[s].as_f64()).collect();
        if values.is_empty() {
            continue;
        }
        let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let average = values.iter().sum::<f64>() / values.len() as f64;
        let show = |v: f64| match s {
            "cpu" => format!("{:.1}%", v * 100.0),
            "mem" => human_size(v as u64),
            _ => format!("{:.1} KiB/s", v / 1024.0),
        };
        table.row(vec![s.into(), show(lowest), show(average), show(highest)]);
    }
    Ok(vec![
        Item::Status(format!(
            "{} ({}) on {}, the last {timeframe}: {} points",
            name,
            vmid,
            node,
            points.len()
        )),
        Item::Data {
            value: json!({
                "guest": name, "vmid": vmid, "node": node,
                "timeframe": timeframe, "points": points,
            }),
            table,
        },
    ])
}
