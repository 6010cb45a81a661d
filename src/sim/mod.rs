//! A Proxmox VE API simulator (axum): the ground every test, benchmark and `proxmox-mpc demo`
//! stands on.

mod cli;

pub use cli::{SimArgs, run_cli};
