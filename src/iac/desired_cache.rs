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
//! Stored lean: one line per file, its guests as two JSON arrays kept as text until a read
//! reuses them: the *core* (ident, import id, the model guest: what `/plan` needs) and the
//! *extra* (the evaluated body, unmodelled attributes, `ignore_changes`: what the other
//! readers need). A plan parses only the cores, on every core of the machine, and a rewrite of
//! the cache copies the text of the entries it reused instead of serializing them again.
//!
//! The cache is `.proxmox/cache/desired.json` in the environment's folder, next to state.db;
//! the folder carries its own `.gitignore` (`*`), so no workspace, old or new, commits it. It
//! is tied to the build that wrote it (format, version, and the binary's size and time), so a
//! newer reader never trusts an older one's result. A cache that is missing, unreadable or
//! from another build is ignored and written again; it never makes a read fail.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::desired::{DesiredFile, ROOT_MODULE};
use crate::model::Guest;

/// Raised when what the cache holds changes meaning.
const FORMAT: u32 = 2;

/// The first line of the cache.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    build: String,
    context: String,
}

/// The cache as loaded: its text, and per file where its parts are in that text.
#[derive(Debug, Default)]
pub struct Cache {
    text: String,
    /// The digest of everything a guest-only file's result may depend on ([`context_key`]).
    pub context: String,
    /// Relative path -> what the reader made of that file.
    pub files: BTreeMap<String, CachedFile>,
}

/// One file's entry.
#[derive(Debug, Clone)]
pub struct CachedFile {
    pub sha256: String,
    /// True when the file holds only import blocks and guest resources.
    pub guest_only: bool,
    /// False when its result depends on other files (an expression that is not a literal or
    /// a pool reference): then it is parsed every time, and its guests are not kept.
    pub reusable: bool,
    core: Range<usize>,
    extra: Range<usize>,
}

/// What a read needs of each cached guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything a parse gives.
    Full,
    /// Path, ident, import id and model guest only (`/plan`, `/diff`, `/apply`): the evaluated
    /// body, `unmodelled`, `expressions` and `ignore_changes` of a reused file are left empty.
    Guests,
}

/// A file's entry to store: its guests' parts as JSON text.
#[derive(Debug, Clone)]
pub struct StoredFile<'a> {
    pub sha256: String,
    pub guest_only: bool,
    pub reusable: bool,
    pub core: std::borrow::Cow<'a, str>,
    pub extra: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct CoreRef<'a> {
    ident: &'a str,
    import_id: &'a Option<String>,
    guest: &'a Guest,
}

#[derive(Deserialize)]
struct Core {
    ident: String,
    import_id: Option<String>,
    guest: Guest,
}

#[derive(Serialize)]
struct ExtraRef<'a> {
    unmodelled: &'a [String],
    expressions: &'a [String],
    body: &'a serde_json::Value,
    ignore_changes: &'a [String],
}

#[derive(Deserialize)]
struct Extra {
    unmodelled: Vec<String>,
    expressions: Vec<String>,
    body: serde_json::Value,
    ignore_changes: Vec<String>,
}

impl Cache {
    /// The stored text of an entry's parts, to store again unchanged.
    pub fn stored<'a>(&'a self, entry: &CachedFile) -> StoredFile<'a> {
        StoredFile {
            sha256: entry.sha256.clone(),
            guest_only: entry.guest_only,
            reusable: entry.reusable,
            core: self.text.get(entry.core.clone()).unwrap_or("[]").into(),
            extra: self.text.get(entry.extra.clone()).unwrap_or("[]").into(),
        }
    }

    /// The guests of a reusable entry, as the reader made them (`path` is the file's relative
    /// path); `None` when the stored text does not read back.
    pub fn guests(
        &self,
        path: &str,
        entry: &CachedFile,
        detail: Detail,
    ) -> Option<Vec<DesiredFile>> {
        let cores: Vec<Core> = serde_json::from_str(self.text.get(entry.core.clone())?).ok()?;
        let extras: Vec<Option<Extra>> = match detail {
            Detail::Guests => cores.iter().map(|_| None).collect(),
            Detail::Full => {
                let extras: Vec<Extra> =
                    serde_json::from_str(self.text.get(entry.extra.clone())?).ok()?;
                if extras.len() != cores.len() {
                    return None;
                }
                extras.into_iter().map(Some).collect()
            }
        };
        Some(
            cores
                .into_iter()
                .zip(extras)
                .map(|(c, x)| {
                    let x = x.unwrap_or(Extra {
                        unmodelled: Vec::new(),
                        expressions: Vec::new(),
                        body: serde_json::Value::Null,
                        ignore_changes: Vec::new(),
                    });
                    DesiredFile {
                        path: path.to_string(),
                        ident: c.ident,
                        import_id: c.import_id,
                        guest: c.guest,
                        unmodelled: x.unmodelled,
                        expressions: x.expressions,
                        body: x.body,
                        ignore_changes: x.ignore_changes,
                    }
                })
                .collect(),
        )
    }
}

/// A file's guests as the cache stores them: (core, extra) JSON arrays.
pub fn encode(guests: &[&DesiredFile]) -> (String, String) {
    let cores: Vec<CoreRef> = guests
        .iter()
        .map(|f| CoreRef {
            ident: &f.ident,
            import_id: &f.import_id,
            guest: &f.guest,
        })
        .collect();
    let extras: Vec<ExtraRef> = guests
        .iter()
        .map(|f| ExtraRef {
            unmodelled: &f.unmodelled,
            expressions: &f.expressions,
            body: &f.body,
            ignore_changes: &f.ignore_changes,
        })
        .collect();
    (
        serde_json::to_string(&cores).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&extras).unwrap_or_else(|_| "[]".into()),
    )
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

/// One entry line: `"path"\t"sha256"\tG\tR\tCORE\tEXTRA` (flags 0 or 1; compact JSON never
/// holds a raw tab or newline). `offset` is where the line starts in the whole text.
fn parse_line(line: &str, offset: usize) -> Option<(String, CachedFile)> {
    let mut fields = line.splitn(6, '\t');
    let path: String = serde_json::from_str(fields.next()?).ok()?;
    let sha256: String = serde_json::from_str(fields.next()?).ok()?;
    let guest_only = fields.next()? == "1";
    let reusable = fields.next()? == "1";
    let core = fields.next()?;
    let extra = fields.next()?;
    let core_start = offset + (core.as_ptr() as usize - line.as_ptr() as usize);
    let extra_start = offset + (extra.as_ptr() as usize - line.as_ptr() as usize);
    let entry = CachedFile {
        sha256,
        guest_only,
        reusable,
        core: core_start..core_start + core.len(),
        extra: extra_start..extra_start + extra.len(),
    };
    Some((path, entry))
}

/// The workspace's cache, if there is one this build wrote.
pub fn load(root: &Path) -> Option<Cache> {
    let text = std::fs::read_to_string(cache_path(root)).ok()?;
    let (first, _) = text.split_once('\n')?;
    let header: Header = serde_json::from_str(first).ok()?;
    if header.build != build_id() {
        return None;
    }
    let mut files = BTreeMap::new();
    let mut offset = first.len() + 1;
    for line in text[offset..].split_terminator('\n') {
        let (path, entry) = parse_line(line, offset)?;
        files.insert(path, entry);
        offset += line.len() + 1;
    }
    Some(Cache {
        text,
        context: header.context,
        files,
    })
}

/// Writes the cache (atomically; a failure only costs the next read its speed-up).
pub fn store<'a>(
    root: &Path,
    context: String,
    files: impl Iterator<Item = (&'a str, StoredFile<'a>)>,
) {
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
    let header = Header {
        build: build_id(),
        context,
    };
    let Ok(mut text) = serde_json::to_string(&header) else {
        return;
    };
    text.push('\n');
    for (path, f) in files {
        let Ok(path) = serde_json::to_string(path) else {
            return;
        };
        text.push_str(&path);
        text.push('\t');
        text.push('"');
        text.push_str(&f.sha256);
        text.push_str("\"\t");
        text.push_str(if f.guest_only { "1\t" } else { "0\t" });
        text.push_str(if f.reusable { "1\t" } else { "0\t" });
        text.push_str(&f.core);
        text.push('\t');
        text.push_str(&f.extra);
        text.push('\n');
    }
    if let Err(e) = crate::workspace::write_atomic(&cache_path(root), text.as_bytes(), 0o600) {
        tracing::debug!("the reader's cache was not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iac::desired::{read_workspace, read_workspace_hashed};

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
        // What a plan reads (the guests only) from that cache: the same guests, pools and
        // problems, and the hash of the files as read from disk.
        let (lean, hash) = read_workspace_hashed(root, Detail::Guests);
        assert_eq!(lean.state.guests(), fresh.state.guests());
        assert_eq!(lean.state.pools, fresh.state.pools);
        assert_eq!(lean.problems, fresh.problems);
        let where_from = |s: &crate::iac::desired::DesiredState| {
            s.files
                .iter()
                .map(|f| (f.path.clone(), f.ident.clone(), f.import_id.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(where_from(&lean.state), where_from(&fresh.state));
        assert_eq!(
            hash,
            crate::iac::desired::files_hash(root, &BTreeMap::new())
        );
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
