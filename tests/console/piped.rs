//! Piped mode: the console reads commands from stdin, prints no prompt, and exits non-zero
//! when a command failed.

use std::os::unix::fs::PermissionsExt;

use crate::common::{TOKEN_VAR, TestSim, piped, pmpc, stderr, stdout, workspace};

#[test]
fn help_init_status_unknown_exit_in_piped_mode() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let init = sim.init_line();
    let out = piped(
        &sim,
        dir.path(),
        &["/help", &init, "/status", "/snyc", "/exit", "/status"],
    );
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(1),
        "the unknown command fails the run\n{se}"
    );
    assert!(
        so.contains("/init") && so.contains("/status") && so.contains("Commands:"),
        "{so}"
    );
    assert!(
        !so.contains("proxmox-mpc["),
        "no prompt in piped mode: {so}"
    );
    assert!(
        se.contains("Connected to Proxmox VE 9")
            && se.contains("3 node(s) online (pve1, pve2, pve3)"),
        "{se}"
    );
    assert!(se.contains("Workspace ready"), "{se}");
    assert!(
        so.contains("root@pam!mpc") && so.contains("last sync") && so.contains("never"),
        "{so}"
    );
    assert!(
        se.contains("unknown command /snyc") && se.contains("did you mean /sync?"),
        "{se}"
    );
    // /exit ended the session: the second /status did not run.
    assert_eq!(so.matches("last sync").count(), 1, "{so}");
    assert!(
        !se.contains('\x1b') && !so.contains('\x1b'),
        "no colours when piped"
    );

    let ws = dir.path();
    for sub in ["terraform", "ansible", "tests", "docs"] {
        assert!(ws.join(sub).is_dir(), "{sub}/ missing");
    }
    let config = std::fs::read_to_string(ws.join(".proxmox/config.yml")).unwrap();
    assert!(
        config.contains(&format!("secret: \"env:{TOKEN_VAR}\"")),
        "{config}"
    );
    assert!(
        config.contains(&sim.fingerprint()),
        "the fingerprint is pinned: {config}"
    );
    let mode = std::fs::metadata(ws.join(".proxmox/config.yml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let gitignore = std::fs::read_to_string(ws.join(".gitignore")).unwrap();
    assert!(gitignore.contains(".proxmox/state.db"), "{gitignore}");
}

#[test]
fn status_json_as_a_subcommand_from_a_subfolder() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let sub = dir.path().join("terraform");
    let out = pmpc(&sub)
        .env(TOKEN_VAR, sim.full_token())
        .args(["status", "--live", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(value["endpoint"], sim.url());
    assert_eq!(value["environment"], "default");
    assert_eq!(
        value["live"]["nodes_online"],
        serde_json::json!(["pve1", "pve2", "pve3"])
    );
    assert_eq!(value["last_sync"], serde_json::Value::Null);

    let yaml = pmpc(&sub).args(["-o", "yaml", "config"]).output().unwrap();
    assert!(yaml.status.success(), "{}", stderr(&yaml));
    let text = stdout(&yaml);
    assert!(text.contains(&format!("endpoint: {}", sim.url())), "{text}");
}

#[test]
fn init_honours_the_bpg_provider_variables_and_checks_the_token_id_later() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let out = pmpc(dir.path())
        .env("PROXMOX_VE_ENDPOINT", sim.url())
        .env("PROXMOX_VE_API_TOKEN", sim.full_token())
        .args(["init", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&sim.fingerprint()),
        "the fingerprint is shown"
    );
    let config = std::fs::read_to_string(dir.path().join(".proxmox/config.yml")).unwrap();
    assert!(
        config.contains("secret: \"env:PROXMOX_VE_API_TOKEN\""),
        "{config}"
    );
    assert!(
        config.contains(&format!("token_id: \"{}\"", sim.token_id())),
        "{config}"
    );

    // A later run with another token in the variable is refused, naming both ids.
    let out = pmpc(dir.path())
        .env(
            "PROXMOX_VE_API_TOKEN",
            format!("auditor@pve!ro={}", sim.secret()),
        )
        .args(["status", "--live"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let se = stderr(&out);
    assert!(
        se.contains("is for `auditor@pve!ro`") && se.contains(&sim.token_id()),
        "{se}"
    );
    assert!(!se.contains(&sim.secret()), "{se}");
}

#[test]
fn config_set_validates_before_writing() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let before = std::fs::read(dir.path().join(".proxmox/config.yml")).unwrap();
    let out = piped(&sim, dir.path(), &["/config set endpoint not-a-url"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot set endpoint"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dir.path().join(".proxmox/config.yml")).unwrap(),
        before
    );

    let out = piped(
        &sim,
        dir.path(),
        &["/config set defaults.node pve2", "/config --json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["defaults.node"], "pve2");
    assert!(value["secret"].as_str().unwrap().starts_with("env:"));
}

#[test]
fn words_without_a_slash_and_shell_escapes() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let out = piped(&sim, dir.path(), &["stauts"]);
    assert_eq!(out.status.code(), Some(1));
    let se = stderr(&out);
    assert!(
        se.contains("`stauts` is not a command; commands start with /"),
        "{se}"
    );
    assert!(se.contains("did you mean /status?"), "{se}");

    let out = piped(&sim, dir.path(), &["!ls -a .proxmox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("config.yml"), "{}", stdout(&out));
}

#[test]
fn continue_restores_the_session() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let out = pmpc(dir.path())
        .env(TOKEN_VAR, sim.full_token())
        .arg("--continue")
        .write_stdin("/exit\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Restored the session: environment default."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn doctor_reports_each_check() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let out = piped(&sim, dir.path(), &["/doctor --json"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let checks: Vec<(&str, &str)> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    for name in [
        "configuration",
        "tls",
        "secret",
        "connection",
        "pve version",
        "privileges",
        "database",
        "files",
    ] {
        assert!(checks.contains(&(name, "ok")), "{name} not ok: {checks:?}");
    }
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn continue_offers_an_unfinished_apply_and_marks_pending_changes() {
    use proxmox_mpc::commands::Ctx;
    use proxmox_mpc::console::Session;
    use proxmox_mpc::ui::Ui;

    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let db = dir.path().join(".proxmox/state.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).connect().await.unwrap();
        for (id, status) in [(1, "applying"), (2, "pending")] {
            sqlx::query(
                "INSERT INTO plans (id, created_at, environment, based_on_serial, status, summary, data)
                 VALUES (?, '2026-11-26T10:00:00Z', 'default', NULL, ?, '{}', '{}')",
            )
            .bind(id)
            .bind(status)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    });
    let out = pmpc(dir.path())
        .arg("--continue")
        .write_stdin("/exit\n")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert!(out.status.success(), "{se}");
    assert!(se.contains("Last plan: #2"), "{se}");
    assert!(
        se.contains("apply of plan #1 did not finish; it was not resumed"),
        "{se}"
    );

    // The prompt marks unapplied changes once the session knows of them.
    let mut session = Session::new(Ctx::new(Ui::default(), dir.path().to_path_buf(), false));
    assert_eq!(session.prompt(), "proxmox-mpc[default]> ");
    rt.block_on(session.restore());
    assert_eq!(session.prompt(), "proxmox-mpc[default]*> ");
}

#[test]
fn a_workspace_cloned_without_its_database_gets_a_fresh_one() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    for name in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(".proxmox").join(name));
    }
    let out = piped(&sim, dir.path(), &["/status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("last sync"), "{}", stdout(&out));
    assert!(dir.path().join(".proxmox/state.db").is_file());
}
