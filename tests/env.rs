//! Environments (issue 17): one workspace, several clusters. Each test starts two (or three)
//! simulators with different nodes and guests on 127.0.0.1 and drives the built binary:
//! `/env add|list|use|remove`, `--env NAME` on one command, `/sync` into an environment's own
//! root module (`environments/NAME/terraform/`), `/promote` from one environment to another
//! and `/apply` there, `/export` of a bundle and `/init --from-bundle` on a third cluster, and
//! the bad input with its messages and nothing half-written.

#[path = "support/mod.rs"]
mod support;

mod env {
    pub mod bad_input;
    pub mod common;
    pub mod export;
    pub mod flow;
}
