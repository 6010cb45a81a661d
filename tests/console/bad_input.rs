//! Bad input: each mistake gets one clear message, a failing exit code, and leaves the
//! workspace (or the folder) exactly as it was.

use std::path::Path;

use crate::common::{TOKEN_VAR, TestSim, piped, pmpc, snapshot, stderr, workspace};

/// Runs `lines` in `dir` and asserts failure, the message, and that nothing changed.
fn fails_cleanly(sim: &TestSim, dir: &Path, lines: &[&str], expected: &[&str]) -> String {
    let before = snapshot(dir);
    let out = piped(sim, dir, lines);
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "exit code for {lines:?}:\n{se}");
    for e in expected {
        assert!(se.contains(e), "expected `{e}` in:\n{se}");
    }
    assert!(se.contains("Hint:"), "a next step is named:\n{se}");
    assert_eq!(snapshot(dir), before, "the folder changed after {lines:?}");
    se
}

#[test]
fn init_with_a_wrong_endpoint() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    fails_cleanly(
        &sim,
        dir.path(),
        &[
            "/init --endpoint pve.example:8006x --token-id root@pam!mpc --secret-env PMPC_TEST_TOKEN",
        ],
        &["endpoint `pve.example:8006x`"],
    );
}

#[test]
fn init_against_an_unreachable_host() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    fails_cleanly(
        &sim,
        dir.path(),
        &[&format!(
            "/init --endpoint https://127.0.0.1:1 --token-id {} --secret-env {TOKEN_VAR} --yes",
            sim.token_id()
        )],
        &["127.0.0.1:1"],
    );
}

#[test]
fn init_with_a_wrong_token_secret() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(dir.path());
    let out = pmpc(dir.path())
        .env(
            TOKEN_VAR,
            format!("{}=00000000-0000-0000-0000-000000000000", sim.token_id()),
        )
        .write_stdin(format!("{}\n", sim.init_line()))
        .output()
        .unwrap();
    let se = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("authentication failed"), "{se}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn init_with_a_pin_that_does_not_match() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let wrong = vec!["00"; 32].join(":");
    fails_cleanly(
        &sim,
        dir.path(),
        &[&format!(
            "/init --endpoint {} --token-id {} --secret-env {TOKEN_VAR} --fingerprint {wrong}",
            sim.url(),
            sim.token_id()
        )],
        &["does not match the pinned fingerprint", &sim.fingerprint()],
    );
}

#[test]
fn init_refuses_to_overwrite_a_workspace() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    fails_cleanly(
        &sim,
        dir.path(),
        &[&sim.init_line()],
        &["already a proxmox-mpc workspace"],
    );
}

#[test]
fn init_without_flags_in_piped_mode_names_the_missing_flag() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    fails_cleanly(&sim, dir.path(), &["/init"], &["/init needs --endpoint"]);
}

#[test]
fn a_hand_broken_config_names_file_and_line() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let path = dir.path().join(".proxmox/config.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace("    token_id:", "    tokenid:");
    std::fs::write(&path, &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("tokenid:")).unwrap() + 1;
    fails_cleanly(
        &sim,
        dir.path(),
        &["/status"],
        &[&format!("config.yml:{line}:"), "unknown field `tokenid`"],
    );
    // Not YAML at all.
    std::fs::write(&path, "version: [1\n").unwrap();
    fails_cleanly(&sim, dir.path(), &["/status"], &["config.yml:"]);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let db = dir.path().join(".proxmox/state.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    fails_cleanly(
        &sim,
        dir.path(),
        &["/status"],
        &[
            "schema version 999, newer than this proxmox-mpc understands",
            "upgrade proxmox-mpc",
        ],
    );
}

#[test]
fn init_in_a_read_only_folder() {
    use std::os::unix::fs::PermissionsExt;
    let sim = TestSim::homelab();
    let outer = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = outer.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "kept").unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&dir);
    // root ignores permissions: run as nobody then, so the folder is really read-only.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if as_root {
        assert_cmd::Command::from(crate::support::cmd::pmpc_as_nobody(&dir))
    } else {
        pmpc(&dir)
    };
    let out = cmd
        .env(TOKEN_VAR, sim.full_token())
        .write_stdin(format!("{}\n", sim.init_line()))
        .output()
        .unwrap();
    let se = stderr(&out);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("cannot write in") && se.contains("ro"), "{se}");
    assert!(se.contains("writable"), "{se}");
    assert_eq!(snapshot(&dir), before);
}
