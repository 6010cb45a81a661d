//! `drift --detailed-exitcode` and `watch` as the built binary runs them, against the simulator
//! over HTTPS, with a webhook receiver on 127.0.0.1 in the test that checks every post's
//! HMAC-SHA256 signature with the secret: exit codes 0/2/1, one signed notice per change and
//! none without one, a receiver that is down (warning, watching goes on, the notice delivered
//! once it is up, or printed when the watch ends), a cluster that fails (backing off) and bad
//! input. No secret ends up in a file, the output or a body.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::params;
use proxmox_mpc::sim::Faults;
use serde_json::Value;
use sha2::Sha256;

use crate::support::cmd::{init_workspace, ok, pmpc, stderr, stdout, text};
use crate::support::files::{Unreadable, relative_files};
use crate::support::sim::{TOKEN_VAR, TestSim, client};

const SECRET_VAR: &str = "PMPC_TEST_HOOK_SECRET";
const HOOK_SECRET: &str = "hook-secret-7f3a9c1e";
/// How long a test waits for a line or a post before it gives up (a bound on a hang, not a
/// claim about speed).
const PATIENCE: Duration = Duration::from_secs(90);

/// One post the receiver took.
#[derive(Debug, Clone)]
struct Post {
    headers: HeaderMap,
    body: Bytes,
}

type Posts = Arc<Mutex<Vec<Post>>>;

/// Serves `POST /hook` on `listener` (on the simulator's runtime), keeping every post.
fn receiver(sim: &TestSim, listener: std::net::TcpListener) -> Posts {
    let posts: Posts = Arc::default();
    let kept = posts.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(Post { headers, body });
                StatusCode::OK
            }
        }),
    );
    listener.set_nonblocking(true).unwrap();
    sim.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
    });
    posts
}

/// Checks the post's signature with the secret, as a receiver would; returns the body.
fn verified(post: &Post) -> Value {
    let header = post.headers["x-proxmox-mpc-signature"].to_str().unwrap();
    let hex_sig = header.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(&post.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap())
        .expect("the signature is the body's HMAC-SHA256 with the secret");
    assert_eq!(post.headers["x-proxmox-mpc-event"], "drift");
    assert_eq!(post.headers["content-type"], "application/json");
    let body = String::from_utf8(post.body.to_vec()).unwrap();
    assert!(!body.contains(HOOK_SECRET), "{body}");
    serde_json::from_str(&body).unwrap()
}

fn cmd(sim: &TestSim, dir: &Path) -> Command {
    let mut cmd = pmpc(dir);
    cmd.env(TOKEN_VAR, sim.full_token())
        .env(SECRET_VAR, HOOK_SECRET);
    cmd
}

fn run(sim: &TestSim, dir: &Path, args: &[&str]) -> Output {
    cmd(sim, dir).args(args).output().expect("runs")
}

/// A workspace synced from `sim`.
fn synced(sim: &TestSim) -> tempfile::TempDir {
    let dir = init_workspace(sim);
    ok(run(sim, dir.path(), &["sync"]), "sync");
    dir
}

/// Sets web-01's memory through the PVE API.
fn set_memory(sim: &TestSim, mib: &str) {
    let api = client(sim.sim());
    let node = sim.control().guest_node(100).unwrap();
    sim.block_on(async {
        let upid = api
            .update_config(
                &node,
                GuestKind::Qemu,
                100,
                params([("memory", mib)]),
                &[],
                None,
            )
            .await
            .unwrap();
        if let Some(upid) = upid {
            api.wait(&upid).await.unwrap();
        }
    });
}

fn hook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hook")
}

/// A running `watch`, its output lines arriving on a channel.
struct Watching {
    child: Child,
    lines: Receiver<(&'static str, String)>,
    seen: String,
}

impl Watching {
    fn start(sim: &TestSim, dir: &Path, args: &[&str]) -> Self {
        let mut child = cmd(sim, dir)
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watch starts");
        let (tx, lines) = channel();
        for (name, stream) in [
            (
                "stdout",
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            ),
            ("stderr", Box::new(child.stderr.take().unwrap())),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send((name, line));
                }
            });
        }
        Self {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Waits for a line of `stream` containing `text`; returns it.
    fn wait_for(&mut self, stream: &str, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok((name, line)) = self.lines.recv_timeout(left) else {
                break;
            };
            self.seen.push_str(&format!("[{name}] {line}\n"));
            if name == stream && line.contains(text) {
                return line;
            }
        }
        panic!("no {stream} line with `{text}`; seen:\n{}", self.seen);
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        // Only the child this test started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `posts` holds `n` posts; returns them.
fn wait_posts(posts: &Posts, n: usize) -> Vec<Post> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = posts.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            assert_eq!(got.len(), n, "posts: {got:?}");
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that no file of the workspace (state.db and git's objects included) holds the
/// webhook secret.
fn no_secret_in_files(dir: &Path) {
    for (path, bytes) in relative_files(dir, Unreadable::Skip) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(HOOK_SECRET),
            "the secret is in {}",
            path.display()
        );
    }
}

#[test]
fn drift_exit_codes_and_one_signed_notice_per_change() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let out = run(&sim, dir.path(), &["drift", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    set_memory(&sim, "4096");
    let out = run(&sim, dir.path(), &["drift", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("web-01") && shown.contains("memory"),
        "{}",
        text(&out)
    );
    let out = run(
        &sim,
        dir.path(),
        &["-o", "json", "drift", "--detailed-exitcode"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let found: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(found["entries"][0]["guest"], "web-01", "{found:#}");
    assert_eq!(found["entries"][0]["field"], "memory", "{found:#}");

    // One change, three checks: one signed notice.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts = receiver(&sim, listener);
    let url = hook_url(port);
    let watch_args = [
        "-v",
        "watch",
        "--every",
        "1s",
        "--count",
        "3",
        "--webhook",
        url.as_str(),
        "--webhook-secret-env",
        SECRET_VAR,
    ];
    let out = run(&sim, dir.path(), &watch_args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("drift: web-01 (100) memory: file 2048, server 4096, last sync 2048"),
        "{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("3 check(s), 1 change(s); 1 notice(s) delivered"),
        "{}",
        text(&out)
    );
    let got = wait_posts(&posts, 1);
    let body = verified(&got[0]);
    assert_eq!(body["event"], "drift");
    assert_eq!(body["check"], 1);
    let change = &body["changes"][0];
    assert_eq!(
        (&change["transition"], &change["guest"], &change["field"]),
        (
            &Value::from("new"),
            &Value::from("web-01"),
            &Value::from("memory")
        ),
        "{body:#}"
    );
    assert_eq!(
        (&change["server"], &change["file"]),
        (&Value::from("4096"), &Value::from("2048"))
    );
    assert_eq!(
        got[0].headers["x-proxmox-mpc-delivery"],
        body["id"].as_str().unwrap()
    );
    assert!(!text(&out).contains(HOOK_SECRET));

    // The files take the server's value: nothing changes from then on, so nothing is posted.
    ok(run(&sim, dir.path(), &["sync", "--adopt"]), "sync --adopt");
    let out = run(&sim, dir.path(), &watch_args[1..]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stdout(&out).contains("drift"), "{}", text(&out));
    assert!(
        stderr(&out).contains("0 change(s); 0 notice(s) delivered"),
        "{}",
        text(&out)
    );
    assert_eq!(posts.lock().unwrap().len(), 1, "no post without a change");
    no_secret_in_files(dir.path());
}

#[test]
fn a_drift_that_goes_away_is_one_more_notice() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    set_memory(&sim, "4096");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts = receiver(&sim, listener);
    let url = hook_url(port);
    let mut watching = Watching::start(
        &sim,
        dir.path(),
        &[
            "--every",
            "1s",
            "--webhook",
            &url,
            "--webhook-secret-env",
            SECRET_VAR,
            "--slack",
        ],
    );
    watching.wait_for("stdout", "drift: web-01 (100) memory");
    set_memory(&sim, "2048");
    watching.wait_for("stdout", "drift gone: web-01 (100) memory");
    let got = wait_posts(&posts, 2);
    // --slack: {"text": ...}, signed all the same.
    let first = verified(&got[0]);
    let second = verified(&got[1]);
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("drift: web-01 (100) memory"),
        "{first}"
    );
    assert!(
        second["text"]
            .as_str()
            .unwrap()
            .contains("drift gone: web-01 (100) memory"),
        "{second}"
    );
    assert_eq!(
        first.as_object().unwrap().len(),
        1,
        "Slack's body is only text: {first}"
    );
}

#[test]
fn a_receiver_that_is_down_gets_a_warning_and_the_notice_once_it_is_up() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    set_memory(&sim, "4096");
    // A port nobody listens on (yet).
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = hook_url(port);
    let mut watching = Watching::start(
        &sim,
        dir.path(),
        &[
            "--every",
            "1s",
            "--webhook",
            &url,
            "--webhook-secret-env",
            SECRET_VAR,
        ],
    );
    let warning = watching.wait_for("stderr", "cannot deliver drift notice");
    assert!(
        warning.contains(&format!("http://127.0.0.1:{port}/…")),
        "{warning}"
    );
    assert!(warning.contains("watching goes on"), "{warning}");
    assert!(
        !warning.contains("/hook"),
        "the URL's path is not shown: {warning}"
    );
    // The watch goes on checking; once the receiver is up the waiting notice goes out.
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    let posts = receiver(&sim, listener);
    watching.wait_for("stderr", "Delivered drift notice");
    let got = wait_posts(&posts, 1);
    let body = verified(&got[0]);
    assert_eq!(
        body["check"], 1,
        "the notice of the first check, kept: {body:#}"
    );
    assert_eq!(body["changes"][0]["field"], "memory");
}

#[test]
fn notices_still_undelivered_when_the_watch_ends_are_printed() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    set_memory(&sim, "4096");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = hook_url(port);
    let out = run(
        &sim,
        dir.path(),
        &["watch", "--every", "1s", "--count", "2", "--webhook", &url],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot deliver drift notice"), "{err}");
    assert!(err.contains("unsigned: no --webhook-secret-env"), "{err}");
    assert!(
        err.contains(&format!(
            "1 drift notice(s) could not be delivered to http://127.0.0.1:{port}/…"
        )),
        "{err}"
    );
    // Nothing lost: the notice itself is in the output.
    assert!(
        stdout(&out).contains("web-01 (100) memory"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_failing_cluster_is_an_error_for_drift_and_retried_with_a_growing_wait_by_watch() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    sim.set_faults(Faults {
        error_rate_5xx: 1.0,
        ..Faults::none()
    });
    // The one-shot check fails with exit 1 (an error, not drift), saying what failed.
    let out = run(&sim, dir.path(), &["drift", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("Error: PVE answered 500"),
        "{}",
        text(&out)
    );
    assert!(stderr(&out).contains("Hint:"), "{}", text(&out));
    let out = run(
        &sim,
        dir.path(),
        &["watch", "--every", "1s", "--count", "2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("check 1: cannot read the cluster"), "{err}");
    assert!(err.contains("next check in 2s"), "{err}");
    assert!(err.contains("check 2: cannot read the cluster"), "{err}");
    assert!(err.contains("next check in 4s"), "{err}");
    assert!(err.contains("watching goes on"), "{err}");
}

#[test]
fn bad_watch_input_is_refused_with_the_next_step() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let cases: [(&[&str], &str); 6] = [
        (
            &["--webhook", "ftp://127.0.0.1/hook"],
            "only http and https",
        ),
        (&["--webhook", "not a url"], "the webhook URL is not usable"),
        (&["--every", "5x"], "`--every 5x` is not a duration"),
        (&["--count", "0"], "`--count 0` would check nothing"),
        (&["--slack"], "go with --webhook URL"),
        (
            &[
                "--webhook",
                "http://127.0.0.1:9/hook",
                "--webhook-secret-env",
                "PMPC_NOT_SET",
            ],
            "PMPC_NOT_SET, which is not set",
        ),
    ];
    for (args, said) in cases {
        let out = run(&sim, dir.path(), &[&["watch"], args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(stderr(&out).contains(said), "{args:?}: {}", text(&out));
        assert!(stderr(&out).contains("Hint:"), "{args:?}: {}", text(&out));
    }
    // The secret itself passed by mistake is never echoed.
    let out = run(
        &sim,
        dir.path(),
        &[
            "watch",
            "--webhook",
            "http://127.0.0.1:9/hook",
            "--webhook-secret-env",
            "s3cr3t-v@lue!",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("the name of an environment variable"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("s3cr3t-v@lue!"), "{}", text(&out));
}
