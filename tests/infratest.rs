//! Tests for `/test` (`src/infratest`, `src/commands/test.rs`): the homelab seed synced from the
//! simulator over real HTTPS into a real workspace and SQLite file, then checked against the
//! live simulator; hand-written checks probing real sockets on 127.0.0.1; JUnit parsed by
//! junitparser; the one-shot binary's exit code.

#[path = "support/mod.rs"]
mod support;

mod infratest {
    pub mod bench;
    pub mod broken;
    pub mod checks;
    pub mod common;
    pub mod output;
    pub mod resource_set;
    pub mod suite;
    pub mod workspace;
    pub mod written;
}
