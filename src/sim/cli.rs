//! `proxmox-mpc sim`: flags and the foreground server.

use crate::error::CommandError;
use crate::ui::Ui;

/// Serve the simulated Proxmox VE API
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8006")]
    pub listen: String,
}

/// Runs the simulator in the foreground until Ctrl-C.
pub async fn run_cli(_args: &SimArgs, _ui: &Ui) -> Result<(), CommandError> {
    Err(CommandError::internal("the simulator is being built"))
}
