//! File trees read back, for before/after comparisons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What [`relative_files`] does with a folder or file it cannot read.
#[derive(Clone, Copy, Debug)]
pub enum Unreadable {
    /// Leaves it out.
    Skip,
    /// Leaves out a folder it cannot list; records a file it cannot read as empty.
    Empty,
    /// Fails the test.
    Panic,
}

/// Every file under `dir`, relative path to bytes (folders are walked, not listed).
pub fn relative_files(dir: &Path, unreadable: Unreadable) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) => match unreadable {
                Unreadable::Panic => panic!("cannot list {}: {e}", d.display()),
                Unreadable::Skip | Unreadable::Empty => continue,
            },
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = match (std::fs::read(&path), unreadable) {
                (Ok(bytes), _) => bytes,
                (Err(_), Unreadable::Skip) => continue,
                (Err(_), Unreadable::Empty) => Vec::new(),
                (Err(e), Unreadable::Panic) => panic!("cannot read {}: {e}", path.display()),
            };
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            files.insert(rel, bytes);
        }
    }
    files
}

/// `files` without what lies under `.proxmox/` (the state database and the workspace config)
/// or `.git/` (the repository's own store: its commits are checked by the history tests).
pub fn outside_dot_proxmox(files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".proxmox") && !p.starts_with(".git"))
        .collect()
}

/// Every file under `root` (relative paths with `/`, sorted), skipping `.proxmox/` and `.git/`.
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
            if rel.starts_with(".proxmox") || rel == ".git" || rel.starts_with(".git/") {
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

/// Returns every path under `dir` (absolute) with its bytes (`None` for folders); a file it
/// cannot read is recorded as empty.
pub fn files_and_folders(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.insert(path.clone(), None);
                stack.push(path);
            } else {
                files.insert(path.clone(), Some(std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files
}

/// Returns every path under `dir` with the SHA-256 of its bytes (folders map to ""), for
/// before/after comparisons. SQLite's transient `-wal`/`-shm` companions are left out: they
/// come and go with every connection and hold no user data once the database is closed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    files_and_folders(dir)
        .into_iter()
        .filter(|(path, _)| {
            let name = path.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .map(|(path, bytes)| {
            let hash = bytes
                .map(|b| hex::encode(sha2::Sha256::digest(b)))
                .unwrap_or_default();
            (path, hash)
        })
        .collect()
}

/// Names the files that differ between two trees as `only in first: ..`, `differs: ..` and
/// `only in second: ..` (for readable failures).
pub fn differences(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, bytes) in a {
        match b.get(path) {
            None => out.push(format!("only in first: {}", path.display())),
            Some(other) if other != bytes => out.push(format!("differs: {}", path.display())),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("only in second: {}", path.display()));
    }
    out
}

/// The relative paths (with `/`, sorted) whose content differs between two trees (added,
/// changed, removed).
pub fn changed(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut keys: Vec<&PathBuf> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| k.to_string_lossy().replace('\\', "/"))
        .collect()
}

/// `text` with the values a server chooses anew for every guest it creates masked: MAC
/// addresses, the creation stamp (`meta`) and the generated ids (`smbios1`, `vmgenid`). Two runs of the same apply on two simulators
/// write the same files but for these, since the write-back takes the server's choices.
pub fn without_server_choices(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let masked: Vec<String> = text
        .lines()
        .map(|line| {
            let key = line.trim_start();
            let chosen = [
                "mac_address",
                "# pve meta ",
                "# pve smbios1 ",
                "# pve vmgenid ",
            ];
            if chosen.iter().any(|k| key.starts_with(k)) {
                let (name, _) = line.split_once('=').unwrap_or((line, ""));
                format!("{name}= (chosen by the server)")
            } else {
                line.to_string()
            }
        })
        .collect();
    masked.join("\n").into_bytes()
}

/// [`without_server_choices`] over every file of a tree.
pub fn masking_server_choices<K: Ord + Clone>(
    files: &BTreeMap<K, Vec<u8>>,
) -> BTreeMap<K, Vec<u8>> {
    files
        .iter()
        .map(|(k, v)| (k.clone(), without_server_choices(v)))
        .collect()
}

/// The workspace's own files (relative path -> bytes): `.proxmox/` and `.git/` are not walked
/// at all, since the state database's journal files come and go while a pool closes. A
/// workspace file that cannot be read fails the test.
pub fn workspace_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if rel.starts_with(".proxmox") || rel.starts_with(".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                files.insert(rel, bytes);
            }
        }
    }
    files
}
