//! A resource command through the console session (`set vm web-01 --memory 4G`) regenerates
//! that guest's spec, leaves the hand-written tests/checks/ byte-identical, and records the
//! hashes of what it wrote in state.db.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::console::Session;
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::state::StateDb;
use proxmox_mpc::state::written::sha256_hex;

use crate::support::files::{Unreadable, relative_files};
use crate::support::session::{ok, synced_session, text};

const CHECK: &str = "files match what the console wrote";

const TOKEN_VAR: &str = "PMPC_INFRATEST_TOKEN";

/// Every file under `dir` (relative path -> bytes); any that cannot be read fails the test.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    relative_files(dir, Unreadable::Panic)
}

/// The homelab simulator and a console session in a workspace synced from it.
async fn synced_console(sim: &Sim, dir: &Path) -> Session {
    synced_session(sim, dir, TOKEN_VAR).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_write_back_is_recorded_as_written_by_the_console() {
    let sim = Sim::start(SimConfig::homelab())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let mut console = synced_console(&sim, dir.path()).await;
    ok(
        &mut console,
        "create vm --name app-01 --cores 1 --memory 1G --disk 8G --node pve2",
    )
    .await;
    let created = std::fs::read_to_string(dir.path().join("terraform/app_01.tf")).unwrap();
    ok(&mut console, "/apply --yes").await;
    let after = std::fs::read_to_string(dir.path().join("terraform/app_01.tf")).unwrap();
    assert_ne!(after, created, "the apply wrote the import block back");
    assert!(after.contains("import"), "{after}");
    // Recorded in state.db by the command itself (a one-shot run ends right after it).
    let db = StateDb::open_existing(&dir.path().join(".proxmox/state.db"))
        .await
        .unwrap();
    let written = db.written_files().await.unwrap();
    assert_eq!(
        written.get("terraform/app_01.tf"),
        Some(&sha256_hex(after.as_bytes()))
    );
    db.close().await;
    let out = console.handle("/test --filter workspace --json").await;
    let report = text(&out);
    assert!(
        out.error.is_none(),
        "{:?}\n{report}",
        out.error.map(|e| e.message)
    );
    assert!(report.contains(CHECK), "{report}");
    assert!(
        report.contains("files are as the console wrote them"),
        "{report}"
    );
    assert!(!report.contains("edited by hand"), "{report}");
    assert!(!report.contains("missing"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_vm_regenerates_the_spec_leaves_checks_alone_and_records_the_hash() {
    let sim = Sim::start(SimConfig::homelab())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let mut console = synced_console(&sim, dir.path()).await;
    let checks = dir.path().join("tests/checks");
    std::fs::create_dir_all(&checks).unwrap();
    std::fs::write(
        checks.join("smoke.yml"),
        "# mine, not generated\nversion: 1\nchecks:\n  - guest: web-01\n    name: ssh\n    tcp: 22\n",
    )
    .unwrap();
    std::fs::write(checks.join("notes.txt"), "hand-written\n").unwrap();
    let checks_before = files(&checks);
    let spec_before = std::fs::read_to_string(dir.path().join("tests/web_01.yml")).unwrap();
    assert!(spec_before.contains("memory_mib: 2048"), "{spec_before}");

    ok(&mut console, "set vm web-01 --memory 4G").await;

    let spec = std::fs::read_to_string(dir.path().join("tests/web_01.yml")).unwrap();
    assert!(spec.contains("memory_mib: 4096"), "{spec}");
    assert_eq!(
        spec.replace("memory_mib: 4096", "memory_mib: 2048"),
        spec_before,
        "only the memory changed in the spec"
    );
    assert_eq!(files(&checks), checks_before, "tests/checks/ is untouched");

    // The resource command's writes are recorded: the new spec and .tf match state.db.
    let db = StateDb::open_existing(&dir.path().join(".proxmox/state.db"))
        .await
        .unwrap();
    let written = db.written_files().await.unwrap();
    for rel in ["tests/web_01.yml", "terraform/web_01.tf"] {
        assert_eq!(
            written.get(rel),
            Some(&sha256_hex(&std::fs::read(dir.path().join(rel)).unwrap())),
            "{rel}"
        );
    }
    assert!(!written.keys().any(|k| k.starts_with("tests/checks/")));
    db.close().await;

    // /test through the console sees no hand edit among the generated files.
    let out = console.handle("/test --filter workspace --json").await;
    assert!(out.error.is_none(), "{:?}", out.error.map(|e| e.message));
    let report = text(&out);
    assert!(report.contains(CHECK), "{report}");
    assert!(
        report.contains("files are as the console wrote them"),
        "{report}"
    );
    assert!(!report.contains("edited by hand"), "{report}");
}
