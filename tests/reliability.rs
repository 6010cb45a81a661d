//! Reliability and security (issue 10): the CLI and console, as a user runs them, against the
//! simulator with seeded faults, SIGKILLs at several points, two consoles on one workspace, a
//! known token secret searched for everywhere, hostile input from the user and from the server,
//! and a short torture run of random operations with invariants checked after each step.

#[path = "support/mod.rs"]
mod support;

mod reliability {
    pub mod common;
    pub mod concurrency;
    pub mod crash;
    pub mod faults;
    pub mod hostile;
    pub mod secrets;
    pub mod torture;
}
