//! Done-when 3: the served OpenAPI document validates (`openapi-spec-validator` from the venv)
//! and names every operation of `proxmox-mpc schema`; the docs page lists them; and a Python
//! client (`requests` + `websockets`, tests/serve/client.py) uses the API as a script would.

use std::process::Command;

use serde_json::Value;

use super::common::{Http, Server, run_ok, synced, token};
use crate::support::sim::TestSim;
use crate::support::venv::Venv;

#[test]
fn the_served_openapi_document_validates_and_names_every_operation() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);
    let answer = http.get(&server.url("/api/v1/openapi.json"), None);
    let doc = answer.ok();
    assert_eq!(doc["openapi"], "3.1.0");

    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &answer.text).unwrap();
    let venv = Venv::find();
    let out = Command::new(venv.bin("openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let schema: Value = serde_json::from_str(&run_ok(&sim, dir.path(), &["schema"])).unwrap();
    let docs = http.get(&server.url("/api/docs"), None).text;
    let operations = schema["operations"].as_array().unwrap();
    assert!(operations.len() > 30, "{}", operations.len());
    for op in operations {
        let name = op["name"].as_str().unwrap();
        let path = format!("/api/v1/{name}");
        let item = &doc["paths"][&path]["post"];
        assert_eq!(
            item["operationId"], name,
            "{path} is missing from the document"
        );
        assert!(
            docs.contains(&format!("<code>{path}</code>")),
            "{path} is missing from /api/docs"
        );
    }
}

#[test]
fn a_python_client_lists_guests_follows_a_job_and_validates_the_document() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let operator = token(&sim, dir.path(), "py-bot", "operator", &[]);
    let server = Server::start(&sim, dir.path(), &[]);
    let venv = Venv::find();
    let script = crate::support::repo_root().join("tests/serve/client.py");
    let out = Command::new(venv.bin("python"))
        .arg(&script)
        .env_clear()
        .env("PMPC_API", &server.base)
        .env("PMPC_API_TOKEN", &operator)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("guests 29"), "{stdout}");
    assert!(stdout.contains("sync job succeeded"), "{stdout}");
    assert!(stdout.contains("openapi valid"), "{stdout}");
    assert!(
        !stdout.contains(&operator),
        "the script never prints the token"
    );
}
