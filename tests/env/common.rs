//! Two clusters and a workspace connected to the first: the homelab simulator (nodes
//! pve1..pve3) is `default`, a generated one (nodes node1, node2, guests guest-100...) becomes
//! `prod`. Each has its own token, passed in its own variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use proxmox_mpc::sim::SimConfig;

use crate::support::cmd::{init_workspace, ok, pmpc, text};
use crate::support::files::{Unreadable, relative_files};
use crate::support::sim::{TOKEN_VAR, TestSim};

/// The variable prod's token is read from.
pub const PROD_VAR: &str = "PMPC_TEST_PROD_TOKEN";
/// The variable a third cluster's token is read from.
pub const THIRD_VAR: &str = "PMPC_TEST_THIRD_TOKEN";

/// A generated cluster: `nodes` nodes `node1..`, `guests` guests from VMID 100, per `seed`.
pub fn generated(nodes: usize, guests: usize, seed: u64) -> TestSim {
    TestSim::start_with(SimConfig::generated(nodes, guests, seed))
}

/// The two clusters and the workspace.
pub struct Clusters {
    pub home: TestSim,
    pub prod: TestSim,
    pub dir: tempfile::TempDir,
}

impl Clusters {
    /// The homelab as `default` (synced), the generated cluster not added yet.
    pub fn start() -> Clusters {
        let home = TestSim::homelab();
        let prod = generated(2, 4, 7);
        let dir = init_workspace(&home);
        let clusters = Clusters { home, prod, dir };
        clusters.ok(&["sync"], "default sync");
        clusters
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the binary in the workspace with both tokens.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(self.path(), args)
    }

    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        pmpc(dir)
            .env(TOKEN_VAR, self.home.full_token())
            .env(PROD_VAR, self.prod.full_token())
            .args(args)
            .output()
            .expect("runs")
    }

    /// Runs and asserts success.
    pub fn ok(&self, args: &[&str], what: &str) -> Output {
        ok(self.run(args), what)
    }

    /// `env add prod` against the second simulator, its certificate pinned.
    pub fn add_prod(&self) -> Output {
        self.ok(
            &[
                "env",
                "add",
                "prod",
                "--endpoint",
                &self.prod.url(),
                "--token-id",
                &self.prod.token_id(),
                "--secret-env",
                PROD_VAR,
                "--fingerprint",
                &self.prod.fingerprint(),
                "--protected",
            ],
            "env add prod",
        )
    }

    /// Renames through prod's map in config.yml as a person would: pve1 is node1 there.
    pub fn map_prod_nodes(&self) {
        let path = self.path().join(".proxmox/config.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let at = text.find("  \"prod\":").expect("prod in config.yml");
        let end = at + text[at..].find("timeout_secs").unwrap();
        let end = end + text[end..].find('\n').unwrap() + 1;
        let mapped = format!(
            "{}    map:\n      node:\n        pve1: node1\n        pve2: node2\n{}",
            &text[..end],
            &text[end..]
        );
        std::fs::write(&path, mapped).unwrap();
    }

    /// The default environment's files: everything but `.proxmox/`, `.git/` and
    /// `environments/`.
    pub fn default_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        relative_files(self.path(), Unreadable::Panic)
            .into_iter()
            .filter(|(p, _)| {
                !p.starts_with(".proxmox")
                    && !p.starts_with(".git")
                    && !p.starts_with("environments")
            })
            .collect()
    }

    /// Every file of the workspace (but `.git/`) as text, for secret checks.
    pub fn all_text(&self) -> String {
        relative_files(self.path(), Unreadable::Panic)
            .into_iter()
            .filter(|(p, _)| !p.starts_with(".git") && !p.to_string_lossy().contains("state.db"))
            .map(|(p, b)| format!("{}\n{}", p.display(), String::from_utf8_lossy(&b)))
            .collect()
    }
}

/// The `.tf` files of the root module at `dir`, relative path to text.
pub fn tf_files(dir: &Path) -> BTreeMap<String, String> {
    relative_files(dir, Unreadable::Panic)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "tf"))
        .map(|(p, b)| (p.display().to_string(), String::from_utf8(b).unwrap()))
        .collect()
}

/// The VMID of the guest called `name` on `sim`, if it has one.
pub fn vmid_named(sim: &TestSim, name: &str) -> Option<u32> {
    let control = sim.control();
    control.guest_ids().into_iter().find(|id| {
        control
            .guest_config(*id)
            .is_some_and(|c| c.get("name").or(c.get("hostname")).map(String::as_str) == Some(name))
    })
}

/// The JSON the command printed on stdout.
pub fn json_out(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(out)))
}
