//! `proxmox-mpc plan/diff/apply` as a user runs them: `init` and `sync` against the simulator,
//! a hand edit of a guest file, `plan --detailed-exitcode` (0/2), `--json`, `diff`,
//! `apply --yes`, a second apply refused while the lock is held, and a killed apply resumed.

use std::path::Path;

use proxmox_mpc::sim::Sim;
use proxmox_mpc::state::PlanStatus;

use super::common::homelab;
use crate::support::cmd::pmpc_with_secret as mpc;
use crate::support::files::masking_server_choices;

fn init_and_sync(sim: &Sim, dir: &Path) {
    let secret = sim.token_secret();
    let out = mpc(dir, &secret)
        .args([
            "init",
            "--endpoint",
            &sim.url(),
            "--token-id",
            &sim.token_id(),
        ])
        .args(["--secret-env", "PMPC_TEST_SECRET", "--fingerprint"])
        .arg(sim.fingerprint().unwrap())
        .arg("--yes")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mpc(dir, &secret).arg("sync").output().unwrap();
    assert!(
        out.status.success(),
        "sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_detailed_exitcode_json_diff_and_apply() {
    let sim = homelab(proxmox_mpc::sim::Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = sim.token_secret();
    init_and_sync(&sim, dir.path());

    // Right after a sync the files match the cluster.
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("No changes."), "{stdout}");

    // A hand edit: lab-01 gets more memory.
    edit(
        dir.path(),
        "terraform/lab_01.tf",
        "dedicated = 1024",
        "dedicated = 3072",
    );
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("~ vm \"lab-01\" {"), "{stdout}");
    assert!(
        stdout.contains("~ memory = \"1024\" -> \"3072\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{stdout}"
    );
    assert!(!stderr.contains("Error"), "{stderr}");

    let out = mpc(dir.path(), &secret)
        .args(["plan", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["summary"]["change"], 1);
    let change = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "update")
        .unwrap();
    assert_eq!(change["vmid"], 110);
    assert_eq!(change["fields"][0]["key"], "memory");

    let out = mpc(dir.path(), &secret).arg("diff").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("--- a/vm/110.conf\n+++ b/vm/110.conf\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-memory: 1024\n+memory: 3072\n"),
        "{stdout}"
    );

    // Not on a terminal and no --yes: nothing changes.
    let out = mpc(dir.path(), &secret).arg("apply").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(sim.control().guest_config(110).unwrap()["memory"], "1024");

    // A second apply while one holds the lock is refused with who and since when.
    let lock = dir.path().join(".proxmox/apply.lock");
    std::fs::write(
        &lock,
        format!(
            "pid={}\nhost={}\nsince=2026-01-01T00:00:00Z\n",
            std::process::id(),
            proxmox_mpc::plan::lock::host_name()
        ),
    )
    .unwrap();
    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("apply in progress by {}@", std::process::id())),
        "{stderr}"
    );
    assert!(stderr.contains("since 2026-01-01T00:00:00Z"), "{stderr}");
    std::fs::remove_file(&lock).unwrap();

    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Apply complete: 0 added, 1 changed, 0 destroyed."),
        "{stderr}"
    );
    assert_eq!(sim.control().guest_config(110).unwrap()["memory"], "3072");
    let db = proxmox_mpc::state::StateDb::open_existing(&dir.path().join(".proxmox/state.db"))
        .await
        .unwrap();
    let audit = db.audit_entries("apply").await.unwrap();
    assert_eq!(audit.len(), 1, "one audit entry per apply");
    let detail: serde_json::Value = serde_json::from_str(audit[0].3.as_deref().unwrap()).unwrap();
    assert_eq!(detail["token"], sim.token_id());
    assert_eq!(detail["outcome"], "applied");
    assert!(
        !audit[0].3.as_deref().unwrap().contains(&secret),
        "no secret in the audit log"
    );
    db.close().await;

    let out = mpc(dir.path(), &secret)
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A plan made, then a file edited: the saved plan is stale and refused.
    edit(
        dir.path(),
        "terraform/lab_02.tf",
        "dedicated = 1024",
        "dedicated = 2048",
    );
    let out = mpc(dir.path(), &secret).arg("plan").output().unwrap();
    assert!(out.status.success());
    edit(
        dir.path(),
        "terraform/lab_02.tf",
        "dedicated = 2048",
        "dedicated = 4096",
    );
    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is stale: the .tf files changed"),
        "{stderr}"
    );
    assert!(stderr.contains("run /plan again"), "{stderr}");
    assert_eq!(sim.control().guest_config(111).unwrap()["memory"], "1024");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_mid_step_resumes_without_repeating() {
    let sim = homelab(proxmox_mpc::sim::Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = sim.token_secret();
    init_and_sync(&sim, dir.path());
    for (file, from, to) in [
        (
            "terraform/lab_01.tf",
            "dedicated = 1024",
            "dedicated = 1536",
        ),
        (
            "terraform/lab_02.tf",
            "dedicated = 1024",
            "dedicated = 1536",
        ),
        (
            "terraform/lab_03.tf",
            "dedicated = 1024",
            "dedicated = 1536",
        ),
    ] {
        edit(dir.path(), file, from, to);
    }
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "noop")
        .nth(1)
        .unwrap()["id"]
        .as_u64()
        .unwrap();

    // The process dies (abort) right after the second step's config request went out.
    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes", "--parallelism", "1"])
        .env("PMPC_CRASH_AT", format!("after-step:{second}"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash hook aborts the process");
    assert!(
        dir.path().join(".proxmox/apply.lock").exists(),
        "a killed apply leaves its lock"
    );
    sim.control().clear_log();

    // The next apply clears the dead process's lock, resumes, and does only what is left.
    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cleared a stale apply lock"), "{stderr}");
    assert!(
        stderr.contains("Resuming the interrupted apply"),
        "{stderr}"
    );
    assert!(stderr.contains("(by the interrupted apply)"), "{stderr}");
    let writes: Vec<String> = sim
        .control()
        .request_log()
        .into_iter()
        .filter(|e| e.method != "GET")
        .map(|e| e.path)
        .collect();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|p| p.contains("/qemu/112/")),
        "only the unfinished third guest was written: {writes:?}"
    );
    for vmid in [110, 111, 112] {
        assert_eq!(sim.control().guest_config(vmid).unwrap()["memory"], "1536");
    }
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let db = proxmox_mpc::state::StateDb::open_existing(&dir.path().join(".proxmox/state.db"))
        .await
        .unwrap();
    assert!(db.integrity_problems().await.unwrap().is_empty());
}

/// Every file under `terraform/`, path -> bytes.
fn terraform_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.join("terraform")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A synced workspace with 20 new VMs written by `create vm` (piped console lines).
async fn twenty_new_guests() -> (Sim, tempfile::TempDir) {
    let sim = homelab(proxmox_mpc::sim::Faults {
        task_duration: std::time::Duration::from_millis(20),
        ..proxmox_mpc::sim::Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    init_and_sync(&sim, dir.path());
    let lines: String = (0..20)
        .map(|i| {
            format!(
                "create vm --name r-{i:02} --node pve{} --cores 1 --memory 256M --disk 1G\n",
                i % 3 + 1
            )
        })
        .collect();
    let out = mpc(dir.path(), &sim.token_secret())
        .write_stdin(lines)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (sim, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twenty_guest_apply_killed_at_each_crash_point_ends_like_an_uninterrupted_one() {
    // The reference: the same apply, never interrupted.
    let (sim, reference) = twenty_new_guests().await;
    let secret = sim.token_secret();
    let out = mpc(reference.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Apply complete: 20 added, 0 changed, 0 destroyed."),
        "{stderr}"
    );
    // The server chooses MAC addresses and creation stamps anew on each simulator.
    let expected = masking_server_choices(&terraform_files(reference.path()));
    let r05 = String::from_utf8_lossy(&expected["terraform/r_05.tf"]).into_owned();
    assert!(
        r05.contains("import {"),
        "a created guest gets its import block:\n{r05}"
    );
    drop(sim);

    for point in ["before-request", "after-request", "after-step"] {
        let (sim, dir) = twenty_new_guests().await;
        let secret = sim.token_secret();
        let out = mpc(dir.path(), &secret)
            .args(["plan", "--json"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<u64> = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == "create")
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), 20);
        let out = mpc(dir.path(), &secret)
            .args(["apply", "--yes", "--parallelism", "3"])
            .env("PMPC_CRASH_AT", format!("{point}:{}", ids[9]))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the process was killed");
        let db_path = dir.path().join(".proxmox/state.db");
        let rows_before = {
            let db = proxmox_mpc::state::StateDb::open_existing(&db_path)
                .await
                .unwrap();
            let plan = db
                .latest_plan_with(&[PlanStatus::Applying])
                .await
                .unwrap()
                .expect("an unfinished plan");
            let rows = db.journal(plan.id).await.unwrap();
            db.close().await;
            (plan.id, rows)
        };

        let out = mpc(dir.path(), &secret)
            .args(["apply", "--yes"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{point}: {stderr}");
        assert!(
            stderr.contains("Resuming the interrupted apply"),
            "{point}: {stderr}"
        );

        // No duplicate guest, every guest there once.
        let names: Vec<String> = sim
            .control()
            .guest_ids()
            .into_iter()
            .filter_map(|v| {
                sim.control()
                    .guest_config(v)
                    .and_then(|c| c.get("name").cloned())
            })
            .filter(|n| n.starts_with("r-"))
            .collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(names.len(), 20, "{point}: {names:?}");
        assert_eq!(unique.len(), 20, "{point}: duplicates in {names:?}");
        // No journal row lost, integrity intact.
        let db = proxmox_mpc::state::StateDb::open_existing(&db_path)
            .await
            .unwrap();
        let rows = db.journal(rows_before.0).await.unwrap();
        assert!(
            rows.starts_with(&rows_before.1),
            "{point}: journal rows lost"
        );
        assert!(db.integrity_problems().await.unwrap().is_empty(), "{point}");
        db.close().await;
        // The files are those of the uninterrupted run.
        assert_eq!(
            masking_server_choices(&terraform_files(dir.path())),
            expected,
            "{point}: files differ"
        );
        let out = mpc(dir.path(), &secret)
            .args(["plan", "--detailed-exitcode"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_plans_use_the_last_snapshot_and_a_migration_moves_the_import_id() {
    let sim = homelab(proxmox_mpc::sim::Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = sim.token_secret();
    init_and_sync(&sim, dir.path());

    // lab-02 (111, stopped) moves from pve2 to pve3.
    edit(
        dir.path(),
        "terraform/lab_02.tf",
        "node_name     = \"pve2\"",
        "node_name     = \"pve3\"",
    );
    let out = mpc(dir.path(), &secret)
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("migrated to pve3"), "{stderr}");
    assert_eq!(sim.control().guest_node(111).as_deref(), Some("pve3"));
    let file = std::fs::read_to_string(dir.path().join("terraform/lab_02.tf")).unwrap();
    assert!(file.contains("id = \"pve3/111\""), "{file}");
    assert!(!file.contains("pve2/111"), "{file}");

    // With the cluster gone, --offline still plans against the snapshot apply stored.
    sim.shutdown().await;
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--offline", "--detailed-exitcode"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("No changes."), "{stdout}");
    edit(
        dir.path(),
        "terraform/lab_03.tf",
        "dedicated = 1024",
        "dedicated = 2048",
    );
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--offline", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Without --offline an unreachable cluster is an error (exit 1) that says what to do.
    let out = mpc(dir.path(), &secret)
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_runs_plan_and_diff_from_piped_lines() {
    let sim = homelab(proxmox_mpc::sim::Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = sim.token_secret();
    init_and_sync(&sim, dir.path());
    edit(
        dir.path(),
        "terraform/lab_04.tf",
        "dedicated = 1024",
        "dedicated = 1280",
    );
    let out = mpc(dir.path(), &secret)
        .write_stdin("/plan\n/diff --json\n")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("~ memory = \"1024\" -> \"1280\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"format_version\": 1"),
        "/diff --json gives data: {stdout}"
    );
    assert_eq!(sim.control().guest_config(113).unwrap()["memory"], "1024");
}
