//! The console binary's helpers, from `support`; only the command is an assert_cmd one here
//! (the tests feed it stdin with `write_stdin`).

use std::path::Path;

pub use crate::support::cmd::{bin, init_workspace as workspace, piped, stderr, stdout};
pub use crate::support::files::{files_and_folders as files, snapshot};
pub use crate::support::sim::{TOKEN_VAR, TestSim};

/// The hermetic `proxmox-mpc` command in `dir` with `LANG=C.UTF-8`
/// ([`crate::support::cmd::pmpc_utf8`]), as an assert_cmd command.
pub fn pmpc(dir: &Path) -> assert_cmd::Command {
    crate::support::cmd::pmpc_utf8(dir).into()
}
