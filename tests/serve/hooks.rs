//! Done-when 4: an inbound webhook (`.proxmox/serve.yml` `hooks:`) with a bad or missing
//! signature is refused (401) and audited; a good GitHub-style signature starts the configured
//! job. An outbound webhook (`notify:`) to a receiver on 127.0.0.1 gets the apply's end,
//! signed with the secret, and is retried when the receiver first answers 500. No secret is
//! in a file, the audit log or an answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::common::{Http, PATIENCE, Server, create_three, plan, synced, token};
use crate::support::files::{Unreadable, relative_files};
use crate::support::sim::TestSim;

const HOOK_SECRET: &str = "hook-secret-5d2e7b";
const NOTIFY_SECRET: &str = "notify-secret-c41a90";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

type Posts = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1 that answers 500 to the first post and 200 after; keeps them all.
fn receiver(sim: &TestSim) -> (u16, Posts) {
    let posts: Posts = Arc::default();
    let kept = posts.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let mut all = kept.lock().unwrap();
                all.push((headers, body));
                if all.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    sim.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
    });
    (port, posts)
}

fn audit_rows(http: &Http, server: &Server, admin: &str) -> String {
    http.get(&server.url("/api/v1/audit?json=true"), Some(admin))
        .ok()
        .to_string()
}

#[test]
fn inbound_hooks_need_the_signature_and_outbound_notices_are_signed_and_retried() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let (port, posts) = receiver(&sim);
    std::fs::write(
        dir.path().join(".proxmox/serve.yml"),
        format!(
            "hooks:\n  push:\n    secret: env:PMPC_TEST_HOOK_SECRET\n    run: sync\n\
             notify:\n  - url: http://127.0.0.1:{port}/hook\n    secret: env:PMPC_TEST_NOTIFY_SECRET\n    events: [apply_finished, apply_failed]\n"
        ),
    )
    .unwrap();
    let admin = token(&sim, dir.path(), "root-key", "admin", &[]);
    let operator = token(&sim, dir.path(), "ci-bot", "operator", &[]);
    let server = Server::start(
        &sim,
        dir.path(),
        &[
            ("PMPC_TEST_HOOK_SECRET", HOOK_SECRET),
            ("PMPC_TEST_NOTIFY_SECRET", NOTIFY_SECRET),
        ],
    );
    let http = Http::new(&sim);
    let url = server.url("/api/v1/hooks/push");
    let body = br#"{"ref":"refs/heads/main","after":"abc123"}"#.to_vec();

    // Unsigned, wrongly signed, signed over another body: 401, audited, no job.
    for signature in [
        None,
        Some(hmac_hex("wrong", &body)),
        Some(hmac_hex(HOOK_SECRET, b"{}")),
    ] {
        let headers: Vec<(&str, &str)> = signature
            .as_deref()
            .map(|s| vec![("x-hub-signature-256", s), ("x-github-event", "push")])
            .unwrap_or_default();
        let refused = http.send("POST", &url, None, &headers, Some(body.clone()));
        refused.problem(401);
    }
    http.send(
        "POST",
        &server.url("/api/v1/hooks/nope"),
        None,
        &[],
        Some(body.clone()),
    )
    .problem(404);
    let jobs = http.get(&server.url("/api/v1/jobs"), Some(&admin)).ok();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    let audit = audit_rows(&http, &server, &admin);
    assert!(audit.contains("hook-refused"), "{audit}");
    assert!(audit.contains("hook:push"), "{audit}");

    // Signed as GitHub signs: the configured sync runs as a job.
    let signature = hmac_hex(HOOK_SECRET, &body);
    let started = http.send(
        "POST",
        &url,
        None,
        &[
            ("x-hub-signature-256", &signature),
            ("x-github-event", "push"),
        ],
        Some(body.clone()),
    );
    assert_eq!(started.status, 202, "{}", started.text);
    let job = started.json()["job"].clone();
    assert_eq!(job["operation"], "sync");
    assert_eq!(job["actor"], "hook:push");
    let done = http.wait_job(&server, &admin, job["id"].as_u64().unwrap());
    assert_eq!(done["status"], "succeeded", "{done}");

    // An apply's end goes to the receiver, signed; its first answer is a 500, so it is retried.
    create_three(&http, &server, &operator, "hook");
    let (id, hash) = plan(&http, &server, &operator);
    let accepted = http.post(
        &server.url("/api/v1/apply"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let apply_job = accepted.json()["job"]["id"].as_u64().unwrap();
    assert_eq!(
        http.wait_job(&server, &operator, apply_job)["status"],
        "succeeded"
    );
    let deadline = Instant::now() + PATIENCE;
    while posts.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the notice was not retried");
        std::thread::sleep(Duration::from_millis(100));
    }
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "delivered once after the retry");
    for (headers, body) in &posts {
        let sent = headers["x-proxmox-mpc-signature"].to_str().unwrap();
        assert_eq!(
            sent,
            hmac_hex(NOTIFY_SECRET, body),
            "signed with the secret"
        );
        assert_eq!(headers["x-proxmox-mpc-event"], "apply_finished");
        let notice: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(notice["event"], "apply_finished");
        assert_eq!(notice["payload"]["id"], apply_job);
        assert!(!String::from_utf8_lossy(body).contains(NOTIFY_SECRET));
    }
    assert_eq!(
        posts[0].0["x-proxmox-mpc-delivery"], posts[1].0["x-proxmox-mpc-delivery"],
        "a retry is the same delivery"
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let audit = audit_rows(&http, &server, &admin);
        if audit.contains("delivered (HTTP 200) after 2 attempt(s)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the delivery was not audited: {audit}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // No secret in any file of the workspace (state.db and git objects included).
    for (path, bytes) in relative_files(dir.path(), Unreadable::Skip) {
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            HOOK_SECRET,
            NOTIFY_SECRET,
            admin.as_str(),
            operator.as_str(),
        ] {
            assert!(!text.contains(secret), "{} holds a secret", path.display());
        }
    }
}
