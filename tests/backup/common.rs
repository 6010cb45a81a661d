//! What the backup tests share: the binary run in a workspace with the token, and the data of
//! an operation's report.

use std::path::Path;
use std::process::Output;

use crate::support::cmd::pmpc;
use crate::support::sim::{TOKEN_VAR, TestSim};

/// Runs `proxmox-mpc ARGS` in `dir` with the simulator's token.
pub fn run(sim: &TestSim, dir: &Path, args: &[&str]) -> Output {
    pmpc(dir)
        .env(TOKEN_VAR, sim.full_token())
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The backup volids of the simulator (every storage), sorted.
pub fn sim_backups(sim: &proxmox_mpc::sim::Sim) -> Vec<String> {
    let mut out: Vec<String> = sim
        .control()
        .storage_files()
        .into_iter()
        .filter(|(_, content)| content == "backup")
        .map(|(volid, _)| volid)
        .collect();
    out.sort();
    out
}
