//! The workspace `/rollback` through the operations layer on the simulator: after a create and
//! an apply, rolling back makes (as a new commit) the files that plan exactly that guest's
//! destruction, and `/apply` carries it out; what the files alone cannot bring back (a
//! destroyed guest's disks, a disk that would shrink) is refused with nothing changed; bad input
//! (an unknown id, no git, uncommitted edits of the same files, no confirmation) is refused by
//! name with nothing changed.

use serde_json::json;

use crate::support::ops::{OpsWorkspace, data, lines};

/// A workspace with `name` created through the console and applied.
async fn created_and_applied(name: &str) -> OpsWorkspace {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": name, "memory": "1G", "disk": "4G", "node": "pve1" } }),
    )
    .await;
    ws.run("apply", json!({ "yes": true })).await;
    assert!(ws.sim_guest(name).is_some(), "{name} was created");
    ws
}

/// The actionable changes of a plan report as (action, name).
fn changes(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a plan: {plan}"))
        .iter()
        .filter(|c| c["action"] != "noop")
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The workspace's files outside `.git/` and `.proxmox/`, for before/after comparisons.
fn files(ws: &OpsWorkspace) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    crate::support::files::workspace_files(ws.root())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_create_and_apply_destroys_exactly_that_guest() {
    let ws = created_and_applied("ops-10").await;
    let guests = ws.sim.control().guest_count();
    let commits = ws.subjects().len();

    let report = ws.run("rollback", json!({ "yes": true })).await;
    // The plan that brings the cluster back destroys ops-10 and nothing else.
    let plan = report
        .iter()
        .find_map(|i| match i {
            proxmox_mpc::ui::Item::Data { value, .. } if value.get("changes").is_some() => {
                Some(value.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no plan in the report: {report:?}"));
    assert_eq!(
        changes(&plan),
        vec![("delete".to_string(), "ops-10".to_string())]
    );
    // The files went back as a new commit, which says what it did.
    assert!(!ws.root().join("terraform/ops_10.tf").exists());
    let subjects = ws.subjects();
    assert_eq!(subjects.len(), commits + 1, "{subjects:?}");
    assert!(subjects[0].starts_with("rollback to "), "{subjects:?}");
    assert!(lines(&report).contains("Committed "), "{report:?}");
    assert!(
        ws.git(&["status", "--porcelain"]).trim().is_empty(),
        "the rollback left nothing uncommitted"
    );

    // /apply carries it out: ops-10 is gone, every other guest is still there.
    ws.run("apply", json!({ "yes": true })).await;
    assert_eq!(ws.sim_guest("ops-10"), None);
    assert_eq!(ws.sim.control().guest_count(), guests - 1);
    let plan = data(&ws.run("plan", json!({ "json": true })).await);
    assert!(changes(&plan).is_empty(), "{plan}");
    assert_eq!(
        plan["summary"],
        json!({ "add": 0, "change": 0, "destroy": 0 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollbacks_are_refused_by_name_and_change_nothing() {
    let ws = created_and_applied("ops-11").await;
    let head = ws.head();
    let before = files(&ws);
    let unchanged = |ws: &OpsWorkspace, what: &str| {
        assert_eq!(ws.head(), head, "{what}: HEAD moved");
        assert!(files(ws) == before, "{what}: the files changed");
    };

    // An id that names nothing.
    let e = ws
        .try_run("rollback", json!({ "id": "deadbeef00", "yes": true }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no history entry `deadbeef00`"),
        "{}",
        e.message
    );
    assert!(
        e.hints.iter().any(|h| h.contains("/history")),
        "{:?}",
        e.hints
    );
    unchanged(&ws, "unknown id");

    // Not confirmed (no --yes, nobody at a terminal).
    let e = ws.try_run("rollback", json!({})).await.unwrap_err();
    assert!(e.message.contains("not confirmed"), "{}", e.message);
    unchanged(&ws, "not confirmed");

    // A person's uncommitted edit of a file the rollback would restore.
    let path = ws.root().join("terraform/ops_11.tf");
    let edited = format!("{}# my edit\n", std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, &edited).unwrap();
    let e = ws
        .try_run("rollback", json!({ "yes": true }))
        .await
        .unwrap_err();
    assert!(e.message.contains("terraform/ops_11.tf"), "{}", e.message);
    assert!(
        e.hints.iter().any(|h| h.contains("git commit")),
        "{:?}",
        e.hints
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    assert_eq!(ws.head(), head);
    std::fs::write(
        &path,
        before[std::path::Path::new("terraform/ops_11.tf")].clone(),
    )
    .unwrap();
    unchanged(&ws, "dirty tree");

    // No git history at all.
    std::fs::remove_dir_all(ws.root().join(".git")).unwrap();
    let e = ws
        .try_run("rollback", json!({ "yes": true }))
        .await
        .unwrap_err();
    assert!(e.message.contains("no git history"), "{}", e.message);
    assert!(
        e.hints.iter().any(|h| h.contains("git init")),
        "{:?}",
        e.hints
    );
    assert!(files(&ws) == before, "no git: the files changed");
    assert!(ws.sim_guest("ops-11").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_files_cannot_bring_back_is_refused() {
    let ws = created_and_applied("ops-12").await;
    // Destroy it through a rollback and an apply.
    ws.run("rollback", json!({ "yes": true })).await;
    ws.run("apply", json!({ "yes": true })).await;
    assert_eq!(ws.sim_guest("ops-12"), None);
    let head = ws.head();

    // Undoing that apply would create ops-12 again, without its disks: refused, by name.
    let e = ws
        .try_run("rollback", json!({ "yes": true }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("ops-12") && e.message.contains("disks and their data are not restored"),
        "{}",
        e.message
    );
    assert_eq!(ws.head(), head);
    assert!(!ws.root().join("terraform/ops_12.tf").exists());

    // Asked for explicitly, the files come back and the plan creates an empty guest.
    let report = ws
        .run("rollback", json!({ "yes": true, "recreate_empty": true }))
        .await;
    assert!(ws.root().join("terraform/ops_12.tf").exists());
    assert!(lines(&report).contains("not restored"), "{report:?}");

    // A disk that grew cannot shrink back: make ops-13 with 4G, grow it to 8G by hand, apply.
    let ws = created_and_applied("ops-13").await;
    let path = ws.root().join("terraform/ops_13.tf");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("size              = 4\n"), "{text}");
    std::fs::write(
        &path,
        text.replace("size              = 4\n", "size              = 8\n"),
    )
    .unwrap();
    ws.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "grow ops-13",
        "--",
        "terraform/ops_13.tf",
    ]);
    ws.run("apply", json!({ "yes": true })).await;
    let head = ws.head();
    let e = ws
        .try_run("rollback", json!({ "yes": true }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("ops-13") && e.message.contains("shrink"),
        "{}",
        e.message
    );
    assert_eq!(ws.head(), head);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("size              = 8\n")
    );
}
