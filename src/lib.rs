//! proxmox-mpc: an interactive Infrastructure-as-Code console for Proxmox VE.
//!
//! Layers point one way (see DESIGN.md):
//!
//! ```text
//! console (rustyline REPL)     cli (clap one-shot subcommands, same verbs)
//!             \                     /
//!              commands  (one file per command: parse args -> call domain -> render via Ui)
//!                  |
//!    plan (diff, apply)   iac (render + parse Terraform/Ansible/tests/docs)
//!    pve  (API client)    state (sqlx: SQLite, PostgreSQL)
//!    sim  (PVE API simulator: tests, benchmarks, `proxmox-mpc demo`)
//!    lang (resource-command language: a line -> a typed intent)
//!                  |
//!              model  (plain Rust types)
//! ```
//!
//! Nothing below `commands` prints; all output goes through [`ui::Ui`].

pub mod cli;
pub mod commands;
pub mod console;
pub mod error;
pub mod iac;
pub mod infratest;
pub mod lang;
pub mod model;
pub mod plan;
pub mod pve;
pub mod sim;
pub mod state;
pub mod ui;
pub mod workspace;
