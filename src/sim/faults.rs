//! Fault injection: what can go wrong on purpose, drawn from a seeded generator so a run repeats.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// When an injected 5xx is produced relative to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FaultPoint {
    /// The request never reaches the handler: nothing changed.
    #[default]
    BeforeHandler,
    /// The handler acted (a write happened), then the reply is lost as a 5xx.
    AfterHandler,
}

/// Faults the simulator injects. `Faults::none()` (the default) injects nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Seed of the fault generator.
    pub seed: u64,
    /// Added to every request.
    pub latency: Duration,
    /// Uniform extra latency in `0..=jitter`.
    pub jitter: Duration,
    /// Requests served at once (like pveproxy workers); 0 = unlimited.
    pub capacity: usize,
    /// Probability (0..1) of a 500 reply.
    pub error_rate_5xx: f64,
    /// Whether the injected 5xx comes before or after the handler acted.
    pub error_point: FaultPoint,
    /// Probability (0..1) that the connection is dropped mid-body.
    pub drop_rate: f64,
    /// How long a task stays `running`.
    pub task_duration: Duration,
    /// Probability (0..1) that a task ends with an error.
    pub task_failure_rate: f64,
    /// Probability (0..1) that a modifying call finds the config file locked.
    pub lock_contention_rate: f64,
    /// Delay before a 401 (PVE waits about 3 s).
    pub auth_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self::none()
    }
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self {
            seed: 0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            capacity: 0,
            error_rate_5xx: 0.0,
            error_point: FaultPoint::BeforeHandler,
            drop_rate: 0.0,
            task_duration: Duration::ZERO,
            task_failure_rate: 0.0,
            lock_contention_rate: 0.0,
            auth_delay: Duration::ZERO,
        }
    }
}

/// The seeded generator behind every fault decision.
#[derive(Debug)]
pub(crate) struct FaultRng {
    rng: ChaCha8Rng,
}

impl FaultRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Returns true with probability `p` (consumes one draw even when `p` is 0, so the decision
    /// sequence does not shift when one rate changes).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let draw: f64 = self.rng.random();
        p > 0.0 && draw < p
    }

    pub(crate) fn jitter(&mut self, max: Duration) -> Duration {
        let draw: f64 = self.rng.random();
        max.mul_f64(draw)
    }
}
