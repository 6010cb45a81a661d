//! The MCP server over stdio with the official Python client: what it lists and how it marks
//! it, the guests as structured content in both protocol eras, the profiles that refuse a
//! change naming the profile that allows it, create -> plan -> apply with the plan's id and
//! hash (and a wrong hash, a changed cluster and a replay refused), every call audited with
//! origin `mcp`, and a guest description written as an instruction that stays data.

use std::collections::BTreeSet;

use proxmox_mpc::commands::access::{Access, operation_access};
use serde_json::{Value, json};

use super::harness::{
    CLIENT_NAME, INJECTION, Mode, call, client, refused, steps, succeeded, synced,
};
use crate::support::cmd::{ok, pmpc, stderr, stdout};
use crate::support::sim::{TOKEN_VAR, TestSim};

fn tool<'a>(tools: &'a [Value], name: &str) -> &'a Value {
    tools
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

#[test]
fn the_client_lists_honestly_marked_tools_and_gets_every_guest_in_both_protocol_eras() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let report = client(
        &sim,
        dir.path(),
        Mode::Legacy,
        &[],
        json!([{ "do": "tools" }, call("guests", json!({})), call("guest", json!({ "name": "web-01" }))]),
    );
    assert_eq!(report["protocol_version"], "2025-11-25", "{report:#}");
    assert_eq!(report["server"]["name"], "proxmox-mpc");
    assert_eq!(report["server"]["version"], env!("CARGO_PKG_VERSION"));
    let seen = steps(&report);

    // The tools: reads marked read-only, every change not, from the operations' access.
    let tools = seen[0]["tools"].as_array().expect("tools listed").clone();
    let names: BTreeSet<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for want in [
        "guests", "guest", "status", "plan", "drift", "list", "show", "history", "apply", "create",
        "set", "delete", "clone", "start", "stop", "migrate", "snapshot",
    ] {
        assert!(names.contains(want), "{want} is not listed: {names:?}");
    }
    for hidden in [
        "exit",
        "clear",
        "tour",
        "demo",
        "sim",
        "completions",
        "serve",
        "mcp",
        "watch",
        "init",
        "token",
        "schema",
    ] {
        assert!(!names.contains(hidden), "{hidden} must not be a tool");
    }
    for t in &tools {
        let name = t["name"].as_str().unwrap();
        let hints = &t["annotations"];
        let access = match name {
            "guests" | "guest" | "config" => Access::Read,
            other => operation_access(other).unwrap_or_else(|| panic!("{other} has no access")),
        };
        assert_ne!(access, Access::Admin, "{name} is administration");
        assert_eq!(
            hints["read_only_hint"],
            access == Access::Read,
            "{name} is marked {hints}"
        );
        assert_eq!(t["input_schema"]["type"], "object", "{name}");
    }
    let hint = |name: &str, key: &str| tool(&tools, name)["annotations"][key].clone();
    assert_eq!(hint("create", "destructive_hint"), false);
    assert_eq!(hint("delete", "destructive_hint"), true);
    assert_eq!(hint("apply", "destructive_hint"), true);
    assert_eq!(hint("start", "destructive_hint"), false);
    assert_eq!(hint("start", "idempotent_hint"), true);
    assert_eq!(hint("stop", "destructive_hint"), true);
    // apply takes the reviewed plan, nothing else.
    let apply = &tool(&tools, "apply")["input_schema"];
    assert_eq!(
        apply["required"],
        json!(["plan_id", "plan_hash"]),
        "{apply}"
    );

    // The guests: all 29 of the homelab, as structured content.
    let guests = succeeded(&seen[1]);
    assert_eq!(guests["count"], 29, "{guests:#}");
    let list = guests["guests"].as_array().unwrap();
    assert_eq!(list.len(), 29);
    let kinds: BTreeSet<&str> = list.iter().filter_map(|g| g["kind"].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["container", "vm"]));
    // The description is data in its field; the server's text never repeats it.
    let web = list.iter().find(|g| g["vmid"] == 100).expect("web-01");
    assert_eq!(web["name"], "web-01");
    assert_eq!(web["description"], INJECTION);
    let text = seen[1]["text"].as_str().unwrap();
    assert!(text.contains("29 guests"), "{text}");
    assert!(!text.to_lowercase().contains("ignore previous"), "{text}");

    // One guest in detail: its fields, the description a field too.
    let detail = succeeded(&seen[2]);
    assert_eq!(detail["data"]["name"], "web-01", "{detail:#}");
    assert_eq!(detail["description"], INJECTION);
    assert!(
        detail["data"]["fields"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    let text = seen[2]["text"].as_str().unwrap();
    assert!(!text.to_lowercase().contains("ignore previous"), "{text}");
    assert!(
        !report["instructions"].as_str().unwrap().contains(INJECTION),
        "the server's instructions are its own"
    );

    // The stateless era: the same guests.
    let modern = client(
        &sim,
        dir.path(),
        Mode::Auto,
        &[],
        json!([call("guests", json!({}))]),
    );
    assert_eq!(modern["protocol_version"], "2026-07-28", "{modern:#}");
    assert_eq!(modern["server"]["name"], "proxmox-mpc");
    let guests = succeeded(&steps(&modern)[0]);
    assert_eq!(guests["count"], 29);
}

/// create's input for a small VM on pve2.
fn new_vm(name: &str) -> Value {
    json!({ "kind": "vm", "flags": { "name": name, "memory": "1G", "cores": "1", "disk": "4G", "node": "pve2" } })
}

#[test]
fn a_profile_refuses_what_it_does_not_allow_naming_the_profile_that_does() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let file = dir.path().join("terraform/mcp_01.tf");

    // The default profile reads only.
    let report = client(
        &sim,
        dir.path(),
        Mode::Legacy,
        &[],
        json!([
            call("create", new_vm("mcp-01")),
            call(
                "apply",
                json!({ "plan_id": 1, "plan_hash": "0".repeat(64) })
            ),
            call("plan", json!({ "out": "plan.json" })),
            call("status", json!({})),
        ]),
    );
    let steps_ = steps(&report);
    let text = refused(&steps_[0]);
    assert!(
        text.contains("read-only") && text.contains("profile plan allows it"),
        "{text}"
    );
    assert!(text.contains("--profile plan"), "the hint says how: {text}");
    let text = refused(&steps_[1]);
    assert!(text.contains("profile operate allows it"), "{text}");
    let text = refused(&steps_[2]);
    assert!(text.contains("not available over MCP"), "{text}");
    assert!(!dir.path().join("plan.json").exists());
    succeeded(&steps_[3]);
    assert!(!file.exists(), "nothing was written");

    // plan: the files change, the cluster does not.
    let report = client(
        &sim,
        dir.path(),
        Mode::Auto,
        &["--profile", "plan"],
        json!([
            call("create", new_vm("mcp-01")),
            call("plan", json!({})),
            call(
                "apply",
                json!({ "plan_id": "$plan_id", "plan_hash": "$plan_hash" })
            ),
            call("start", json!({ "kind": "vm", "name": "web-01" })),
        ]),
    );
    let steps_ = steps(&report);
    succeeded(&steps_[0]);
    assert!(file.is_file(), "create wrote the guest's file");
    let plan = succeeded(&steps_[1]);
    assert_eq!(plan["data"]["summary"]["add"], 1, "{plan:#}");
    for step in &steps_[2..] {
        let text = refused(step);
        assert!(
            text.contains("profile plan") && text.contains("profile operate allows it"),
            "{text}"
        );
    }
    assert!(
        !sim.control().guest_ids().iter().any(|id| *id >= 10_000),
        "nothing was created on the cluster"
    );

    // The profile is the starter's: an unknown one is refused before the protocol starts.
    let out = pmpc(dir.path())
        .env(TOKEN_VAR, sim.full_token())
        .args(["mcp", "--profile", "root"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`root` is not an MCP profile"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    // Outside a workspace there is nothing to serve: said before the protocol starts.
    let empty = tempfile::tempdir().expect("temp dir");
    let out = pmpc(empty.path()).arg("mcp").output().expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not inside a proxmox-mpc workspace"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

/// The vmid of the guest called `name` on the simulator.
fn sim_guest(sim: &TestSim, name: &str) -> Option<u32> {
    sim.control().guest_ids().into_iter().find(|id| {
        sim.control().guest_config(*id).is_some_and(|c| {
            c.get("name").map(String::as_str) == Some(name)
                || c.get("hostname").map(String::as_str) == Some(name)
        })
    })
}

#[test]
fn operate_applies_exactly_the_reviewed_plan_and_refuses_a_wrong_hash_a_changed_cluster_and_a_replay()
 {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let report = client(
        &sim,
        dir.path(),
        Mode::Legacy,
        &["--profile", "operate"],
        json!([
            call("create", new_vm("mcp-01")),
            call("plan", json!({})),
            call(
                "apply",
                json!({ "plan_id": "$plan_id", "plan_hash": "f".repeat(64) })
            ),
            call("apply", json!({ "plan_id": "$plan_id" })),
        ]),
    );
    let steps_ = steps(&report);
    succeeded(&steps_[0]);
    let plan = succeeded(&steps_[1]);
    let id = plan["data"]["plan_id"].as_i64().expect("plan_id");
    let hash = plan["data"]["plan_hash"]
        .as_str()
        .expect("plan_hash")
        .to_string();
    let text = steps_[1]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("plan_id {id}")) && text.contains(&hash),
        "{text}"
    );
    let text = refused(&steps_[2]);
    assert!(text.contains("plan_hash is not this plan's hash"), "{text}");
    let text = refused(&steps_[3]);
    assert!(text.contains("plan_hash"), "{text}");
    assert!(
        sim_guest(&sim, "mcp-01").is_none(),
        "neither planning nor a refused apply creates anything"
    );

    // The reviewed plan, by its id and hash: applied once.
    let report = client(
        &sim,
        dir.path(),
        Mode::Auto,
        &["--profile", "operate"],
        json!([
            call("apply", json!({ "plan_id": id, "plan_hash": hash })),
            call("apply", json!({ "plan_id": id, "plan_hash": hash })),
        ]),
    );
    let steps_ = steps(&report);
    succeeded(&steps_[0]);
    assert!(
        sim_guest(&sim, "mcp-01").is_some(),
        "apply created mcp-01 on the cluster"
    );
    let text = refused(&steps_[1]);
    assert!(
        text.contains("applied already"),
        "a plan is applied once: {text}"
    );

    // A plan the cluster moved away from is refused, and nothing changes.
    let report = client(
        &sim,
        dir.path(),
        Mode::Auto,
        &["--profile", "operate"],
        json!([
            call(
                "set",
                json!({ "kind": "vm", "name": "web-01", "flags": { "memory": "3G" } })
            ),
            call("plan", json!({})),
        ]),
    );
    let steps_ = steps(&report);
    succeeded(&steps_[0]);
    let plan = succeeded(&steps_[1]);
    assert_eq!(plan["data"]["summary"]["change"], 1, "{plan:#}");
    let (id, hash) = (
        plan["data"]["plan_id"].clone(),
        plan["data"]["plan_hash"].clone(),
    );
    sim.control()
        .set_guest_config(100, "memory", "5120")
        .expect("web-01 changed behind the plan's back");
    let report = client(
        &sim,
        dir.path(),
        Mode::Auto,
        &["--profile", "operate"],
        json!([call("apply", json!({ "plan_id": id, "plan_hash": hash }))]),
    );
    let text = refused(&steps(&report)[0]);
    assert!(text.contains("stale"), "{text}");
    assert_eq!(
        sim.control().guest_config(100).unwrap()["memory"],
        "5120",
        "the stale plan changed nothing"
    );

    // Every call is in the audit log with origin mcp and the client's name.
    let out = ok(
        pmpc(dir.path())
            .env(TOKEN_VAR, sim.full_token())
            .args(["audit", "--json"])
            .output()
            .expect("runs"),
        "audit",
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("audit --json is JSON");
    let rows = doc["entries"].as_array().cloned().unwrap_or_default();
    let mcp: Vec<&Value> = rows.iter().filter(|r| r["origin"] == "mcp").collect();
    assert!(mcp.iter().all(|r| r["actor"] == CLIENT_NAME), "{mcp:#?}");
    let outcome = |op: &str, outcome: &str| {
        mcp.iter()
            .filter(|r| {
                r["action"] == "call" && r["target"] == op && r["detail"]["outcome"] == outcome
            })
            .count()
    };
    assert_eq!(outcome("create", "ok"), 1, "{mcp:#?}");
    assert_eq!(outcome("set", "ok"), 1, "{mcp:#?}");
    assert_eq!(outcome("plan", "ok"), 2, "{mcp:#?}");
    assert_eq!(outcome("apply", "ok"), 1, "{mcp:#?}");
    // The wrong hash, the replay and the stale plan (an input without plan_hash is no call).
    assert_eq!(outcome("apply", "refused"), 3, "{mcp:#?}");
    let text = serde_json::to_string(&mcp).unwrap();
    assert!(!text.contains(&sim.secret()));
}
