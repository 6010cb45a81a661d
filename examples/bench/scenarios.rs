//! The scenarios of issue 9, each against its own simulator process: start-up, /sync, /plan,
//! IaC generation alone, /apply and /test. Each timed run is one `proxmox-mpc` process (a
//! one-shot subcommand or the piped console); the workspace it needs (init, sync, files) is
//! prepared untimed, and the API requests are the simulator's counter before and after.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use proxmox_mpc::iac::Templates;
use proxmox_mpc::iac::sync::{SyncOptions, sync_workspace};
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode, params};
use proxmox_mpc::ui::Ui;

use crate::measure::{self, Run};
use crate::simproc::{SimProc, SimSpec};
use crate::{Options, Row, peers};

/// The environment variable our binary reads the token secret from (never a file or argv).
const SECRET_VAR: &str = "PMPC_BENCH_SECRET";
/// Server capacity (concurrent requests) of every simulator; pveproxy's default is 3 workers.
pub const CAPACITY: usize = 4;

/// Runs every scenario the options select and returns the table rows.
pub fn run_all(opts: &Options, ui: &Ui) -> Result<Vec<Row>, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let mut rows = Vec::new();
    if opts.wants("startup") {
        startup(opts, ui, &mut rows)?;
    }
    if opts.wants("sync") || opts.wants("peers") {
        let sizes: Vec<SimSpec> = if opts.quick {
            vec![
                SimSpec::homelab(0, CAPACITY),
                SimSpec::homelab(2, CAPACITY),
                SimSpec::generated(1000, 10, 2, CAPACITY),
            ]
        } else {
            let mut v = Vec::new();
            for latency in [0, 2] {
                v.push(SimSpec::homelab(latency, CAPACITY));
                v.push(SimSpec::generated(1000, 10, latency, CAPACITY));
                v.push(SimSpec::generated(10000, 20, latency, CAPACITY));
            }
            // How time and memory grow past 10,000 (the goal: memory flat per guest).
            v.push(SimSpec::generated(20000, 20, 0, CAPACITY));
            v
        };
        for spec in sizes {
            // the peers are slow: at most 1,000 guests (quick: only on the homelab)
            let with_peers = opts.wants("peers")
                && spec.latency_ms == 2
                && if opts.quick {
                    spec.guests == 0
                } else {
                    spec.guests == 1000
                };
            if !opts.wants("sync") && !with_peers {
                continue;
            }
            sync(opts, ui, &runtime, spec, with_peers, &mut rows)?;
        }
    }
    if opts.wants("plan") || opts.wants("gen") {
        let sizes: &[(usize, usize)] = if opts.quick {
            &[(300, 3)]
        } else {
            &[(1000, 10), (10000, 20), (20000, 20)]
        };
        for &(guests, nodes) in sizes {
            plan(
                opts,
                ui,
                &runtime,
                SimSpec::generated(guests, nodes, 0, CAPACITY),
                &mut rows,
            )?;
        }
    }
    if opts.wants("apply") {
        apply(opts, ui, &mut rows)?;
    }
    if opts.wants("test") {
        let sizes: &[(usize, usize)] = if opts.quick {
            &[(100, 3)]
        } else {
            &[(100, 3), (1000, 10)]
        };
        for &(guests, nodes) in sizes {
            infratest(
                opts,
                ui,
                SimSpec::generated(guests, nodes, 2, CAPACITY),
                &mut rows,
            )?;
        }
    }
    Ok(rows)
}

/// `proxmox-mpc` in `dir` with a clean environment: the token secret only in [`SECRET_VAR`].
fn mpc(opts: &Options, dir: &Path, sim: &SimProc) -> Command {
    let mut cmd = Command::new(&opts.bin);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .env(SECRET_VAR, &sim.secret);
    cmd
}

/// Runs an untimed preparation step; a failure stops the benchmark with its output.
fn must(run: Run, what: &str) -> Result<Run, String> {
    if run.ok() {
        Ok(run)
    } else {
        Err(format!(
            "{what} failed (exit {}):\n{}{}",
            run.exit_code, run.stdout, run.stderr
        ))
    }
}

/// A fresh workspace connected to `sim` (certificate pinned).
fn workspace(opts: &Options, sim: &SimProc) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp folder: {e}"))?;
    let mut cmd = mpc(opts, dir.path(), sim);
    cmd.args(["init", "--endpoint", &sim.url, "--token-id", &sim.token_id])
        .args([
            "--secret-env",
            SECRET_VAR,
            "--fingerprint",
            &sim.fingerprint,
        ])
        .arg("--yes");
    must(measure::run(cmd, None, dir.path())?, "proxmox-mpc init")?;
    Ok(dir)
}

/// Runs `args` in `dir`, counting the simulator's requests around it.
fn timed(
    opts: &Options,
    sim: &mut SimProc,
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<(Run, u64), String> {
    let before = sim.count()?;
    let mut cmd = mpc(opts, dir, sim);
    cmd.args(args);
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a temp folder: {e}"))?;
    settle_disk();
    let run = measure::run(cmd, stdin, scratch.path())?;
    let after = sim.count()?;
    Ok((run, after - before))
}

/// Flushes what earlier runs wrote before a timed run starts: a 10,000-guest workspace still
/// being written back to disk otherwise lands in the next run's own fsyncs (SQLite, git),
/// which made a 29-guest sync measured right after one three times slower.
fn settle_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

fn startup(opts: &Options, ui: &Ui, rows: &mut Vec<Row>) -> Result<(), String> {
    ui.status("startup: --version and console start to prompt (piped /exit)");
    let mut sim = SimProc::start(SimSpec::homelab(0, CAPACITY))?;
    let reps = opts.reps * 2;
    let dir = workspace(opts, &sim)?;
    let mut version = Row::new("`proxmox-mpc --version`", "-");
    let mut prompt = Row::new("console start to prompt (piped `/exit`)", "workspace");
    for _ in 0..reps {
        let (run, requests) = timed(opts, &mut sim, dir.path(), &["--version"], None)?;
        let run = must(run, "proxmox-mpc --version")?;
        version.add(&run, Some(requests));
        let (run, requests) = timed(opts, &mut sim, dir.path(), &[], Some("/exit\n"))?;
        let run = must(run, "piped /exit")?;
        prompt.add(&run, Some(requests));
    }
    version.note = "goal < 5 ms".into();
    prompt.note = "goal < 20 ms".into();
    rows.push(version);
    rows.push(prompt);
    Ok(())
}

/// A client of our library for measurements made in this process.
fn client(sim: &SimProc, concurrency: usize) -> Result<Client, String> {
    let mut config = ClientConfig::new(
        sim.url.clone(),
        Auth::Token {
            id: sim.token_id.clone(),
            secret: Secret::new(sim.secret.clone()),
        },
        TlsMode::Pinned(sim.fingerprint.clone()),
    );
    config.max_concurrency = concurrency;
    Client::new(config).map_err(|e| format!("client: {e}"))
}

/// Latency + service time of one request: the mean of 200 sequential GETs of a guest config
/// (one client, one connection, nothing else running).
fn request_time(runtime: &tokio::runtime::Runtime, sim: &SimProc) -> Result<Duration, String> {
    let client = client(sim, 1)?;
    runtime.block_on(async {
        let resources: serde_json::Value = client
            .get("/cluster/resources", params([("type", "vm")]))
            .await
            .map_err(|e| format!("calibration: {e}"))?;
        let first = &resources[0];
        let path = format!(
            "/nodes/{}/{}/{}/config",
            first["node"].as_str().unwrap_or("pve1"),
            first["type"].as_str().unwrap_or("qemu"),
            first["vmid"].as_u64().unwrap_or(100)
        );
        // warm the connection first
        let _: serde_json::Value = client
            .get(&path, Vec::new())
            .await
            .map_err(|e| format!("calibration: {e}"))?;
        let n = 200;
        let started = Instant::now();
        for _ in 0..n {
            let _: serde_json::Value = client
                .get(&path, Vec::new())
                .await
                .map_err(|e| format!("calibration: {e}"))?;
        }
        Ok(started.elapsed() / n)
    })
}

fn sync(
    opts: &Options,
    ui: &Ui,
    runtime: &tokio::runtime::Runtime,
    spec: SimSpec,
    with_peers: bool,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let mut sim = SimProc::start(spec)?;
    let size = format!(
        "{}, {} ms, capacity {}",
        sim.label(),
        spec.latency_ms,
        spec.capacity
    );
    ui.status(&format!("sync: {size}"));
    let per_request = request_time(runtime, &sim)?;
    let nodes = spec.nodes as u64;
    let guests = sim.guests as u64;
    // least requests: one config per guest, the cluster-wide lists, a little per node
    let needed = guests + nodes + 1;
    let limit = per_request * needed as u32 / spec.capacity as u32;
    let budget = guests + 3 * nodes + 5;
    let mut row = Row::new("`/sync` (first, empty workspace)", &size);
    row.limit = Some(limit);
    // the 10,000-guest runs take the longest: fewer of them
    let reps = if sim.guests >= 10000 {
        opts.reps.min(2)
    } else {
        opts.reps
    };
    for _ in 0..reps {
        let dir = workspace(opts, &sim)?;
        let (run, requests) = timed(opts, &mut sim, dir.path(), &["sync"], None)?;
        let run = must(run, "proxmox-mpc sync")?;
        row.add(&run, Some(requests));
    }
    let requests = row.requests.unwrap_or(0);
    row.note = format!(
        "requests {} budget {budget} (guests + 3 x nodes + 5); limit = {needed} req / {} x {:.2} ms",
        if requests <= budget { "within" } else { "OVER" },
        spec.capacity,
        per_request.as_secs_f64() * 1000.0
    );
    let ours = measure::spread(&row.walls).0;
    rows.push(row);
    if with_peers {
        peers::run(opts, ui, &mut sim, &size, ours, rows)?;
    }
    Ok(())
}

fn plan(
    opts: &Options,
    ui: &Ui,
    runtime: &tokio::runtime::Runtime,
    spec: SimSpec,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let mut sim = SimProc::start(spec)?;
    let size = format!("{}, {} ms", sim.label(), spec.latency_ms);
    ui.status(&format!("plan and generation: {size}"));
    let reps = if sim.guests >= 10000 {
        opts.reps.min(2)
    } else {
        opts.reps
    };
    if opts.wants("plan") {
        let dir = workspace(opts, &sim)?;
        let (run, _) = timed(opts, &mut sim, dir.path(), &["sync"], None)?;
        must(run, "proxmox-mpc sync")?;
        let expect = |run: Run, code: i32, what: &str| -> Result<Run, String> {
            if run.exit_code == code {
                Ok(run)
            } else {
                Err(format!(
                    "{what}: expected exit {code}, got {}:\n{}",
                    run.exit_code, run.stderr
                ))
            }
        };
        let mut live = Row::new("`/plan`, no changes (reads the cluster)", &size);
        let mut offline = Row::new(
            "`/plan --offline`, no changes (cluster already read)",
            &size,
        );
        for _ in 0..reps {
            let (run, requests) = timed(
                opts,
                &mut sim,
                dir.path(),
                &["plan", "--detailed-exitcode"],
                None,
            )?;
            live.add(&expect(run, 0, "plan with no changes")?, Some(requests));
            let (run, requests) = timed(
                opts,
                &mut sim,
                dir.path(),
                &["plan", "--offline", "--detailed-exitcode"],
                None,
            )?;
            offline.add(&expect(run, 0, "offline plan")?, Some(requests));
        }
        offline.note = "goal < 0.5 s at 10,000 guests".into();
        let changed = sim.drift(sim.guests / 100)?;
        let mut drifted = Row::new(
            &format!("`/plan`, 1% changed ({changed} guests' memory changed on the server)"),
            &size,
        );
        for _ in 0..reps {
            let (run, requests) = timed(
                opts,
                &mut sim,
                dir.path(),
                &["plan", "--detailed-exitcode"],
                None,
            )?;
            drifted.add(&expect(run, 2, "plan with 1% changed")?, Some(requests));
        }
        drifted.note = "exit 2 (changes) checked".into();
        rows.extend([live, offline, drifted]);
    }
    if opts.wants("gen") {
        rows.extend(generation(runtime, &sim, reps, &size)?);
    }
    Ok(())
}

/// IaC generation alone, in this process: the cluster is read once (untimed), then every
/// file is rendered and written into a fresh folder.
fn generation(
    runtime: &tokio::runtime::Runtime,
    sim: &SimProc,
    reps: usize,
    size: &str,
) -> Result<Vec<Row>, String> {
    let client = client(sim, 8)?;
    let (snapshot, configs) = runtime.block_on(async {
        let discovery = client
            .discover_detailed(|_, _| {})
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        let configs = proxmox_mpc::commands::sync::storage_configs(&client)
            .await
            .map_err(|e| format!("storage: {e}"))?;
        Ok::<_, String>((discovery.snapshot, configs))
    })?;
    let templates = Templates::builtin().map_err(|e| format!("templates: {e}"))?;
    let mut row = Row::new(
        "IaC generation alone (render + write every file, in-process)",
        size,
    );
    let mut floor = Row::new(
        "the disk alone: the same files written, nothing rendered (in-process)",
        size,
    );
    for _ in 0..reps {
        let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
        settle_disk();
        let started = Instant::now();
        let report = sync_workspace(
            dir.path(),
            &templates,
            &snapshot,
            &configs,
            SyncOptions::default(),
        )
        .map_err(|e| format!("generation: {e}"))?;
        row.walls.push(started.elapsed());
        row.note = format!(
            "{} guests, {} files written; goal < 1 s at 10,000",
            snapshot.guests.len(),
            report.written.len()
        );
        floor.walls.push(write_alone(dir.path(), &report.written)?);
        floor.note = format!(
            "what this machine's disk needs for the {} files (each through a temporary file and a rename, on every core): the part of the row above that is not ours",
            report.written.len()
        );
    }
    Ok(vec![row, floor])
}

/// Writes the files `generated` (relative paths) of the workspace at `from` again into a fresh
/// folder of the same temp filesystem, as generation writes them (a temporary file and a rename
/// each, on every core) but with their bytes already at hand; returns the time it took.
fn write_alone(from: &Path, generated: &[String]) -> Result<Duration, String> {
    use rayon::prelude::*;
    let files: Vec<(&String, Vec<u8>)> = generated
        .iter()
        .map(|rel| std::fs::read(from.join(rel)).map(|bytes| (rel, bytes)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading a generated file: {e}"))?;
    let to = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
    let folders: std::collections::BTreeSet<_> = files
        .iter()
        .filter_map(|(rel, _)| to.path().join(rel).parent().map(Path::to_path_buf))
        .collect();
    settle_disk();
    let started = Instant::now();
    for folder in &folders {
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    }
    files
        .par_iter()
        .try_for_each(|(rel, bytes)| {
            let path = to.path().join(rel);
            let tmp = path.with_extension("tmp-bench");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .map_err(|e| format!("writing: {e}"))?;
    Ok(started.elapsed())
}

fn apply(opts: &Options, ui: &Ui, rows: &mut Vec<Row>) -> Result<(), String> {
    let (creates, task_ms): (usize, u64) = if opts.quick { (20, 100) } else { (100, 200) };
    for parallelism in [1usize, 8] {
        let spec = SimSpec {
            task_ms,
            ..SimSpec::homelab(0, CAPACITY)
        };
        let size = format!("{creates} creates, task {task_ms} ms, homelab");
        ui.status(&format!("apply: {size}, parallelism {parallelism}"));
        let mut row = Row::new(&format!("`/apply`, parallelism {parallelism}"), &size);
        let slots = creates.div_ceil(parallelism) as u32;
        row.limit = Some(Duration::from_millis(task_ms) * slots);
        // one serial apply of 100 tasks takes 20 s or more: one run is enough
        let reps = if parallelism == 1 { 1 } else { opts.reps };
        for _ in 0..reps {
            let mut sim = SimProc::start(spec)?;
            let dir = workspace(opts, &sim)?;
            let (run, _) = timed(opts, &mut sim, dir.path(), &["sync"], None)?;
            must(run, "proxmox-mpc sync")?;
            let lines: String = (0..creates)
                .map(|i| {
                    format!(
                        "create vm --name bench-{i:03} --node pve{} --cores 1 --memory 256M --disk 1G\n",
                        i % 3 + 1
                    )
                })
                .collect();
            let (run, _) = timed(opts, &mut sim, dir.path(), &[], Some(&lines))?;
            must(run, "create vm lines")?;
            let p = parallelism.to_string();
            let (run, requests) = timed(
                opts,
                &mut sim,
                dir.path(),
                &["apply", "--yes", "--parallelism", &p],
                None,
            )?;
            let run = must(run, "proxmox-mpc apply")?;
            let done = format!("Apply complete: {creates} added");
            if !run.stderr.contains(&done) {
                return Err(format!("apply did not report '{done}':\n{}", run.stderr));
            }
            row.add(&run, Some(requests));
        }
        row.note = format!(
            "limit = ceil({creates} / {parallelism}) x {task_ms} ms; includes the plan it makes"
        );
        rows.push(row);
    }
    Ok(())
}

fn infratest(opts: &Options, ui: &Ui, spec: SimSpec, rows: &mut Vec<Row>) -> Result<(), String> {
    let mut sim = SimProc::start(spec)?;
    let size = format!("{}, {} ms", sim.label(), spec.latency_ms);
    ui.status(&format!("test: {size}"));
    let dir = workspace(opts, &sim)?;
    let (run, _) = timed(opts, &mut sim, dir.path(), &["sync"], None)?;
    must(run, "proxmox-mpc sync")?;
    let mut row = Row::new("`/test` (generated specs + workspace checks)", &size);
    for _ in 0..opts.reps {
        let (run, requests) = timed(opts, &mut sim, dir.path(), &["test"], None)?;
        let run = must(run, "proxmox-mpc test")?;
        row.note = run
            .stdout
            .lines()
            .chain(run.stderr.lines())
            .rfind(|l| l.contains(" passed"))
            .unwrap_or("")
            .trim()
            .to_string();
        row.add(&run, Some(requests));
    }
    rows.push(row);
    Ok(())
}
