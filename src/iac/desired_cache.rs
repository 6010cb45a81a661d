//! What the reader ([`super::desired`]) made of each guest file last time, keyed by the file's
//! SHA-256, so that an unchanged file is not parsed again: `/plan --offline` on a large
//! workspace spends most of its time parsing HCL that has not changed since the last read.
//!
//! Only a file whose result depends on nothing but its own text is kept: a *guest-only* file
//! (import blocks and VM/container resources, nothing else) whose expressions are all literals
//! or pool references. Everything such a file can depend on besides itself (pools, variables,
//! locals, tfvars) lives in the other files, whose paths and digests make the cache's
//! `context` key: when any of them changes, the whole workspace is read again. The other files
//! are always parsed (there are few of them).
//!
//! The cache is `.proxmox/cache/desired.json` in the environment's folder, next to state.db;
//! the folder carries its own `.gitignore` (`*`), so no workspace, old or new, commits it. It
//! is tied to the build that wrote it (format, version, and the binary's size and time), so a
//! newer reader never trusts an older one's result. A cache that is missing, unreadable or
//! from another build is ignored and written again; it never makes a read fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::desired::{DesiredFile, ROOT_MODULE};

/// Raised when what the cache holds changes meaning.
const FORMAT: u32 = 1;

/// The cache as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache {
    build: String,
    /// The digest of everything a guest-only file's result may depend on ([`context_key`]).
    pub context: String,
    /// Relative path -> what the reader made of that file.
    pub files: BTreeMap<String, CachedFile>,
}

/// One file's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub sha256: String,
    /// True when the file holds only import blocks and guest resources.
    pub guest_only: bool,
    /// Its guests, when it is guest-only and plain (else empty and never reused).
    pub guests: Vec<DesiredFile>,
    /// False when its result depends on other files (an expression that is not a literal or
    /// a pool reference): then it is parsed every time.
    pub reusable: bool,
}

/// The build this process is: the cache of another is not trusted.
fn build_id() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok());
    let (len, modified) = exe
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        })
        .unwrap_or_default();
    format!("{FORMAT}:{}:{len}:{modified}", env!("CARGO_PKG_VERSION"))
}

fn cache_dir(root: &Path) -> PathBuf {
    root.join(crate::workspace::DOT_DIR).join("cache")
}

fn cache_path(root: &Path) -> PathBuf {
    cache_dir(root).join("desired.json")
}

/// SHA-256 of a file's text, hex.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The digest of what guest-only files may depend on: every other file (path and digest, in
/// path order) and the tfvars files' texts.
pub fn context_key<'a>(root: &Path, others: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (path, sha) in others {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(sha.as_bytes());
        hasher.update([0]);
    }
    let tf_dir = root.join(ROOT_MODULE);
    let mut tfvars: Vec<PathBuf> = std::fs::read_dir(&tf_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".tfvars"))
                .collect()
        })
        .unwrap_or_default();
    tfvars.sort();
    for path in tfvars {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&path).unwrap_or_default());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The workspace's cache, if there is one this build wrote.
pub fn load(root: &Path) -> Option<Cache> {
    let bytes = std::fs::read(cache_path(root)).ok()?;
    let cache: Cache = serde_json::from_slice(&bytes).ok()?;
    (cache.build == build_id()).then_some(cache)
}

/// Writes the cache (atomically; a failure only costs the next read its speed-up).
pub fn store(root: &Path, context: String, files: BTreeMap<String, CachedFile>) {
    let dir = cache_dir(root);
    if !root.join(crate::workspace::DOT_DIR).is_dir() || std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        let _ = std::fs::write(
            &ignore,
            "# A cache of proxmox-mpc's reader: never committed.\n*\n",
        );
    }
    let cache = Cache {
        build: build_id(),
        context,
        files,
    };
    let Ok(bytes) = serde_json::to_vec(&cache) else {
        return;
    };
    if let Err(e) = crate::workspace::write_atomic(&cache_path(root), &bytes, 0o600) {
        tracing::debug!("the reader's cache was not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iac::desired::read_workspace;

    const POOLS: &str = r#"resource "proxmox_virtual_environment_pool" "lab" {
  pool_id = "lab"
  comment = "first"
}
"#;

    fn guest(name: &str, vmid: u32, memory: &str) -> String {
        format!(
            r#"import {{
  to = proxmox_virtual_environment_vm.{name}
  id = "pve1/{vmid}"
}}

resource "proxmox_virtual_environment_vm" "{name}" {{
  name      = "{name}"
  node_name = "pve1"
  vm_id     = {vmid}
  pool_id   = proxmox_virtual_environment_pool.lab.pool_id

  memory {{
    dedicated = {memory}
  }}
}}
"#
        )
    }

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".proxmox")).unwrap();
        std::fs::create_dir_all(dir.path().join("terraform")).unwrap();
        let tf = dir.path().join("terraform");
        std::fs::write(tf.join("pools.tf"), POOLS).unwrap();
        std::fs::write(tf.join("a.tf"), guest("a", 101, "1024")).unwrap();
        std::fs::write(tf.join("b.tf"), guest("b", 102, "2048")).unwrap();
        dir
    }

    /// What the reader makes of the workspace with no cache at all.
    fn uncached(root: &Path) -> crate::iac::desired::WorkspaceRead {
        let _ = std::fs::remove_dir_all(root.join(".proxmox/cache"));
        read_workspace(root)
    }

    fn memory(file: &crate::iac::desired::DesiredFile) -> Option<u64> {
        match &file.guest.config {
            crate::model::GuestConfig::Vm(c) => c.memory_mib,
            crate::model::GuestConfig::Container(c) => c.memory_mib,
        }
    }

    fn assert_same(root: &Path) {
        let cached = read_workspace(root);
        let fresh = uncached(root);
        assert_eq!(cached.state, fresh.state);
        assert_eq!(cached.problems, fresh.problems);
        // Leave a cache for the next step, as a read would.
        read_workspace(root);
    }

    #[test]
    fn a_cached_read_equals_a_full_read_through_every_kind_of_edit() {
        let dir = workspace();
        let root = dir.path();
        let tf = root.join("terraform");
        let first = read_workspace(root);
        assert!(first.problems.is_empty(), "{:?}", first.problems);
        assert_eq!(first.state.files.len(), 2);
        let cache = load(root).expect("the read left a cache");
        assert!(cache.files["terraform/a.tf"].reusable);
        assert!(!cache.files["terraform/pools.tf"].reusable);
        assert!(root.join(".proxmox/cache/.gitignore").is_file());
        assert_same(root);

        // A guest file edited, one added, one removed.
        std::fs::write(tf.join("a.tf"), guest("a", 101, "4096")).unwrap();
        assert_same(root);
        let read = read_workspace(root);
        assert_eq!(memory(&read.state.files[0]), Some(4096));
        std::fs::write(tf.join("c.tf"), guest("c", 103, "512")).unwrap();
        assert_same(root);
        std::fs::remove_file(tf.join("b.tf")).unwrap();
        assert_same(root);

        // What guests depend on: the pools, a variable, a tfvars file.
        std::fs::write(
            tf.join("pools.tf"),
            POOLS.replace("\"lab\"\n  comment", "\"lab2\"\n  comment"),
        )
        .unwrap();
        assert_same(root);
        std::fs::write(tf.join("pools.tf"), POOLS).unwrap();
        std::fs::write(
            tf.join("variables.tf"),
            "variable \"mem\" {\n  default = 768\n}\n",
        )
        .unwrap();
        std::fs::write(tf.join("d.tf"), guest("d", 104, "var.mem")).unwrap();
        assert_same(root);
        std::fs::write(tf.join("terraform.tfvars"), "mem = 1536\n").unwrap();
        assert_same(root);
        let read = read_workspace(root);
        let d = read
            .state
            .files
            .iter()
            .find(|f| f.guest.vmid == 104)
            .unwrap();
        assert_eq!(
            memory(d),
            Some(1536),
            "the tfvars value, not a cached default"
        );

        // A broken file and a vmid described twice are reported as a full read reports them.
        std::fs::write(tf.join("e.tf"), "resource {").unwrap();
        std::fs::write(tf.join("f.tf"), guest("f", 101, "512")).unwrap();
        assert_same(root);
        assert!(read_workspace(root).problems.len() >= 2);
    }

    #[test]
    fn a_cache_from_another_build_or_unreadable_is_ignored() {
        let dir = workspace();
        let root = dir.path();
        read_workspace(root);
        let path = root.join(".proxmox/cache/desired.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let other = text.replacen("\"build\":\"", "\"build\":\"other-", 1);
        std::fs::write(&path, other).unwrap();
        assert!(load(root).is_none());
        std::fs::write(&path, "{ not json").unwrap();
        assert!(load(root).is_none());
        let read = read_workspace(root);
        assert_eq!(read.state.files.len(), 2);
        assert!(load(root).is_some(), "written again");
    }
}
