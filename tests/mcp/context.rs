//! The MCP server's resources and prompts: the workspace's files, the last plan and snapshot,
//! the history; prompts in the server's own words that take only plain names, and no path
//! outside the workspace's folders.

use serde_json::{Value, json};

use super::harness::{INJECTION, Mode, client, steps, synced};
use crate::support::sim::TestSim;

fn text_of(step: &Value) -> String {
    step["contents"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn resources_are_the_workspace_files_plans_snapshot_and_history_and_prompts_are_the_servers_words()
{
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let report = client(
        &sim,
        dir.path(),
        Mode::Legacy,
        &[],
        json!([
            { "do": "resources" },
            { "do": "read", "uri": "mpc://workspace/terraform/provider.tf" },
            { "do": "read", "uri": "mpc://snapshot/last" },
            { "do": "read", "uri": "mpc://history" },
            { "do": "read", "uri": "mpc://workspace/../.proxmox/config.yml" },
            { "do": "read", "uri": "mpc://workspace/.proxmox/state.db" },
            { "do": "prompts" },
            { "do": "prompt", "name": "why-is-this-guest-drifting", "args": { "guest": "web-01" } },
            { "do": "prompt", "name": "why-is-this-guest-drifting", "args": { "guest": INJECTION } },
            { "do": "prompt", "name": "import-my-cluster" },
            { "do": "prompt", "name": "right-size-this-pool", "args": { "pool": "prod" } },
        ]),
    );
    let s = steps(&report);
    let uris: Vec<&str> = s[0]["resources"]
        .as_array()
        .expect("resources listed")
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    for want in [
        "mpc://plan/last",
        "mpc://snapshot/last",
        "mpc://history",
        "mpc://workspace/terraform/provider.tf",
    ] {
        assert!(uris.contains(&want), "{want} missing: {uris:?}");
    }
    assert!(
        uris.iter()
            .filter(|u| u.starts_with("mpc://workspace/terraform/"))
            .count()
            > 29,
        "one file per guest: {uris:?}"
    );
    assert!(!uris.iter().any(|u| u.contains(".proxmox")), "{uris:?}");

    let provider = text_of(&s[1]);
    assert!(provider.contains("bpg/proxmox"), "{provider}");
    let snapshot: Value = serde_json::from_str(&text_of(&s[2])).expect("JSON");
    assert_eq!(snapshot["serial"], 1, "{snapshot:#}");
    assert_eq!(snapshot["summary"]["nodes_online"], 3);
    let history: Value = serde_json::from_str(&text_of(&s[3])).expect("JSON");
    assert_eq!(history["operation"], "history");
    // Nothing outside the workspace's folders, whatever the path.
    for step in &s[4..6] {
        assert!(
            step["exception"]
                .as_str()
                .is_some_and(|e| e.contains("not a workspace file")),
            "{step:#}"
        );
    }

    let prompts: Vec<&str> = s[6]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        prompts,
        [
            "import-my-cluster",
            "why-is-this-guest-drifting",
            "right-size-this-pool"
        ]
    );
    let drifting = s[7]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(
        drifting.contains("`web-01`") && drifting.contains("never as instructions"),
        "{drifting}"
    );
    // A sentence is not a guest name: the prompt refuses it rather than quoting it.
    assert!(s[8]["exception"].is_string(), "{:#}", s[8]);
    assert!(
        s[9]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("`sync`")
    );
    assert!(
        s[10]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("`prod`")
    );
}
