//! The workspace, console runs and checks the ask tests share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use crate::support::cmd::{init_workspace, ok, piped, stderr, stdout, text};
pub use crate::support::sim::{TOKEN_VAR, TestSim};

/// The variable the tests' AI key is read from (`ai.key: env:PMPC_AI_KEY`).
pub const AI_KEY_VAR: &str = "PMPC_AI_KEY";
/// The AI key itself: it may appear only in the Authorization header.
pub const AI_KEY: &str = "sk-test-4f1c9e0b7d2a";

/// A workspace connected to `sim` and synced.
pub fn synced(sim: &TestSim) -> tempfile::TempDir {
    let dir = init_workspace(sim);
    ok(piped(sim, dir.path(), &["/sync"]), "sync");
    dir
}

/// Points the workspace's `ai:` at `endpoint`, the key read from [`AI_KEY_VAR`].
pub fn use_model(dir: &Path, endpoint: &str) {
    let path = dir.join(".proxmox/config.yml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    if !config.ends_with('\n') {
        config.push('\n');
    }
    config.push_str(&format!(
        "ai:\n  endpoint: \"{endpoint}\"\n  model: \"test-model\"\n  key: \"env:{AI_KEY_VAR}\"\n"
    ));
    std::fs::write(&path, config).unwrap();
}

/// Runs `lines` through the piped console with the token and the AI key in the environment.
pub fn console(sim: &TestSim, dir: &Path, lines: &[&str]) -> Output {
    let mut input = lines.join("\n");
    input.push('\n');
    let mut cmd = crate::support::cmd::pmpc_utf8(dir);
    cmd.env(TOKEN_VAR, sim.full_token()).env(AI_KEY_VAR, AI_KEY);
    assert_cmd::Command::from(cmd)
        .write_stdin(input)
        .output()
        .expect("runs")
}

/// Runs `proxmox-mpc ARGS` once with the token and the AI key in the environment.
pub fn one_shot(sim: &TestSim, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = crate::support::cmd::pmpc_utf8(dir);
    cmd.env(TOKEN_VAR, sim.full_token())
        .env(AI_KEY_VAR, AI_KEY)
        .args(args);
    cmd.output().expect("runs")
}

/// stdout and stderr together (status lines and questions go to stderr).
pub fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// The workspace's own files (not .proxmox/, not .git/).
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    crate::support::files::workspace_files(dir)
}

/// How many commits the workspace's repository has.
pub fn commits(dir: &Path) -> usize {
    let out = std::process::Command::new("git")
        .args(["rev-list", "--count", "HEAD"])
        .current_dir(dir)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The numbered lines under "Proposed commands:" in the output.
pub fn proposed(out: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in out.lines() {
        if line.starts_with("Proposed commands:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let Some((number, rest)) = line.trim_start().split_once(". ") else {
            inside = false;
            continue;
        };
        if !line.starts_with("  ") || number.parse::<u32>().is_err() {
            inside = false;
            continue;
        }
        let command = rest
            .split("    (")
            .next()
            .unwrap_or(rest)
            .trim()
            .to_string();
        lines.push(command);
    }
    lines
}
