//! The one-shot command line (clap): global flags, the subcommands the registry describes
//! (`proxmox-mpc status --json`, `proxmox-mpc create vm --name web-01`), plus `sim` and
//! `completions`, whose arguments clap derives here. The simulator's command-line entry
//! ([`sim`]) is a front end like the others.

pub mod sim;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::ui::{OutputFormat, Verbosity};

/// An interactive Infrastructure-as-Code console for Proxmox VE.
///
/// Run without a command to open the console in the current workspace.
#[derive(Debug, Parser)]
#[command(name = "proxmox-mpc", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags that apply to every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// How to render data: table, json or yaml
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Shorthand for `--output json`
    #[arg(long = "json", global = true)]
    pub json: bool,

    /// Say more; also writes a log to .proxmox/proxmox-mpc.log
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,

    /// Say only what matters
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,

    /// Run against this environment instead of the active one (see /env)
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub env: Option<String>,

    /// Restore the last console session (environment, last plan, unfinished apply)
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
}

impl GlobalArgs {
    /// Returns the output format, honouring `--json`.
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.output
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// Subcommands that exist only on the command line (the registry adds the others).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the simulated Proxmox VE API
    Sim(sim::SimArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Returns the full command line: global flags, `sim`, `completions` and every registry
/// command as a subcommand.
pub fn build() -> clap::Command {
    let mut cmd = Cli::command().subcommands(crate::commands::registry::cli_subcommands());
    // The simulator and completions render no data and keep no log: the global output and
    // verbosity flags mean nothing there, so their help leaves them out.
    // A subcommand's own argument of the same id keeps clap from propagating the global one.
    for name in crate::commands::registry::DERIVED_IN_CLI {
        cmd = cmd.mut_subcommand(name, |sub| {
            use clap::{Arg, ArgAction};
            sub.arg(Arg::new("output").short('o').long("output").hide(true))
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .hide(true),
                )
                .arg(
                    Arg::new("verbose")
                        .short('v')
                        .long("verbose")
                        .action(ArgAction::SetTrue)
                        .hide(true),
                )
                .arg(
                    Arg::new("quiet")
                        .short('q')
                        .long("quiet")
                        .action(ArgAction::SetTrue)
                        .hide(true),
                )
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_passes_clap_checks() {
        super::build().debug_assert();
    }
}
