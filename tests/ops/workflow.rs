//! sync -> create -> plan -> apply through the operations layer alone: each step a typed
//! request built from JSON (as the REST API and the MCP server will send them), run with
//! `commands::execute` against the simulator over real HTTPS on 127.0.0.1, and the apply's
//! progress events received as typed values.

use std::sync::{Arc, Mutex};

use proxmox_mpc::commands::context::Event;
use proxmox_mpc::commands::{Ctx, Request, execute};
use proxmox_mpc::plan::apply::ApplyEvent;
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::ui::{OutputFormat, Ui, Verbosity};
use serde_json::json;

const SECRET_VAR: &str = "PMPC_OPS_TEST_SECRET";

/// Runs one operation from JSON and returns its report as JSON, as a forwarding front end
/// (REST, MCP) would send it.
async fn run(ctx: &mut Ctx, name: &str, input: serde_json::Value) -> serde_json::Value {
    let request = Request::from_json(name, input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    assert_eq!(request.name(), name);
    let report = execute(ctx, request)
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {}", e.message));
    serde_json::to_value(&report).unwrap()
}

/// The value of the report's data item.
fn data(report: &serde_json::Value) -> &serde_json::Value {
    report
        .as_array()
        .and_then(|items| items.iter().find(|i| i["kind"] == "data"))
        .map(|i| &i["value"])
        .unwrap_or_else(|| panic!("no data item in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_create_plan_apply_through_the_operations_layer_alone() {
    let sim = Sim::start(SimConfig::homelab()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ui = Ui::new(OutputFormat::Json, Verbosity::Quiet);
    let mut ctx = Ctx::new(ui, dir.path().to_path_buf(), false);
    ctx.set_env(SECRET_VAR, &sim.token_secret());
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let seen = events.clone();
    ctx.on_event(Arc::new(move |e| seen.lock().unwrap().push(e)));

    run(
        &mut ctx,
        "init",
        json!({
            "endpoint": sim.url(),
            "token_id": sim.token_id(),
            "secret_env": SECRET_VAR,
            "fingerprint": sim.fingerprint(),
        }),
    )
    .await;
    // A fresh context finds the workspace /init made, as a new request would.
    let mut ctx = {
        let mut next = Ctx::new(
            Ui::new(OutputFormat::Json, Verbosity::Quiet),
            dir.path().to_path_buf(),
            false,
        );
        next.set_env(SECRET_VAR, &sim.token_secret());
        let seen = events.clone();
        next.on_event(Arc::new(move |e| seen.lock().unwrap().push(e)));
        next
    };
    let synced = run(&mut ctx, "sync", json!({})).await;
    // The sync's report is typed data: every guest of the homelab with its outcome.
    assert_eq!(
        data(&synced)["guests"].as_array().map(Vec::len),
        Some(29),
        "{synced:#}"
    );
    run(
        &mut ctx,
        "create",
        json!({
            "kind": "vm",
            "flags": { "name": "ops-01", "memory": "1G", "cores": "1", "disk": "4G", "node": "pve2" },
        }),
    )
    .await;
    assert!(dir.path().join("terraform/ops_01.tf").is_file());
    let planned = run(&mut ctx, "plan", json!({})).await;
    let creates: Vec<_> = data(&planned)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create")
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(creates, vec![json!("ops-01")], "{planned:#}");
    let applied = run(&mut ctx, "apply", json!({ "yes": true })).await;
    // The apply's report carries each step's outcome, and says it in words too.
    let step = &data(&applied)["steps"][0];
    assert_eq!(step["name"], "ops-01", "{applied:#}");
    assert_eq!(step["outcome"]["outcome"], "done", "{applied:#}");
    let said = applied.as_array().unwrap().iter().any(|i| {
        i["kind"] == "status"
            && i["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Apply complete"))
    });
    assert!(said, "{applied:#}");

    // The guest exists on the simulator, on the node asked for.
    let control = sim.control();
    let vmid = control
        .guest_ids()
        .into_iter()
        .find(|id| {
            control
                .guest_config(*id)
                .is_some_and(|c| c.get("name").map(String::as_str) == Some("ops-01"))
        })
        .expect("ops-01 was created");
    assert_eq!(control.guest_node(vmid).as_deref(), Some("pve2"));

    // The apply's progress came as typed events: the create step started and finished.
    let events = events.lock().unwrap().clone();
    let started = events.iter().any(|e| {
        matches!(e, Event::Apply(ApplyEvent::StepStarted { address, .. }) if address.contains("ops-01"))
    });
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::Apply(ApplyEvent::StepFinished { .. })))
        .count();
    assert!(started, "{events:?}");
    assert!(finished >= 1, "{events:?}");
    // Events are plain data for other front ends.
    let first = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(first["operation"], "apply", "{first}");

    // The write-back took the server's choices (MAC address, volume, generated ids): the
    // created guest is not drift to the next check, and the next sync leaves its file alone.
    let checked = run(&mut ctx, "drift", json!({ "detailed_exitcode": true })).await;
    assert_eq!(data(&checked)["drift"], false, "{checked:#}");
    let resynced = run(&mut ctx, "sync", json!({})).await;
    let ops = data(&resynced)["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "ops-01")
        .cloned()
        .unwrap();
    assert_eq!(ops["outcome"], "unchanged", "{ops:#}");
}

/// A request that does not fit its operation's schema is refused with a message naming it.
#[test]
fn a_request_that_does_not_fit_is_refused_by_name() {
    let e = Request::from_json("sync", json!({ "adopt": "yes" })).unwrap_err();
    assert!(e.message.contains("`sync`"), "{}", e.message);
    let e = Request::from_json("create", json!({ "flagz": {} })).unwrap_err();
    assert!(e.message.contains("`create`"), "{}", e.message);
    let e = Request::from_json("no-such-op", json!({})).unwrap_err();
    assert!(e.message.contains("no-such-op"), "{}", e.message);
}
