//! Done-when 1: without a token every /api/v1 route answers 401 (the docs excepted); a viewer
//! lists the homelab's 29 guests and is refused (403, naming the role) on apply, before its
//! body is read; an operator plans and applies exactly that plan by id and hash, and a replayed
//! or stale plan is refused. Every call is audited with origin `api` and the token's name.

use serde_json::json;

use super::common::{Http, Server, create_three, plan, synced, token};
use crate::support::sim::TestSim;

#[test]
fn without_a_token_every_api_route_is_401_and_the_docs_are_open() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);
    let routes = [
        ("GET", "/api/v1/guests"),
        ("GET", "/api/v1/guests/web-01"),
        ("GET", "/api/v1/guests/web-01/snapshots"),
        ("GET", "/api/v1/nodes"),
        ("GET", "/api/v1/plans"),
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/1"),
        ("DELETE", "/api/v1/jobs/1"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/events/sse"),
        ("GET", "/api/v1/history"),
        ("GET", "/api/v1/status"),
        ("POST", "/api/v1/apply"),
        ("POST", "/api/v1/plan"),
        ("POST", "/api/v1/sync"),
        ("POST", "/api/v1/token"),
        ("POST", "/api/v1/watch"),
        ("DELETE", "/api/v1/session"),
        ("GET", "/api/v1/no-such-route"),
        ("PUT", "/api/v1/apply"),
    ];
    for (method, path) in routes {
        let answer = http.send(method, &server.url(path), None, &[], Some(b"{}".to_vec()));
        let doc = answer.problem(401);
        assert!(
            doc["hint"].as_str().unwrap().contains("Bearer"),
            "{method} {path}: {doc}"
        );
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert!(answer.headers.get("access-control-allow-origin").is_none());
    }
    // A made-up token is no better, and is audited.
    http.get(&server.url("/api/v1/guests"), Some("pmpc_0000"))
        .problem(401);

    let openapi = http.get(&server.url("/api/v1/openapi.json"), None);
    assert_eq!(openapi.ok()["openapi"], "3.1.0");
    let docs = http.get(&server.url("/api/docs"), None);
    assert_eq!(docs.status, 200);
    assert!(
        docs.content_type.starts_with("text/html"),
        "{}",
        docs.content_type
    );
    assert!(docs.text.contains("/api/v1/apply"));
    assert!(
        docs.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[test]
fn a_viewer_reads_and_is_refused_apply_an_operator_applies_the_reviewed_plan_once() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let viewer = token(&sim, dir.path(), "dash", "viewer", &[]);
    let operator = token(&sim, dir.path(), "ci-bot", "operator", &[]);
    let admin = token(&sim, dir.path(), "root-key", "admin", &[]);
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);

    let guests = http.get(&server.url("/api/v1/guests"), Some(&viewer)).ok();
    assert_eq!(guests["guests"].as_array().unwrap().len(), 29, "{guests}");
    let web = http
        .get(&server.url("/api/v1/guests/web-01"), Some(&viewer))
        .ok();
    assert_eq!(web["guest"]["name"], "web-01", "{web}");
    http.get(&server.url("/api/v1/guests/nope-99"), Some(&viewer))
        .problem(404);
    let nodes = http.get(&server.url("/api/v1/nodes"), Some(&viewer)).ok();
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 3, "{nodes}");

    // Refused on the role, before the body is even parsed: a broken body gets 403 too.
    let refused = http.post(
        &server.url("/api/v1/apply"),
        Some(&viewer),
        &json!({ "yes": true }),
    );
    let doc = refused.problem(403);
    assert!(doc["detail"].as_str().unwrap().contains("viewer"), "{doc}");
    assert_eq!(doc["role"], "viewer");
    let broken = http.send(
        "POST",
        &server.url("/api/v1/apply"),
        Some(&viewer),
        &[],
        Some(b"{not json".to_vec()),
    );
    broken.problem(403);
    http.post(&server.url("/api/v1/create"), Some(&viewer), &json!({}))
        .problem(403);
    http.post(
        &server.url("/api/v1/token"),
        Some(&operator),
        &json!({ "action": "list" }),
    )
    .problem(403);

    // The operator plans, then applies exactly that plan by id and hash.
    let names = create_three(&http, &server, &operator, "api");
    let (id, hash) = plan(&http, &server, &operator);
    let applied = http.post(
        &server.url("/api/v1/apply?wait=true"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    );
    let applied = applied.ok();
    assert_eq!(applied["operation"], "apply", "{applied}");
    let after = http.get(&server.url("/api/v1/guests"), Some(&viewer)).ok();
    assert_eq!(sim.control().guest_count(), 32, "{after}");
    for name in &names {
        assert!(
            applied.to_string().contains(name.as_str()),
            "{name}: {applied}"
        );
    }

    // A replay of the same plan is refused, with the reason.
    let replay = http.post(
        &server.url("/api/v1/apply?wait=true"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    );
    let doc = replay.problem(409);
    assert!(
        doc["detail"].as_str().unwrap().contains(&id.to_string()),
        "{doc}"
    );

    // A plan the files moved away from is stale.
    http.post(
        &server.url("/api/v1/create"),
        Some(&operator),
        &json!({ "kind": "vm", "flags": { "name": "api-late", "memory": "256M", "cores": "1", "disk": "1G", "node": "pve1" } }),
    )
    .ok();
    let (id2, hash2) = plan(&http, &server, &operator);
    http.post(
        &server.url("/api/v1/set"),
        Some(&operator),
        &json!({ "kind": "vm", "name": "api-late", "flags": { "memory": "512M" } }),
    )
    .ok();
    let stale = http.post(
        &server.url("/api/v1/apply?wait=true"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id2, "plan_hash": hash2 }),
    );
    let doc = stale.problem(409);
    assert!(doc["detail"].as_str().unwrap().contains("stale"), "{doc}");
    // A hash that is not the plan's is refused too.
    let wrong = http.post(
        &server.url("/api/v1/apply?wait=true"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id2, "plan_hash": "0".repeat(64) }),
    );
    let doc = wrong.problem(409);
    assert!(doc["detail"].as_str().unwrap().contains("hash"), "{doc}");
    assert_eq!(sim.control().guest_count(), 32, "nothing more was created");

    // The audit log names the front end and the token of every call, and the refused login.
    http.get(&server.url("/api/v1/guests"), Some("pmpc_not-a-token"))
        .problem(401);
    let audit = http
        .get(&server.url("/api/v1/audit?json=true"), Some(&admin))
        .ok();
    let text = audit.to_string();
    assert!(text.contains("ci-bot"), "{text}");
    assert!(text.contains("\"api\""), "{text}");
    assert!(
        text.contains("auth-failed") && text.contains("unknown token"),
        "{text}"
    );
    assert!(
        !text.contains("pmpc_not-a-token"),
        "a refused token is not written down"
    );
    for secret in [&viewer, &operator, &admin] {
        assert!(!text.contains(secret.as_str()));
    }
}
