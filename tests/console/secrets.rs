//! The token secret never lands in the workspace: not in config.yml, the database, the log of
//! `-v`, or any other file, after an `/init` that used it.

use crate::common::{TOKEN_VAR, TestSim, files, pmpc, stderr};

#[test]
fn the_secret_is_in_no_workspace_file_or_log_after_init_verbose() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{}\n/status --live\n/doctor\n/config\n", sim.init_line());
    let out = pmpc(dir.path())
        .env(TOKEN_VAR, sim.full_token())
        .arg("-v")
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = sim.secret();
    assert!(secret.len() >= 16, "a real secret to look for");
    let log = dir.path().join(".proxmox/proxmox-mpc.log");
    let log_text = std::fs::read_to_string(&log).expect("-v writes a log under .proxmox/");
    assert!(
        log_text.contains("status"),
        "the log records commands: {log_text}"
    );
    let files = files(dir.path());
    assert!(files.len() > 5, "{:?}", files.keys());
    for (path, bytes) in &files {
        let text = String::from_utf8_lossy(bytes.as_deref().unwrap_or_default());
        assert!(
            !text.contains(&secret),
            "the secret is in {}",
            path.display()
        );
    }
    let all_output = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all_output.contains(&secret), "the secret was printed");
}
