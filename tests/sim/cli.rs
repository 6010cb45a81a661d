//! `proxmox-mpc sim`: prints URL, fingerprint and token header, one per line, then serves; bad
//! flags are refused with a message that names the flag.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::common::http;
use crate::support::cmd::bin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_command_prints_url_fingerprint_and_token_then_serves() {
    let mut child = Command::new(bin())
        .args(["sim", "--listen", "127.0.0.1:0", "--seed", "homelab"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().expect("a line").expect("utf-8 line");
    let (url, fingerprint, header) = (next(), next(), next());
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/api2/json"),
        "{url}"
    );
    assert_eq!(fingerprint.len(), 95, "{fingerprint}");
    assert!(
        fingerprint
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()))
    );
    assert!(
        header.starts_with("PVEAPIToken=root@pam!mpc=sim-"),
        "{header}"
    );
    let nodes: Value = http()
        .get(format!("{url}/nodes"))
        .header("Authorization", &header)
        .send()
        .await
        .expect("the printed endpoint answers")
        .json()
        .await
        .expect("json");
    assert_eq!(nodes["data"].as_array().map(Vec::len), Some(3));

    // the README's curl lines carry this very header, and curl -k with it lists nodes and guests
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let readme_headers: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.split('\'').nth(1))
        .filter(|h| h.starts_with("Authorization: PVEAPIToken="))
        .collect();
    assert!(
        !readme_headers.is_empty(),
        "README shows a curl with the token header"
    );
    for h in &readme_headers {
        assert_eq!(
            *h,
            format!("Authorization: {header}"),
            "README header is current"
        );
    }
    for (path, expect_at_least) in [("/nodes", 3), ("/cluster/resources?type=vm", 29)] {
        let out = Command::new("curl")
            .args(["-sk", "-H", readme_headers[0], &format!("{url}{path}")])
            .output()
            .expect("curl runs");
        let body: Value = serde_json::from_slice(&out.stdout).expect("curl got JSON");
        let listed = body["data"].as_array().map(Vec::len).unwrap_or(0);
        assert!(listed >= expect_at_least, "{path}: {listed} entries");
    }
    child.kill().expect("stop the simulator we started");
    let _ = child.wait();

    // the token is deterministic per seed: a second run prints the same header
    let mut again = Command::new(bin())
        .args(["sim", "--listen", "127.0.0.1:0", "--http"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(again.stdout.take().expect("stdout")).lines();
    let url2 = lines.next().expect("line").expect("utf-8");
    assert!(url2.starts_with("http://127.0.0.1:"), "{url2}");
    let _ = lines.next();
    assert_eq!(lines.next().expect("line").expect("utf-8"), header);
    again.kill().expect("stop the simulator we started");
    let _ = again.wait();
}

#[test]
fn bad_flags_are_refused_with_a_message_naming_them() {
    for (args, needle) in [
        (vec!["sim", "--listen", "nonsense"], "--listen 'nonsense'"),
        (
            vec!["sim", "--error-rate", "2"],
            "--error-rate 2 is not a probability",
        ),
        (vec!["sim", "--seed", "banana"], "--seed 'banana'"),
        (
            vec!["sim", "--seed", "1", "--nodes", "0"],
            "--nodes must be at least 1",
        ),
    ] {
        let out = Command::new(bin())
            .args(&args)
            .output()
            .expect("binary runs");
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
