//! One file per command: parse arguments, call the domain layers, return data for the front end
//! to render through the `Ui`. Commands never assume a terminal: questions go through
//! [`Ctx::interactive`] and [`crate::ui::Ui::ask`] only when a person is there.

pub mod apply;
pub mod config;
pub mod connect;
pub mod context;
pub mod demo;
pub mod diff;
pub mod doctor;
pub mod help;
pub mod init;
pub mod plan;
pub mod resource;
pub mod status;
pub mod sync;
pub mod test;

use clap::ArgMatches;

pub use context::Ctx;

use crate::console::registry::{Availability, CommandSpec};
use crate::error::CommandError;
use crate::ui::Item;

/// What a command produced.
pub type Report = Vec<Item>;

/// Runs the registry command `spec` with its parsed arguments, then records the hashes of the
/// files it wrote in state.db.
pub async fn run(
    ctx: &mut Ctx,
    spec: &CommandSpec,
    args: &ArgMatches,
) -> Result<Report, CommandError> {
    let report = run_command(ctx, spec, args).await;
    sync::record_written(ctx).await?;
    report
}

async fn run_command(
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
                agent_ips: args.get_flag("agent-ips"),
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
        "test" => test::run(ctx, &test::TestArgs::from_matches(args)).await,
        "plan" => {
            let machine = wants_json(args);
            let plan_args = plan::PlanArgs {
                offline: args.get_flag("offline"),
                detailed_exitcode: args.get_flag("detailed-exitcode"),
                machine,
            };
            plan::run(ctx, &plan_args).await
        }
        "diff" => diff::run(ctx, args.get_flag("offline"), wants_json(args)).await,
        "apply" => {
            let apply_args = apply::ApplyArgs {
                yes: args.get_flag("yes"),
                targets: args
                    .get_one::<String>("target")
                    .map(|t| {
                        t.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                parallelism: args
                    .get_one::<String>("parallelism")
                    .and_then(|p| p.parse().ok()),
            };
            apply::run(ctx, &apply_args).await
        }
        "help" => help::run(args.get_one::<String>("command").map(String::as_str)),
        other => Err(CommandError::cli(format!(
            "`{other}` cannot run here; it is only available as `proxmox-mpc {other}` or in the console"
        ))),
    }
}

/// True when this console line asked for JSON/YAML (`--json`, `-o json`); on the command line
/// those are global flags and already in the Ui.
fn wants_json(args: &ArgMatches) -> bool {
    matches!(args.try_get_one::<bool>("json"), Ok(Some(true)))
        || matches!(args.try_get_one::<String>("output"), Ok(Some(f)) if f != "table")
}
