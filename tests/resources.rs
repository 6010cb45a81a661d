//! Resource commands (issue 6): the grammar as a table and under hostile input, the desired
//! state read back from hand-written Terraform, and the commands in a synced homelab workspace
//! against the simulator (declarative ones leave the server alone; imperative ones act, follow
//! the task and are audit-logged).

#[path = "support/mod.rs"]
mod support;

mod resources {
    mod commands;
    pub mod common;
    mod desired;
    mod grammar;
}
