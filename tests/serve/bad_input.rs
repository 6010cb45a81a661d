//! Done-when 5: bad input gets the right 4xx with a problem document, never a 500, and changes
//! nothing: malformed JSON, a body that is not an object, unknown fields, an oversized body,
//! an unknown or console-only operation, a revoked and an expired token, a cookie write without
//! its CSRF token. Also: `/token` on the command line (list shows no secret, revoke refuses
//! from then on), and `serve` refuses a non-loopback address without TLS.

use serde_json::json;

use super::common::{Http, Server, cmd, run_ok, synced, token};
use crate::support::files::{Unreadable, relative_files};
use crate::support::sim::TestSim;

#[test]
fn bad_requests_get_4xx_problem_documents_and_change_nothing() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let operator = token(&sim, dir.path(), "ci-bot", "operator", &[]);
    let revoked = token(&sim, dir.path(), "old-bot", "operator", &[]);
    let expiring = token(
        &sim,
        dir.path(),
        "brief-bot",
        "operator",
        &["--expires", "1s"],
    );
    run_ok(&sim, dir.path(), &["token", "revoke", "old-bot"]);
    let listed = run_ok(&sim, dir.path(), &["token", "list"]);
    assert!(
        listed.contains("old-bot") && listed.contains("revoked"),
        "{listed}"
    );
    for secret in [&operator, &revoked, &expiring] {
        assert!(
            !listed.contains(secret.as_str()),
            "token list shows no token"
        );
    }
    // Let the short token run out (its expiry is one second).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);
    let writes_before = sim.control().write_count();
    let files_before = relative_files(&dir.path().join("terraform"), Unreadable::Panic);

    let create = server.url("/api/v1/create");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed JSON", b"{\"kind\": \"vm\",".to_vec(), 400),
        ("not an object", b"[1, 2, 3]".to_vec(), 422),
        (
            "unknown field",
            br#"{"kind": "vm", "colour": "red"}"#.to_vec(),
            422,
        ),
        (
            "unknown flag",
            br#"{"kind": "vm", "flags": {"name": "x-1", "warp": "9"}}"#.to_vec(),
            422,
        ),
        ("oversized", vec![b' '; 2 * 1024 * 1024], 413),
    ];
    for (what, body, status) in cases {
        let answer = http.send("POST", &create, Some(&operator), &[], Some(body));
        assert!(answer.status != 500, "{what}: {}", answer.text);
        let doc = answer.problem(status);
        assert!(doc["hint"].is_string(), "{what}: {doc}");
    }
    let apply_unknown = http.post(
        &server.url("/api/v1/apply"),
        Some(&operator),
        &json!({ "yes": true, "force": true }),
    );
    let doc = apply_unknown.problem(422);
    assert!(doc["detail"].as_str().unwrap().contains("force"), "{doc}");
    http.post(
        &server.url("/api/v1/frobnicate"),
        Some(&operator),
        &json!({}),
    )
    .problem(404);
    let watch = http
        .post(&server.url("/api/v1/watch"), Some(&operator), &json!({}))
        .problem(404);
    assert!(
        watch["detail"]
            .as_str()
            .unwrap()
            .contains("not run over HTTP"),
        "{watch}"
    );
    http.post(&server.url("/api/v1/exit"), Some(&operator), &json!({}))
        .problem(404);
    http.post(
        &server.url("/api/v1/apply?wait=maybe"),
        Some(&operator),
        &json!({}),
    )
    .problem(400);

    let gone = http
        .get(&server.url("/api/v1/guests"), Some(&revoked))
        .problem(401);
    assert!(
        gone["detail"].as_str().unwrap().contains("revoked"),
        "{gone}"
    );
    let late = http
        .get(&server.url("/api/v1/guests"), Some(&expiring))
        .problem(401);
    assert!(
        late["detail"].as_str().unwrap().contains("expired"),
        "{late}"
    );
    http.send(
        "GET",
        &server.url("/api/v1/guests"),
        None,
        &[("authorization", "Basic Zm9vOmJhcg==")],
        None,
    )
    .problem(401);

    // A browser session: reads with the cookie alone, writes only with the CSRF token.
    let login = http.post(
        &server.url("/api/v1/session"),
        None,
        &json!({ "token": operator }),
    );
    let session = login.ok();
    let cookie_header = login.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie_header.contains("HttpOnly") && cookie_header.contains("SameSite=Strict"),
        "{cookie_header}"
    );
    let cookie = cookie_header.split(';').next().unwrap().to_string();
    let csrf = session["csrf_token"].as_str().unwrap();
    let read = http.send(
        "GET",
        &server.url("/api/v1/nodes"),
        None,
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(read.status, 200, "{}", read.text);
    let body = br#"{"kind": "vm", "flags": {"name": "csrf-01", "memory": "256M", "cores": "1", "disk": "1G", "node": "pve1"}}"#;
    http.send(
        "POST",
        &create,
        None,
        &[("cookie", &cookie)],
        Some(body.to_vec()),
    )
    .problem(403);
    http.send(
        "POST",
        &create,
        None,
        &[("cookie", &cookie), ("x-csrf-token", "0000")],
        Some(body.to_vec()),
    )
    .problem(403);
    http.post(
        &server.url("/api/v1/session"),
        None,
        &json!({ "token": revoked }),
    )
    .problem(401);
    http.post(
        &server.url("/api/v1/session"),
        None,
        &json!({ "tok": operator }),
    )
    .problem(400);

    assert_eq!(
        sim.control().write_count(),
        writes_before,
        "the cluster was not touched"
    );
    let files_after = relative_files(&dir.path().join("terraform"), Unreadable::Panic);
    assert_eq!(files_before, files_after, "no file changed");

    // With the CSRF token the same write goes through.
    let made = http.send(
        "POST",
        &create,
        None,
        &[("cookie", &cookie), ("x-csrf-token", csrf)],
        Some(body.to_vec()),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let guests = http
        .send(
            "GET",
            &server.url("/api/v1/guests"),
            None,
            &[("cookie", &cookie)],
            None,
        )
        .ok();
    let made = guests["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "csrf-01");
    assert_eq!(made.map(|g| &g["in_files"]), Some(&json!(true)), "{guests}");
    // Logging out ends the session: the cookie reads nothing any more.
    let out = http.send(
        "DELETE",
        &server.url("/api/v1/session"),
        None,
        &[("cookie", &cookie), ("x-csrf-token", csrf)],
        None,
    );
    assert_eq!(out.status, 204, "{}", out.text);
    http.send(
        "GET",
        &server.url("/api/v1/nodes"),
        None,
        &[("cookie", &cookie)],
        None,
    )
    .problem(401);
}

#[test]
fn serve_refuses_a_network_address_without_tls_and_tokens() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let out = cmd(&sim, dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without TLS"), "{err}");
    let out = cmd(&sim, dir.path())
        .args(["serve", "--listen", "0.0.0.0:0", "--tls-self-signed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no API token"), "{err}");
    let out = cmd(&sim, dir.path())
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = cmd(&sim, dir.path())
        .args(["token", "create", "x", "--role", "root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a role"));
}

#[test]
fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let (server, _) = Server::start_with(&sim, dir.path(), &["--rate-limit", "5"], &[]);
    let http = Http::new(&sim);
    // A minute's quota of five, asked for eight times in a row.
    let answers: Vec<_> = (0..8)
        .map(|_| http.get(&server.url("/api/v1/openapi.json"), None))
        .collect();
    assert!(answers[..5].iter().all(|a| a.status == 200));
    for answer in &answers[5..] {
        let doc = answer.problem(429);
        assert!(
            doc["detail"]
                .as_str()
                .unwrap()
                .contains("more than 5 requests"),
            "{doc}"
        );
        let wait: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    let out = super::common::cmd(&sim, dir.path())
        .args(["serve", "--rate-limit", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
