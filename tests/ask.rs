//! Natural-language commands (`? TEXT`, `ask`, `/explain`) end to end: the `proxmox-mpc`
//! binary in piped console mode and one-shot, against the simulator over HTTPS on 127.0.0.1,
//! with an OpenAI-compatible test double (axum, 127.0.0.1) that answers scripted tool calls and
//! records every request; and the built-in parser's table of phrasings with no model.

#[path = "support/mod.rs"]
mod support;

mod ask {
    pub mod common;
    pub mod double;
    pub mod explain;
    pub mod injection;
    pub mod model;
    pub mod offline;
}
