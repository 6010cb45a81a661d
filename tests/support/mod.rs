//! Test support shared by every test binary (`tests/<name>.rs` includes it with
//! `#[path = "support/mod.rs"] mod support;`): one file per concern.
//!
//! - [`cmd`]: the hermetic `proxmox-mpc` command (clean environment, HOME in the test folder,
//!   LLVM_PROFILE_FILE passed through) and piped console runs;
//! - [`sim`]: the homelab simulator over HTTPS on 127.0.0.1, pinned clients for it, and
//!   [`sim::TestSim`], a simulator on its own runtime for tests that drive the binary;
//! - [`workspace`]: a temp folder with `.proxmox/state.db` and a sync into it;
//! - [`session`]: a console session in a workspace synced from the simulator;
//! - [`files`]: file trees read back for before/after comparisons;
//! - [`model`]: guests built from PVE config pairs;
//! - [`ops`]: a workspace driven through `commands::execute` alone, and `git` in it;
//! - [`venv`]: the Python tools of `PMPC_VENV` (set by scripts/test) or `./.venv`.

// This module is compiled into every test binary and each binary uses only part of it, so the
// parts one binary leaves unused would otherwise warn there.
#![allow(dead_code)]

pub mod cmd;
pub mod files;
pub mod model;
pub mod ops;
pub mod session;
pub mod sim;
pub mod venv;
pub mod workspace;

use std::path::PathBuf;

/// The crate root, where `tests/` and `.venv` live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
