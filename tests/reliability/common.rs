//! The reliability binary's helpers: the hermetic command with the token and no stdin, the
//! workspace's generated files, the state database's integrity, and the simulated guests; the
//! simulator, piped runs and file trees come from `support`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use crate::support::cmd::{init_workspace as init, ok, piped_with_args as piped, text};
use crate::support::files::{Unreadable, outside_dot_proxmox, relative_files};
pub use crate::support::files::{differences, masking_server_choices};
pub use crate::support::sim::{TOKEN_VAR, TestSim};

/// The hermetic `proxmox-mpc` command in `dir` (`LANG=C.UTF-8`) with the token in
/// [`TOKEN_VAR`] and stdin empty.
pub fn pmpc(sim: &TestSim, dir: &Path) -> std::process::Command {
    let mut cmd = crate::support::cmd::pmpc_utf8(dir);
    cmd.env(TOKEN_VAR, sim.full_token())
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs one CLI command (`args`) in `dir`.
pub fn run(sim: &TestSim, dir: &Path, args: &[&str]) -> Output {
    pmpc(sim, dir).args(args).output().expect("runs")
}

/// Every generated file of the workspace (everything outside `.proxmox/`), relative path to
/// bytes. These are what a clean and a disturbed run must agree on.
pub fn generated(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    outside_dot_proxmox(all_files(dir))
}

/// Every file under `dir` (relative path to bytes); what cannot be read is left out.
pub fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    relative_files(dir, Unreadable::Skip)
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
