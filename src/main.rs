//! The `proxmox-mpc` binary: builds the runtime, parses the command line, runs the command or
//! the console, and maps errors to exit codes.

use clap::Parser;
use proxmox_mpc::cli::{Cli, Command};
use proxmox_mpc::error::CommandError;
use proxmox_mpc::ui::{OutputFormat, Ui, Verbosity};

fn main() {
    let cli = Cli::parse();
    let format = if cli.json {
        OutputFormat::Json
    } else {
        cli.output
    };
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let ui = Ui::new(format, verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error(&format!("cannot start the async runtime: {e}"), &[]);
            std::process::exit(255);
        }
    };
    let result: Result<(), CommandError> = runtime.block_on(async {
        match &cli.command {
            Some(Command::Sim(args)) => proxmox_mpc::sim::run_cli(args, &ui).await,
            None => Err(CommandError::user("the console is being built")),
        }
    });
    if let Err(e) = result {
        ui.error(&e.message, &e.hints);
        std::process::exit(e.kind.exit_code());
    }
}
