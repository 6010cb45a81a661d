//! Backups, restores and the simulator's backup routes (issue 18), against the homelab
//! simulator over HTTPS on 127.0.0.1:
//!
//! - `tests/backup/cli.rs`: `backup`, `backups`, `restore` as the built binary runs them, the
//!   restored guest's file with its import block, and `/plan` saying nothing to do after;
//! - `tests/backup/bad_input.rs`: every refusal a user can cause, with nothing changed;
//! - `tests/backup/checks.rs`: `/test`'s backup checks (job coverage, RPO) and the restore
//!   drill;
//! - `tests/backup/sync.rs`: `/sync` imports backup jobs as bpg `proxmox_backup_job` resources;
//! - `tests/backup/sim.rs`: the simulator's vzdump, restore, backup jobs and the PVE gaps it
//!   closed (users and groups, the `pve` realm, a disk's size on read-back, detach to
//!   `unusedN`), each citing the PVE source it follows;
//! - `tests/backup/remote_migrate.rs`: `migrate vm NAME --to-env ENV` between two simulators,
//!   and each pre-flight refusal changing nothing.

#[path = "support/mod.rs"]
mod support;

mod backup {
    pub mod bad_input;
    pub mod checks;
    pub mod cli;
    pub mod common;
    pub mod remote_migrate;
    pub mod sim;
    pub mod sync;
}
