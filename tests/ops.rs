//! The operations layer on its own (`src/commands`): typed requests in, typed reports and
//! progress events out, with no console and no clap; the one registry every front end lists;
//! and the direction of the layers (`tests/ops/layers.rs`).

mod ops {
    pub mod layers;
    pub mod registry;
    pub mod workflow;
}
