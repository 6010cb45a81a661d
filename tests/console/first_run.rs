//! The first ten minutes without a pre-made token in the environment: `/init` in a real
//! terminal with the secret pasted (kept in the per-user secrets folder, mode 0600, referenced
//! as `file:` from config.yml), and `init --login root@pam` that makes the workspace's own
//! token and role on the simulator. HOME and XDG_CONFIG_HOME point into temp folders, so
//! nothing is written to the real home.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proxmox_mpc::commands::login::{ROLE, WORKSPACE_PRIVILEGES};
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};

use crate::common::{TestSim, stdout};
use crate::pty::Tmux;
use crate::support::cmd::pmpc_utf8 as pmpc;

/// Every file under `dir`, recursively (the workspace, .git and .proxmox included).
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Fails when `needle` is in any file under `dir`.
fn assert_nowhere_in(dir: &Path, needle: &str, what: &str) {
    for file in all_files(dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(needle),
            "the {what} is in {}",
            file.display()
        );
    }
}

/// The `file:PATH` config.yml refers to, checked to be outside the workspace, under `config`,
/// and mode 0600.
fn secret_file(workspace: &Path, config: &Path) -> PathBuf {
    let text = std::fs::read_to_string(workspace.join(".proxmox/config.yml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("secret:"))
        .unwrap_or_else(|| panic!("no secret line:\n{text}"));
    let path = line
        .split_once("file:")
        .unwrap_or_else(|| panic!("config.yml does not say file:\n{text}"))
        .1
        .trim()
        .trim_matches(['"', '\''])
        .to_string();
    let path = PathBuf::from(path);
    assert!(
        path.starts_with(config.join("proxmox-mpc/secrets")),
        "{}",
        path.display()
    );
    assert!(!path.starts_with(workspace), "{}", path.display());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    path
}

#[test]
fn init_with_a_pasted_secret_keeps_it_outside_the_workspace() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let env = [
        ("HOME", home.path().display().to_string()),
        ("XDG_CONFIG_HOME", config.display().to_string()),
    ];
    let tmux = Tmux::start(dir.path(), &env);
    tmux.wait_for("proxmox-mpc> ");
    tmux.type_line("/init");
    tmux.wait_for("Proxmox VE endpoint");
    tmux.type_line(&sim.url());
    tmux.wait_for("API token id");
    tmux.type_line(&sim.token_id());
    let screen = tmux.wait_for("Where is the token secret read from?");
    assert!(
        screen.contains("[paste]"),
        "paste is the default:\n{screen}"
    );
    tmux.type_line("paste");
    tmux.wait_for("Paste the token secret");
    tmux.type_line(&sim.secret());
    tmux.wait_for("Pin this fingerprint");
    tmux.type_line("yes");
    tmux.wait_for("Workspace ready");
    tmux.wait_for("proxmox-mpc[default]> ");
    let screen = tmux.screen();
    assert!(
        !screen.contains(&sim.secret()),
        "the pasted secret was echoed:\n{screen}"
    );
    tmux.type_line("/exit");
    tmux.wait_gone();

    let path = secret_file(dir.path(), &config);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), sim.secret());
    assert_nowhere_in(dir.path(), &sim.secret(), "token secret");

    // A new process, no variable set: the workspace connects with the stored secret.
    let out = pmpc(dir.path())
        .args(["status", "--live"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("pve1"), "{text}");
    assert!(!text.contains(&sim.secret()));
}

#[test]
fn init_from_a_login_creates_a_token_with_only_the_workspace_privileges() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (user, password) = sim.sim().password();
    let out = pmpc(dir.path())
        .env("XDG_CONFIG_HOME", config.path())
        .args([
            "init",
            "--endpoint",
            &sim.url(),
            "--fingerprint",
            &sim.fingerprint(),
            "--login",
            &user,
            "--secret-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{password}\n").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("Created the role {ROLE}")), "{text}");
    assert!(!text.contains(&password), "the password was shown");

    // What it made is on the simulator, seen through the API.
    let admin = crate::support::sim::client(sim.sim());
    let acl: serde_json::Value = sim.block_on(admin.get("/access/acl", Vec::new())).unwrap();
    let entry = acl
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["roleid"] == ROLE && e["type"] == "token")
        .unwrap_or_else(|| panic!("no ACL entry for the token: {acl}"));
    assert_eq!(entry["path"], "/");
    let token_id = entry["ugid"].as_str().unwrap().to_string();
    assert!(token_id.starts_with("root@pam!mpc-"), "{token_id}");
    let role: serde_json::Map<String, serde_json::Value> = sim
        .block_on(admin.get(&format!("/access/roles/{ROLE}"), Vec::new()))
        .unwrap();
    let wanted: Vec<&str> = WORKSPACE_PRIVILEGES.iter().map(|(p, _)| *p).collect();
    for held in role.keys() {
        assert!(wanted.contains(&held.as_str()), "the role holds {held}");
    }

    let path = secret_file(dir.path(), config.path());
    let secret = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_nowhere_in(dir.path(), &secret, "token secret");
    assert_nowhere_in(dir.path(), &password, "password");
    assert_nowhere_in(config.path(), &password, "password");

    // The token answers with exactly the role's privileges: nothing the workspace does not use.
    let token = Client::new(ClientConfig::new(
        sim.url(),
        Auth::Token {
            id: token_id.clone(),
            secret: Secret::new(secret),
        },
        TlsMode::Pinned(sim.fingerprint()),
    ))
    .unwrap();
    let perms: serde_json::Map<String, serde_json::Value> = sim
        .block_on(token.get("/access/permissions", vec![("path".into(), "/".into())]))
        .unwrap();
    let held: Vec<&String> = perms["/"].as_object().unwrap().keys().collect();
    for p in &held {
        assert!(wanted.contains(&p.as_str()), "the token holds {p}");
    }
    for unused in ["Sys.Modify", "Datastore.Allocate", "Permissions.Modify"] {
        assert!(
            !held.iter().any(|p| *p == unused),
            "the token holds {unused}"
        );
    }
    assert!(held.iter().any(|p| *p == "VM.Allocate"), "{held:?}");

    // The workspace works with it: a live status and a sync.
    let out = pmpc(dir.path())
        .args(["status", "--live"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pmpc(dir.path()).args(["sync"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("terraform").read_dir().unwrap().count() > 3);

    // A second login for another folder of the same name reuses the role; a wrong password
    // fails with a clear message and writes nothing.
    let other = tempfile::tempdir().unwrap();
    let out = pmpc(other.path())
        .env("XDG_CONFIG_HOME", config.path())
        .args([
            "init",
            "--endpoint",
            &sim.url(),
            "--fingerprint",
            &sim.fingerprint(),
            "--login",
            &user,
            "--secret-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"wrong\n")?;
            child.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("password of root@pam"), "{err}");
    assert!(!other.path().join(".proxmox/config.yml").exists());
}
