//! Tests for `/sync` (`src/iac`, `src/commands/sync.rs`): the homelab seed synced from the
//! simulator over real HTTPS into a real workspace folder and SQLite file; the files read back
//! with hcl-rs and python-hcl2, held to the bpg schema extract, run through the Ansible tools;
//! adversarial strings, drift, re-sync and the committed example.

mod sync {
    pub mod adversarial;
    pub mod agents;
    pub mod cli;
    pub mod common;
    pub mod example;
    pub mod render;
    pub mod resync;
    pub mod roundtrip;
    pub mod scale;
    pub mod schema;
    pub mod tools;
}
