//! proxmox-mpc: an interactive Infrastructure-as-Code console for Proxmox VE.
//!
//! Layers point one way (docs/ARCHITECTURE.md; `tests/ops/layers.rs` enforces it):
//!
//! ```text
//! front ends:  console (rustyline REPL)     cli (clap one-shot; the `sim` entry)
//!                         \                 /
//! operations:  commands (registry, typed requests, execute -> report + events), error, ui
//!                                |
//! domain:      lang (resource-command language)   plan (diff, apply)   iac (Terraform/Ansible,
//!              bpg import model)   pve (API client)   state (SQLite)   infratest (/test)
//!              workspace (config.yml)   sim (PVE API simulator)
//!                                |
//! ground:      model (plain Rust types)
//! ```
//!
//! Nothing below the front ends prints; reports are data the front ends render through
//! [`ui::Ui`].

pub mod cli;
pub mod commands;
pub mod console;
pub mod error;
pub mod iac;
pub mod infratest;
pub mod lang;
pub mod mcp;
pub mod model;
pub mod plan;
pub mod policy;
pub mod pve;
pub mod serve;
pub mod sim;
pub mod state;
pub mod ui;
pub mod workspace;
