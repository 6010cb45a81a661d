//! A Proxmox VE API simulator (axum): the ground every test, benchmark and `proxmox-mpc demo`
//! stands on.
//!
//! It owns an in-memory cluster (nodes, guests with raw `.conf`-style config maps, storages,
//! bridges, pools, tasks), serves it on `/api2/json` over HTTPS (self-signed, rcgen + rustls/ring)
//! or plain HTTP, validates parameters against an embedded extract of the official PVE 9.1 API
//! schema (`schema.json`, made by `scripts/extract-sim-schema.py`), and reproduces PVE's observable
//! behaviour: envelope, status codes, Perl-loose types, digests, locks, UPID tasks, permissions.
//! Faults (latency, capacity, 5xx, dropped connections, slow/failing tasks, lock contention) come
//! from a seeded generator so a run can be repeated.

mod api;
mod cluster;
mod conf;
mod control;
mod faults;
mod schema;
mod seed;
mod server;
pub use server::accept_loop;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use cluster::GuestKind;
pub use conf::{config_to_json, parse_conf_text};
pub use control::{RequestLogEntry, SimControl};
pub use faults::{FaultPoint, Faults};
pub use schema::{schema_json, served_routes};
pub use server::Sim;

/// Which cluster the simulator starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// 3 nodes (pve1..pve3), about 30 guests of every kind the console meets.
    Homelab,
    /// `nodes` nodes and `guests` guests, laid out deterministically from `seed`.
    Generated {
        nodes: usize,
        guests: usize,
        seed: u64,
    },
}

impl Seed {
    /// Returns a number that makes tokens and generated data deterministic per seed.
    pub fn number(&self) -> u64 {
        match self {
            Seed::Homelab => 0x0068_6f6d_656c_6162,
            Seed::Generated {
                nodes,
                guests,
                seed,
            } => seed.wrapping_mul(1_000_003) ^ ((*nodes as u64) << 32) ^ (*guests as u64),
        }
    }
}

/// The API tokens the simulator knows, by the rights they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    /// `root@pam!mpc`: every privilege.
    Full,
    /// `auditor@pve!ro`: only `*.Audit` privileges (like the PVEAuditor role).
    ReadOnly,
    /// `operator@pve!noalloc`: everything except `VM.Allocate`.
    NoAllocate,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Full, TokenKind::ReadOnly, TokenKind::NoAllocate];

    /// Returns the token id, `user@realm!name`.
    pub fn token_id(self) -> &'static str {
        match self {
            TokenKind::Full => "root@pam!mpc",
            TokenKind::ReadOnly => "auditor@pve!ro",
            TokenKind::NoAllocate => "operator@pve!noalloc",
        }
    }
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub tls: bool,
    pub seed: Seed,
    pub faults: Faults,
    /// Keeps cluster and certificate key across restarts (JSON, written atomically).
    pub state_file: Option<PathBuf>,
}

impl SimConfig {
    /// HTTPS on 127.0.0.1:0 with the homelab seed.
    pub fn homelab() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            seed: Seed::Homelab,
            faults: Faults::none(),
            state_file: None,
        }
    }

    /// HTTPS on 127.0.0.1:0 with a generated cluster.
    pub fn generated(nodes: usize, guests: usize, seed: u64) -> Self {
        Self {
            seed: Seed::Generated {
                nodes,
                guests,
                seed,
            },
            ..Self::homelab()
        }
    }

    /// Serves plain HTTP instead of HTTPS.
    pub fn http(mut self) -> Self {
        self.tls = false;
        self
    }

    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn with_state_file(mut self, path: PathBuf) -> Self {
        self.state_file = Some(path);
        self
    }

    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }
}

/// Why the simulator could not start or an out-of-band change failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the simulator's TLS certificate: {0}")]
    Tls(String),
    #[error("simulator state file {path}: {message}")]
    StateFile { path: PathBuf, message: String },
    #[error("guest {0} does not exist in the simulated cluster")]
    NoSuchGuest(u32),
    #[error("invalid seed: {0}")]
    Seed(String),
}
