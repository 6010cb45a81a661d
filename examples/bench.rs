//! The benchmark runner (issue 9): starts the simulator as a separate process per cluster size
//! and network model, runs each scenario several times against the release `proxmox-mpc`
//! binary, and prints one Markdown table (median, min/max, API requests, peak RSS of our
//! process, ratio to the theoretical limit where one exists), with the peers (the Ansible
//! inventory plugin, a plain proxmoxer script) measured on the same simulated cluster.
//!
//! Run through `scripts/bench [--quick]`. Flags: `--quick`, `--reps N`, `--only GROUP[,GROUP]`
//! (startup, sync, peers, plan, gen, apply, test), `--bin PATH`, `--venv PATH`.

#[path = "bench/goals.rs"]
mod goals;
#[path = "bench/measure.rs"]
mod measure;
#[path = "bench/peers.rs"]
mod peers;
#[path = "bench/scenarios.rs"]
mod scenarios;
#[path = "bench/simproc.rs"]
mod simproc;

use std::path::PathBuf;
use std::time::Duration;

use proxmox_mpc::ui::Ui;

/// The binary's allocator: the in-process generation row measures what `proxmox-mpc` does,
/// so it allocates as the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One line of the result table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub scenario: String,
    pub size: String,
    pub walls: Vec<Duration>,
    /// API requests of one run (the median over runs).
    pub requests: Option<u64>,
    /// Peak RSS of the measured process (largest over runs), KiB; the simulator's is never
    /// counted.
    pub rss_kib: Option<i64>,
    /// The least possible time, where one exists.
    pub limit: Option<Duration>,
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, size: &str) -> Self {
        Self {
            scenario: scenario.to_string(),
            size: size.to_string(),
            ..Self::default()
        }
    }

    /// Records one measured run of our binary.
    pub fn add(&mut self, run: &measure::Run, requests: Option<u64>) {
        self.walls.push(run.wall);
        if run.max_rss_kib > 0 {
            self.rss_kib = Some(self.rss_kib.unwrap_or(0).max(run.max_rss_kib));
        }
        if let Some(r) = requests {
            self.requests = Some(r);
        }
    }
}

/// Options of one benchmark run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub reps: usize,
    pub only: Option<Vec<String>>,
    /// The `proxmox-mpc` binary measured.
    pub bin: PathBuf,
    pub venv: PathBuf,
}

impl Options {
    pub fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g == group))
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut opts = Options {
        quick: false,
        reps: 0,
        only: None,
        bin: root.join("target/release/proxmox-mpc"),
        venv: root.join(".venv"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--reps" => {
                opts.reps = value("--reps")?
                    .parse()
                    .map_err(|_| "--reps needs a whole number".to_string())?
            }
            "--only" => {
                opts.only = Some(
                    value("--only")?
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .collect(),
                )
            }
            "--bin" => opts.bin = PathBuf::from(value("--bin")?),
            "--venv" => opts.venv = PathBuf::from(value("--venv")?),
            other => {
                return Err(format!(
                    "unknown flag {other}; use --quick, --reps N, --only GROUP,..., --bin PATH, --venv PATH"
                ));
            }
        }
    }
    if opts.reps == 0 {
        opts.reps = if opts.quick { 2 } else { 3 };
    }
    // the commands run in temp folders: make the paths absolute
    opts.bin = std::path::absolute(&opts.bin).unwrap_or(opts.bin);
    opts.venv = std::path::absolute(&opts.venv).unwrap_or(opts.venv);
    if !opts.bin.is_file() {
        return Err(format!(
            "{} is not built; run `cargo build --release --bin proxmox-mpc` (scripts/bench does)",
            opts.bin.display()
        ));
    }
    Ok(opts)
}

fn main() {
    let ui = Ui::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve-sim") {
        if let Err(e) = simproc::serve(&args[1..], &ui) {
            ui.error(&e, &[]);
            std::process::exit(1);
        }
        return;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            ui.error(&e, &[]);
            std::process::exit(2);
        }
    };
    match scenarios::run_all(&opts, &ui) {
        Ok(rows) => ui.data(&format!("{}{}", render(&opts, &rows), goals::render(&rows))),
        Err(e) => {
            ui.error(&format!("benchmark stopped: {e}"), &[]);
            std::process::exit(1);
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown memory".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem} RAM")
}

fn render(opts: &Options, rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Machine: {}. Date: {}. Mode: {}, {} runs per scenario (fewer where noted).\n\n",
        machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if opts.quick { "--quick" } else { "full" },
        opts.reps
    ));
    out.push_str(
        "| scenario | size | median | min / max | API requests | peak RSS | limit | ratio | note |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let (median, min, max) = measure::spread(&row.walls);
        let timed = !row.walls.is_empty();
        let cell = |d: Duration| if timed { measure::fmt(d) } else { "-".into() };
        let ratio = match (row.limit, timed) {
            (Some(limit), true) if !limit.is_zero() => {
                format!("{:.2}x", median.as_secs_f64() / limit.as_secs_f64())
            }
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |\n",
            row.scenario,
            row.size,
            cell(median),
            cell(min),
            cell(max),
            row.requests.map_or("-".into(), |r| r.to_string()),
            row.rss_kib
                .map_or("-".into(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
            row.limit.map_or("-".into(), measure::fmt),
            ratio,
            row.note
        ));
    }
    out
}
