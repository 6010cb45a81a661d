//! One file per command: parse arguments, call the domain layers, return data for the front end
//! to render through the `Ui`. Commands never assume a terminal: questions go through
//! [`Ctx::interactive`] and [`crate::ui::Ui::ask`] only when a person is there.

pub mod apply;
pub mod ci;
pub mod commit;
pub mod config;
pub mod connect;
pub mod context;
pub mod diff;
pub mod doctor;
pub mod drift;
pub mod help;
pub mod history;
pub mod init;
pub mod login;
pub mod plan;
pub mod policy;
pub mod registry;
pub mod request;
pub mod resolve;
pub mod resource;
pub mod rightsize;
pub mod rollback;
pub mod status;
pub mod sync;
pub mod sync_base;
pub mod test;
pub mod watch;
pub mod webhook;
pub mod workspace_state;

use clap::ArgMatches;

pub use context::Ctx;

use crate::commands::registry::{Availability, CommandSpec};
pub use crate::commands::request::Request;
use crate::error::CommandError;
use crate::ui::Item;

/// What a command produced, in order: status lines, warnings, hints, prose and data. It is
/// serde-serializable as it stands (see [`Item`]); each data item carries the operation's own
/// typed result as JSON (sync's `SyncReport`, a `Plan`, apply's `ApplySummary`, the test run),
/// which is what a front end that forwards reports (REST, MCP) returns as structured content.
pub type Report = Vec<Item>;

/// Runs the registry command `spec` with its parsed arguments (console or command line): the
/// matches become a typed [`Request`], which runs like any other front end's.
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
    if spec.name == "schema" {
        // JSON whatever the output format: the document is a JSON Schema collection.
        let text = serde_json::to_string_pretty(&registry::schema_document())
            .map_err(|e| CommandError::internal(format!("cannot print the schema: {e}")))?;
        return Ok(vec![Item::Text(text)]);
    }
    execute(ctx, Request::from_matches(spec, args)?).await
}

/// Runs one operation, then records the hashes of the files it wrote in state.db and commits
/// those files to the workspace's git repository ([`commit`]): the one entry point of the
/// operations layer for every front end.
pub async fn execute(ctx: &mut Ctx, request: Request) -> Result<Report, CommandError> {
    let pending = commit::prepare(ctx, &request).await;
    let report = dispatch(ctx, request).await;
    commit::settle(ctx, pending, report).await
}

async fn dispatch(ctx: &mut Ctx, request: Request) -> Result<Report, CommandError> {
    match request {
        Request::Init(r) => {
            let args = init::InitArgs {
                endpoint: r.endpoint,
                token_id: r.token_id,
                secret_env: r.secret_env,
                secret_file: r.secret_file,
                fingerprint: r.fingerprint,
                ca_file: r.ca_file,
                insecure: r.insecure,
                no_connect: r.no_connect,
                yes: r.yes,
                login: r.login,
                secret_stdin: r.secret_stdin,
            };
            init::run(ctx, &args).await
        }
        Request::Status(r) => status::run(ctx, r.live).await,
        Request::Doctor => doctor::run(ctx).await,
        Request::Sync(r) => {
            let options = crate::iac::sync::SyncOptions {
                adopt: r.adopt,
                prune: r.prune,
                agent_ips: r.agent_ips,
            };
            sync::run(ctx, options).await
        }
        Request::Drift(r) => {
            let args = drift::DriftArgs {
                detailed_exitcode: r.detailed_exitcode,
            };
            drift::run(ctx, &args).await
        }
        Request::Watch(r) => {
            let options = watch::WatchOptions {
                every: r.every,
                count: r.count,
                webhook: r.webhook,
                webhook_secret_env: r.webhook_secret_env,
                slack: r.slack,
            };
            watch::run(ctx, &options).await
        }
        Request::Resolve(r) => {
            let args = resolve::ResolveArgs {
                guest: r.guest,
                field: r.field,
                take: r.take,
            };
            resolve::run(ctx, &args).await
        }
        Request::Config(r) => {
            let words: Vec<String> = [r.action, r.key, r.value].into_iter().flatten().collect();
            config::run(ctx, &words).await
        }
        Request::Test(r) => {
            let args = test::TestArgs {
                filter: r.filter,
                tag: r.tag,
                junit: r.junit,
            };
            test::run(ctx, &args).await
        }
        Request::Plan(r) => {
            let args = plan::PlanArgs {
                offline: r.offline,
                detailed_exitcode: r.detailed_exitcode,
                machine: r.json,
                out: r.out,
            };
            plan::run(ctx, &args).await
        }
        Request::Diff(r) => diff::run(ctx, r.offline, r.json).await,
        Request::Apply(r) => {
            let args = apply::ApplyArgs {
                yes: r.yes,
                targets: r.targets,
                parallelism: r.parallelism,
                override_policy: r.override_policy,
                plan_file: r.plan,
            };
            apply::run(ctx, &args).await
        }
        Request::Help(r) => help::run(r.command.as_deref()),
        Request::History(r) => {
            let args = history::HistoryArgs {
                guest: r.guest,
                since: r.since,
                show: r.show,
                machine: r.json,
            };
            history::run(ctx, &args).await
        }
        Request::Rollback(r) => {
            let args = rollback::RollbackArgs {
                id: r.id,
                yes: r.yes,
                recreate_empty: r.recreate_empty,
            };
            rollback::run(ctx, &args).await
        }
        Request::Policy(r) => {
            let args = policy::PolicyArgs {
                on: policy::parse_on(r.on.as_deref())?,
                format: policy::parse_format(r.format.as_deref())?,
            };
            policy::run(ctx, &args).await
        }
        Request::Rightsize(r) => {
            let args = rightsize::RightsizeArgs {
                window: r.window,
                apply_to_code: r.apply_to_code,
                machine: r.json,
            };
            rightsize::run(ctx, &args).await
        }
        Request::Cost(r) => rightsize::cost(ctx, r.json).await,
        Request::Ci(r) => ci::run(ctx, r).await,
        Request::Resource { verb, request } => {
            let Some(v) = registry::operation_verb(&registry::verb_operation(&verb)) else {
                return Err(
                    CommandError::user(format!("`{verb}` is not a resource verb"))
                        .hint("`proxmox-mpc schema` lists the operations"),
                );
            };
            let syntax = request.syntax(v)?;
            resource::run_syntax(ctx, syntax).await
        }
    }
}
