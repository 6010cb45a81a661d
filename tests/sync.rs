//! Tests for `/sync` (`src/iac`, `src/commands/sync.rs`): the homelab seed synced from the
//! simulator over real HTTPS into a real workspace folder and SQLite file; the files read back
//! with hcl-rs and python-hcl2, held to the bpg schema extract, run through the Ansible tools;
//! adversarial strings, drift, conflicts, re-sync and the committed example; judged by the
//! model of bpg's import and by real Terraform with a test provider plugin.

#[path = "support/mod.rs"]
mod support;

mod sync {
    pub mod adversarial;
    pub mod agents;
    pub mod cli;
    pub mod common;
    pub mod conflict;
    pub mod example;
    pub mod fidelity;
    pub mod render;
    pub mod resync;
    pub mod roundtrip;
    pub mod scale;
    pub mod schema;
    pub mod terraform;
    pub mod tools;
}
