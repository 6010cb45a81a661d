//! The peers, on the same simulated cluster as our `/sync`: the Ansible
//! `community.proxmox.proxmox` inventory plugin with `want_facts: true`, and a plain proxmoxer
//! script reading every guest's config. Both come from the project's venv (`scripts/test`
//! makes it); the token secret reaches them only through their environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proxmox_mpc::ui::Ui;

use crate::measure::{self, Run};
use crate::simproc::SimProc;
use crate::{Options, Row};

/// The community.proxmox collection inside the venv (`lib/python3.X/site-packages/...`).
fn collection(venv: &Path) -> PathBuf {
    std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            e.path()
                .join("site-packages/ansible_collections/community/proxmox")
        })
        .find(|p| p.is_dir())
        .unwrap_or_default()
}

/// A venv tool with an environment that reaches only the simulator: no proxies, no
/// credentials from the caller, the simulator's certificate as the CA bundle.
fn tool(opts: &Options, program: &str, scratch: &Path, ca_file: &Path) -> Command {
    let bin = opts.venv.join("bin");
    let mut cmd = Command::new(bin.join(program));
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    cmd.env_clear()
        .env("PATH", std::env::join_paths(paths).unwrap_or_default())
        .env("HOME", scratch)
        .env("LANG", "C.UTF-8")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("REQUESTS_CA_BUNDLE", ca_file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(scratch);
    cmd
}

fn ansible(opts: &Options, sim: &SimProc, scratch: &Path, ca_file: &Path) -> Command {
    let mut cmd = tool(opts, "ansible-inventory", scratch, ca_file);
    let (user, token_name) = sim.token_id.split_once('!').unwrap_or(("root@pam", "mpc"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cmd.env(
        "ANSIBLE_CONFIG",
        repo.join("tests/python/ansible/ansible.cfg"),
    )
    .env("ANSIBLE_HOME", scratch.join("ansible-home"))
    .env("ANSIBLE_LOCAL_TEMP", scratch.join("ansible-tmp"))
    .env("ANSIBLE_NOCOLOR", "1")
    .env("ANSIBLE_PYTHON_INTERPRETER", opts.venv.join("bin/python"))
    .env("PROXMOX_URL", &sim.url)
    .env("PROXMOX_USER", user)
    .env("PROXMOX_TOKEN_ID", token_name)
    .env("PROXMOX_TOKEN_SECRET", &sim.secret)
    .args(["-i", "bench.proxmox.yml", "--list"]);
    cmd
}

/// Hosts in `ansible-inventory --list` output.
fn host_count(run: &Run) -> usize {
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .ok()
        .and_then(|v| v["_meta"]["hostvars"].as_object().map(|m| m.len()))
        .unwrap_or(0)
}

fn compare(peer: Duration, ours: Duration) -> String {
    if ours.is_zero() {
        return String::new();
    }
    format!(
        "our /sync is {:.1}x faster",
        peer.as_secs_f64() / ours.as_secs_f64()
    )
}

/// Measures the peers against `sim`; `ours` is our median `/sync` time on it.
pub fn run(
    opts: &Options,
    ui: &Ui,
    sim: &mut SimProc,
    size: &str,
    ours: Duration,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    if !opts.venv.join("bin/python").is_file() {
        let mut row = Row::new("peers (Ansible inventory, proxmoxer)", size);
        row.note = format!(
            "skipped: no Python venv at {} (scripts/test makes it)",
            opts.venv.display()
        );
        rows.push(row);
        return Ok(());
    }
    let scratch = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
    let ca_file = scratch.path().join("sim-ca.pem");
    std::fs::write(&ca_file, &sim.cert_pem).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let out = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
    let reps = opts.reps.min(if opts.quick { 1 } else { 2 });

    ui.status(&format!("peers: proxmoxer script, {size}"));
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/bench/read_all_configs.py");
    let mut row = Row::new("peer: proxmoxer script (every guest's config)", size);
    for _ in 0..reps {
        let mut cmd = tool(opts, "python", scratch.path(), &ca_file);
        cmd.arg(&script)
            .env("PMPC_SIM_URL", &sim.url)
            .env("PMPC_SIM_CA_FILE", &ca_file)
            .env("PMPC_SIM_TOKEN_ID", &sim.token_id)
            .env("PMPC_SIM_TOKEN_SECRET", &sim.secret);
        let before = sim.count()?;
        let run = measure::run(cmd, None, out.path())?;
        let requests = sim.count()? - before;
        if !run.ok() {
            return Err(format!("proxmoxer script failed:\n{}", run.stderr));
        }
        row.add(&run, Some(requests));
        let read: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_default();
        row.note = format!("{} configs read", read["configs"]);
    }
    let median = measure::spread(&row.walls).0;
    row.note = format!("{}; {}", row.note, compare(median, ours));
    rows.push(row);

    let plugin_source =
        std::fs::read_to_string(collection(&opts.venv).join("plugins/inventory/proxmox.py"))
            .unwrap_or_default();
    let version = std::fs::read_to_string(collection(&opts.venv).join("MANIFEST.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["collection_info"]["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let mut settings: Vec<(String, String)> = vec![("default".into(), String::new())];
    if plugin_source.contains("facts_concurrency") {
        for n in [4, 8, 16] {
            settings.push((
                format!("facts_concurrency {n}"),
                format!("facts_concurrency: {n}\n"),
            ));
        }
    }
    let mut best: Option<Row> = None;
    for (label, extra) in &settings {
        ui.status(&format!("peers: Ansible inventory ({label}), {size}"));
        std::fs::write(
            scratch.path().join("bench.proxmox.yml"),
            format!(
                "plugin: community.proxmox.proxmox\nvalidate_certs: true\nwant_facts: true\n{extra}"
            ),
        )
        .map_err(|e| format!("inventory file: {e}"))?;
        let mut row = Row::new(
            &format!("peer: Ansible inventory, community.proxmox {version}, want_facts, {label}"),
            size,
        );
        let runs = if extra.is_empty() { reps } else { 1 };
        for _ in 0..runs {
            let before = sim.count()?;
            let run = measure::run(
                ansible(opts, sim, scratch.path(), &ca_file),
                None,
                out.path(),
            )?;
            let requests = sim.count()? - before;
            if !run.ok() {
                return Err(format!("ansible-inventory failed:\n{}", run.stderr));
            }
            row.add(&run, Some(requests));
            row.note = format!("{} hosts listed", host_count(&run));
        }
        let median = measure::spread(&row.walls).0;
        row.note = format!("{}; {}", row.note, compare(median, ours));
        if extra.is_empty() {
            if settings.len() == 1 {
                row.note.push_str(&format!(
                    "; community.proxmox {version} has no facts_concurrency option: its facts are read one request at a time, so the default is its only setting"
                ));
            }
            rows.push(row);
        } else if best
            .as_ref()
            .is_none_or(|b| measure::spread(&b.walls).0 > median)
        {
            best = Some(row);
        }
    }
    if let Some(mut row) = best {
        row.scenario = format!("{} (best of 4/8/16)", row.scenario);
        rows.push(row);
    }
    Ok(())
}
