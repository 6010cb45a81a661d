//! Tests for the Proxmox API client (`src/pve`) and the model mapping (`src/model`): the config
//! fixtures round-trip, and the client against the simulator over real HTTP(S).

mod client {
    pub mod fixtures;
}
