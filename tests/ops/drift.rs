//! `/drift` and `/resolve` through the operations layer alone (requests from JSON, run with
//! `commands::execute`) against the simulator over HTTPS: drift found field by field and named
//! by the side that moved, nothing written by `/drift`, and conflicts settled by `/resolve`
//! with the server's value or the file's. Changes on the server go through its PVE API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::error::ErrorKind;
use serde_json::{Value, json};

use crate::support::files::workspace_files;
use crate::support::ops::{OpsWorkspace, data, lines};

const WEB: &str = "terraform/web_01.tf";

/// Every workspace file but the state database and git's own folder (opening either may
/// touch it), relative path -> bytes.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    workspace_files(root)
}

fn entries(report: &Value) -> Vec<Value> {
    report["entries"].as_array().cloned().unwrap_or_default()
}

async fn snapshot_serial(ws: &OpsWorkspace) -> i64 {
    let db = proxmox_mpc::state::StateDb::open_existing(&ws.root().join(".proxmox/state.db"))
        .await
        .unwrap();
    db.latest_snapshot().await.unwrap().map_or(0, |s| s.serial)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_after_a_sync_is_none_and_a_server_change_is_named_field_by_field() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    let clean = ws.run("drift", json!({ "detailed_exitcode": true })).await;
    assert_eq!(data(&clean)["drift"], false, "{clean:?}");
    assert!(entries(&data(&clean)).is_empty(), "{clean:?}");
    assert!(lines(&clean).contains("No drift"), "{}", lines(&clean));

    ws.set_on_server(100, "memory", "4096").await;
    let before = files(ws.root());
    let serial = snapshot_serial(&ws).await;
    let e = ws
        .try_run("drift", json!({ "detailed_exitcode": true }))
        .await
        .expect_err("drift is found");
    assert_eq!(e.kind, ErrorKind::ChangesPresent, "{}", e.message);
    assert_eq!(e.kind.exit_code(), 2);
    let found = data(&e.output);
    assert_eq!(found["drift"], true);
    let all = entries(&found);
    assert_eq!(all.len(), 1, "{found:#}");
    let memory = &all[0];
    assert_eq!(memory["guest"], "web-01");
    assert_eq!(memory["vmid"], 100);
    assert_eq!(memory["field"], "memory");
    assert_eq!(memory["change"], "drift");
    assert_eq!(memory["path"], WEB);
    assert_eq!(
        (&memory["last_sync"], &memory["server"], &memory["file"]),
        (&json!("2048"), &json!("4096"), &json!("2048"))
    );
    assert!(
        lines(&e.output).contains("web-01 memory"),
        "{}",
        lines(&e.output)
    );
    // Writing nothing: no file changed, no snapshot recorded (a saved plan stays fresh).
    assert_eq!(files(ws.root()), before);
    assert_eq!(snapshot_serial(&ws).await, serial);

    // Without --detailed-exitcode the same report is a success.
    let report = ws.run("drift", json!({})).await;
    assert_eq!(entries(&data(&report)).len(), 1);

    // The drift found is in the history, under the guest, with the field; a clean check
    // (the first one above) added nothing.
    let history = data(&ws.run("history", json!({ "guest": "web-01" })).await);
    let found: Vec<&serde_json::Value> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "drift")
        .collect();
    assert_eq!(found.len(), 2, "{history:#}");
    assert!(found[0].to_string().contains("memory"), "{:#}", found[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_alone_is_pending_not_drift() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    let text = std::fs::read_to_string(ws.root().join(WEB)).unwrap();
    std::fs::write(
        ws.root().join(WEB),
        text.replace("cores   = 2", "cores   = 6"),
    )
    .unwrap();
    let report = ws.run("drift", json!({ "detailed_exitcode": true })).await;
    let found = data(&report);
    assert_eq!(found["drift"], false, "{found:#}");
    let all = entries(&found);
    assert_eq!(all.len(), 1, "{found:#}");
    assert_eq!(all[0]["field"], "cores");
    assert_eq!(all[0]["change"], "pending");
    assert!(
        lines(&report).contains("1 pending change"),
        "{}",
        lines(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_settles_a_conflict_with_the_code_or_the_server() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.set_on_server(100, "memory", "4096").await;
    let edited = std::fs::read_to_string(ws.root().join(WEB))
        .unwrap()
        .replace("dedicated = 2048", "dedicated = 3072");
    assert!(edited.contains("dedicated = 3072"));
    std::fs::write(ws.root().join(WEB), &edited).unwrap();

    // /sync lists the conflict and leaves the file as edited.
    let synced = ws.run("sync", json!({})).await;
    let web = data(&synced)["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == 100)
        .cloned()
        .unwrap();
    assert_eq!(web["outcome"], "conflict", "{web:#}");
    assert_eq!(
        web["fields"][0],
        json!({ "field": "memory", "file": "3072", "live": "4096", "base": "2048", "change": "conflict" })
    );
    assert!(
        lines(&synced).contains("web-01 (100) memory: last sync 2048, server 4096, file 3072"),
        "{}",
        lines(&synced)
    );
    assert_eq!(
        std::fs::read_to_string(ws.root().join(WEB)).unwrap(),
        edited
    );
    let found = data(&ws.run("drift", json!({})).await);
    assert_eq!(entries(&found)[0]["change"], "conflict", "{found:#}");

    // Bad input: an unknown guest, a field that agrees, no conflict left to settle.
    let e = ws
        .try_run("resolve", json!({ "guest": "nope", "take": "server" }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no guest called `nope`"),
        "{}",
        e.message
    );
    let e = ws
        .try_run(
            "resolve",
            json!({ "guest": "web-01", "field": "cores", "take": "server" }),
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("`cores` is the same"), "{}", e.message);
    assert!(e.message.contains("memory (conflict)"), "{}", e.message);
    // No side and nobody at a terminal to ask: refused, saying how to choose.
    let e = ws
        .try_run("resolve", json!({ "guest": "web-01" }))
        .await
        .unwrap_err();
    assert!(e.message.contains("needs a side"), "{}", e.message);
    assert!(format!("{e:?}").contains("--take server"), "{e:?}");
    assert_eq!(
        std::fs::read_to_string(ws.root().join(WEB)).unwrap(),
        edited
    );

    // --take code: the file stays; the field is now a pending change /apply carries out.
    let kept = ws
        .run("resolve", json!({ "guest": "web-01", "take": "code" }))
        .await;
    assert!(
        lines(&kept).contains("keep(s) the file's value"),
        "{}",
        lines(&kept)
    );
    assert_eq!(
        std::fs::read_to_string(ws.root().join(WEB)).unwrap(),
        edited
    );
    let found = data(&ws.run("drift", json!({ "detailed_exitcode": true })).await);
    assert_eq!(entries(&found)[0]["change"], "pending", "{found:#}");
    let planned = data(&ws.run("plan", json!({ "json": true })).await);
    let change = &planned["changes"][0];
    assert_eq!(change["name"], "web-01", "{planned:#}");
    assert!(planned.to_string().contains("3072"), "{planned:#}");
    let e = ws
        .try_run("resolve", json!({ "guest": "web-01", "take": "server" }))
        .await
        .unwrap_err();
    assert!(e.message.contains("has no conflicts"), "{}", e.message);

    // --take server on the named field: the file takes the server's value, nothing else.
    let taken = ws
        .run(
            "resolve",
            json!({ "guest": "100", "field": "memory", "take": "server" }),
        )
        .await;
    assert_eq!(data(&taken)["written"][0], WEB, "{taken:?}");
    let now = std::fs::read_to_string(ws.root().join(WEB)).unwrap();
    assert!(now.contains("dedicated = 4096"), "{now}");
    let found = data(&ws.run("drift", json!({})).await);
    assert!(entries(&found).is_empty(), "{found:#}");
    let synced = ws.run("sync", json!({})).await;
    assert_eq!(data(&synced)["counts"]["unchanged"], 29, "{synced:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_server_keeps_the_other_hand_edits_of_the_file() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.set_on_server(100, "memory", "4096").await;
    let edited = std::fs::read_to_string(ws.root().join(WEB))
        .unwrap()
        .replace("dedicated = 2048", "dedicated = 3072")
        .replace("cores   = 2", "cores   = 6");
    std::fs::write(ws.root().join(WEB), &edited).unwrap();
    ws.run("resolve", json!({ "guest": "web-01", "take": "server" }))
        .await;
    let now = std::fs::read_to_string(ws.root().join(WEB)).unwrap();
    assert!(now.contains("dedicated = 4096"), "{now}");
    assert!(now.contains("cores   = 6"), "the other edit stays: {now}");
    let found = data(&ws.run("drift", json!({})).await);
    let all = entries(&found);
    assert_eq!(all.len(), 1, "{found:#}");
    assert_eq!(
        (&all[0]["field"], &all[0]["change"]),
        (&json!("cores"), &json!("pending"))
    );
}

#[test]
fn resolve_requests_need_a_guest_and_a_side() {
    use proxmox_mpc::commands::Request;
    let e = Request::from_json("resolve", json!({ "take": "server" })).unwrap_err();
    assert!(e.message.contains("`resolve`"), "{}", e.message);
    let e =
        Request::from_json("resolve", json!({ "guest": "web-01", "take": "both" })).unwrap_err();
    assert!(e.message.contains("`resolve`"), "{}", e.message);
    assert!(Request::from_json("drift", json!({ "detailed_exitcode": true })).is_ok());
    assert!(Request::from_json("watch", json!({ "every": "1s", "count": 2 })).is_ok());
}
