//! `proxmox-mpc demo`: a workspace against the built-in simulator, reused on the next run,
//! and never placed inside an existing workspace.

use crate::common::{TestSim, pmpc, snapshot, stderr, stdout, workspace};

#[test]
fn demo_reuses_its_workspace_on_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = pmpc(dir.path())
            .args(["demo", "try"])
            .write_stdin("/status --live\n")
            .output()
            .unwrap();
        let (so, se) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "run {run}: {se}");
        assert!(se.contains("this cluster is simulated"), "{se}");
        assert!(
            so.contains("3 online (pve1, pve2, pve3)"),
            "run {run}: {so}"
        );
        if run == 1 {
            assert!(se.contains("Reusing the demo workspace"), "{se}");
        }
    }
    let config = std::fs::read_to_string(dir.path().join("try/.proxmox/config.yml")).unwrap();
    assert!(config.contains("env:PROXMOX_MPC_DEMO_TOKEN"), "{config}");
}

#[test]
fn demo_inside_a_workspace_goes_elsewhere_and_leaves_it_alone() {
    let sim = TestSim::homelab();
    let ws = workspace(&sim);
    let before = snapshot(ws.path());
    let out = pmpc(ws.path())
        .arg("demo")
        .write_stdin("/status\n")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert!(out.status.success(), "{se}");
    assert!(se.contains("the demo uses"), "{se}");
    assert_eq!(snapshot(ws.path()), before);
    // Remove the temporary demo folder it named.
    let used = se
        .split("the demo uses ")
        .nth(1)
        .and_then(|rest| rest.split(" instead").next())
        .expect("the folder is named");
    assert!(used.contains("proxmox-mpc-demo-"), "{used}");
    std::fs::remove_dir_all(used).unwrap();
}

/// A plain HTTP/1.1 request to a local server: (status, body).
fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn demo_serves_the_dashboard_beside_the_console() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = crate::support::cmd::pmpc_utf8(dir.path())
        .args(["demo", "dash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let line = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no dashboard line:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Dashboard: ") {
            break line;
        }
    };
    let link = line
        .split("Dashboard: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (base, token) = link
        .split_once("/#token=")
        .expect("the link carries the token");
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    assert!(token.starts_with("pmpc_"), "{line}");
    let (status, page) = http_get(&format!("{base}/"), None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<script"), "{page}");
    // The dashboard's operations reach the demo's cluster with the secret only this process has.
    let (status, overview) = http_get(&format!("{base}/api/v1/overview"), Some(token));
    assert_eq!(status, 200, "{overview}");
    let overview: serde_json::Value =
        serde_json::from_str(overview.trim_end_matches(|c: char| c.is_whitespace()))
            .unwrap_or_else(|e| panic!("{e}: {overview}"));
    assert_eq!(overview["data"]["guests"].as_array().unwrap().len(), 29);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen}");
    let config = std::fs::read_to_string(dir.path().join("dash/.proxmox/config.yml")).unwrap();
    assert!(!config.contains(token), "the token is in no file");
}
