//! Team features of issue 20: the token secret read from a real OpenBao server
//! (`vault:MOUNT/PATH#FIELD`, `tests/team/vault.rs`) and the tamper-evident audit log
//! (`/audit --verify`, `--export`, `--actor`, `tests/team/audit.rs`).

#[path = "support/mod.rs"]
mod support;

mod team {
    pub mod audit;
    pub mod vault;
}
