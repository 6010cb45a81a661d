//! Re-sync: nothing changed writes no byte and says so; drift is reported field by field and
//! the file left alone (`--adopt` takes the live values); new guests are imported with distinct
//! identifiers; gone guests keep their files (`--prune` removes them); an interrupted sync
//! leaves files and snapshots as they were.

use std::collections::BTreeMap;

use proxmox_mpc::commands::sync::render;
use proxmox_mpc::iac::sync::{GuestOutcome, SyncOptions};
use proxmox_mpc::model::GuestKind;
use proxmox_mpc::sim::Faults;
use proxmox_mpc::ui::Item;

use super::common::{Workspace, client, files_under, homelab};

fn snapshot_of(ws: &Workspace) -> BTreeMap<String, Vec<u8>> {
    files_under(ws.root())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(ws.path(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn outcome(run: &proxmox_mpc::commands::sync::SyncRun, vmid: u32) -> GuestOutcome {
    run.report
        .guests
        .iter()
        .find(|g| g.vmid == vmid)
        .unwrap_or_else(|| panic!("guest {vmid} not in the report"))
        .outcome
        .clone()
}

fn status_line(run: &proxmox_mpc::commands::sync::SyncRun) -> String {
    render(run)
        .into_iter()
        .filter_map(|i| match i {
            Item::Status(s) => Some(s),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_second_sync_changes_no_byte_and_says_so() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    let first = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(first.serial, Some(1));
    let before = snapshot_of(&ws);
    let second = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(second.serial, Some(2), "every sync is a numbered snapshot");
    assert!(
        second.report.written.is_empty(),
        "rewrote {:?}",
        second.report.written
    );
    assert_eq!(snapshot_of(&ws), before);
    assert!(
        second
            .report
            .guests
            .iter()
            .all(|g| g.outcome == GuestOutcome::Unchanged)
    );
    assert!(
        status_line(&second).contains("Nothing changed"),
        "{}",
        status_line(&second)
    );
    let latest = ws.db.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.serial, 2);
    assert_eq!(
        latest.summary().vms.values().sum::<u32>()
            + latest.summary().containers.values().sum::<u32>(),
        second.snapshot.guests.len() as u32
    );
}

#[tokio::test]
async fn memory_changed_on_the_server_is_drift_and_the_file_is_left_alone() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    let first = ws.sync(&client, SyncOptions::default()).await;
    let file = first
        .report
        .guests
        .iter()
        .find(|g| g.vmid == 100)
        .unwrap()
        .file
        .clone();
    let before = ws.read(&file);
    assert!(before.contains("dedicated = 2048"), "{before}");

    sim.control()
        .set_guest_config(100, "memory", "4096")
        .unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    match outcome(&run, 100) {
        GuestOutcome::Drift(fields) => {
            assert_eq!(fields.len(), 1, "{fields:?}");
            assert_eq!(fields[0].field, "memory");
            assert_eq!(fields[0].file.as_deref(), Some("2048"));
            assert_eq!(fields[0].live.as_deref(), Some("4096"));
        }
        other => panic!("expected drift, got {other:?}"),
    }
    assert_eq!(ws.read(&file), before, "the file is left as it was");
    let warnings: Vec<String> = render(&run)
        .into_iter()
        .filter_map(|i| match i {
            Item::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("memory: file 2048 -> live 4096")),
        "{warnings:?}"
    );

    let adopted = ws
        .sync(
            &client,
            SyncOptions {
                adopt: true,
                prune: false,
                agent_ips: false,
            },
        )
        .await;
    assert!(matches!(outcome(&adopted, 100), GuestOutcome::Adopted(_)));
    assert!(ws.read(&file).contains("dedicated = 4096"));
    let again = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(outcome(&again, 100), GuestOutcome::Unchanged);
    assert!(again.report.changed_nothing(), "{:?}", again.report.written);
}

#[tokio::test]
async fn a_hand_edit_is_kept_and_reported_as_drift() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    let first = ws.sync(&client, SyncOptions::default()).await;
    let file = first
        .report
        .guests
        .iter()
        .find(|g| g.vmid == 100)
        .unwrap()
        .file
        .clone();
    let edited = ws.read(&file).replace("cores   = 2", "cores   = 6");
    std::fs::write(ws.path(&file), &edited).unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    match outcome(&run, 100) {
        GuestOutcome::Drift(fields) => {
            assert_eq!(fields[0].field, "cores");
            assert_eq!(fields[0].file.as_deref(), Some("6"));
            assert_eq!(fields[0].live.as_deref(), Some("2"));
        }
        other => panic!("expected drift, got {other:?}"),
    }
    assert_eq!(ws.read(&file), edited);
    // The test spec follows the file (the desired state), not the server.
    let spec = ws.read(&file.replace("terraform/", "tests/").replace(".tf", ".yml"));
    assert!(spec.contains("cores: 6"), "{spec}");
}

#[tokio::test]
async fn new_guests_are_imported_and_gone_ones_kept_until_pruned() {
    let sim = homelab().await;
    let client = client(&sim);
    let control = sim.control();
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;
    let web_before = ws.read("terraform/web_01.tf");

    // Two more guests: one named like an existing guest, one new name.
    control
        .load_guest_conf(
            "pve2",
            950,
            false,
            "name: web-01\nmemory: 512\ncores: 1\nnet0: virtio=BC:24:11:00:09:50,bridge=vmbr0\n",
        )
        .unwrap();
    control
        .load_guest_conf("pve3", 951, false, "name: fresh\nmemory: 256\n")
        .unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(outcome(&run, 950), GuestOutcome::New);
    assert_eq!(outcome(&run, 951), GuestOutcome::New);
    assert_eq!(
        ws.read("terraform/web_01.tf"),
        web_before,
        "the first web-01 keeps its name"
    );
    let twin = ws.read("terraform/web_01_950.tf");
    assert!(twin.contains("proxmox_virtual_environment_vm\" \"web_01_950\""));
    assert!(twin.contains("id = \"pve2/950\""));
    assert!(ws.path("terraform/fresh.tf").is_file());
    assert!(ws.path("tests/fresh.yml").is_file());

    // Remove 951 on the server.
    let upid = client.destroy("pve3", GuestKind::Qemu, 951).await.unwrap();
    client.wait(&upid).await.unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(outcome(&run, 951), GuestOutcome::Gone);
    assert!(
        ws.path("terraform/fresh.tf").is_file(),
        "kept until --prune"
    );
    // Its identifier is not handed to anyone else while the file is kept.
    let run = ws
        .sync(
            &client,
            SyncOptions {
                adopt: false,
                prune: true,
                agent_ips: false,
            },
        )
        .await;
    assert_eq!(outcome(&run, 951), GuestOutcome::Pruned);
    assert!(!ws.path("terraform/fresh.tf").exists());
    assert!(!ws.path("tests/fresh.yml").exists());
    let run = ws.sync(&client, SyncOptions::default()).await;
    assert!(run.report.guests.iter().all(|g| g.vmid != 951));
    assert!(run.report.changed_nothing());
}

#[tokio::test]
async fn an_interrupted_sync_leaves_files_and_snapshots_as_they_were() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;
    let before = snapshot_of(&ws);
    sim.control()
        .set_guest_config(100, "memory", "8192")
        .unwrap();
    sim.control().set_faults(Faults {
        error_rate_5xx: 1.0,
        ..Faults::none()
    });
    let result = proxmox_mpc::commands::sync::sync_with(
        &client,
        ws.root(),
        Some((&ws.db, "default")),
        SyncOptions {
            adopt: true,
            prune: true,
            agent_ips: false,
        },
        |_, _| {},
    )
    .await;
    let err = result.expect_err("the server fails every request");
    assert!(!err.to_string().is_empty());
    assert_eq!(snapshot_of(&ws), before);
    assert_eq!(ws.db.latest_snapshot().await.unwrap().unwrap().serial, 1);
}

#[tokio::test]
async fn a_guest_renamed_on_the_server_keeps_its_file_and_identifier() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;
    sim.control()
        .set_guest_config(100, "name", "frontend")
        .unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    match outcome(&run, 100) {
        GuestOutcome::Drift(fields) => {
            assert_eq!(fields[0].field, "name");
            assert_eq!(fields[0].live.as_deref(), Some("frontend"));
        }
        other => panic!("expected drift, got {other:?}"),
    }
    let run = ws
        .sync(
            &client,
            SyncOptions {
                adopt: true,
                prune: false,
                agent_ips: false,
            },
        )
        .await;
    let report = run.report.guests.iter().find(|g| g.vmid == 100).unwrap();
    assert_eq!(report.file, "terraform/web_01.tf");
    let text = ws.read("terraform/web_01.tf");
    assert!(text.contains("resource \"proxmox_virtual_environment_vm\" \"web_01\""));
    assert!(text.contains("name          = \"frontend\""), "{text}");
    assert!(!ws.path("terraform/frontend.tf").exists());
}

#[tokio::test]
async fn a_pool_added_in_the_files_is_kept_and_reported_until_adopt() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;
    let edited = format!(
        "{}\nresource \"proxmox_virtual_environment_pool\" \"staging\" {{\n  pool_id = \"staging\"\n}}\n",
        ws.read("terraform/pools.tf")
    );
    std::fs::write(ws.path("terraform/pools.tf"), &edited).unwrap();
    let run = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(
        ws.read("terraform/pools.tf"),
        edited,
        "the file's pools are the desired state"
    );
    assert!(
        run.report
            .warnings
            .iter()
            .any(|w| w.contains("pools.tf differs") && w.contains("staging is only in the file")),
        "{:?}",
        run.report.warnings
    );
    // Guests still refer to the pools the file declares.
    assert!(
        ws.read("terraform/web_01.tf")
            .contains("proxmox_virtual_environment_pool.prod.pool_id")
    );
    let run = ws
        .sync(
            &client,
            SyncOptions {
                adopt: true,
                prune: false,
                agent_ips: false,
            },
        )
        .await;
    assert!(
        run.report
            .written
            .contains(&"terraform/pools.tf".to_string())
    );
    assert!(!ws.read("terraform/pools.tf").contains("staging"));
}

/// A workspace from before guest files lived in the root module (`terraform/guests/`, which
/// Terraform never loads): the next /sync moves every file into `terraform/` as it is (a hand
/// edit stays, and is then reported as drift like any other), says what moved, removes the
/// empty folder, and a sync after that changes nothing. A guest named like a generated file
/// gets another file name.
#[tokio::test]
async fn a_legacy_guests_folder_moves_into_the_root_module_with_hand_edits_kept() {
    let sim = homelab().await;
    let client = client(&sim);
    let ws = Workspace::new().await;
    let first = ws.sync(&client, SyncOptions::default()).await;
    std::fs::create_dir_all(ws.path("terraform/guests")).unwrap();
    let mut legacy = Vec::new();
    for g in &first.report.guests {
        let name = g.file.strip_prefix("terraform/").unwrap().to_string();
        std::fs::rename(
            ws.path(&g.file),
            ws.path(&format!("terraform/guests/{name}")),
        )
        .unwrap();
        legacy.push((format!("terraform/guests/{name}"), g.file.clone()));
    }
    let edited = ws
        .read("terraform/guests/web_01.tf")
        .replace("dedicated = 2048", "dedicated = 3072");
    assert!(edited.contains("dedicated = 3072"));
    std::fs::write(ws.path("terraform/guests/web_01.tf"), &edited).unwrap();

    let run = ws.sync(&client, SyncOptions::default()).await;
    let mut moved = run.report.moved.clone();
    moved.sort();
    legacy.sort();
    assert_eq!(moved, legacy);
    assert!(
        !ws.path("terraform/guests").exists(),
        "the empty folder is gone"
    );
    assert_eq!(
        ws.read("terraform/web_01.tf"),
        edited,
        "the hand edit moved as it was"
    );
    match outcome(&run, 100) {
        GuestOutcome::Drift(fields) => assert_eq!(fields[0].field, "memory"),
        other => panic!("expected drift, got {other:?}"),
    }
    let items = proxmox_mpc::commands::sync::render(&run);
    let text = format!("{items:?}");
    let said = format!(
        "Moved {} guest files from terraform/guests/ into the root module terraform/",
        legacy.len()
    );
    assert!(text.contains(&said), "{text}");

    let again = ws.sync(&client, SyncOptions::default()).await;
    assert!(again.report.moved.is_empty());
    assert!(
        again.report.written.is_empty(),
        "{:?}",
        again.report.written
    );
}

/// A guest whose name is a generated file's (`provider`) gets a file of its own.
#[tokio::test]
async fn a_guest_named_like_a_generated_file_gets_another_name() {
    let sim = homelab().await;
    sim.control()
        .set_guest_config(100, "name", "provider")
        .unwrap();
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let file = &run
        .report
        .guests
        .iter()
        .find(|g| g.vmid == 100)
        .unwrap()
        .file;
    assert_eq!(file, "terraform/provider_100.tf");
    assert!(
        ws.read("terraform/provider.tf")
            .contains("required_providers")
    );
}
