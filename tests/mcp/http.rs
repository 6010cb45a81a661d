//! The MCP server over streamable HTTP under `proxmox-mpc serve` at `/mcp`, with the bearer
//! tokens of `proxmox-mpc token create`: no token is 401 and reaches no tool; a viewer token
//! reads (both protocol eras) but cannot apply or edit, naming the role it needs; an operator
//! token plans and applies the reviewed plan; every call is audited with origin `mcp` and the
//! token's name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{Mode, call, http_client, refused, steps, succeeded, synced};
use crate::support::cmd::{ok, pmpc, stdout};
use crate::support::sim::{TOKEN_VAR, TestSim};

/// A bound on waiting for the server to say where it listens (a hang, not a speed claim).
const PATIENCE: Duration = Duration::from_secs(120);

/// `proxmox-mpc token create NAME --role ROLE`: the token, alone on the last line.
fn token(sim: &TestSim, dir: &Path, name: &str, role: &str) -> String {
    let out = ok(
        pmpc(dir)
            .env(TOKEN_VAR, sim.full_token())
            .args(["token", "create", name, "--role", role])
            .output()
            .expect("runs"),
        "token create",
    );
    let text = stdout(&out);
    text.lines().last().unwrap_or_default().trim().to_string()
}

/// `proxmox-mpc serve --listen 127.0.0.1:0`, killed (this child only) when dropped.
struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Serve {
    fn start(sim: &TestSim, dir: &Path) -> Serve {
        let mut child = pmpc(dir)
            .env(TOKEN_VAR, sim.full_token())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let (tx, lines) = channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let mut seen = String::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = lines.recv_timeout(left) else {
                break;
            };
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("listening on ").nth(1) {
                let base = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                // Keep draining stderr so the pipe never fills.
                std::thread::spawn(move || while lines.recv().is_ok() {});
                return Serve { child, base };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not say where it listens:\n{seen}");
    }

    fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// A raw POST of an MCP request to `/mcp` with `headers`; the status code.
    fn raw_post(&self, headers: &[(&str, &str)]) -> u16 {
        let authority = self.base.trim_start_matches("http://");
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "guests", "arguments": {} },
        })
        .to_string();
        let mut request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = TcpStream::connect(authority).expect("connects");
        stream.write_all(request.as_bytes()).expect("sends");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {answer}"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        crate::support::cmd::stop_gently(&mut self.child);
    }
}

fn new_vm(name: &str) -> Value {
    json!({ "kind": "vm", "flags": { "name": name, "memory": "1G", "cores": "1", "disk": "4G", "node": "pve2" } })
}

#[test]
fn over_http_a_token_is_needed_a_viewer_cannot_apply_and_an_operator_applies_the_reviewed_plan() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let viewer = token(&sim, dir.path(), "mcp-viewer", "viewer");
    let operator = token(&sim, dir.path(), "mcp-operator", "operator");
    let serve = Serve::start(&sim, dir.path());

    // No token, or a wrong one: 401, and no tool runs.
    assert_eq!(serve.raw_post(&[]), 401);
    assert_eq!(
        serve.raw_post(&[("Authorization", "Bearer pmpc_not-a-token")]),
        401
    );

    // A viewer reads in both eras, and is refused every change, naming the role it needs.
    for mode in [Mode::Auto, Mode::Legacy] {
        let report = http_client(
            &sim,
            dir.path(),
            mode,
            &serve.mcp(),
            &viewer,
            json!([
                call("guests", json!({})),
                call("plan", json!({})),
                call(
                    "apply",
                    json!({ "plan_id": "$plan_id", "plan_hash": "$plan_hash" })
                ),
                call("create", new_vm("http-01")),
            ]),
        );
        assert_eq!(report["server"]["name"], "proxmox-mpc", "{report:#}");
        let era = match mode {
            Mode::Auto => "2026-07-28",
            Mode::Legacy => "2025-11-25",
        };
        assert_eq!(report["protocol_version"], era, "{report:#}");
        let s = steps(&report);
        assert_eq!(succeeded(&s[0])["count"], 29);
        succeeded(&s[1]);
        for step in &s[2..] {
            let text = refused(step);
            assert!(
                text.contains("role viewer") && text.contains("needs the role operator"),
                "{text}"
            );
        }
    }
    assert!(!dir.path().join("terraform/http_01.tf").exists());

    // An operator: create, plan, apply that plan.
    let report = http_client(
        &sim,
        dir.path(),
        Mode::Auto,
        &serve.mcp(),
        &operator,
        json!([
            call("create", new_vm("http-01")),
            call("plan", json!({})),
            call(
                "apply",
                json!({ "plan_id": "$plan_id", "plan_hash": "$plan_hash" })
            ),
        ]),
    );
    let s = steps(&report);
    succeeded(&s[0]);
    assert_eq!(succeeded(&s[1])["data"]["summary"]["add"], 1);
    succeeded(&s[2]);
    let created = sim.control().guest_ids().into_iter().any(|id| {
        sim.control()
            .guest_config(id)
            .is_some_and(|c| c.get("name").map(String::as_str) == Some("http-01"))
    });
    assert!(created, "the operator's apply created http-01");
    drop(serve);

    // The audit log has each call with origin mcp and the token's name.
    let out = ok(
        pmpc(dir.path())
            .env(TOKEN_VAR, sim.full_token())
            .args(["audit", "--json"])
            .output()
            .expect("runs"),
        "audit",
    );
    let text = stdout(&out);
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let rows = doc["entries"].as_array().cloned().unwrap_or_default();
    let mcp: Vec<&Value> = rows.iter().filter(|r| r["origin"] == "mcp").collect();
    let refused_apply = mcp.iter().any(|r| {
        r["actor"] == "mcp-viewer" && r["target"] == "apply" && r["detail"]["outcome"] == "refused"
    });
    assert!(
        refused_apply,
        "the viewer's refused apply is on record: {mcp:#?}"
    );
    let applied = mcp.iter().any(|r| {
        r["actor"] == "mcp-operator" && r["target"] == "apply" && r["detail"]["outcome"] == "ok"
    });
    assert!(applied, "the operator's apply is on record: {mcp:#?}");
    assert!(
        !text.contains(&viewer) && !text.contains(&operator),
        "no token in the log"
    );
}
