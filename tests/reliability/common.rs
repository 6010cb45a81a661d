//! Shared helpers: a simulator on its own runtime, a hermetic `proxmox-mpc` command, piped
//! console runs, and a map of the workspace's generated files for old/new comparisons.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use proxmox_mpc::sim::{Faults, Sim, SimConfig, SimControl};

/// The variable the tests pass the token in, as `user@realm!name=secret`.
pub const TOKEN_VAR: &str = "PMPC_TEST_TOKEN";

/// A simulator running on its own runtime until dropped (the binary under test is a child
/// process, so the test thread itself stays synchronous).
pub struct TestSim {
    runtime: tokio::runtime::Runtime,
    sim: Option<Sim>,
}

impl TestSim {
    pub fn homelab() -> Self {
        Self::start_with(SimConfig::homelab())
    }

    pub fn start_with(config: SimConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let sim = runtime
            .block_on(Sim::start(config))
            .expect("simulator starts");
        Self {
            runtime,
            sim: Some(sim),
        }
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("running")
    }

    pub fn control(&self) -> SimControl {
        self.sim().control()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.control().set_faults(faults);
    }

    pub fn secret(&self) -> String {
        self.sim().token_secret()
    }

    /// Returns `user@realm!name=secret`.
    pub fn full_token(&self) -> String {
        format!("{}={}", self.sim().token_id(), self.secret())
    }

    /// Returns the `/init` line that connects to this simulator with the pin.
    pub fn init_line(&self) -> String {
        format!(
            "/init --endpoint {} --token-id '{}' --secret-env {TOKEN_VAR} --fingerprint {}",
            self.sim().url(),
            self.sim().token_id(),
            self.sim().fingerprint().expect("https simulator")
        )
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.runtime.block_on(sim.shutdown());
        }
    }
}

/// Returns the path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proxmox-mpc"))
}

/// A `proxmox-mpc` command in `dir` with a clean environment and the token in [`TOKEN_VAR`].
pub fn pmpc(sim: &TestSim, dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(dir)
        .env_clear()
        // under cargo-llvm-cov, profiles go to its target dir, not into the folder under test
        .envs(std::env::vars_os().filter(|(k, _)| k == "LLVM_PROFILE_FILE"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .env(TOKEN_VAR, sim.full_token())
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs one CLI command (`args`) in `dir`.
pub fn run(sim: &TestSim, dir: &Path, args: &[&str]) -> Output {
    pmpc(sim, dir).args(args).output().expect("runs")
}

/// Runs `lines` through the console in piped mode.
pub fn piped(sim: &TestSim, dir: &Path, extra_args: &[&str], lines: &[&str]) -> Output {
    use std::io::Write;
    let mut input = lines.join("\n");
    input.push('\n');
    let mut child = pmpc(sim, dir)
        .args(extra_args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writes stdin");
    child.wait_with_output().expect("runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the command succeeded, showing its output if not.
pub fn ok(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    out
}

/// A workspace made by CLI `init` (pinned certificate) in a new temp folder.
pub fn init(sim: &TestSim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = piped(sim, dir.path(), &[], &[&sim.init_line()]);
    ok(out, "init");
    dir
}

/// Every generated file of the workspace (everything outside `.proxmox/`), relative path to
/// bytes. These are what a clean and a disturbed run must agree on.
pub fn generated(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".proxmox"))
        .collect()
}

/// Every file under `dir` (relative path to bytes).
pub fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
                files.insert(rel, bytes);
            }
        }
    }
    files
}

/// Names the files that differ between two generated trees (for readable failures).
pub fn differences(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, bytes) in a {
        match b.get(path) {
            None => out.push(format!("only in first: {}", path.display())),
            Some(other) if other != bytes => out.push(format!("differs: {}", path.display())),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("only in second: {}", path.display()));
    }
    out
}

/// The files of a sync that may legitimately change between two syncs of the same cluster
/// (timestamps of the moment). Empty unless a run shows otherwise.
pub fn comparable(files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files
}

/// Opens the workspace's state database and runs `PRAGMA integrity_check` on it.
pub fn integrity(sim: &TestSim, dir: &Path) -> Vec<String> {
    let path = dir.join(".proxmox/state.db");
    sim.block_on(async {
        let db = proxmox_mpc::state::StateDb::open_existing(&path)
            .await
            .expect("state.db opens");
        let problems = db.integrity_problems().await.expect("integrity check runs");
        db.close().await;
        problems
    })
}

/// Names of every guest on the simulated cluster (VM `name` or CT `hostname`).
pub fn guest_names(sim: &TestSim) -> Vec<String> {
    let control = sim.control();
    control
        .guest_ids()
        .into_iter()
        .filter_map(|v| {
            control
                .guest_config(v)
                .and_then(|c| c.get("name").or_else(|| c.get("hostname")).cloned())
        })
        .collect()
}
