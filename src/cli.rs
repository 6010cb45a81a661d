//! The one-shot command line (clap): global flags and one subcommand per command.

use clap::{Parser, Subcommand};

use crate::ui::OutputFormat;

/// An interactive Infrastructure-as-Code console for Proxmox VE.
#[derive(Debug, Parser)]
#[command(name = "proxmox-mpc", version, about, long_about = None)]
pub struct Cli {
    /// How to render data: table, json or yaml
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Shorthand for `--output json`
    #[arg(long = "json", global = true)]
    pub json: bool,

    /// Say more; also writes a log under .proxmox/
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,

    /// Say only what matters
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the simulated Proxmox VE API
    Sim(crate::sim::SimArgs),
}
