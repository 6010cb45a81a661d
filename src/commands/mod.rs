//! One file per command: parse arguments, call the domain layers, return data for the front end
//! to render through the `Ui`. Commands never assume a terminal: questions go through
//! [`Ctx::interactive`] and [`crate::ui::Ui::ask`] only when a person is there.

pub mod config;
pub mod connect;
pub mod context;
pub mod demo;
pub mod doctor;
pub mod help;
pub mod init;
pub mod status;
pub mod sync;

use clap::ArgMatches;

pub use context::Ctx;

use crate::console::registry::{Availability, CommandSpec};
use crate::error::CommandError;
use crate::ui::Item;

/// What a command produced.
pub type Report = Vec<Item>;

/// Runs the registry command `spec` with its parsed arguments.
pub async fn run(
    ctx: &mut Ctx,
    spec: &CommandSpec,
    args: &ArgMatches,
) -> Result<Report, CommandError> {
    if spec.availability == Availability::Planned {
        return Err(CommandError::user(format!(
            "/{} is not available yet in this build of proxmox-mpc",
            spec.name
        ))
        .hint("type /help to see the commands you can use now"));
    }
    match spec.name {
        "init" => init::run(ctx, &init::InitArgs::from_matches(args)).await,
        "status" => status::run(ctx, args.get_flag("live")).await,
        "doctor" => doctor::run(ctx).await,
        "sync" => {
            let options = crate::iac::sync::SyncOptions {
                adopt: args.get_flag("adopt"),
                prune: args.get_flag("prune"),
            };
            sync::run(ctx, options).await
        }
        "config" => {
            let words: Vec<String> = ["action", "key", "value"]
                .iter()
                .filter_map(|k| args.get_one::<String>(k).cloned())
                .collect();
            config::run(ctx, &words).await
        }
        "help" => help::run(args.get_one::<String>("command").map(String::as_str)),
        other => Err(CommandError::cli(format!(
            "`{other}` cannot run here; it is only available as `proxmox-mpc {other}` or in the console"
        ))),
    }
}
