//! Syncing the homelab seed: what lands in the workspace, and that it reads back.

use proxmox_mpc::iac::sync::SyncOptions;

use super::common::{Workspace, client, files_under, homelab};

#[tokio::test]
async fn homelab_sync_writes_the_workspace() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let files = files_under(ws.root());
    if let Ok(dir) = std::env::var("PMPC_KEEP_SYNC") {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in &files {
            let to = std::path::Path::new(&dir).join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(ws.path(f), to).unwrap();
        }
    }
    assert!(
        files.contains(&"terraform/provider.tf".to_string()),
        "{files:?}"
    );
    assert_eq!(
        run.report.counts().get("new").copied(),
        Some(run.snapshot.guests.len())
    );
}
