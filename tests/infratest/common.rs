//! The `/test` binary's helpers: [`Lab`], the homelab simulator with a pinned client and a
//! workspace synced from it (from `support`), and runs of the suite with their results.

use std::collections::BTreeSet;
use std::ops::Deref;

use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::infratest::{CheckResult, RunOptions, Status, TestRun, run_suite};
use proxmox_mpc::pve::Client;
use proxmox_mpc::sim::{Sim, SimConfig};

use crate::support::sim::{start, sync_client};
pub use crate::support::venv::venv_python;
use crate::support::workspace::Workspace;

/// A simulator, a client for it and a synced workspace (whose folder, `db`, `root`, `path`,
/// `read` and `write` a `Lab` derefs to).
pub struct Lab {
    pub sim: Sim,
    pub client: Client,
    pub workspace: Workspace,
}

impl Deref for Lab {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        &self.workspace
    }
}

impl Lab {
    /// Starts the homelab simulator and syncs a new workspace from it.
    pub async fn synced() -> Self {
        Self::synced_with(SimConfig::homelab()).await
    }

    pub async fn synced_with(config: SimConfig) -> Self {
        let sim = start(config).await;
        let client = sync_client(&sim);
        let lab = Self {
            sim,
            client,
            workspace: Workspace::new().await,
        };
        lab.sync(SyncOptions::default()).await;
        lab
    }

    /// Runs `/sync` through the sync engineer's code path.
    pub async fn sync(&self, options: SyncOptions) {
        self.workspace.sync(&self.client, options).await;
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
