//! Every refusal a user can cause, through the operations layer: an unknown volid, a storage
//! without `backup` content, a restore name or VMID already taken, a backup of a locked guest,
//! a protected backup, no confirmation. Each names the object and the next step, and leaves
//! the cluster and the workspace as they were. `forget-backup` removes what it is told to.

use serde_json::json;

use super::common::sim_backups;
use crate::support::files::workspace_files;
use crate::support::ops::{OpsWorkspace, lines};

const DB_BACKUP: &str = "nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst";

/// Runs `name` with `input`, expecting a refusal that changes nothing; returns its message
/// and hints.
async fn refused(ws: &OpsWorkspace, name: &str, input: serde_json::Value) -> String {
    let backups = sim_backups(&ws.sim);
    let guests = ws.sim.control().guest_ids();
    let files = workspace_files(ws.root());
    let err = match ws.try_run(name, input.clone()).await {
        Ok(report) => panic!("{name} {input} was not refused:\n{}", lines(&report)),
        Err(e) => e,
    };
    assert_eq!(
        sim_backups(&ws.sim),
        backups,
        "{name}: no backup made or removed"
    );
    assert_eq!(
        ws.sim.control().guest_ids(),
        guests,
        "{name}: no guest made"
    );
    assert_eq!(workspace_files(ws.root()), files, "{name}: no file written");
    assert!(
        !err.hints.is_empty(),
        "{name}: a next step is given: {}",
        err.message
    );
    format!("{} | {}", err.message, err.hints.join(" | "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_backups_are_refused_by_name_with_nothing_changed() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;

    // a storage without backup content, and one that does not exist
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "vm", "name": "web-01", "storage": "local-lvm", "yes": true}),
    )
    .await;
    assert!(m.contains("local-lvm has no `backup` content"), "{m}");
    assert!(
        m.contains("local, nas"),
        "the storages that take backups are named: {m}"
    );
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "vm", "name": "web-01", "storage": "tape", "yes": true}),
    )
    .await;
    assert!(m.contains("there is no storage tape"), "{m}");

    // a locked guest (the homelab's backup-target holds a `backup` lock)
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "vm", "name": "backup-target", "storage": "nas", "yes": true}),
    )
    .await;
    assert!(
        m.contains("backup-target (vmid 105) is locked (backup)"),
        "{m}"
    );
    assert!(m.contains("qm unlock 105"), "{m}");
    assert_eq!(
        ws.sim
            .control()
            .guest_config(105)
            .and_then(|c| c.get("lock").cloned())
            .as_deref(),
        Some("backup"),
        "the lock is left alone"
    );

    // the wrong kind, an unknown guest, and no confirmation where nobody can answer
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "container", "name": "web-01", "yes": true}),
    )
    .await;
    assert!(m.contains("web-01 is a vm, not a container"), "{m}");
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "vm", "name": "web-99", "yes": true}),
    )
    .await;
    assert!(m.contains("there is no vm web-99"), "{m}");
    let m = refused(
        &ws,
        "backup",
        json!({"kind": "vm", "name": "web-01", "storage": "nas"}),
    )
    .await;
    assert!(m.contains("not confirmed"), "{m}");
    assert!(m.contains("--yes"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_restores_are_refused_by_name_with_nothing_changed() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;

    // an unknown volid, and one that is no backup volid at all
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "vm", "name": "db-01", "from": "nas:backup/vzdump-qemu-102-2020_01_01-00_00_00.vma.zst", "as": "db-01-old", "yes": true}),
    )
    .await;
    assert!(
        m.contains("there is no backup nas:backup/vzdump-qemu-102-2020_01_01"),
        "{m}"
    );
    assert!(m.contains("`backups` lists"), "{m}");
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "vm", "name": "db-01", "from": "local:iso/debian-12.9.0-amd64-netinst.iso", "as": "x", "yes": true}),
    )
    .await;
    assert!(m.contains("there is no backup local:iso/"), "{m}");

    // the name is taken (db-01 still exists), then the vmid
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "vm", "name": "db-01", "from": DB_BACKUP, "yes": true}),
    )
    .await;
    assert!(m.contains("a guest named db-01 exists already"), "{m}");
    assert!(m.contains("--as NEWNAME"), "{m}");
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "vm", "name": "db-01", "from": DB_BACKUP, "as": "db-01-old", "vmid": 100, "yes": true}),
    )
    .await;
    assert!(m.contains("vmid 100 is taken by vm web-01"), "{m}");

    // a backup of another guest or kind
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "vm", "name": "web-01", "from": DB_BACKUP, "as": "web-01-old", "yes": true}),
    )
    .await;
    assert!(m.contains("is a backup of vmid 102, not of web-01"), "{m}");
    let m = refused(
        &ws,
        "restore",
        json!({"kind": "container", "name": "proxy", "from": DB_BACKUP, "as": "proxy-old", "yes": true}),
    )
    .await;
    assert!(m.contains("is a backup of a vm, not of a container"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_backup_removes_one_volume_and_refuses_a_protected_or_unknown_one() {
    let ws = OpsWorkspace::init().await;
    let m = refused(
        &ws,
        "forget-backup",
        json!({"volid": "nas:backup/vzdump-qemu-999-2026_01_01-02_00_00.vma.zst", "yes": true}),
    )
    .await;
    assert!(
        m.contains("there is no backup nas:backup/vzdump-qemu-999"),
        "{m}"
    );

    // a protected backup stays
    let made = ws
        .run(
            "backup",
            json!({"kind": "container", "name": "dns-01", "storage": "local", "protected": true, "yes": true}),
        )
        .await;
    let volid = crate::support::ops::data(&made)["volid"]
        .as_str()
        .expect("the new volid")
        .to_string();
    assert!(
        volid.starts_with("local:backup/vzdump-lxc-200-") && volid.ends_with(".tar.zst"),
        "{volid}"
    );
    let m = refused(&ws, "forget-backup", json!({"volid": volid, "yes": true})).await;
    assert!(m.contains("is protected"), "{m}");

    // an unprotected one goes, after confirmation
    let m = refused(&ws, "forget-backup", json!({"volid": DB_BACKUP})).await;
    assert!(m.contains("not confirmed"), "{m}");
    let report = ws
        .run("forget-backup", json!({"volid": DB_BACKUP, "yes": true}))
        .await;
    assert!(
        lines(&report).contains("Removed the backup"),
        "{}",
        lines(&report)
    );
    assert!(!sim_backups(&ws.sim).contains(&DB_BACKUP.to_string()));
    let audit = ws.run("audit", json!({"json": true})).await;
    let rows = crate::support::ops::data(&audit).to_string();
    assert!(
        rows.contains("forget-backup") && rows.contains(DB_BACKUP),
        "{rows}"
    );
}
