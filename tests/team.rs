//! Team features of issue 20: the token secret read from a real OpenBao server
//! (`vault:MOUNT/PATH#FIELD`, `tests/team/vault.rs`) and the tamper-evident audit log
//! (`/audit --verify`, `--export`, `--actor`, `tests/team/audit.rs`); shared state in a real
//! PostgreSQL (`tests/team/pg.rs` starts one): two copies on one database, `/state migrate`
//! both ways (`tests/team/shared.rs`), the lock across copies (`tests/team/lock.rs`) and roles
//! (`tests/team/roles.rs`).

#[path = "support/mod.rs"]
mod support;

mod team {
    pub mod audit;
    pub mod lock;
    pub mod pg;
    pub mod roles;
    pub mod shared;
    pub mod vault;
}
