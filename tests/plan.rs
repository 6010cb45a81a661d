//! The plan engine and apply (issue 7): table tests of the pure diff and its rendering, and
//! applies against the simulator over real HTTPS with a real SQLite state database.

#[path = "support/mod.rs"]
mod support;

mod plan {
    pub mod apply;
    pub mod cli;
    pub mod common;
    pub mod diff;
}
