//! `proxmox-mpc sim`: flags and the foreground server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::CommandError;
use crate::sim::{FaultPoint, Faults, Seed, Sim, SimConfig};
use crate::ui::Ui;

/// Serve the simulated Proxmox VE API
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8006")]
    pub listen: String,
    /// Serve plain HTTP instead of HTTPS
    #[arg(long)]
    pub http: bool,
    /// Cluster seed: `homelab`, or a number for a generated cluster (with --nodes/--guests)
    #[arg(long, default_value = "homelab")]
    pub seed: String,
    /// Nodes of a generated cluster
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Guests of a generated cluster
    #[arg(long)]
    pub guests: Option<usize>,
    /// Keep the cluster and the certificate key in this file across restarts
    #[arg(long = "state", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Added latency per request, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency per request, up to this many milliseconds
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Requests served at once (0 = unlimited)
    #[arg(long, default_value_t = 0)]
    pub capacity: usize,
    /// Probability (0..1) of an injected 500
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Inject the 500 after the handler acted (the write happened)
    #[arg(long)]
    pub error_after_handler: bool,
    /// Probability (0..1) of a connection dropped mid-body
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// How long tasks stay running, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub task_ms: u64,
    /// Probability (0..1) that a task fails
    #[arg(long, default_value_t = 0.0)]
    pub task_failure_rate: f64,
    /// Probability (0..1) that a modifying call finds the config locked
    #[arg(long, default_value_t = 0.0)]
    pub lock_rate: f64,
    /// Delay before a 401, in milliseconds (PVE waits about 3000)
    #[arg(long, default_value_t = 0)]
    pub auth_delay_ms: u64,
    /// Seed of the fault generator
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
}

impl SimArgs {
    /// Returns the simulator configuration these flags describe.
    pub fn to_config(&self) -> Result<SimConfig, CommandError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            CommandError::user(format!("--listen '{}' is not an ADDRESS:PORT", self.listen))
                .hint("use e.g. --listen 127.0.0.1:8006")
        })?;
        let seed = match (self.seed.as_str(), self.nodes, self.guests) {
            ("homelab", None, None) => Seed::Homelab,
            (s, nodes, guests) => {
                let number: u64 = if s == "homelab" {
                    0
                } else {
                    s.parse().map_err(|_| {
                        CommandError::user(format!(
                            "--seed '{s}' is neither 'homelab' nor a number"
                        ))
                        .hint("use --seed homelab, or --seed 42 --nodes 20 --guests 10000")
                    })?
                };
                Seed::Generated {
                    nodes: nodes.unwrap_or(3),
                    guests: guests.unwrap_or(30),
                    seed: number,
                }
            }
        };
        for (name, value) in [
            ("--error-rate", self.error_rate),
            ("--drop-rate", self.drop_rate),
            ("--task-failure-rate", self.task_failure_rate),
            ("--lock-rate", self.lock_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(CommandError::user(format!(
                    "{name} {value} is not a probability between 0 and 1"
                )));
            }
        }
        let faults = Faults {
            seed: self.fault_seed,
            latency: Duration::from_millis(self.latency_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            capacity: self.capacity,
            error_rate_5xx: self.error_rate,
            error_point: if self.error_after_handler {
                FaultPoint::AfterHandler
            } else {
                FaultPoint::BeforeHandler
            },
            drop_rate: self.drop_rate,
            task_duration: Duration::from_millis(self.task_ms),
            task_failure_rate: self.task_failure_rate,
            lock_contention_rate: self.lock_rate,
            auth_delay: Duration::from_millis(self.auth_delay_ms),
        };
        Ok(SimConfig {
            listen,
            tls: !self.http,
            seed,
            faults,
            state_file: self.state.clone(),
        })
    }
}

/// Runs the simulator in the foreground until Ctrl-C.
pub async fn run_cli(args: &SimArgs, ui: &Ui) -> Result<(), CommandError> {
    let config = args.to_config()?;
    let started = std::time::Instant::now();
    let sim = Sim::start(config).await.map_err(|e| {
        CommandError::user(e.to_string())
            .hint("pick another address with --listen 127.0.0.1:PORT (port 0 picks a free one)")
    })?;
    ui.data(&format!("{}/api2/json", sim.url()));
    ui.data(
        &sim.fingerprint()
            .unwrap_or_else(|| "(plain HTTP: no certificate)".to_string()),
    );
    ui.data(&sim.token_header());
    // For `/init --login root@pam`: the console makes its own token from a login.
    ui.data(&format!("password: {}", sim.password().1));
    ui.status(&format!(
        "Simulated cluster with {} guests ready in {:.2?}. Press Ctrl-C to stop.",
        sim.control().guest_count(),
        started.elapsed()
    ));
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CommandError::internal(format!("cannot wait for Ctrl-C: {e}")))?;
    sim.shutdown().await;
    ui.status("Simulator stopped.");
    Ok(())
}
