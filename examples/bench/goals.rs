//! The goals of BENCHMARKS.md, judged on one run's rows: each goal says met, not met, or not
//! measured in this run (a `--quick` or `--only` run leaves the large sizes out).

use std::time::Duration;

use crate::Row;
use crate::measure;

/// What one goal needs from the rows: the value measured (as text) and whether it is met, or
/// `None` when the rows it needs are not in this run.
type Judge = fn(&[Row]) -> Option<(String, bool)>;

const GOALS: &[(&str, Judge)] = &[
    ("IaC generation of 10,000 guests < 1 s", gen_10k),
    (
        "`/plan --offline` at 10,000 guests < 0.5 s",
        offline_plan_10k,
    ),
    (
        "peak RSS of `/sync` at 10,000 guests < 150 MB",
        sync_rss_10k,
    ),
    (
        "peak RSS of `/plan` at 10,000 guests < 150 MB",
        plan_rss_10k,
    ),
    (
        "peak RSS at 20,000 guests < 1.5x that at 10,000 (`/sync`, `/plan`)",
        rss_growth,
    ),
    (
        "`/apply` of 100 creates at parallelism 8 <= 1.3x the ideal",
        apply_ratio,
    ),
    (
        "`/sync` at 10,000 guests, 2 ms latency, <= 1.15x the request limit",
        sync_ratio_10k,
    ),
    (
        "`/sync` >= 20x faster than the Ansible inventory (want_facts), 1,000 guests",
        vs_ansible,
    ),
];

/// The goals table, in Markdown.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from("\n| goal | measured | met |\n|---|---|---|\n");
    for (goal, judge) in GOALS {
        let (measured, met) = match judge(rows) {
            Some((measured, true)) => (measured, "met"),
            Some((measured, false)) => (measured, "not met"),
            None => ("-".to_string(), "not measured in this run"),
        };
        out.push_str(&format!("| {goal} | {measured} | {met} |\n"));
    }
    out
}

fn median(row: &Row) -> Option<Duration> {
    (!row.walls.is_empty()).then(|| measure::spread(&row.walls).0)
}

fn find<'a>(rows: &'a [Row], scenario: &str, size: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.scenario.starts_with(scenario) && r.size.starts_with(size))
        .collect()
}

fn mb(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn gen_10k(rows: &[Row]) -> Option<(String, bool)> {
    let row = find(rows, "IaC generation", "10000 guests").pop()?;
    let m = median(row)?;
    // The disk's own part, measured on the same files in the same run, beside the total.
    let measured = match find(rows, "the disk alone", "10000 guests")
        .pop()
        .and_then(median)
    {
        Some(disk) => format!(
            "{} (of which the disk alone, nothing rendered: {})",
            measure::fmt(m),
            measure::fmt(disk)
        ),
        None => measure::fmt(m),
    };
    Some((measured, m < Duration::from_secs(1)))
}

fn offline_plan_10k(rows: &[Row]) -> Option<(String, bool)> {
    let row = find(rows, "`/plan --offline`", "10000 guests").pop()?;
    let m = median(row)?;
    Some((measure::fmt(m), m < Duration::from_millis(500)))
}

fn peak(rows: &[&Row]) -> Option<i64> {
    rows.iter().filter_map(|r| r.rss_kib).max()
}

fn sync_rss_10k(rows: &[Row]) -> Option<(String, bool)> {
    let kib = peak(&find(rows, "`/sync` (first", "10000 guests"))?;
    Some((format!("{:.0} MB", mb(kib)), mb(kib) < 150.0))
}

fn plan_rss_10k(rows: &[Row]) -> Option<(String, bool)> {
    let kib = peak(&find(rows, "`/plan", "10000 guests"))?;
    Some((format!("{:.0} MB", mb(kib)), mb(kib) < 150.0))
}

fn rss_growth(rows: &[Row]) -> Option<(String, bool)> {
    let mut parts = Vec::new();
    let mut met = true;
    for (what, scenario) in [("/sync", "`/sync` (first"), ("/plan", "`/plan")] {
        let at_10k = peak(&find(rows, scenario, "10000 guests"))?;
        let at_20k = peak(&find(rows, scenario, "20000 guests"))?;
        let growth = at_20k as f64 / at_10k as f64;
        met &= growth < 1.5;
        parts.push(format!("{what} {growth:.2}x"));
    }
    Some((parts.join(", "), met))
}

fn ratio(row: &Row) -> Option<f64> {
    let limit = row.limit.filter(|l| !l.is_zero())?;
    Some(median(row)?.as_secs_f64() / limit.as_secs_f64())
}

fn apply_ratio(rows: &[Row]) -> Option<(String, bool)> {
    let row = find(rows, "`/apply`, parallelism 8", "100 creates").pop()?;
    let r = ratio(row)?;
    Some((format!("{r:.2}x"), r <= 1.3))
}

fn sync_ratio_10k(rows: &[Row]) -> Option<(String, bool)> {
    let row = find(rows, "`/sync` (first", "10000 guests / 20 nodes, 2 ms").pop()?;
    let r = ratio(row)?;
    Some((format!("{r:.2}x"), r <= 1.15))
}

fn vs_ansible(rows: &[Row]) -> Option<(String, bool)> {
    let ours = median(find(rows, "`/sync` (first", "1000 guests / 10 nodes, 2 ms").pop()?)?;
    let ansible = median(find(rows, "peer: Ansible inventory", "1000 guests").pop()?)?;
    let times = ansible.as_secs_f64() / ours.as_secs_f64();
    Some((format!("{times:.1}x"), times >= 20.0))
}
