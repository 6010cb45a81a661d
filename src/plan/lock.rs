//! The workspace apply lock: one apply at a time per workspace. The lock is a file
//! (`.proxmox/apply.lock`) holding `pid`, `host` and `since`; it is made complete in a temp file
//! and hard-linked into place, so a reader never sees half of it and two appliers never both
//! win. A lock left by a process that is gone (same host, pid no longer alive) is cleared.

use std::path::{Path, PathBuf};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// What holds the workspace: `apply` or `sync` (lock files without the line say `apply`).
    pub operation: String,
    pub pid: u32,
    pub host: String,
    pub since: String,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{} in progress by {}@{} since {}; wait for it to finish (if that process is gone, delete {})",
        holder.operation, holder.pid, holder.host, holder.since, path.display()
    )]
    Held { holder: LockHolder, path: PathBuf },
    #[error("cannot take the apply lock {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// A held apply lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ApplyLock {
    path: PathBuf,
    pub cleared_stale: Option<LockHolder>,
}

/// Returns this machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn parse(text: &str) -> Option<LockHolder> {
    let mut pid = None;
    let mut host = None;
    let mut since = None;
    let mut operation = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("op", v)) => operation = Some(v.trim().to_string()),
            Some(("pid", v)) => pid = v.trim().parse().ok(),
            Some(("host", v)) => host = Some(v.trim().to_string()),
            Some(("since", v)) => since = Some(v.trim().to_string()),
            _ => {}
        }
    }
    Some(LockHolder {
        operation: operation.unwrap_or_else(|| "apply".to_string()),
        pid: pid?,
        host: host?,
        since: since.unwrap_or_default(),
    })
}

impl ApplyLock {
    /// Takes the lock at `path` (usually `.proxmox/apply.lock`) for an apply.
    pub fn acquire(path: &Path) -> Result<ApplyLock, LockError> {
        Self::acquire_for(path, "apply")
    }

    /// Takes the lock at `path` for `operation` (`apply`, `sync`), which a refused console is told.
    pub fn acquire_for(path: &Path, operation: &str) -> Result<ApplyLock, LockError> {
        let io = |e: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let me = LockHolder {
            operation: operation.to_string(),
            pid: std::process::id(),
            host: host_name(),
            since: crate::state::now(),
        };
        let temp = path.with_extension(format!("lock.{}", me.pid));
        std::fs::write(
            &temp,
            format!(
                "op={}\npid={}\nhost={}\nsince={}\n",
                me.operation, me.pid, me.host, me.since
            ),
        )
        .map_err(io)?;
        let mut cleared_stale = None;
        let result = loop {
            match std::fs::hard_link(&temp, path) {
                Ok(()) => break Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    match parse(&text) {
                        Some(holder)
                            if holder.host == me.host
                                && !pid_alive(holder.pid)
                                && cleared_stale.is_none() =>
                        {
                            let _ = std::fs::remove_file(path);
                            cleared_stale = Some(holder);
                        }
                        Some(holder) => {
                            break Err(LockError::Held {
                                holder,
                                path: path.to_path_buf(),
                            });
                        }
                        None => {
                            break Err(LockError::Held {
                                holder: LockHolder {
                                    operation: "another operation".into(),
                                    pid: 0,
                                    host: "unknown".into(),
                                    since: "unknown".into(),
                                },
                                path: path.to_path_buf(),
                            });
                        }
                    }
                }
                Err(e) => break Err(io(e)),
            }
        };
        let _ = std::fs::remove_file(&temp);
        result.map(|()| ApplyLock {
            path: path.to_path_buf(),
            cleared_stale,
        })
    }
}

impl ApplyLock {
    /// Removes the lock at `path` whoever holds it (`/unlock --force`); returns its holder,
    /// `None` when there was no lock.
    pub fn force_release(path: &Path) -> Option<LockHolder> {
        let text = std::fs::read_to_string(path).ok()?;
        let holder = parse(&text).unwrap_or(LockHolder {
            operation: "unknown operation".into(),
            pid: 0,
            host: "unknown".into(),
            since: "unknown".into(),
        });
        std::fs::remove_file(path).ok()?;
        Some(holder)
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_apply_is_refused_and_a_dead_holder_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apply.lock");
        let first = ApplyLock::acquire(&path).unwrap();
        let err = ApplyLock::acquire(&path).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("apply in progress by "), "{text}");
        assert!(text.contains(&std::process::id().to_string()));
        drop(first);
        assert!(!path.exists());
        // A pid that cannot be alive (beyond pid_max) on this host is stale.
        std::fs::write(
            &path,
            format!("pid=2147483000\nhost={}\nsince=then\n", host_name()),
        )
        .unwrap();
        let lock = ApplyLock::acquire(&path).unwrap();
        assert_eq!(lock.cleared_stale.as_ref().map(|h| h.pid), Some(2147483000));
    }

    #[test]
    fn a_refused_console_is_told_which_operation_holds_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apply.lock");
        let _sync = ApplyLock::acquire_for(&path, "sync").unwrap();
        let text = ApplyLock::acquire(&path).unwrap_err().to_string();
        assert!(text.starts_with("sync in progress by "), "{text}");
    }
}
