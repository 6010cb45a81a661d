//! Reading the generated files back gives the model the snapshot holds (hcl-rs), for the
//! homelab seed and for real PVE config files loaded into the simulator.

use std::collections::BTreeMap;

use proxmox_mpc::iac::desired::read_workspace;
use proxmox_mpc::iac::sync::{SyncOptions, guest_drift};
use proxmox_mpc::iac::view::file_view;

use super::common::{Workspace, client, homelab};

/// Asserts that every guest of the run reads back from its file exactly.
fn assert_round_trip(ws: &Workspace, run: &proxmox_mpc::commands::sync::SyncRun) {
    let read = read_workspace(ws.root());
    assert!(
        read.problems.is_empty(),
        "unreadable files: {:?}",
        read.problems
    );
    let by_vmid: BTreeMap<u32, _> = read.state.files.iter().map(|f| (f.guest.vmid, f)).collect();
    assert_eq!(by_vmid.len(), run.snapshot.guests.len());
    for live in &run.snapshot.guests {
        let file = by_vmid
            .get(&live.vmid)
            .unwrap_or_else(|| panic!("no file for guest {}", live.vmid));
        assert_eq!(
            file.import_id.as_deref(),
            Some(format!("{}/{}", live.node, live.vmid).as_str())
        );
        assert_eq!(
            file.guest,
            file_view(live),
            "guest {} read back from {} differs",
            live.vmid,
            file.path
        );
        assert!(guest_drift(&file.guest, live).is_empty());
    }
}

#[tokio::test]
async fn homelab_files_read_back_as_the_snapshot() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    assert!(
        run.snapshot.guests.len() >= 25,
        "homelab has about 30 guests"
    );
    assert_round_trip(&ws, &run);
    // Pools are referenced, not repeated: the reader resolves the reference.
    let read = read_workspace(ws.root());
    let ids: Vec<&String> = read.state.pools.iter().collect();
    let mut expected: Vec<&String> = run.snapshot.pools.iter().map(|p| &p.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        ws.read("terraform/web_01.tf")
            .contains("pool_id       = proxmox_virtual_environment_pool.prod.pool_id")
    );
}

#[tokio::test]
async fn real_pve_config_files_round_trip_and_unmapped_keys_stay_visible() {
    let sim = homelab().await;
    let control = sim.control();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pve-config-files");
    let mut vmid = 900;
    let mut loaded = Vec::new();
    for (sub, lxc) in [("qemu-server", false), ("lxc", true)] {
        let mut paths: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            control.load_guest_conf("pve1", vmid, lxc, &text).unwrap();
            loaded.push((vmid, path));
            vmid += 1;
        }
    }
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    for (vmid, path) in &loaded {
        assert!(
            run.snapshot.guest(*vmid).is_some(),
            "fixture {} was not discovered",
            path.display()
        );
    }
    assert_round_trip(&ws, &run);
    // A hostpci0 from a real PVE config becomes a bpg hostpci block.
    let hostpci = run
        .snapshot
        .guests
        .iter()
        .find(|g| g.unmodelled.contains_key("hostpci0"))
        .expect("a fixture with hostpci0");
    let report = run
        .report
        .guests
        .iter()
        .find(|g| g.vmid == hostpci.vmid)
        .unwrap();
    // Passthrough is a real bpg block (a `terraform apply` keeps it), not only a comment.
    let text = ws.read(&report.file);
    let body = hcl::parse(&text).unwrap();
    let resource = body
        .blocks()
        .find(|b| b.identifier() == "resource")
        .unwrap();
    let pci = resource
        .body()
        .blocks()
        .find(|b| b.identifier() == "hostpci")
        .unwrap_or_else(|| panic!("no hostpci block:\n{text}"));
    assert!(
        pci.body()
            .attributes()
            .any(|a| a.key() == "device" && *a.expr() == hcl::Expression::from("hostpci0")),
        "{text}"
    );
}
