//! Shared helpers: the homelab simulator over HTTPS on 127.0.0.1:0, a pinned client, a
//! workspace folder with a real state database synced through the `/sync` code path, and runs
//! of the suite.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proxmox_mpc::commands::sync::sync_with;
use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::infratest::{CheckResult, RunOptions, Status, TestRun, run_suite};
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::state::StateDb;

/// A simulator, a client for it and a synced workspace.
pub struct Lab {
    pub sim: Sim,
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub db: StateDb,
}

/// A client for `sim` with the full token and the certificate pinned.
pub fn client(sim: &Sim) -> Client {
    let mut config = ClientConfig::new(
        sim.url(),
        Auth::Token {
            id: sim.token_id(),
            secret: Secret::new(sim.token_secret()),
        },
        TlsMode::Pinned(
            sim.fingerprint()
                .expect("HTTPS simulator has a fingerprint"),
        ),
    );
    config.retry_base_delay = Duration::from_millis(5);
    config.max_concurrency = 16;
    Client::new(config).expect("client config is valid")
}

impl Lab {
    /// Starts the homelab simulator and syncs a new workspace from it.
    pub async fn synced() -> Self {
        Self::synced_with(SimConfig::homelab()).await
    }

    pub async fn synced_with(config: SimConfig) -> Self {
        let sim = Sim::start(config).await.expect("simulator starts");
        let client = client(&sim);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(".proxmox")).unwrap();
        let db = StateDb::open(&dir.path().join(".proxmox/state.db"))
            .await
            .expect("state db opens");
        let lab = Self {
            sim,
            client,
            dir,
            db,
        };
        lab.sync(SyncOptions::default()).await;
        lab
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Runs `/sync` through the sync engineer's code path.
    pub async fn sync(&self, options: SyncOptions) {
        sync_with(
            &self.client,
            self.root(),
            Some((&self.db, "default")),
            options,
            |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("sync fails: {e:?}"));
    }

    /// Runs the suite with `options`.
    pub async fn run_with(&self, options: &RunOptions) -> TestRun {
        run_suite(&self.client, self.root(), options)
            .await
            .unwrap_or_else(|e| panic!("the suite could not run: {e}"))
    }

    /// Runs the whole suite, knowing the token secret as `/test` does.
    pub async fn run(&self) -> TestRun {
        self.run_with(&RunOptions {
            known_secrets: vec![self.sim.token_secret()],
            ..RunOptions::default()
        })
        .await
    }

    /// Returns the generated spec file of guest `vmid` (relative path).
    pub fn spec_of(&self, vmid: u32) -> String {
        let needle = format!("vmid: {vmid}\n");
        for entry in std::fs::read_dir(self.path("tests")).unwrap().flatten() {
            let path = entry.path();
            if path.is_file() && std::fs::read_to_string(&path).unwrap().contains(&needle) {
                return format!("tests/{}", entry.file_name().to_string_lossy());
            }
        }
        panic!("no spec for guest {vmid}")
    }
}

/// `(group, check)` of every result with `status`.
pub fn with_status(run: &TestRun, status: Status) -> BTreeSet<(String, String)> {
    run.results
        .iter()
        .filter(|r| r.status == status)
        .map(|r| (r.group.clone(), r.name.clone()))
        .collect()
}

/// The result called `name` in `group`.
pub fn result<'a>(run: &'a TestRun, group: &str, name: &str) -> &'a CheckResult {
    run.results
        .iter()
        .find(|r| r.group == group && r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no check {name} for {group}; have: {:?}",
                run.results
                    .iter()
                    .map(|r| format!("{} / {}", r.group, r.name))
                    .collect::<Vec<_>>()
            )
        })
}

/// Returns every failed result as `group / name: expected .. actual .. message`, for messages.
pub fn failures(run: &TestRun) -> String {
    run.results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| {
            format!(
                "{} / {}: expected {:?} actual {:?} {:?} [{}]",
                r.group, r.name, r.expected, r.actual, r.message, r.source
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Returns the python of the venv with junitparser (PMPC_VENV or ./.venv).
pub fn venv_python() -> PathBuf {
    let venv = std::env::var("PMPC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    venv.join("bin").join("python")
}
