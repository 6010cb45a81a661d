//! Tests of the PVE API simulator (src/sim), over real HTTP(S) on 127.0.0.1 with reqwest.

#[path = "support/mod.rs"]
mod support;

mod sim {
    mod badinput;
    mod behaviour;
    mod cli;
    pub mod common;
    mod faults;
    mod fixtures;
    mod schema;
    mod state;
}
