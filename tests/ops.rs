//! The operations layer on its own (`src/commands`): typed requests in, typed reports and
//! progress events out, with no console and no clap; the one registry every front end lists;
//! the direction of the layers (`tests/ops/layers.rs`); the workspace under git, `/history` and
//! the workspace `/rollback` (`tests/ops/history.rs`, `tests/ops/rollback.rs`); `/drift`,
//! `/resolve` and the `watch` binary with a signed webhook (`tests/ops/drift.rs`,
//! `tests/ops/watch.rs`).

#[path = "support/mod.rs"]
mod support;

mod ops {
    pub mod ci;
    pub mod drift;
    pub mod history;
    pub mod layers;
    pub mod placement;
    pub mod plan_gate;
    pub mod policy;
    pub mod registry;
    pub mod rollback;
    pub mod watch;
    pub mod workflow;
}
