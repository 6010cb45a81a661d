//! Where `create` puts a guest when the line gives no `--node` and config.yml pins none:
//! per guest, the node with the most free memory and a storage with room, counting the guests
//! already pending in the files, with the reason said. `/init` pins no node.

use serde_json::json;

use crate::support::ops::{OpsWorkspace, lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_big_creates_spread_over_the_nodes_and_say_why() {
    let ws = OpsWorkspace::init().await;
    let config = std::fs::read_to_string(ws.root().join(".proxmox/config.yml")).unwrap();
    assert!(
        !config.contains("node: pve"),
        "/init pins no default node:\n{config}"
    );
    ws.run("sync", json!({})).await;

    let mut nodes = Vec::new();
    for name in ["big-01", "big-02", "big-03"] {
        let report = ws
            .run(
                "create",
                json!({ "kind": "vm", "flags": { "name": name, "memory": "32G", "disk": "8G" } }),
            )
            .await;
        let text = lines(&report);
        let why = text
            .lines()
            .find(|l| l.starts_with("chose pve"))
            .unwrap_or_else(|| panic!("{name}: no reason for the node in:\n{text}"));
        assert!(why.contains("most free memory"), "{why}");
        assert!(why.contains("it needs 32.0 GiB"), "{why}");
        let node = why["chose ".len()..].split(':').next().unwrap().to_string();
        let file = std::fs::read_to_string(
            ws.root()
                .join(format!("terraform/{}.tf", name.replace('-', "_"))),
        )
        .unwrap();
        assert!(
            file.contains(&format!("on node \"{node}\"")),
            "{name} was written for {node}:\n{file}"
        );
        nodes.push(node);
    }
    assert!(
        !(nodes[0] == nodes[1] && nodes[1] == nodes[2]),
        "all three went to {}: pending guests were not counted",
        nodes[0]
    );
    // The second choice saw the first guest pending.
    let again = ws
        .run(
            "create",
            json!({ "kind": "vm", "flags": { "name": "big-04", "memory": "1G", "disk": "1G" } }),
        )
        .await;
    assert!(
        lines(&again).contains("pending in the files") || lines(&again).contains("others:"),
        "{}",
        lines(&again)
    );

    // A pinned node still wins.
    ws.run(
        "config",
        json!({ "action": "set", "key": "defaults.node", "value": "pve3" }),
    )
    .await;
    let pinned = ws
        .run(
            "create",
            json!({ "kind": "vm", "flags": { "name": "big-05", "memory": "1G", "disk": "1G" } }),
        )
        .await;
    assert!(
        lines(&pinned).contains("node pve3 (config.yml default)"),
        "{}",
        lines(&pinned)
    );
}
