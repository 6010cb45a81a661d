//! The Python venv with the tools the tests drive (junitparser, python-hcl2, Ansible,
//! proxmoxer): `$PMPC_VENV` (set by scripts/test), else `./.venv`.

use std::path::PathBuf;

use super::repo_root;

/// The venv's folder: `$PMPC_VENV` when set and not empty, else `./.venv`.
pub fn venv_root() -> PathBuf {
    match std::env::var_os("PMPC_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join(".venv"),
    }
}

/// Returns the path of `tool` in the venv (not checked: the caller says what is missing).
pub fn venv_bin(tool: &str) -> PathBuf {
    venv_root().join("bin").join(tool)
}

/// Returns the venv's python (not checked).
pub fn venv_python() -> PathBuf {
    venv_bin("python")
}

/// The venv, checked: a missing venv or tool fails the test (the real-client proofs never
/// pass by being skipped).
pub struct Venv {
    root: PathBuf,
}

impl Venv {
    pub fn find() -> Venv {
        let root = venv_root();
        let python = root.join("bin").join("python");
        assert!(
            python.is_file(),
            "no Python venv at {} (looked for {}): run scripts/test to install the Python tools",
            root.display(),
            python.display()
        );
        Venv { root }
    }

    /// Returns the path of a program installed in the venv.
    pub fn bin(&self, name: &str) -> PathBuf {
        let path = self.root.join("bin").join(name);
        assert!(
            path.is_file(),
            "{} is missing from the venv {}: run scripts/test to install the Python tools",
            name,
            self.root.display()
        );
        path
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// Returns the version of the installed community.proxmox collection (from its
    /// MANIFEST.json), which the expected inventory groups were derived against.
    pub fn community_proxmox_version(&self) -> String {
        let lib = self.root.join("lib");
        let entries = std::fs::read_dir(&lib)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", lib.display()));
        for entry in entries.flatten() {
            let manifest = entry
                .path()
                .join("site-packages/ansible_collections/community/proxmox/MANIFEST.json");
            if let Ok(text) = std::fs::read_to_string(&manifest) {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("{} is not JSON: {err}", manifest.display()));
                return value["collection_info"]["version"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{} has no version", manifest.display()))
                    .to_string();
            }
        }
        panic!(
            "community.proxmox is not installed in {}: run scripts/test to install the Python tools",
            self.root.display()
        )
    }
}
