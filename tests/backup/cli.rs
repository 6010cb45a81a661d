//! `backup`, `backups` and `restore` as the built binary runs them on the homelab simulator:
//! a backup of web-01 on the shared `nas` storage (which has `backup` content in the homelab
//! seed), listed with its size and age, restored as a new guest with the same configuration,
//! whose file is written with its import block so that `/plan` has nothing to do.

use serde_json::Value;

use super::common::{run, sim_backups};
use crate::support::cmd::{init_workspace, ok, stderr, stdout, text};
use crate::support::sim::TestSim;

/// The keys a restore must carry over unchanged (the disks get new volumes of the same size,
/// and a copy next to its original new MAC addresses).
const SAME_KEYS: &[&str] = &[
    "memory", "cores", "sockets", "cpu", "ostype", "scsihw", "tags", "agent",
];

#[test]
fn backup_then_list_then_restore_as_a_new_guest_with_its_file() {
    let sim = TestSim::homelab();
    let dir = init_workspace(&sim);
    let d = dir.path();
    ok(run(&sim, d, &["sync"]), "sync");
    let before = sim_backups(sim.sim());

    let out = ok(
        run(
            &sim,
            d,
            &["backup", "vm", "web-01", "--storage", "nas", "--yes"],
        ),
        "backup",
    );
    let after = sim_backups(sim.sim());
    let made: Vec<&String> = after.iter().filter(|v| !before.contains(v)).collect();
    assert_eq!(made.len(), 1, "one new backup volume: {made:?}");
    let volid = made[0].clone();
    assert!(
        volid.starts_with("nas:backup/vzdump-qemu-100-") && volid.ends_with(".vma.zst"),
        "{volid}"
    );
    assert!(
        text(&out).contains(&volid),
        "the backup names its volume:\n{}",
        text(&out)
    );

    // `backups vm web-01 --json` lists it, with size and age; db-01's old backup is not there.
    let out = ok(
        run(&sim, d, &["backups", "vm", "web-01", "--json"]),
        "backups",
    );
    let list: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("backups --json is JSON ({e}):\n{}", text(&out)));
    let list = list.as_array().expect("a list of backups");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["volid"], volid.as_str());
    assert_eq!(list[0]["vmid"], 100);
    assert_eq!(list[0]["guest"], "web-01");
    assert_eq!(
        list[0]["notes"], "web-01",
        "PVE's default notes: the guest's name"
    );
    assert!(list[0]["size"].as_u64().unwrap_or(0) > 0, "{:?}", list[0]);
    assert!(
        list[0]["age_seconds"].as_u64().is_some_and(|a| a < 3600),
        "{:?}",
        list[0]
    );

    // Restore it next to the original.
    let original = sim.control().guest_config(100).expect("web-01");
    let out = ok(
        run(
            &sim,
            d,
            &[
                "restore",
                "vm",
                "web-01",
                "--from",
                &volid,
                "--as",
                "web-01-restored",
                "--yes",
            ],
        ),
        "restore",
    );
    let control = sim.control();
    let vmid = control
        .guest_ids()
        .into_iter()
        .find(|id| {
            control
                .guest_config(*id)
                .is_some_and(|c| c.get("name").map(String::as_str) == Some("web-01-restored"))
        })
        .unwrap_or_else(|| panic!("the restored guest exists:\n{}", text(&out)));
    assert_ne!(vmid, 100);
    let restored = control.guest_config(vmid).expect("config");
    for key in SAME_KEYS {
        assert_eq!(restored.get(*key), original.get(*key), "{key} carried over");
    }
    let disk = |c: &std::collections::BTreeMap<String, String>| {
        c.get("scsi0").map(|v| {
            v.split(',')
                .find(|p| p.starts_with("size="))
                .unwrap_or_default()
                .to_string()
        })
    };
    assert_eq!(
        disk(&restored),
        disk(&original),
        "the disk has the same size"
    );
    assert!(
        restored["scsi0"].contains(&format!("vm-{vmid}-disk-")),
        "a new volume: {}",
        restored["scsi0"]
    );
    assert_ne!(
        restored.get("net0"),
        original.get("net0"),
        "a new MAC next to the original"
    );

    // Its file, with the import block, and nothing left to plan.
    let file = d.join("terraform/web_01_restored.tf");
    let tf = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} ({e}):\n{}", file.display(), text(&out)));
    assert!(tf.contains("import {"), "{tf}");
    assert!(tf.contains(&format!("/{vmid}\"")), "{tf}");
    let plan = run(&sim, d, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "no changes:\n{}", text(&plan));

    // Both acts are in the audit log, and the restore is one commit.
    let log = std::process::Command::new("git")
        .current_dir(d)
        .args(["log", "--format=%s"])
        .output()
        .expect("git");
    let subjects = String::from_utf8_lossy(&log.stdout);
    assert!(subjects.contains("restore web-01-restored"), "{subjects}");
    assert!(
        !stderr(&out).contains(&sim.secret()),
        "no secret in the output"
    );
}

/// A container from its backup (the homelab's months-old backup of proxy), through the
/// operations layer: `--from` by default is the guest's newest backup, the copy has its own
/// hostname, MAC and vmid, and its file plans nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_is_restored_from_its_newest_backup_with_its_file() {
    use serde_json::json;
    let ws = crate::support::ops::OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    let report = ws
        .run(
            "restore",
            json!({"kind": "container", "name": "proxy", "as": "proxy-copy", "yes": true}),
        )
        .await;
    let d = crate::support::ops::data(&report);
    assert_eq!(
        d["volid"],
        "nas:backup/vzdump-lxc-201-2026_01_02-03_00_00.tar.zst"
    );
    let vmid = d["vmid"].as_u64().expect("vmid") as u32;
    let control = ws.sim.control();
    let copy = control.guest_config(vmid).expect("the copy exists");
    let original = control.guest_config(201).expect("proxy");
    assert_eq!(copy["hostname"], "proxy-copy");
    assert_eq!(copy.get("memory"), original.get("memory"));
    assert_ne!(copy.get("net0"), original.get("net0"), "its own MAC");
    assert!(
        copy["rootfs"].contains(&format!("vm-{vmid}-disk-")),
        "{}",
        copy["rootfs"]
    );
    assert!(ws.root().join("terraform/proxy_copy.tf").is_file());
    let plan = ws.run("plan", json!({"json": true})).await;
    let changes = crate::support::ops::data(&plan)["changes"].clone();
    assert!(
        changes
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["action"] == "noop")),
        "{changes}"
    );
}
