//! Shared helpers: a simulator on its own runtime, a hermetic `proxmox-mpc` command, and a
//! snapshot of a folder's files to prove that a failure changed nothing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::sim::{Sim, SimConfig};

/// The variable the tests pass the token in, as `user@realm!name=secret`.
pub const TOKEN_VAR: &str = "PMPC_TEST_TOKEN";

/// A simulator running on its own runtime until dropped.
pub struct TestSim {
    runtime: tokio::runtime::Runtime,
    sim: Option<Sim>,
}

impl TestSim {
    pub fn start() -> Self {
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

    pub fn url(&self) -> String {
        self.sim().url()
    }

    pub fn fingerprint(&self) -> String {
        self.sim()
            .fingerprint()
            .expect("https simulator has a certificate")
    }

    pub fn token_id(&self) -> String {
        self.sim().token_id()
    }

    pub fn secret(&self) -> String {
        self.sim().token_secret()
    }

    /// Returns `user@realm!name=secret`.
    pub fn full_token(&self) -> String {
        format!("{}={}", self.token_id(), self.secret())
    }

    /// Returns the `/init` line that connects to this simulator with the pin.
    pub fn init_line(&self) -> String {
        format!(
            "/init --endpoint {} --token-id '{}' --secret-env {TOKEN_VAR} --fingerprint {}",
            self.url(),
            self.token_id(),
            self.fingerprint()
        )
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

/// Returns a `proxmox-mpc` command in `dir` with a clean environment: no PVE variables, no
/// colour, HOME inside the test folder.
pub fn pmpc(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(bin());
    cmd.current_dir(dir)
        .env_clear()
        // under cargo-llvm-cov, profiles go to its target dir, not into the folder under test
        .envs(std::env::vars_os().filter(|(k, _)| k == "LLVM_PROFILE_FILE"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8");
    cmd
}

/// Runs `lines` in piped mode in `dir` with the token in [`TOKEN_VAR`].
pub fn piped(sim: &TestSim, dir: &Path, lines: &[&str]) -> std::process::Output {
    let mut input = lines.join("\n");
    input.push('\n');
    pmpc(dir)
        .env(TOKEN_VAR, sim.full_token())
        .write_stdin(input)
        .output()
        .expect("runs")
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Returns every file under `dir` with the SHA-256 of its bytes (folders map to ""), for
/// before/after comparisons. SQLite's transient `-wal`/`-shm` companions are left out: they
/// come and go with every connection and hold no user data once the database is closed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    files(dir)
        .into_iter()
        .filter(|(path, _)| {
            let name = path.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .map(|(path, bytes)| {
            let hash = bytes
                .map(|b| hex::encode(sha2::Sha256::digest(b)))
                .unwrap_or_default();
            (path, hash)
        })
        .collect()
}

/// Returns every path under `dir` with its bytes (`None` for folders).
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.insert(path.clone(), None);
                stack.push(path);
            } else {
                files.insert(path.clone(), Some(std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files
}

/// Creates a workspace in a new temp folder through piped `/init`; returns the folder.
pub fn workspace(sim: &TestSim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = piped(sim, dir.path(), &[&sim.init_line()]);
    assert!(out.status.success(), "init failed: {}", stderr(&out));
    dir
}
