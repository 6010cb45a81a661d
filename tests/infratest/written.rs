//! "Files match what the console wrote": state.db keeps the SHA-256 of every file the console
//! writes (sync, resource commands), and the workspace check reports hand edits
//! (informational) and missing files (a failure).

use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::infratest::Status;
use proxmox_mpc::state::written::sha256_hex;

use super::common::{Lab, failures, result};

const CHECK: &str = "files match what the console wrote";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_are_reported_and_missing_files_fail() {
    let lab = Lab::synced().await;
    // Every generated file is recorded with the hash of its bytes.
    let written = lab.db.written_files().await.unwrap();
    for rel in [
        "terraform/web_01.tf",
        "ansible/inventory.yml",
        "tests/web_01.yml",
        "docs/inventory.md",
    ] {
        assert_eq!(
            written.get(rel),
            Some(&sha256_hex(&std::fs::read(lab.path(rel)).unwrap())),
            "{rel}: {written:?}"
        );
    }

    let spec = lab.read("tests/web_01.yml");
    lab.write("tests/web_01.yml", &format!("{spec}# a note of mine\n"));
    std::fs::remove_file(lab.path("docs/inventory.md")).unwrap();
    let run = lab.run().await;
    let check = result(&run, "workspace", CHECK);
    assert_eq!(check.status, Status::Failed, "{check:?}");
    assert_eq!(check.actual.as_deref(), Some("missing: docs/inventory.md"));
    let message = check.message.as_deref().unwrap();
    assert!(
        message.contains("edited by hand since the console wrote it: tests/web_01.yml"),
        "{message}"
    );

    // Only the hand edit: reported, not a failure.
    lab.sync(SyncOptions::default()).await;
    lab.write("tests/web_01.yml", &format!("{spec}# a note of mine\n"));
    let run = lab.run().await;
    let check = result(&run, "workspace", CHECK);
    assert_eq!(check.status, Status::Passed, "{}", failures(&run));
    assert!(
        check
            .message
            .as_deref()
            .unwrap()
            .contains("edited by hand since the console wrote it: tests/web_01.yml"),
        "{check:?}"
    );

    // /sync writes the generated text again: nothing to report.
    lab.sync(SyncOptions::default()).await;
    assert_eq!(lab.read("tests/web_01.yml"), spec);
    let run = lab.run().await;
    let check = result(&run, "workspace", CHECK);
    assert_eq!(check.status, Status::Passed);
    assert!(
        !check.message.as_deref().unwrap().contains("edited by hand"),
        "{check:?}"
    );
}
