//! The token secret never lands anywhere: after init, sync, create, plan, apply, test and a
//! failing request at `-v`, no workspace file, database, history, log, stdout or stderr holds
//! the secret or its URL-encoded form. config.yml and state.db are 0600. A server whose
//! certificate does not match the pin gets no request at all.

use std::os::unix::fs::PermissionsExt;

use proxmox_mpc::sim::{FaultPoint, Faults};

use super::common::{TestSim, all_files, init, ok, piped, run, text};

/// Percent-encodes every byte outside the unreserved set, as a URL or form body would.
fn url_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn the_secret_appears_in_no_file_database_history_log_or_output() {
    let sim = TestSim::homelab();
    let secret = sim.secret();
    assert!(secret.len() >= 16, "a real secret to look for: {secret}");
    let needles = [
        secret.clone(),
        url_encoded(&secret),
        url_encoded(&sim.full_token()),
    ];

    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let mut outputs = Vec::new();
    // Console (history, session) at -v: init, sync, create, plan, apply, test.
    let out = piped(
        &sim,
        ws,
        &["-v"],
        &[
            &sim.init_line(),
            "/sync",
            "create vm --name sec-01 --cores 1 --memory 512 --node pve1",
            "/plan",
            "/apply --yes",
            "/test",
        ],
    );
    assert!(out.status.success(), "console run:\n{}", text(&out));
    outputs.push(out);
    assert!(
        super::common::guest_names(&sim).contains(&"sec-01".to_string()),
        "the create was applied"
    );
    // The same through the CLI at -v, then failing requests: every call answers 500, and a
    // wrong secret answers 401.
    outputs.push(ok(run(&sim, ws, &["-v", "sync"]), "sync"));
    outputs.push(ok(run(&sim, ws, &["-v", "plan"]), "plan"));
    sim.set_faults(Faults {
        error_rate_5xx: 1.0,
        error_point: FaultPoint::BeforeHandler,
        ..Faults::none()
    });
    let failed = run(&sim, ws, &["-v", "sync"]);
    assert!(!failed.status.success(), "{}", text(&failed));
    outputs.push(failed);
    sim.set_faults(Faults::none());
    let wrong = super::common::pmpc(&sim, ws)
        .env(
            super::common::TOKEN_VAR,
            format!(
                "{}=00000000-0000-0000-0000-000000000000",
                sim.sim().token_id()
            ),
        )
        .args(["-v", "status", "--live"])
        .output()
        .unwrap();
    outputs.push(wrong);

    let files = all_files(ws);
    assert!(
        files.keys().any(|p| p.ends_with("proxmox-mpc.log")),
        "-v writes a log: {:?}",
        files.keys()
    );
    assert!(
        files.keys().any(|p| p.ends_with("state.db")),
        "{:?}",
        files.keys()
    );
    let mut hits = Vec::new();
    for (path, bytes) in &files {
        for needle in &needles {
            if memfind(bytes, needle.as_bytes()) {
                hits.push(format!("{} holds {needle}", path.display()));
            }
        }
    }
    for out in &outputs {
        let all = [&out.stdout[..], &out.stderr[..]].concat();
        for needle in &needles {
            if memfind(&all, needle.as_bytes()) {
                hits.push(format!("output holds {needle}:\n{}", text(out)));
            }
        }
    }
    assert!(hits.is_empty(), "secret hits: {hits:#?}");

    for file in [".proxmox/config.yml", ".proxmox/state.db"] {
        let mode = std::fs::metadata(ws.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} has mode {:o}", mode & 0o777);
    }
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_server_not_matching_the_pin_gets_no_request_carrying_the_token() {
    let good = TestSim::homelab();
    let dir = init(&good);
    // Another server (its own certificate) takes the cluster's address in config.yml.
    let impostor = TestSim::homelab();
    let config_path = dir.path().join(".proxmox/config.yml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let url = good.sim().url();
    assert!(config.contains(&url), "{config}");
    std::fs::write(&config_path, config.replace(&url, &impostor.sim().url())).unwrap();
    impostor.control().clear_log();

    for args in [&["sync"][..], &["plan"], &["status", "--live"]] {
        let out = run(&good, dir.path(), args);
        assert!(
            !out.status.success(),
            "{args:?} against the impostor:\n{}",
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.to_lowercase().contains("fingerprint") || stderr.contains("pin"),
            "{args:?} names the certificate mismatch:\n{stderr}"
        );
    }
    let log = impostor.control().request_log();
    assert!(
        log.is_empty(),
        "requests reached the impostor: {:?}",
        log.iter()
            .map(|e| (&e.method, &e.path, &e.token_id))
            .collect::<Vec<_>>()
    );
}
