//! The sync binary's helpers, all from `support`: its client reads with 16 concurrent requests
//! ([`crate::support::sim::sync_client`]).

pub use crate::support::files::files_under;
pub use crate::support::sim::{homelab, sync_client as client};
pub use crate::support::venv::venv_bin;
pub use crate::support::workspace::Workspace;
