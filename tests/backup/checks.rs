//! `/test`'s backup checks and the restore drill, through the operations layer on the homelab
//! simulator: a guest in no backup job and a backup older than the RPO fail by name; a guest
//! in a job with a fresh backup passes; an excluded guest is skipped; the restore drill
//! restores, starts and removes a scratch guest and reports its time.

use serde_json::{Value, json};

use crate::support::ops::{OpsWorkspace, data, lines};

/// The backup checks' (name, status, actual) of a `/test` report, for one guest.
fn backup_results(report: &Value, guest: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for group in report["groups"].as_array().expect("groups") {
        if !group["group"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("{guest} ("))
        {
            continue;
        }
        for c in group["checks"].as_array().expect("checks") {
            let name = c["name"].as_str().unwrap_or("");
            if name.starts_with("backup ") {
                out.push((
                    name.to_string(),
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["actual"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// `/test --filter FILTER`'s machine report, passed or failed.
async fn test_report(ws: &OpsWorkspace, filter: &str) -> (bool, Value) {
    match ws.try_run("test", json!({ "filter": filter })).await {
        Ok(report) => (true, data(&report)),
        Err(e) => (false, data(&e.output)),
    }
}

fn write_policy(ws: &OpsWorkspace, text: &str) {
    let dir = ws.root().join("tests/checks");
    std::fs::create_dir_all(&dir).expect("tests/checks");
    std::fs::write(dir.join("backups.yml"), text).expect("policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_without_a_job_or_with_an_old_backup_fail_and_covered_ones_pass() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    write_policy(&ws, "version: 1\nbackups:\n  rpo: 24h\n");

    // db-01: in no job, and its only backup (seeded) is from 2026-01-01
    let (ok, report) = test_report(&ws, "db-01").await;
    assert!(!ok, "db-01's backup checks fail");
    let results = backup_results(&report, "db-01");
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0].0, "backup age");
    assert_eq!(results[0].1, "failed");
    assert!(
        results[0]
            .2
            .contains(" d old (nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst)"),
        "{results:?}"
    );
    assert_eq!(
        (
            results[1].0.as_str(),
            results[1].1.as_str(),
            results[1].2.as_str()
        ),
        ("backup job", "failed", "in no backup job")
    );

    // web-01: a scheduled job covers it and it was just backed up
    let api = crate::support::sim::client(&ws.sim);
    api.write(
        reqwest::Method::POST,
        "/cluster/backup",
        proxmox_mpc::pve::params([
            ("id", "nightly"),
            ("schedule", "02:00"),
            ("storage", "nas"),
            ("vmid", "100"),
        ]),
    )
    .await
    .expect("backup job");
    ws.run(
        "backup",
        json!({"kind": "vm", "name": "web-01", "storage": "nas", "yes": true}),
    )
    .await;
    let (ok, report) = test_report(&ws, "web-01").await;
    let results = backup_results(&report, "web-01");
    assert!(ok, "web-01 passes: {results:?} {report}");
    assert_eq!(
        results.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["passed", "passed"],
        "{results:?}"
    );

    // excluded on purpose: skipped, not failed
    write_policy(
        &ws,
        "version: 1\nbackups:\n  rpo: 24h\n  exclude: [db-01]\n",
    );
    let (ok, report) = test_report(&ws, "db-01").await;
    let results = backup_results(&report, "db-01");
    assert!(ok, "{results:?}");
    assert!(results.iter().all(|r| r.1 == "skipped"), "{results:?}");

    // a policy that cannot be used is one failed check naming the file and line
    write_policy(&ws, "version: 1\nbackups:\n  rpo: soon\n");
    let (ok, report) = test_report(&ws, "backups.yml").await;
    assert!(!ok);
    let text = report.to_string();
    assert!(text.contains("tests/checks/backups.yml:2"), "{text}");
    assert!(text.contains("rpo: `soon` is not a duration"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_drill_restores_starts_and_removes_a_scratch_guest_and_reports_its_time() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    let guests = ws.sim.control().guest_ids();

    // no backup yet: refused by name, nothing made
    let err = ws
        .try_run("test", json!({"restore_drill": "web-01"}))
        .await
        .expect_err("web-01 has no backup");
    assert!(
        err.message
            .contains("vm web-01 (vmid 100) has no backup to drill"),
        "{}",
        err.message
    );
    assert!(
        err.hints.iter().any(|h| h.contains("backup vm web-01")),
        "{:?}",
        err.hints
    );
    assert_eq!(ws.sim.control().guest_ids(), guests);

    ws.run(
        "backup",
        json!({"kind": "vm", "name": "web-01", "storage": "nas", "yes": true}),
    )
    .await;
    let report = ws.run("test", json!({"restore_drill": "web-01"})).await;
    let d = data(&report);
    assert_eq!(d["passed"], true, "{d}");
    assert_eq!(d["guest"], "web-01");
    assert!(
        d["volid"]
            .as_str()
            .is_some_and(|v| v.starts_with("nas:backup/vzdump-qemu-100-")),
        "{d}"
    );
    for key in [
        "restore_seconds",
        "start_seconds",
        "cleanup_seconds",
        "total_seconds",
    ] {
        assert!(d[key].as_f64().is_some_and(|s| s >= 0.0), "{key}: {d}");
    }
    let scratch = d["scratch_vmid"].as_u64().expect("scratch vmid") as u32;
    assert!(!guests.contains(&scratch), "a free vmid");
    assert_eq!(
        ws.sim.control().guest_ids(),
        guests,
        "the scratch guest is gone"
    );
    assert!(
        lines(&report).contains("Restore drill of vm web-01 (vmid 100) passed"),
        "{}",
        lines(&report)
    );
    // no file for the scratch guest
    assert!(!ws.root().join("terraform/restore_drill_100.tf").exists());

    // an unknown guest
    let err = ws
        .try_run("test", json!({"restore_drill": "nope-01"}))
        .await
        .expect_err("unknown");
    assert!(
        err.message.contains("there is no guest nope-01"),
        "{}",
        err.message
    );
}
