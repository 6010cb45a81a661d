//! What the serve tests share: a workspace synced from the homelab simulator, tokens made by
//! the real `proxmox-mpc token create`, the real `proxmox-mpc serve` on 127.0.0.1:0 (its
//! address read from its first status line), and an HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cmd::{init_workspace, ok, pmpc, stdout, text};
use crate::support::sim::{TOKEN_VAR, TestSim};

/// A bound on how long a test waits for the server or a job (a hang, not a speed claim).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// `proxmox-mpc` in `dir` with the cluster token in the environment.
pub fn cmd(sim: &TestSim, dir: &Path) -> Command {
    let mut cmd = pmpc(dir);
    cmd.env(TOKEN_VAR, sim.full_token());
    cmd
}

/// A workspace made by `/init` and synced from `sim`.
pub fn synced(sim: &TestSim) -> tempfile::TempDir {
    let dir = init_workspace(sim);
    ok(cmd(sim, dir.path()).arg("sync").output().unwrap(), "sync");
    dir
}

/// `proxmox-mpc token create NAME --role ROLE [extra]`; returns the token (the last line of
/// stdout, alone).
pub fn token(sim: &TestSim, dir: &Path, name: &str, role: &str, extra: &[&str]) -> String {
    let out = ok(
        cmd(sim, dir)
            .args(["token", "create", name, "--role", role])
            .args(extra)
            .output()
            .unwrap(),
        "token create",
    );
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        last.starts_with("pmpc_") && !last.contains(' '),
        "the token is alone on the last line: {text}"
    );
    last
}

/// A running `proxmox-mpc serve`.
pub struct Server {
    child: Child,
    pub base: String,
    /// Its stderr lines after the address (read, so its pipe never fills).
    _lines: Receiver<String>,
}

impl Server {
    /// Starts `proxmox-mpc serve --listen 127.0.0.1:0` in `dir`, with `env` added.
    pub fn start(sim: &TestSim, dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(sim, dir, &[], env).0
    }

    /// [`Server::start`] with more flags; also returns the status lines up to the address
    /// (and the fingerprint line after it over HTTPS).
    pub fn start_with(
        sim: &TestSim,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Server, String) {
        let mut command = cmd(sim, dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("serve starts");
        let (tx, lines) = channel();
        let stderr = child.stderr.take().unwrap();
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
                let base = rest.split_whitespace().next().unwrap().to_string();
                // A self-signed certificate's fingerprint follows on the next line.
                if base.starts_with("https")
                    && let Ok(next) = lines.recv_timeout(PATIENCE)
                {
                    seen.push_str(&next);
                    seen.push('\n');
                }
                let server = Server {
                    child,
                    base,
                    _lines: lines,
                };
                return (server, seen);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not say where it listens:\n{seen}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The WebSocket address of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only the child this test started.
        crate::support::cmd::stop_gently(&mut self.child);
    }
}

/// An answer: status, content type and body (JSON when it is JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// Asserts a problem document with `status`; returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let doc = self.json();
        assert_eq!(doc["status"], status, "{doc}");
        assert!(
            doc["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{doc}"
        );
        assert!(doc["title"].is_string(), "{doc}");
        doc
    }

    /// Asserts 200; returns the JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text);
        self.json()
    }
}

/// A blocking HTTP client on the simulator's runtime.
pub struct Http<'a> {
    sim: &'a TestSim,
    client: reqwest::Client,
}

impl<'a> Http<'a> {
    pub fn new(sim: &'a TestSim) -> Self {
        // reqwest is built without a crypto provider of its own (the crate picks ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(PATIENCE)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sim, client }
    }

    /// Sends `method url` with `token` (if any), extra headers and `body` (raw bytes).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(b) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        self.sim.block_on(async move {
            let answer = request.send().await.expect("the server answers");
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let content_type = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = answer.text().await.unwrap_or_default();
            Answer {
                status,
                content_type,
                headers,
                text,
            }
        })
    }

    pub fn get(&self, url: &str, token: Option<&str>) -> Answer {
        self.send("GET", url, token, &[], None)
    }

    pub fn post(&self, url: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send("POST", url, token, &[], Some(body.to_string().into_bytes()))
    }

    /// Polls job `id` until it is no longer running; returns it.
    pub fn wait_job(&self, server: &Server, token: &str, id: u64) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let job = self
                .get(&server.url(&format!("/api/v1/jobs/{id}")), Some(token))
                .ok()["job"]
                .clone();
            if job["status"] != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} still running: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs `args` in `dir` and asserts success; returns stdout.
pub fn run_ok(sim: &TestSim, dir: &Path, args: &[&str]) -> String {
    let out = cmd(sim, dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    stdout(&out)
}

/// Creates three small VMs in the files through the API as `token`.
pub fn create_three(http: &Http, server: &Server, token: &str, prefix: &str) -> Vec<String> {
    let names: Vec<String> = (1..=3).map(|i| format!("{prefix}-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let node = format!("pve{}", i % 3 + 1);
        http.post(
            &server.url("/api/v1/create"),
            Some(token),
            &serde_json::json!({ "kind": "vm", "flags": { "name": name, "memory": "256M", "cores": "1", "disk": "1G", "node": node } }),
        )
        .ok();
    }
    names
}

/// `POST /api/v1/plan`; returns (plan_id, plan_hash).
pub fn plan(http: &Http, server: &Server, token: &str) -> (i64, String) {
    let answer = http
        .post(
            &server.url("/api/v1/plan"),
            Some(token),
            &serde_json::json!({}),
        )
        .ok();
    let data = &answer["data"];
    let id = data["plan_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no plan_id: {answer}"));
    let hash = data["plan_hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no plan_hash: {answer}"))
        .to_string();
    (id, hash)
}
