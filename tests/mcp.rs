//! `proxmox-mpc mcp`, the Model Context Protocol server, driven by the official Python `mcp`
//! client from the test venv (its low-level `ClientSession` over stdio, which negotiates
//! 2025-11-25 with the initialize handshake, and its high-level `Client`, which speaks the
//! stateless 2026-07-28) against the simulator over HTTPS: the tools and their hints, the
//! profiles, the plan gate, the audit trail, and guest text that stays data
//! (`tests/mcp/stdio.rs`); resources and prompts (`tests/mcp/context.rs`); the same server
//! over streamable HTTP under `serve`, behind its bearer tokens (`tests/mcp/http.rs`).

#[path = "support/mod.rs"]
mod support;

mod mcp {
    pub mod context;
    pub mod harness;
    pub mod http;
    pub mod stdio;
}
