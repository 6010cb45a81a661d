//! The console end to end: the `proxmox-mpc` binary against the in-process simulator over
//! HTTPS on 127.0.0.1, with real workspaces in temp folders, piped stdin, and a tmux pty.

#[path = "console/common.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

#[path = "console/bad_input.rs"]
mod bad_input;
#[path = "console/demo.rs"]
mod demo;
#[path = "console/first_run.rs"]
mod first_run;
#[path = "console/long_output.rs"]
mod long_output;
#[path = "console/piped.rs"]
mod piped;
#[path = "console/pty.rs"]
mod pty;
#[path = "console/readme.rs"]
mod readme;
#[path = "console/registry.rs"]
mod registry;
#[path = "console/resolve_prompt.rs"]
mod resolve_prompt;
#[path = "console/secrets.rs"]
mod secrets;
#[path = "console/tour.rs"]
mod tour;
