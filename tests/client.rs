//! Tests for the Proxmox API client (`src/pve`) and the model mapping (`src/model`): the config
//! fixtures round-trip, and the client against the simulator over real HTTPS on 127.0.0.1.

#[path = "support/mod.rs"]
mod support;

mod client {
    pub mod auth_tls;
    pub mod badinput;
    pub mod discovery;
    pub mod errors;
    pub mod fixtures;
    pub mod lifecycle;
    pub mod props;
    pub mod resilience;
    pub mod secrets;
    pub mod tasks;
}
