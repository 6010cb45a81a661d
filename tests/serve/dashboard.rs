//! What the dashboard stands on, through the real `serve` and the homelab simulator: the page
//! and its assets from the binary under a policy that lets only its own script run, the
//! overview's badges (in sync, drifted after a change on the server, pending after an edit),
//! a guest's fields side by side, its metrics, the editor's checked saves (each refusal names
//! its field and writes nothing), who the caller is, and the environment header. The browser
//! itself drives these in web/e2e.

use serde_json::{Value, json};

use super::common::{Http, Server, synced, token};
use crate::support::sim::TestSim;

fn badge_of(overview: &Value, name: &str) -> String {
    overview["data"]["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {overview}"))["badge"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_page_and_its_assets_come_from_the_binary_under_a_strict_policy() {
    let sim = TestSim::homelab();
    let ws = synced(&sim);
    let server = Server::start(&sim, ws.path(), &[]);
    let http = Http::new(&sim);
    let page = http.get(&server.url("/"), None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.content_type.starts_with("text/html"), "{page:?}");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    // Every script and stylesheet the page names is served, from this origin only.
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for part in page.text.split(attr).skip(1) {
            let path = part.split('"').next().unwrap();
            if !path.starts_with("/assets/") {
                assert!(
                    !path.contains("://"),
                    "the page loads nothing from elsewhere: {path}"
                );
                continue;
            }
            let asset = http.get(&server.url(path), None);
            assert_eq!(asset.status, 200, "{path}");
            assert!(
                asset.content_type.starts_with("text/javascript")
                    || asset.content_type.starts_with("text/css")
                    || asset.content_type.starts_with("image/"),
                "{path}: {}",
                asset.content_type
            );
            assets += 1;
        }
    }
    assert!(assets >= 1, "the page names its script: {}", page.text);
    // The API keeps its own stricter policy, and a missing asset is a problem document.
    let api = http.get(&server.url("/api/v1/openapi.json"), None);
    let api_policy = api.headers["content-security-policy"].to_str().unwrap();
    assert!(!api_policy.contains("script-src"), "{api_policy}");
    http.get(&server.url("/assets/nothing-here.js"), None)
        .problem(404);
}

#[test]
fn badges_follow_the_server_and_the_files() {
    let sim = TestSim::homelab();
    let ws = synced(&sim);
    let operator = token(&sim, ws.path(), "dash-op", "operator", &[]);
    let server = Server::start(&sim, ws.path(), &[]);
    let http = Http::new(&sim);

    let overview = http
        .get(&server.url("/api/v1/overview"), Some(&operator))
        .ok();
    let guests = overview["data"]["guests"].as_array().unwrap();
    assert_eq!(guests.len(), 29, "{overview}");
    assert!(guests.iter().all(|g| g["badge"] == "in-sync"), "{overview}");
    let nodes = overview["data"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{overview}");
    assert!(
        nodes
            .iter()
            .all(|n| n["maxmem"].as_f64().unwrap() > 0.0 && n["cpu"].is_number()),
        "{overview}"
    );

    // Memory changed on the server: web-02 drifted, and its memory field says so.
    let web02 = 101;
    sim.control()
        .set_guest_config(web02, "memory", "3072")
        .unwrap();
    let overview = http
        .get(&server.url("/api/v1/overview"), Some(&operator))
        .ok();
    assert_eq!(badge_of(&overview, "web-02"), "drifted");
    assert_eq!(badge_of(&overview, "web-01"), "in-sync");
    let detail = http
        .get(
            &server.url("/api/v1/overview?guest=web-02"),
            Some(&operator),
        )
        .ok();
    let memory = detail["data"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "memory")
        .unwrap()
        .clone();
    assert_eq!(memory["live"], "3072", "{memory}");
    assert_eq!(memory["file"], "2048", "{memory}");
    assert_eq!(memory["drifted"], true, "{memory}");
    assert_eq!(detail["data"]["guest"]["badge"], "drifted");

    // An edit through the editor: web-01 is pending, with that one field.
    let saved = http
        .post(
            &server.url("/api/v1/definition"),
            Some(&operator),
            &json!({ "guest": "web-01", "set": { "memory": "4G" } }),
        )
        .ok();
    assert_eq!(saved["data"]["written"], true, "{saved}");
    let text = std::fs::read_to_string(ws.path().join("terraform/web_01.tf")).unwrap();
    assert!(text.contains("dedicated = 4096"), "{text}");
    let overview = http
        .get(&server.url("/api/v1/overview"), Some(&operator))
        .ok();
    assert_eq!(badge_of(&overview, "web-01"), "pending");
    let plan = http
        .post(&server.url("/api/v1/plan"), Some(&operator), &json!({}))
        .ok();
    let changes: Vec<&Value> = plan["data"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "noop")
        .collect();
    // The edit, and the file winning over web-02's drift (until a /sync adopts it).
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-01", "web-02"], "{plan}");
    assert_eq!(
        changes[0]["fields"],
        json!([{ "key": "memory", "old": "2048", "new": "4096" }])
    );
    assert_eq!(
        changes[1]["fields"],
        json!([{ "key": "memory", "old": "3072", "new": "2048" }])
    );

    // Metrics for the charts.
    let metrics = http
        .get(
            &server.url("/api/v1/metrics?guest=web-01&timeframe=day"),
            Some(&operator),
        )
        .ok();
    let points = metrics["data"]["points"].as_array().unwrap();
    assert!(points.len() > 10, "{metrics}");
    assert!(
        points
            .iter()
            .all(|p| p["time"].is_u64() && p["cpu"].is_number())
    );
    http.get(
        &server.url("/api/v1/metrics?guest=web-01&timeframe=century"),
        Some(&operator),
    )
    .problem(422);
}

#[test]
fn a_refused_edit_names_each_field_and_writes_nothing() {
    let sim = TestSim::homelab();
    let ws = synced(&sim);
    let operator = token(&sim, ws.path(), "edit-op", "operator", &[]);
    let viewer = token(&sim, ws.path(), "edit-view", "viewer", &[]);
    let server = Server::start(&sim, ws.path(), &[]);
    let http = Http::new(&sim);
    let path = ws.path().join("terraform/web_01.tf");
    let before = std::fs::read_to_string(&path).unwrap();
    let definition =
        |who: &str| http.post(&server.url("/api/v1/definition"), Some(who), &json!({}));

    // What the editor starts from.
    let shown = http
        .get(
            &server.url("/api/v1/definition?guest=web-01"),
            Some(&viewer),
        )
        .ok();
    assert_eq!(shown["data"]["hcl"], before.as_str());
    assert_eq!(shown["data"]["fields"]["memory"], "2048");
    assert_eq!(shown["data"]["path"], "terraform/web_01.tf");
    definition(&viewer).problem(422);

    let refused = http
        .post(
            &server.url("/api/v1/definition"),
            Some(&operator),
            &json!({ "guest": "web-01", "set": {
                "memory": "lots", "add-disk": "scsi99=local-lvm:10G", "cores": "4" } }),
        )
        .problem(422);
    let errors = refused["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["add-disk", "memory"], "{refused}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("'scsi99' is not a disk slot"),
        "{refused}"
    );
    assert!(
        errors[1]["message"].as_str().unwrap().contains("lots"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "nothing written"
    );

    // The raw text goes through the reader: a memory that is not a number, a slot PVE lacks.
    for (edit, says) in [
        (
            before.replace("dedicated = 2048", "dedicated = \"lots\""),
            "lots",
        ),
        (
            before.replace(
                "interface         = \"scsi0\"",
                "interface         = \"scsi99\"",
            ),
            "`scsi99` is not a disk slot",
        ),
        (
            before.replace("vm_id         = 100", "vm_id         = 190"),
            "vmid 100",
        ),
    ] {
        assert_ne!(edit, before, "the edit applies to the generated file");
        let refused = http
            .post(
                &server.url("/api/v1/definition"),
                Some(&operator),
                &json!({ "guest": "web-01", "hcl": edit }),
            )
            .problem(422);
        assert_eq!(refused["errors"][0]["field"], "hcl", "{refused}");
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{says}: {refused}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before,
            "nothing written"
        );
    }

    // A viewer may look but not save; a valid raw edit is written whole.
    let edit = before.replace("cores   = 2", "cores   = 3");
    http.post(
        &server.url("/api/v1/definition"),
        Some(&viewer),
        &json!({ "guest": "web-01", "hcl": edit }),
    )
    .problem(403);
    http.post(
        &server.url("/api/v1/definition"),
        Some(&operator),
        &json!({ "guest": "web-01", "hcl": edit }),
    )
    .ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edit);
}

#[test]
fn whoami_and_the_environment_header() {
    let sim = TestSim::homelab();
    let ws = synced(&sim);
    let viewer = token(&sim, ws.path(), "who-view", "viewer", &[]);
    let limited = token(
        &sim,
        ws.path(),
        "who-limited",
        "operator",
        &["--env", "default"],
    );
    let server = Server::start(&sim, ws.path(), &[]);
    let http = Http::new(&sim);
    let me = http.get(&server.url("/api/v1/whoami"), Some(&viewer)).ok();
    assert_eq!(me["actor"], "who-view");
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["may"]["read"], true);
    assert_eq!(me["may"]["change_cluster"], false);
    assert_eq!(me["may"]["edit_files"], false);

    let header = [("x-pmpc-env", "staging")];
    let refused = http
        .send(
            "GET",
            &server.url("/api/v1/whoami"),
            Some(&limited),
            &header,
            None,
        )
        .problem(403);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("limited to the environment `default`"),
        "{refused}"
    );
    let same = [("x-pmpc-env", "default")];
    let me = http
        .send(
            "GET",
            &server.url("/api/v1/whoami"),
            Some(&limited),
            &same,
            None,
        )
        .ok();
    assert_eq!(me["environment"], "default");
    // An environment the workspace does not have is named in the refusal.
    let unknown = http.send(
        "GET",
        &server.url("/api/v1/status"),
        Some(&viewer),
        &header,
        None,
    );
    assert!(unknown.status >= 400, "{}", unknown.text);
    assert!(unknown.text.contains("staging"), "{}", unknown.text);
}
