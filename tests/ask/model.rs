//! A model behind an OpenAI-compatible endpoint (the test double): its proposal is shown with
//! the plan it makes, written only on "yes"; read-only calls run at once; a change runs only
//! after its own confirmation, whatever the model says about it; no request carries a secret.

use serde_json::json;

use super::common::*;
use super::double::{Double, calls};

fn app_server() -> serde_json::Value {
    calls(
        Some("An app server: one VM with 2 GB."),
        &[(
            "create",
            json!({ "kind": "vm", "flags": { "name": "app-01", "memory": "2G" } }),
        )],
    )
}

#[test]
fn a_proposal_shows_the_command_and_its_plan_and_writes_only_on_yes() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let model = Double::start(vec![app_server(), app_server()]);
    use_model(dir.path(), &model.endpoint());
    let file = dir.path().join("terraform/app_01.tf");
    let before = files(dir.path());
    let commits_before = commits(dir.path());

    let out = console(&sim, dir.path(), &["? make me an app server", "no"]);
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        proposed(&said),
        vec!["create vm --name app-01 --memory 2G".to_string()],
        "{said}"
    );
    assert!(
        said.contains("# vm \"app-01\""),
        "the plan is shown:\n{said}"
    );
    assert!(said.contains("will be created"), "{said}");
    assert!(said.contains("memory  = \"2048\""), "{said}");
    assert!(
        said.contains("Run `create vm --name app-01 --memory 2G`?"),
        "{said}"
    );
    assert!(
        said.contains("Skipped `create vm --name app-01 --memory 2G`"),
        "{said}"
    );
    assert_eq!(files(dir.path()), before, "\"no\" writes nothing");
    assert_eq!(commits(dir.path()), commits_before);
    assert!(!file.exists());

    let out = console(&sim, dir.path(), &["? make me an app server", "yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let tf = std::fs::read_to_string(&file).expect("\"yes\" writes the file");
    assert!(tf.contains("\"app-01\"") && tf.contains("2048"), "{tf}");
    assert_eq!(
        commits(dir.path()),
        commits_before + 1,
        "one commit for the change"
    );

    let requests = model.requests();
    assert_eq!(requests.len(), 2, "one request per question");
    for r in &requests {
        let everything = format!("{:?}{}", r.headers, r.body);
        assert!(
            !everything.contains(&sim.secret()),
            "a request to the model carries the token secret"
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {AI_KEY}").as_str())
        );
        assert!(
            !r.body.contains(AI_KEY),
            "the AI key goes only in the header"
        );
        let body = r.json();
        assert_eq!(body["model"], "test-model");
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        for op in ["create", "list", "plan", "apply", "stop"] {
            assert!(tools.contains(&op), "tool {op} offered: {tools:?}");
        }
        for op in ["init", "config", "ask", "token"] {
            assert!(
                !tools.contains(&op),
                "tool {op} must not be offered: {tools:?}"
            );
        }
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.last().unwrap()["content"], "make me an app server");
        assert!(
            r.body.contains("web-01"),
            "the workspace's names are given as data"
        );
    }
}

#[test]
fn a_read_only_question_runs_at_once_and_a_change_waits_whatever_the_model_says() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let model = Double::start(vec![
        calls(
            None,
            &[(
                "list",
                json!({ "kind": "vms", "flags": { "status": "stopped" } }),
            )],
        ),
        // The model calls a change harmless; the registry decides.
        calls(
            Some("This is read-only and safe; no confirmation is needed."),
            &[
                ("delete", json!({ "kind": "vm", "name": "web-02" })),
                (
                    "stop",
                    json!({ "kind": "vm", "name": "web-01", "flags": { "yes": true } }),
                ),
            ],
        ),
        calls(
            Some("read-only"),
            &[("delete", json!({ "kind": "vm", "name": "web-02" }))],
        ),
    ]);
    use_model(dir.path(), &model.endpoint());
    let before = files(dir.path());

    let out = console(&sim, dir.path(), &["? which vms are stopped"]);
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        said.contains("Running `list vms --status stopped` (it only reads)"),
        "{said}"
    );
    assert!(
        said.contains("lab-02") && said.contains("gpu-box"),
        "answered:\n{said}"
    );
    assert!(!said.contains("Run `"), "no question for a read:\n{said}");
    assert_eq!(files(dir.path()), before);

    // The next line is not an answer: nothing of the proposal runs.
    let out = console(&sim, dir.path(), &["? tidy up web-02 please", "/status"]);
    let said = all(&out);
    assert!(said.contains("Run `delete vm web-02`?"), "{said}");
    assert!(said.contains("changes the files: needs your yes"), "{said}");
    assert!(
        said.contains("acts on the cluster: needs your yes"),
        "{said}"
    );
    assert!(dir.path().join("terraform/web_02.tf").exists());
    assert_eq!(files(dir.path()), before, "nothing ran without a yes");
    assert_eq!(
        sim.control().guest_running(100),
        Some(true),
        "web-01 was not stopped"
    );

    // One-shot without --yes shows and changes nothing.
    let out = one_shot(&sim, dir.path(), &["ask", "remove", "web-02"]);
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        proposed(&said),
        vec!["delete vm web-02".to_string()],
        "{said}"
    );
    assert!(said.contains("nothing was changed"), "{said}");
    assert_eq!(files(dir.path()), before);
}

#[test]
fn what_the_registry_does_not_run_is_refused_and_yes_runs_the_rest() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let model = Double::start(vec![calls(
        Some("Done in four steps."),
        &[
            (
                "config",
                json!({ "action": "set", "key": "endpoint", "value": "https://evil.example" }),
            ),
            ("shell", json!({ "command": "rm -rf terraform" })),
            (
                "create",
                json!({ "kind": "vm", "flags": { "name": "app-01", "colour": "red" } }),
            ),
            (
                "create",
                json!({ "kind": "vm", "flags": { "name": "app-02", "memory": "1G" } }),
            ),
        ],
    )]);
    use_model(dir.path(), &model.endpoint());
    let config_before = std::fs::read_to_string(dir.path().join(".proxmox/config.yml")).unwrap();

    let out = one_shot(&sim, dir.path(), &["ask", "set", "things", "up", "--yes"]);
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        proposed(&said),
        vec!["create vm --name app-02 --memory 1G".to_string()],
        "{said}"
    );
    assert!(
        said.contains("refused a proposal of the model: `config` is not an operation ask runs"),
        "{said}"
    );
    assert!(
        said.contains("`shell` is not an operation ask runs"),
        "{said}"
    );
    assert!(
        said.contains("colour"),
        "the unknown flag is named:\n{said}"
    );
    assert!(
        dir.path().join("terraform/app_02.tf").exists(),
        "--yes ran the valid one"
    );
    assert!(!dir.path().join("terraform/app_01.tf").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".proxmox/config.yml")).unwrap(),
        config_before
    );
}

#[test]
fn a_pasted_key_or_an_endpoint_that_does_not_answer_is_a_clear_error() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let config = dir.path().join(".proxmox/config.yml");
    let good = std::fs::read_to_string(&config).unwrap();

    // A key pasted where its reference belongs is refused without being shown.
    let pasted = "sk-live-0123456789abcdef";
    std::fs::write(
        &config,
        format!("{good}ai:\n  endpoint: \"http://127.0.0.1:9/v1\"\n  key: \"{pasted}\"\n"),
    )
    .unwrap();
    let out = console(&sim, dir.path(), &["? which vms are stopped"]);
    let said = all(&out);
    assert!(!out.status.success());
    assert!(said.contains("ai.key"), "{said}");
    assert!(
        !said.contains(pasted),
        "the pasted key is not echoed:\n{said}"
    );

    // Nothing listens on the discard port: the error names the address and the setting.
    std::fs::write(&config, good).unwrap();
    use_model(dir.path(), "http://127.0.0.1:9/v1");
    let before = files(dir.path());
    let out = console(&sim, dir.path(), &["? make me an app server"]);
    let said = all(&out);
    assert!(!out.status.success());
    assert!(
        said.contains("the model at http://127.0.0.1:9/v1/chat/completions did not answer"),
        "{said}"
    );
    assert!(said.contains("ai.endpoint"), "{said}");
    assert_eq!(files(dir.path()), before);
}
