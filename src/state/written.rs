//! Hashes of the files the console writes. Every workspace file goes through
//! [`crate::iac::sync::write_atomic`], which notes the path and the SHA-256 of the bytes in the
//! [`Written`] list its caller passes (the running command's context owns one; a sync's report
//! carries its own, [`crate::iac::sync::SyncReport::notes`]); the command that ran then moves
//! the notes of its workspace into `state.db` (`written_files`) with
//! [`StateDb::record_written`]. `/test` compares the files on disk with those rows to tell a
//! hand edit from generated text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{StateDb, StateError, now};

/// At most this many notes wait for a database; older ones are dropped (a library user that
/// writes files without ever recording them must not grow memory without bound).
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Note {
    Written { path: PathBuf, sha256: String },
    Removed { path: PathBuf },
}

impl Note {
    fn path(&self) -> &Path {
        match self {
            Note::Written { path, .. } | Note::Removed { path } => path,
        }
    }
}

/// The files written or removed and not recorded in a `state.db` yet, oldest first: owned by
/// whoever writes (a command's context, a sync's report) and passed to
/// [`crate::iac::sync::write_atomic`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    notes: Vec<Note>,
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `path` with its folder resolved (symlinks, `..`), so notes and workspace roots compare
/// equal however they were spelled; the file itself need not exist.
pub(crate) fn resolved(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

impl Written {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, note: Note) {
        if self.notes.len() >= MAX_PENDING {
            let excess = self.notes.len() + 1 - MAX_PENDING;
            self.notes.drain(..excess);
        }
        self.notes.push(note);
    }

    /// Notes that the console wrote `bytes` to `path`.
    pub fn note_written(&mut self, path: &Path, bytes: &[u8]) {
        self.push(Note::Written {
            path: resolved(path),
            sha256: sha256_hex(bytes),
        });
    }

    /// As [`Self::note_written`], for a path already [`resolved`] and bytes already hashed (a
    /// writer on many threads does both there).
    pub(crate) fn note_written_resolved(&mut self, path: PathBuf, sha256: String) {
        self.push(Note::Written { path, sha256 });
    }

    /// Notes that the console removed `path` on purpose (so `/test` does not report it
    /// missing).
    pub fn note_removed(&mut self, path: &Path) {
        self.push(Note::Removed {
            path: resolved(path),
        });
    }

    /// True when nothing waits to be recorded.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// Takes the notes about files under `root`, as (relative path, Some(hash) or None for a
    /// removal), oldest first. Notes about other folders stay.
    fn take_notes(&mut self, root: &Path) -> Vec<(String, Option<String>)> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let mut taken = Vec::new();
        self.notes
            .retain(|note| match note.path().strip_prefix(&root) {
                Ok(rel) => {
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    let hash = match note {
                        Note::Written { sha256, .. } => Some(sha256.clone()),
                        Note::Removed { .. } => None,
                    };
                    taken.push((rel, hash));
                    false
                }
                Err(_) => true,
            });
        taken
    }

    /// The paths (relative to `root`, `/` separators, once each, sorted) of the notes about
    /// files under `root`, without taking them: what the running operation touched there, for
    /// the commit that records it.
    pub fn paths_under(&self, root: &Path) -> Vec<String> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let mut out: Vec<String> = self
            .notes
            .iter()
            .filter_map(|n| n.path().strip_prefix(&root).ok())
            .map(|rel| rel.to_string_lossy().replace('\\', "/"))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// True when files under `root` were written or removed and not recorded yet.
    pub fn has_notes_for(&self, root: &Path) -> bool {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        self.notes.iter().any(|n| n.path().starts_with(&root))
    }
}

impl StateDb {
    /// Moves the notes of `written` about files under the workspace `root` into
    /// `written_files`; returns how many rows changed. On a database error the notes are lost
    /// for this run and the files will show as edited by hand until the next write, which the
    /// error explains.
    pub async fn record_written(
        &self,
        root: &Path,
        written: &mut Written,
    ) -> Result<usize, StateError> {
        let notes = written.take_notes(root);
        if notes.is_empty() {
            return Ok(0);
        }
        let at = now();
        // What each path ends as (the last note wins), written many rows per statement.
        let last: BTreeMap<&str, Option<&str>> = notes
            .iter()
            .map(|(path, hash)| (path.as_str(), hash.as_deref()))
            .collect();
        let written: Vec<(&str, &str)> = last
            .iter()
            .filter_map(|(path, hash)| hash.map(|h| (*path, h)))
            .collect();
        let removed: Vec<&str> = last
            .iter()
            .filter(|(_, hash)| hash.is_none())
            .map(|(path, _)| *path)
            .collect();
        let mut tx = self.local_write_tx().await?;
        for chunk in written.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO written_files (path, sha256, written_at) VALUES {}
                 ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, written_at = excluded.written_at",
                super::values_list(chunk.len(), 3)
            );
            let mut query = sqlx::query(&sql);
            for (path, hash) in chunk {
                query = query.bind(*path).bind(*hash).bind(&at);
            }
            query.execute(&mut *tx).await.map_err(self.query_err())?;
        }
        for chunk in removed.chunks(super::ROWS_PER_STATEMENT) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM written_files WHERE path IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for path in chunk {
                query = query.bind(*path);
            }
            query.execute(&mut *tx).await.map_err(self.query_err())?;
        }
        tx.commit().await.map_err(self.query_err())?;
        Ok(notes.len())
    }

    /// Every file the console wrote: relative path -> SHA-256 (hex) of what it wrote last.
    pub async fn written_files(&self) -> Result<BTreeMap<String, String>, StateError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT path, sha256 FROM written_files ORDER BY path")
                .fetch_all(&self.local)
                .await
                .map_err(self.query_err())?;
        Ok(rows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_taken_per_workspace() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("tests")).unwrap();
        let mut written = Written::new();
        written.note_written(&a.path().join("tests/x.yml"), b"x");
        written.note_written(&b.path().join("y.tf"), b"y");
        written.note_removed(&a.path().join("tests/z.yml"));
        assert_eq!(
            written.paths_under(a.path()),
            vec!["tests/x.yml", "tests/z.yml"]
        );
        let taken = written.take_notes(a.path());
        assert_eq!(
            taken,
            vec![
                ("tests/x.yml".to_string(), Some(sha256_hex(b"x"))),
                ("tests/z.yml".to_string(), None)
            ]
        );
        assert!(written.has_notes_for(b.path()));
        assert_eq!(written.take_notes(b.path()).len(), 1);
        assert!(!written.has_notes_for(b.path()));
        assert!(written.is_empty());
    }

    #[tokio::test]
    async fn many_notes_are_recorded_with_the_last_word_per_path() {
        let ws = tempfile::tempdir().unwrap();
        let db = StateDb::open(&ws.path().join("state.db")).await.unwrap();
        let mut written = Written::new();
        // More notes than one statement holds, and paths both written and removed.
        for i in 0..1_200 {
            written.note_written(&ws.path().join(format!("tests/g{i:04}.yml")), b"v1");
        }
        written.note_removed(&ws.path().join("tests/g0001.yml"));
        written.note_written(&ws.path().join("tests/g0002.yml"), b"v2");
        assert_eq!(
            db.record_written(ws.path(), &mut written).await.unwrap(),
            1_202
        );
        let files = db.written_files().await.unwrap();
        assert_eq!(files.len(), 1_199);
        assert!(!files.contains_key("tests/g0001.yml"));
        assert_eq!(files["tests/g0002.yml"], sha256_hex(b"v2"));
        assert_eq!(files["tests/g1199.yml"], sha256_hex(b"v1"));
        // A later removal removes a recorded file; a rewrite replaces its hash.
        written.note_removed(&ws.path().join("tests/g0000.yml"));
        written.note_written(&ws.path().join("tests/g0003.yml"), b"v3");
        db.record_written(ws.path(), &mut written).await.unwrap();
        let files = db.written_files().await.unwrap();
        assert_eq!(files.len(), 1_198);
        assert_eq!(files["tests/g0003.yml"], sha256_hex(b"v3"));
    }
}
