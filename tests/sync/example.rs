//! `examples/homelab/` is exactly what `/sync` writes for the simulator's homelab seed (without
//! `.proxmox/`). This test regenerates it and fails on any difference; run it with
//! `PMPC_BLESS=1` to rewrite the example after an intended change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proxmox_mpc::iac::sync::SyncOptions;

use super::common::{Workspace, client, files_under, homelab};

#[tokio::test]
async fn examples_homelab_is_what_sync_writes_for_the_homelab_seed() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    ws.sync(&client(&sim), SyncOptions::default()).await;
    let generated: BTreeMap<String, Vec<u8>> = files_under(ws.root())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(ws.path(&f)).unwrap();
            (f, bytes)
        })
        .collect();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    if std::env::var_os("PMPC_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&example);
        for (rel, bytes) in &generated {
            let path = example.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let committed: BTreeMap<String, Vec<u8>> = files_under(&example)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(example.join(&f)).unwrap();
            (f, bytes)
        })
        .collect();
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&generated),
        names(&committed),
        "the file list differs; rerun with PMPC_BLESS=1 if the change is intended"
    );
    for (rel, bytes) in &generated {
        assert!(
            committed[rel] == *bytes,
            "examples/homelab/{rel} differs from what /sync writes; rerun with PMPC_BLESS=1 if intended"
        );
    }
}
