//! The model of bpg's import (`src/iac/bpg`) judges the generated files: for the homelab seed,
//! PVE's own test configs (`tests/fixtures/pve-config-files`) and real-world guest shapes made
//! for the bpg audit (`tests/fixtures/bpg-audit`), a `terraform plan` right after `terraform
//! import` would change nothing and replace nothing. Each audit row also has its own check on the
//! generated text, so a generator regression names the row.

use std::path::{Path, PathBuf};

use proxmox_mpc::iac::desired::read_workspace;
use proxmox_mpc::iac::fidelity::workspace_plans;
use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::sim::Sim;
use serde_json::Value;

use super::common::{Workspace, client, homelab};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Loads every fixture config into the simulator on pve1: PVE's own test configs from vmid 900,
/// the audit's at the vmid their name gives (`qemu-506-windows11.conf`). Returns (vmid, file).
pub fn load_fixtures(sim: &Sim) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let mut next = 900;
    for (dir, lxc) in [
        ("pve-config-files/qemu-server", false),
        ("pve-config-files/lxc", true),
    ] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            load(sim, next, lxc, &path);
            out.push((next, path));
            next += 1;
        }
    }
    for e in std::fs::read_dir(fixtures().join("bpg-audit")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(rest) = name.strip_suffix(".conf") else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let lxc = parts.next() == Some("lxc");
        let vmid: u32 = parts.next().unwrap().parse().unwrap();
        load(sim, vmid, lxc, &path);
        out.push((vmid, path));
    }
    out
}

fn load(sim: &Sim, vmid: u32, lxc: bool, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    sim.control()
        .load_guest_conf("pve1", vmid, lxc, &text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[tokio::test]
async fn every_fixture_and_the_homelab_import_with_no_change() {
    let sim = homelab().await;
    let loaded = load_fixtures(&sim);
    assert!(loaded.len() >= 25, "{loaded:?}");
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let read = read_workspace(ws.root());
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let plans = workspace_plans(&read.state.files, &run.snapshot);
    let report: Vec<String> = plans
        .iter()
        .map(|p| format!("{} {}: {}", p.vmid, p.file, p.lines().join("; ")))
        .collect();
    assert!(
        report.is_empty(),
        "terraform would change:\n{}",
        report.join("\n")
    );
    // /sync reports the same judgement (nothing here).
    assert!(run.terraform_changes.is_empty());
    // Every guest was judged: each has a file with an import block.
    let imported = read
        .state
        .files
        .iter()
        .filter(|f| f.import_id.is_some())
        .count();
    assert_eq!(imported, run.snapshot.guests.len());
}

/// One check per row of the bpg import audit (`BPG-IMPORT-AUDIT.md`) on the files written for
/// the audit's fixtures, so a generator regression names the row it breaks.
#[tokio::test]
async fn each_audit_row_holds_in_the_generated_files() {
    let sim = homelab().await;
    load_fixtures(&sim);
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let read = read_workspace(ws.root());
    let file = |vmid: u32| {
        read.state
            .file_of(vmid)
            .unwrap_or_else(|| panic!("no file for {vmid}"))
    };
    let body = |vmid: u32| file(vmid).body.clone();
    let blocks = |vmid: u32, name: &str| -> Vec<Value> {
        body(vmid)[name].as_array().cloned().unwrap_or_default()
    };
    let ignored = |vmid: u32, path: &str| file(vmid).ignore_changes.iter().any(|p| p == path);

    // W1: every guest file is in the root module itself.
    for g in &run.report.guests {
        let rest = g.file.strip_prefix("terraform/").unwrap();
        assert!(!rest.contains('/'), "W1: {}", g.file);
    }
    // V1: `wait_for_ip` is never written (bpg never reads it back).
    for f in &read.state.files {
        for a in f.body["agent"].as_array().into_iter().flatten() {
            assert!(a.get("wait_for_ip").is_none(), "V1: {}", f.path);
        }
    }
    // V2: a CD-ROM on ide2 stays a comment; one on ide3 is a cdrom block.
    assert!(blocks(503, "cdrom").is_empty(), "V2 pfSense ide2");
    assert_eq!(blocks(500, "cdrom")[0]["interface"], "ide3", "V2 ide3");
    // V3: `ostype: other` has no operating_system block.
    assert!(blocks(503, "operating_system").is_empty(), "V3");
    // V4: no scsihw key: no scsi_hardware, and it is ignored.
    assert!(body(504).get("scsi_hardware").is_none(), "V4");
    assert!(ignored(504, "scsi_hardware"), "V4 ignore");
    // V5, V6: 1 core x 1 socket with no cpu key, 512 MiB: neither block.
    assert!(blocks(504, "cpu").is_empty(), "V5");
    assert!(blocks(504, "memory").is_empty(), "V6");
    // V7: `agent: 0` writes no agent block.
    assert!(blocks(501, "agent").is_empty(), "V7");
    // V8: an EFI disk with bpg's defaults is left out; a 4m one with keys is written.
    assert!(blocks(505, "efi_disk").is_empty(), "V8 default");
    assert_eq!(blocks(506, "efi_disk")[0]["type"], "4m", "V8 4m");
    // V9: the default TPM state is left out (writing it would allocate a new TPM volume).
    assert!(blocks(506, "tpm_state").is_empty(), "V9");
    // V10: a 2252M disk is 2 GiB, as bpg truncates.
    assert_eq!(blocks(501, "disk")[0]["size"], 2, "V10");
    // V11: passthrough as real blocks, rombar always written.
    let pci = blocks(502, "hostpci");
    assert_eq!(pci.len(), 2, "V11 hostpci");
    assert_eq!(pci[0]["id"], "0000:01:00");
    assert_eq!(pci[0]["rombar"], true);
    assert_eq!(pci[1]["mapping"], "nvme-hba");
    assert_eq!(pci[1]["rombar"], false);
    let usb = blocks(502, "usb");
    assert_eq!(
        (usb[0]["host"].clone(), usb[1]["usb3"].clone()),
        ("1a86:7523".into(), true.into()),
        "V11 usb"
    );
    // V12: startup, protection, tablet, disk limits, NIC rate limit as attributes.
    assert_eq!(blocks(502, "startup")[0]["order"], 2, "V12 startup");
    assert_eq!(body(502)["protection"], true, "V12 protection");
    assert_eq!(body(502)["tablet_device"], false, "V12 tablet");
    assert_eq!(
        blocks(502, "disk")[0]["speed"][0]["iops_read"],
        500,
        "V12 iops"
    );
    assert_eq!(
        blocks(502, "network_device")[0]["rate_limit"],
        50,
        "V12 rate"
    );
    // V12 (more): watchdog and RNG.
    assert_eq!(
        blocks(500, "watchdog")[0]["action"],
        "reset",
        "V12 watchdog"
    );
    assert_eq!(blocks(500, "rng")[0]["source"], "/dev/urandom", "V12 rng");
    for ct in [600, 601, 602] {
        // C1, C2, C3: pool_id, the timeouts and vm_id are ignored after import.
        for path in [
            "pool_id",
            "vm_id",
            "timeout_create",
            "timeout_start",
            "operating_system",
        ] {
            assert!(ignored(ct, path), "C1-C3/C8 {ct} {path}");
        }
        // C7 / disk is always written.
        assert_eq!(blocks(ct, "disk").len(), 1, "C7 {ct}");
    }
    // C4: no console keys: the block is written with PVE's defaults; `tty: 4` is kept.
    assert_eq!(blocks(600, "console")[0]["tty_count"], 2, "C4");
    assert_eq!(blocks(602, "console")[0]["tty_count"], 4, "C4 tty");
    // C5, C6: 1 core amd64, 512/0: neither block.
    assert!(blocks(600, "cpu").is_empty(), "C5");
    assert!(blocks(600, "memory").is_empty(), "C6");
    // C7: a 2560M root disk is 2 GiB.
    assert_eq!(blocks(601, "disk")[0]["size"], 2, "C7");
    // C9, C10, C11: startup, DNS, device passthrough, protection.
    assert_eq!(blocks(601, "startup")[0]["order"], 3, "C9");
    let init = blocks(601, "initialization");
    assert_eq!(init[0]["dns"][0]["domain"], "lab.example", "C10");
    let devs = blocks(601, "device_passthrough");
    assert_eq!(devs.len(), 2, "C11");
    assert_eq!(devs[0]["path"], "/dev/dri/renderD128");
    assert_eq!(devs[1]["mode"], "0666");
    assert_eq!(body(601)["protection"], true, "C11 protection");
    assert_eq!(
        blocks(601, "network_interface")[0]["rate_limit"],
        20,
        "C11 rate"
    );
    // N2: bridge MTU and IPv6 are attributes (left out, an apply would delete them and reload
    // the node's network).
    let networks = ws.read("terraform/networks.tf");
    assert!(networks.contains("mtu        = 9000"), "N2 mtu: {networks}");
    assert!(
        networks.contains("address6   = \"fd00:1::1/64\""),
        "N2 address6: {networks}"
    );
    assert!(
        networks.contains("gateway6   = \"fd00:1::fffe\""),
        "N2 gateway6: {networks}"
    );
    // C13: ip_config lists only the NICs with addresses.
    assert_eq!(
        blocks(602, "initialization")[0]["ip_config"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "C13"
    );
}

/// A setting bpg has an attribute for but the generator does not write yet (a NUMA node
/// binding) is not dropped silently: /sync names the guest and the attribute a `terraform
/// apply` would change, and the workspace judgement (what /test reports) says the same.
#[tokio::test]
async fn a_setting_the_files_cannot_carry_is_named_not_dropped() {
    let sim = homelab().await;
    let conf = "cores: 2\nmemory: 2048\nname: numa-box\nnuma: 1\nnuma0: cpus=0-1,hostnodes=0,memory=2048,policy=bind\nnet0: virtio=BC:24:11:50:00:01,bridge=vmbr0\nostype: l26\nscsi0: local-lvm:vm-700-disk-0,size=8G\nscsihw: virtio-scsi-pci\n";
    sim.control()
        .load_guest_conf("pve1", 700, false, conf)
        .unwrap();
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let named = run
        .terraform_changes
        .iter()
        .find(|p| p.vmid == 700)
        .expect("/sync names numa-box");
    assert!(
        named
            .findings
            .iter()
            .any(|f| f.attribute.starts_with("numa")),
        "{:?}",
        named.lines()
    );
    let text = format!("{:?}", proxmox_mpc::commands::sync::render(&run));
    assert!(
        text.contains("numa-box") && text.contains("terraform plan would still change"),
        "{text}"
    );
    // The file still carries the key for proxmox-mpc (a `# pve` line), so nothing is lost.
    assert!(ws.read("terraform/numa_box.tf").contains("# pve numa0 = "));
    let read = read_workspace(ws.root());
    let plans = workspace_plans(&read.state.files, &run.snapshot);
    assert_eq!(plans.iter().map(|p| p.vmid).collect::<Vec<_>>(), vec![700]);
}
