//! A workspace folder: a new temp folder with `.proxmox/state.db`, and `/sync` into it through
//! the sync command's code path.

use std::path::{Path, PathBuf};

use proxmox_mpc::commands::sync::{SyncRun, sync_with};
use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::pve::Client;
use proxmox_mpc::state::StateDb;

/// A workspace folder with `.proxmox/state.db`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: StateDb,
}

impl Workspace {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(".proxmox")).unwrap();
        let db = StateDb::open(&dir.path().join(".proxmox/state.db"))
            .await
            .expect("state db opens");
        Self { dir, db }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Runs `/sync` against `client` with `options` (the default workspace of state.db).
    pub async fn sync(&self, client: &Client, options: SyncOptions) -> SyncRun {
        sync_with(
            client,
            self.root(),
            Some((&self.db, "default")),
            options,
            |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("sync fails: {e:?}"))
    }
}
