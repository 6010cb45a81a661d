//! Policy as code, right-sizing and cost on the homelab simulator over real HTTPS: `/policy
//! check` with a user rule (SARIF validated by check-jsonschema against the OASIS 2.1.0 schema
//! in tests/fixtures/sarif, results at the guests' files and lines), the `/apply` gate and its
//! audited override, `/rightsize --json` on the seeded usage shapes, `/cost --json` against a
//! hand calculation, and broken rules reported with file and line while the others run.

use std::process::Command;

use proxmox_mpc::ui::Item;
use serde_json::{Value, json};

use crate::support::ops::{OpsWorkspace, data};
use crate::support::venv::Venv;

const CAP: &str = "version: 1\nrules:\n  - id: vm-memory-cap\n    severity: error\n    description: VMs get at most 4 GiB\n    when: guest.kind == \"qemu\" && !guest.template\n    assert: guest.memory_mib <= 4096\n";

async fn synced() -> OpsWorkspace {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws
}

fn write(ws: &OpsWorkspace, rel: &str, text: &str) {
    let path = ws.root().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn text_item(report: &[Item]) -> String {
    report
        .iter()
        .find_map(|i| match i {
            Item::Text(t) => Some(t.clone()),
            _ => None,
        })
        .expect("a text item")
}

fn warnings(report: &[Item]) -> Vec<String> {
    report
        .iter()
        .filter_map(|i| match i {
            Item::Warning(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_rule_fails_with_valid_sarif_at_the_guests_files_and_lines() {
    let ws = synced().await;
    write(&ws, "policies/limits.yml", CAP);
    let err = ws
        .try_run("policy", json!({ "format": "sarif" }))
        .await
        .expect_err("an error-level rule fails");
    assert_eq!(err.kind.exit_code(), 1, "{}", err.message);
    assert!(err.message.contains("vm-memory-cap"), "{}", err.message);
    let sarif_text = text_item(&err.output);
    let sarif: Value = serde_json::from_str(&sarif_text).unwrap();

    // Valid SARIF 2.1.0, judged by check-jsonschema against the official schema.
    let file = ws.dir.path().join("out.sarif");
    std::fs::write(&file, &sarif_text).unwrap();
    let schema = crate::support::repo_root().join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    let out = Command::new(Venv::find().bin("check-jsonschema"))
        .arg("--schemafile")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Exactly the homelab VMs over 4 GiB (db-01, db-02 8 GiB, gpu-box 16 GiB), by file and line.
    let mut found: Vec<(String, String, u64)> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == "vm-memory-cap")
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    let names: Vec<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["db-01", "db-02", "gpu-box"]);
    for (name, uri, line) in &found {
        let text = std::fs::read_to_string(ws.root().join(uri)).unwrap();
        let at = text.lines().nth(*line as usize - 1).unwrap();
        assert!(
            at.starts_with("resource \"proxmox_virtual_environment_vm\""),
            "{name}: {uri}:{line} is `{at}`"
        );
        assert!(
            text.contains(&format!("name = \"{name}\"")) || text.contains(name),
            "{uri}"
        );
    }
    // JUnit for CI, the same failures.
    let err = ws
        .try_run("policy", json!({ "format": "junit" }))
        .await
        .unwrap_err();
    let junit = text_item(&err.output);
    assert!(
        junit.contains("<testsuite name=\"vm-memory-cap\" tests=\"3\" failures=\"3\""),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_a_plan_that_breaks_an_error_rule_until_overridden_and_audited() {
    let ws = synced().await;
    write(&ws, "policies/limits.yml", CAP);
    ws.run(
        "create",
        json!({ "kind": "vm", "name": "big-01", "flags": { "memory": "16G" } }),
    )
    .await;
    let plan = ws.run("plan", json!({})).await;
    assert!(
        warnings(&plan)
            .iter()
            .any(|w| w.contains("vm-memory-cap") && w.contains("big-01")),
        "{:?}",
        warnings(&plan)
    );
    let err = ws
        .try_run("apply", json!({ "yes": true }))
        .await
        .expect_err("refused");
    assert!(
        err.message.contains("vm-memory-cap: big-01"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("nothing was changed"),
        "{}",
        err.message
    );
    assert!(ws.sim_guest("big-01").is_none(), "nothing created");

    ws.run(
        "apply",
        json!({ "yes": true, "override_policy": ["vm-memory-cap"] }),
    )
    .await;
    assert!(
        ws.sim_guest("big-01").is_some(),
        "created with the override"
    );
    let history = data(&ws.run("history", json!({ "json": true })).await);
    let entry = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "policy-override")
        .unwrap_or_else(|| panic!("no override in the audit log: {history:#}"));
    let shown = ws
        .run("history", json!({ "show": entry["id"].as_str().unwrap() }))
        .await;
    let text = serde_json::to_string(&shown).unwrap();
    assert!(
        text.contains("vm-memory-cap") && text.contains("big-01"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rightsize_shrinks_the_idle_grows_the_starved_and_cost_matches_a_hand_calculation() {
    let ws = synced().await;
    let report = ws.run("rightsize", json!({ "json": true })).await;
    let value = data(&report);
    let recs = value["recommendations"].as_array().unwrap();
    let find = |guest: &str, resource: &str| -> &Value {
        recs.iter()
            .find(|r| r["guest"] == guest && r["resource"] == resource)
            .unwrap_or_else(|| panic!("no {resource} entry for {guest}"))
    };
    for idle in ["wiki", "vlan40-a"] {
        for resource in ["cpu", "memory"] {
            let r = find(idle, resource);
            assert_eq!(r["action"], "shrink", "{r:#}");
            assert_eq!(r["idle"], true, "{r:#}");
            assert!(r["recommended"].as_u64() < r["current"].as_u64(), "{r:#}");
            assert!(r["evidence"]["samples"].as_u64().unwrap() >= 60, "{r:#}");
            assert!(
                r["evidence"]["p95_percent"].as_f64().unwrap() < 25.0,
                "{r:#}"
            );
        }
    }
    // lab-01 has no guest agent: its memory advice is marked unreliable.
    let lab = find("lab-01", "memory");
    assert_eq!(lab["reliable"], false, "{lab:#}");
    assert_eq!(lab["confidence"], "low", "{lab:#}");
    let starved: Vec<&Value> = recs.iter().filter(|r| r["starved"] == true).collect();
    assert_eq!(starved.len(), 1, "{starved:#?}");
    assert_eq!(starved[0]["guest"], "home-assistant");
    assert_eq!(starved[0]["action"], "grow");
    assert!(starved[0]["recommended"].as_u64() > starved[0]["current"].as_u64());
    assert!(starved[0]["evidence"]["p95_percent"].as_f64().unwrap() >= 90.0);
    // db-01 is steady (a third of its memory in use): neither idle nor starved.
    let db = find("db-01", "memory");
    assert_eq!(
        (&db["idle"], &db["starved"]),
        (&json!(false), &json!(false)),
        "{db:#}"
    );

    // /cost with the defaults says so; with prices in config.yml it matches a hand sum.
    let report = ws.run("cost", json!({ "json": true })).await;
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains("no `cost:` section")),
        "{report:?}"
    );
    let config = ws.root().join(".proxmox/config.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}cost:\n  currency: EUR\n  per_vcpu: 3\n  per_gib_memory: 1.5\n  per_gib_disk: 0.1\n"),
    )
    .unwrap();
    let report = ws.run("cost", json!({ "json": true })).await;
    let cost = data(&report);
    assert_eq!(cost["defaults"], false);
    // By hand: db-01 runs with 4 vCPUs, 8 GiB and a 100 GiB disk: 12 + 12 + 10 = 34.
    let db = cost["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["guest"] == "db-01")
        .unwrap();
    assert_eq!(db["total"], 34.0, "{db:#}");
    // db-02 is stopped: its 100 GiB disk only.
    let db2 = cost["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["guest"] == "db-02")
        .unwrap();
    assert_eq!(db2["total"], 10.0, "{db2:#}");
    // The total is the sum over the guests, and the pools and nodes add up to it.
    let sum: f64 = cost["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["total"].as_f64().unwrap())
        .sum();
    let total = cost["total_per_month"].as_f64().unwrap();
    assert!((sum - total).abs() < 0.01, "{sum} vs {total}");
    let nodes: f64 = cost["by_node"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((nodes - total).abs() < 0.01, "{nodes} vs {total}");
    // wiki shrinks from 2 vCPUs and 2 GiB to 1 vCPU and 512 MiB: saves 3 + 1.5 * 1.5 = 5.25.
    let wiki_cpu = find("wiki", "cpu");
    let wiki_mem = find("wiki", "memory");
    assert_eq!(wiki_cpu["recommended"], 1, "{wiki_cpu:#}");
    assert_eq!(wiki_mem["recommended"], 512, "{wiki_mem:#}");
    assert!(cost["rightsize_savings_per_month"].as_f64().unwrap() > 5.25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_rules_are_named_with_file_and_line_and_the_others_still_run() {
    let ws = synced().await;
    write(
        &ws,
        "policies/mixed.yml",
        "version: 1\nrules:\n  - id: broken-syntax\n    severity: warning\n    description: x\n    assert: guest.cores >=\n  - id: unknown-field\n    severity: warning\n    description: y\n    assert: guest.memroy_mib < 10\n  - id: never\n    severity: warning\n    description: z\n    when: guest.name == \"nobody-at-all\"\n    assert: true\n",
    );
    write(&ws, "policies/limits.yml", CAP);
    write(&ws, "policies/bad.yml", "version: 1\nrules: [\n");
    let err = ws
        .try_run("policy", json!({ "format": "json" }))
        .await
        .unwrap_err();
    let w = warnings(&err.output).join("\n");
    assert!(
        w.contains(
            "policies/mixed.yml:6: rule broken-syntax: `assert` is not a valid CEL expression"
        ),
        "{w}"
    );
    assert!(w.contains("policies/mixed.yml:10: rule unknown-field: `assert` names an unknown field guest.memroy_mib; did you mean guest.memory_mib?"), "{w}");
    assert!(
        w.contains("policies/mixed.yml:11: rule never matched none of the"),
        "{w}"
    );
    assert!(w.contains("policies/bad.yml:"), "{w}");
    // The good rule still ran.
    let value = data(&err.output);
    let failing: Vec<&str> = value["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "vm-memory-cap")
        .map(|v| v["guest"].as_str().unwrap())
        .collect();
    assert_eq!(failing.len(), 3, "{failing:?}");
}

/// The command line as CI runs it: `proxmox-mpc policy check --format sarif` exits 1 with
/// the SARIF on stdout while an error-level rule fails, and 0 once the rule is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_shot_command_exits_1_on_an_error_rule_and_0_without() {
    let ws = synced().await;
    write(&ws, "policies/limits.yml", CAP);
    let secret = ws.sim.token_secret();
    let check = |args: &[&str]| {
        Command::new(crate::support::cmd::bin())
            .current_dir(ws.root())
            .env("NO_COLOR", "1")
            .env(crate::support::ops::SECRET_VAR, &secret)
            .args(args)
            .output()
            .expect("runs")
    };
    let out = tokio::task::block_in_place(|| check(&["policy", "check", "--format", "sarif"]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("SARIF on stdout");
    // The user rule's results (the starter pack reports its own warnings beside them).
    let capped = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == "vm-memory-cap")
        .count();
    assert_eq!(capped, 3, "{sarif:#}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("vm-memory-cap"));

    std::fs::remove_file(ws.root().join("policies/limits.yml")).unwrap();
    let out = tokio::task::block_in_place(|| check(&["policy", "check"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
