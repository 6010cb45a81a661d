//! Real PVE clients written by others, run against the simulator (issue 2, "Proof of fidelity").
//!
//! Each test starts the simulator in-process (HTTPS on 127.0.0.1:0, homelab seed) and runs a tool
//! from the Python venv that `scripts/test` installs (`tests/python/requirements.txt`):
//! - `proxmoxer` (tests/python/proxmoxer_flow.py), with an API token and with a password: lists
//!   nodes and guests, creates/starts/stops/destroys a VM and a container, waits with
//!   `Tasks.blocking_status`, and checks PVE's error answers as proxmoxer reports them;
//! - the community.proxmox 1.4 inventory plugin through `ansible-inventory --list` (token and
//!   password): groups and facts equal tests/python/expected_homelab_groups.json;
//! - playbooks with `proxmox_kvm`, `proxmox_vm_info` and `proxmox_snap`: create/start/stop/remove
//!   a VM; full-clone a template, snapshot, change, roll back, remove.
//!
//! Certificates are verified against the simulator's own certificate; the token and password go
//! only through the environment. When a tool trips over the simulator, that is a fidelity bug in
//! `src/sim`, never a reason to loosen the test.

// Each test prints how long its tool took to the test log (`--nocapture`), for the issue note;
// that is the one use of stderr here, never an assertion on speed.
#![allow(clippy::print_stderr)]

#[path = "real_clients/ansible.rs"]
mod ansible;
#[path = "real_clients/common.rs"]
mod common;
#[path = "real_clients/proxmoxer.rs"]
mod proxmoxer;
#[path = "support/mod.rs"]
mod support;
