//! The plan gate every front end shares: `/plan` answers `plan_id` and `plan_hash`, and
//! `/apply` with those two applies exactly that plan, refusing an unknown id, a wrong hash, a
//! replay and a stale plan (the cluster moved) without changing anything; and the audit log's
//! `call` rows for a front end other than the console (origin and actor), read with `/audit`.

use proxmox_mpc::commands::access::Role;
use proxmox_mpc::commands::{Ctx, Request};
use proxmox_mpc::error::{CommandError, ErrorKind};
use serde_json::json;

use crate::support::ops::{OpsWorkspace, data};

/// Runs `plan` and returns its plan id and hash.
async fn plan(ws: &OpsWorkspace) -> (i64, String) {
    let report = ws.run("plan", json!({})).await;
    let value = data(&report);
    let id = value["plan_id"]
        .as_i64()
        .expect("plan_id in the plan's data");
    let hash = value["plan_hash"].as_str().expect("plan_hash").to_string();
    assert_eq!(hash.len(), 64, "a SHA-256 in hex: {hash}");
    (id, hash)
}

async fn apply(ws: &OpsWorkspace, id: i64, hash: &str) -> Result<(), CommandError> {
    ws.try_run(
        "apply",
        json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    )
    .await
    .map(|_| ())
}

fn refused(result: Result<(), CommandError>, says: &str) -> CommandError {
    let err = result.expect_err("the apply is refused");
    assert_eq!(err.kind, ErrorKind::User, "{err:?}");
    assert!(
        err.message.contains(says) && err.message.contains("nothing was changed"),
        "expected `{says}` in: {}",
        err.message
    );
    assert!(!err.hints.is_empty(), "a refusal names the next step");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_plan_is_applied_once_by_id_and_hash_and_nothing_else_is() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": "gate-01", "memory": "1G" } }),
    )
    .await;
    let (id, hash) = plan(&ws).await;

    // A wrong hash, an unknown id, and a hash without its id change nothing.
    let mut wrong = hash.clone();
    wrong.replace_range(0..1, if hash.starts_with('0') { "1" } else { "0" });
    refused(
        apply(&ws, id, &wrong).await,
        "plan_hash is not this plan's hash",
    );
    refused(apply(&ws, id + 100, &hash).await, "no such plan");
    let stray = ws
        .try_run("apply", json!({ "yes": true, "plan_hash": hash }))
        .await;
    assert_eq!(stray.expect_err("a hash alone").kind, ErrorKind::Cli);
    assert_eq!(ws.sim_guest("gate-01"), None, "nothing was created");

    apply(&ws, id, &hash)
        .await
        .expect("the reviewed plan applies");
    assert!(ws.sim_guest("gate-01").is_some(), "gate-01 was created");

    // The same plan again is a replay.
    refused(apply(&ws, id, &hash).await, "applied already");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_whose_guest_changed_on_the_server_is_refused_as_stale() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run(
        "set",
        json!({ "kind": "vm", "name": "web-01", "flags": { "memory": "3G" } }),
    )
    .await;
    let (id, hash) = plan(&ws).await;
    let vmid = ws.sim_guest("web-01").expect("web-01 on the simulator");
    ws.set_on_server(vmid, "cores", "3").await;

    refused(apply(&ws, id, &hash).await, "stale");
    let memory = ws.sim.control().guest_config(vmid).unwrap()["memory"].clone();
    assert_ne!(memory, "3072", "the stale plan did not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_another_front_end_are_audited_with_origin_and_actor() {
    let ws = OpsWorkspace::init().await;
    let mut ctx: Ctx = ws.ctx();
    ctx.origin = "mcp".into();
    ctx.actor = Some("test-client".into());
    ws.try_run_in(&mut ctx, "list", json!({ "kind": "vm" }))
        .await
        .expect("list runs");
    let viewer_apply = Request::from_json("apply", json!({})).unwrap();
    let refusal = Role::Viewer
        .check(&viewer_apply)
        .expect_err("a viewer may not apply");
    assert_eq!(refusal.kind, ErrorKind::Forbidden);
    assert!(refusal.message.contains("viewer") && refusal.message.contains("operator"));
    // A refused operation is on record too.
    let mut ctx = ws.ctx();
    ctx.origin = "mcp".into();
    ctx.actor = Some("test-client".into());
    let bad = ws
        .try_run_in(
            &mut ctx,
            "rollback",
            json!({ "id": "no-such-entry", "yes": true }),
        )
        .await;
    assert!(bad.is_err());

    let report = ws.run("audit", json!({ "origin": "mcp" })).await;
    let entries = data(&report)["entries"].as_array().unwrap().clone();
    let calls: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["origin"], "mcp");
            assert_eq!(e["actor"], "test-client");
            assert_eq!(e["action"], "call");
            (
                e["target"].as_str().unwrap().to_string(),
                e["detail"]["outcome"].as_str().unwrap().to_string(),
                e["detail"]["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].0.as_str(), calls[0].1.as_str()), ("list", "ok"));
    assert_eq!(
        (calls[1].0.as_str(), calls[1].1.as_str()),
        ("rollback", "refused")
    );
    assert!(calls[1].2.contains("no-such-entry"), "{calls:?}");
    // The console's own operations are not `call` rows; /init's audit row says cli.
    let all = ws.run("audit", json!({})).await;
    let all = data(&all)["entries"].as_array().unwrap().clone();
    assert!(
        all.iter()
            .any(|e| e["action"] == "init" && e["origin"] == "cli"),
        "{all:#?}"
    );
    assert!(
        !all.iter()
            .any(|e| e["action"] == "call" && e["origin"] == "cli")
    );
}
