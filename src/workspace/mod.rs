//! The project workspace on disk: finding it from any subfolder (as git finds `.git`), creating
//! its layout on `/init`, and writing its files atomically. Owns the paths under `.proxmox/`;
//! knows nothing of the API or the database contents.

pub mod config;
pub mod git;
pub mod vault;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The folder that marks a workspace root.
pub const DOT_DIR: &str = ".proxmox";
/// The configuration file inside [`DOT_DIR`].
pub const CONFIG_FILE: &str = "config.yml";
/// The state database inside [`DOT_DIR`].
pub const STATE_DB: &str = "state.db";
/// The console history inside [`DOT_DIR`].
pub const HISTORY_FILE: &str = "history";
/// The `-v` log file inside [`DOT_DIR`].
pub const LOG_FILE: &str = "proxmox-mpc.log";
/// Folders `/init` creates next to `.proxmox/`.
pub const LAYOUT_DIRS: [&str; 4] = ["terraform", "ansible", "tests", "docs"];
/// The folder under the workspace root that holds every environment but the default one,
/// each in `environments/NAME/` with the same layout as the root (see docs/environments.md).
pub const ENVIRONMENTS_DIR: &str = "environments";

/// The `.gitignore` `/init` writes: the database, logs, history, the apply lock and any local
/// secret stay out of git; the configuration (which holds only a secret *reference*) is
/// committed, and so are the generated Ansible files (`inventory.yml`, `provision.yml`,
/// `site.yml`: code a reviewer should see; they read every credential from the environment).
pub const GITIGNORE: &str = "\
# Written by proxmox-mpc /init: keep state and secrets out of git.
.proxmox/state.db
.proxmox/state.db-*
.proxmox/history
.proxmox/*.log
.proxmox/apply.lock
.proxmox/secret*
*.secret
.terraform/
*.tfstate
*.tfstate.*
";

/// A failure touching the workspace's files.
#[derive(Debug, Error)]
pub enum WorkspaceError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is already a proxmox-mpc workspace")]
    AlreadyExists { path: PathBuf },
}

impl WorkspaceError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Returns true when the failure is a missing permission.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

/// A workspace: the folder holding `.proxmox/config.yml` (its *top*), seen from one
/// environment. The default environment's files (`terraform/`, `ansible/`, `tests/`, `docs/`)
/// and `.proxmox/state.db` are at the top; another environment NAME has the same layout in
/// `environments/NAME/`, its own state.db (snapshots, plans, journal, apply lock) included.
/// [`Workspace::root`] is the environment's folder, so every command that reads or writes
/// files works on the environment it runs against; config.yml, the console history and the
/// log stay at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    top: PathBuf,
    env: Option<String>,
}

/// Checks an environment name: it names a folder, so lowercase letters, digits, `-` and `_`
/// only, starting with a letter or digit, at most 32 characters.
pub fn validate_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an environment name: use lowercase letters, digits, - and _ (at most 32, e.g. prod or staging-2)"
        ))
    }
}

/// The folder of environment `name`'s files, relative to the workspace root: `.` for the
/// default environment, `environments/NAME` for any other.
pub fn env_dir(name: &str) -> PathBuf {
    if name == config::DEFAULT_ENV {
        PathBuf::from(".")
    } else {
        Path::new(ENVIRONMENTS_DIR).join(name)
    }
}

impl Workspace {
    /// Returns the workspace rooted at `root` (its default environment) without checking
    /// that it exists.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            top: root.clone(),
            root,
            env: None,
        }
    }

    /// The same workspace seen from environment `name` (its files in [`env_dir`]). A name that
    /// is not a valid environment name keeps the default environment's folder (config.yml's
    /// validation reports the name).
    pub fn for_env(&self, name: &str) -> Self {
        let root = if name == config::DEFAULT_ENV || validate_env_name(name).is_err() {
            self.top.clone()
        } else {
            self.top.join(ENVIRONMENTS_DIR).join(name)
        };
        Self {
            root,
            top: self.top.clone(),
            env: Some(name.to_string()),
        }
    }

    /// The workspace seen from the environment a command runs against: `choice` (`--env` or
    /// PROXMOX_MPC_ENV) when given, else config.yml's `active`. config.yml is read only when an
    /// `environments/` folder exists (a workspace with one environment starts without reading
    /// it); an unreadable config.yml keeps the default environment (the command's own reading
    /// of config.yml reports it).
    pub fn with_environment(self, choice: Option<&str>) -> Self {
        let base = Self::at(self.top);
        let name = match choice {
            Some(name) => Some(name.to_string()),
            None if base.top.join(ENVIRONMENTS_DIR).is_dir() => {
                config::Config::load(&base.config_path())
                    .ok()
                    .map(|c| c.active)
            }
            None => None,
        };
        match name {
            Some(name) => base.for_env(&name),
            None => base,
        }
    }

    /// The environment this workspace is seen from, when one was chosen or read.
    pub fn env_name(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// True when this is an environment's own folder (`environments/NAME/`), not the root.
    pub fn is_env_folder(&self) -> bool {
        self.root != self.top
    }

    /// The workspace root: where `.proxmox/config.yml`, the git repository's files and the
    /// `environments/` folder are.
    pub fn top(&self) -> &Path {
        &self.top
    }

    /// Returns the nearest workspace at or above `start`, as git does for `.git`.
    pub fn discover(start: &Path) -> Option<Self> {
        start
            .ancestors()
            .find(|dir| dir.join(DOT_DIR).join(CONFIG_FILE).is_file())
            .map(Self::at)
    }

    /// The folder of this environment's files (the workspace root for the default one).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dot_dir(&self) -> PathBuf {
        self.root.join(DOT_DIR)
    }

    pub fn config_path(&self) -> PathBuf {
        self.top.join(DOT_DIR).join(CONFIG_FILE)
    }

    pub fn state_db_path(&self) -> PathBuf {
        self.dot_dir().join(STATE_DB)
    }

    pub fn history_path(&self) -> PathBuf {
        self.top.join(DOT_DIR).join(HISTORY_FILE)
    }

    pub fn log_path(&self) -> PathBuf {
        self.top.join(DOT_DIR).join(LOG_FILE)
    }

    /// Returns true when `.proxmox/config.yml` exists here.
    pub fn exists(&self) -> bool {
        self.config_path().is_file()
    }

    /// Checks, before anything is written, that the root can become a workspace: it must not be
    /// one already and must be writable.
    pub fn check_can_create(&self) -> Result<(), WorkspaceError> {
        if self.exists() {
            return Err(WorkspaceError::AlreadyExists {
                path: self.root.clone(),
            });
        }
        fs::create_dir_all(&self.root)
            .map_err(|e| WorkspaceError::io("create the folder", &self.root, e))?;
        // Probe writability with a temp file that is removed at once, so a read-only folder
        // fails here and not halfway through the layout.
        let probe = self
            .root
            .join(format!(".proxmox-mpc-probe-{}", std::process::id()));
        fs::File::create(&probe).map_err(|e| WorkspaceError::io("write in", &self.root, e))?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    /// Creates `.proxmox/` and the layout folders and `.gitignore` (kept if present, with our
    /// lines appended when missing). Does not write the configuration.
    pub fn create_layout(&self) -> Result<(), WorkspaceError> {
        let dot = self.dot_dir();
        fs::create_dir_all(&dot).map_err(|e| WorkspaceError::io("create", &dot, e))?;
        set_mode(&dot, 0o700).map_err(|e| WorkspaceError::io("restrict", &dot, e))?;
        for dir in LAYOUT_DIRS {
            let path = self.root.join(dir);
            fs::create_dir_all(&path).map_err(|e| WorkspaceError::io("create", &path, e))?;
        }
        let gitignore = self.root.join(".gitignore");
        let existing = match fs::read_to_string(&gitignore) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(WorkspaceError::io("read", &gitignore, e)),
        };
        if !existing.contains(".proxmox/state.db") {
            let mut text = existing;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(GITIGNORE);
            write_atomic(&gitignore, text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}

/// Makes `path` readable and writable by its owner only (Unix).
pub fn restrict_to_owner(path: &Path) -> Result<(), WorkspaceError> {
    set_mode(path, 0o600).map_err(|e| WorkspaceError::io("restrict", path, e))
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a reader
/// never sees half a file and a failure leaves the old file intact. `mode` applies on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WorkspaceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = open_with_mode(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(WorkspaceError::io("write", path, e));
    }
    Ok(())
}

#[cfg(unix)]
fn open_with_mode(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn open_with_mode(path: &Path, _mode: u32) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_environment_has_its_own_folder_and_state_but_one_config() {
        let ws = Workspace::at("/w");
        let default = ws.for_env(config::DEFAULT_ENV);
        assert_eq!(default.root(), Path::new("/w"));
        assert_eq!(default.state_db_path(), Path::new("/w/.proxmox/state.db"));
        let prod = ws.for_env("prod");
        assert_eq!(prod.root(), Path::new("/w/environments/prod"));
        assert_eq!(
            prod.state_db_path(),
            Path::new("/w/environments/prod/.proxmox/state.db")
        );
        assert_eq!(prod.config_path(), Path::new("/w/.proxmox/config.yml"));
        assert_eq!(prod.history_path(), Path::new("/w/.proxmox/history"));
        assert_eq!(prod.top(), Path::new("/w"));
        // A name that is not a folder name never becomes a path.
        assert_eq!(ws.for_env("../x").root(), Path::new("/w"));
        for bad in ["", "../x", "Prod", "a/b", "-x", &"x".repeat(33)] {
            assert!(validate_env_name(bad).is_err(), "{bad}");
        }
        for good in ["prod", "staging-2", "eu_west", "7"] {
            assert!(validate_env_name(good).is_ok(), "{good}");
        }
    }
}
