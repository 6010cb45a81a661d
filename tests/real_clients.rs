//! Real PVE clients written by others, run against the simulator (issue 2, "Proof of fidelity").
//!
//! Each test starts the simulator in-process (HTTPS on 127.0.0.1:0, homelab seed) and runs a tool
//! from the Python venv that `scripts/test` installs (`tests/python/requirements.txt`): a
//! proxmoxer script, the community.proxmox inventory plugin through `ansible-inventory`, and a
//! playbook using `community.proxmox.proxmox_kvm`. Certificates are verified against the
//! simulator's own certificate. When a tool trips over the simulator, that is a fidelity bug in
//! `src/sim`, never a reason to loosen the test.

// Each test prints how long its tool took to the test log (`--nocapture`), for the issue note;
// that is the one use of stderr here, never an assertion on speed.
#![allow(clippy::print_stderr)]

#[path = "real_clients/ansible.rs"]
mod ansible;
#[path = "real_clients/proxmoxer.rs"]
mod proxmoxer;
#[path = "real_clients/support.rs"]
mod support;
