//! Shared helpers: a simulator, a client for it, a workspace folder with a state database,
//! and a sync run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proxmox_mpc::commands::sync::{SyncRun, sync_with};
use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::state::StateDb;

/// Starts the homelab simulator over HTTPS on 127.0.0.1:0.
pub async fn homelab() -> Sim {
    Sim::start(SimConfig::homelab())
        .await
        .expect("simulator starts")
}

/// A client for `sim` with the full token and the certificate pinned.
pub fn client(sim: &Sim) -> Client {
    let mut config = ClientConfig::new(
        sim.url(),
        Auth::Token {
            id: sim.token_id(),
            secret: Secret::new(sim.token_secret()),
        },
        TlsMode::Pinned(
            sim.fingerprint()
                .expect("HTTPS simulator has a fingerprint"),
        ),
    );
    config.retry_base_delay = Duration::from_millis(5);
    config.max_concurrency = 16;
    client_from(config)
}

fn client_from(config: ClientConfig) -> Client {
    Client::new(config).expect("client config is valid")
}

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

    /// Runs a sync against `client` with `options`.
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

/// Every file under `root` (relative paths, sorted), skipping `.proxmox/`.
pub fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with(".proxmox") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Returns the python of the venv with the Ansible tools (PMPC_VENV or ./.venv).
pub fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var("PMPC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    venv.join("bin").join(tool)
}
