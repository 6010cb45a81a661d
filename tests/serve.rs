//! `proxmox-mpc serve`, the REST API, as a client sees it: the real binary on 127.0.0.1:0 in a
//! workspace synced from the homelab simulator, tokens from `proxmox-mpc token create`, and
//! real clients (reqwest, tokio-tungstenite, and Python's requests + websockets with
//! openapi-spec-validator from the venv).

#[path = "support/mod.rs"]
mod support;

mod serve {
    pub mod bad_input;
    pub mod common;
    pub mod dashboard;
    pub mod events;
    pub mod hooks;
    pub mod openapi;
    pub mod roles;
    pub mod tls;
}
