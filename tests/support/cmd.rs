//! The hermetic `proxmox-mpc` command: in the test folder, with a clean environment (no PVE
//! variables, no colour, HOME inside the test folder), and piped console runs of it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::sim::{TOKEN_VAR, TestSim};

/// Returns the path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proxmox-mpc"))
}

/// `program` in `dir` with nothing of the caller's environment but HOME=`dir` and NO_COLOR.
fn clean(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("NO_COLOR", "1");
    cmd
}

/// A `proxmox-mpc` command in `dir` with a clean environment: the caller's PATH, HOME inside
/// the test folder, no colour, and nothing else (no PVE variables, no LANG).
pub fn pmpc(dir: &Path) -> Command {
    let mut cmd = clean(bin(), dir);
    // under cargo-llvm-cov, profiles go to its target dir, not into the folder under test
    cmd.envs(std::env::vars_os().filter(|(k, _)| k == "LLVM_PROFILE_FILE"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

/// [`pmpc`] with `LANG=C.UTF-8`, as the console and reliability tests run it.
pub fn pmpc_utf8(dir: &Path) -> Command {
    let mut cmd = pmpc(dir);
    cmd.env("LANG", "C.UTF-8");
    cmd
}

/// The variable the CLI tests (`init --secret-env`) pass the bare token secret in.
pub const SECRET_VAR: &str = "PMPC_TEST_SECRET";

/// [`pmpc`] as an assert_cmd command with the bare token `secret` in [`SECRET_VAR`].
pub fn pmpc_with_secret(dir: &Path, secret: &str) -> assert_cmd::Command {
    let mut cmd = pmpc(dir);
    cmd.env(SECRET_VAR, secret);
    cmd.into()
}

/// The binary run as nobody through `setpriv` (for read-only folders when the tests run as
/// root): HOME=`dir` and NO_COLOR only, no PATH; under cargo-llvm-cov nobody cannot write the
/// target dir and `dir` must stay unchanged, so that run's profile goes to /tmp.
pub fn pmpc_as_nobody(dir: &Path) -> Command {
    let mut cmd = clean("setpriv", dir);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin());
    if std::env::var_os("LLVM_PROFILE_FILE").is_some() {
        cmd.env("LLVM_PROFILE_FILE", "/tmp/proxmox-mpc-nobody-%p-%m.profraw");
    }
    cmd
}

/// Runs `lines` through the console in piped mode in `dir` ([`pmpc_utf8`]) with the token in
/// [`TOKEN_VAR`].
pub fn piped(sim: &TestSim, dir: &Path, lines: &[&str]) -> Output {
    piped_with_args(sim, dir, &[], lines)
}

/// [`piped`] with `extra_args` on the command line.
pub fn piped_with_args(sim: &TestSim, dir: &Path, extra_args: &[&str], lines: &[&str]) -> Output {
    let mut input = lines.join("\n");
    input.push('\n');
    let mut cmd = pmpc_utf8(dir);
    cmd.env(TOKEN_VAR, sim.full_token()).args(extra_args);
    assert_cmd::Command::from(cmd)
        .write_stdin(input)
        .output()
        .expect("runs")
}

/// Creates a workspace in a new temp folder through piped `/init` (pinned certificate);
/// returns the folder.
pub fn init_workspace(sim: &TestSim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = piped(sim, dir.path(), &[&sim.init_line()]);
    ok(out, "init");
    dir
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code, stdout and stderr of a run, for failure messages.
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

/// Stops a server this test started (`serve`, `watch`) as a service manager would: SIGTERM,
/// so it exits normally (and a coverage run gets its profile), then SIGKILL if it has not
/// exited within five seconds.
pub fn stop_gently(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on this test's own child's pid; no memory is involved.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
