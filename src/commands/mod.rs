//! One file per command: parse arguments, call the domain layers, return data for the front end
//! to render through the `Ui`. Commands never assume a terminal: questions go through
//! [`Ctx::interactive`] and [`crate::ui::Ui::ask`] only when a person is there.

pub mod access;
pub mod apply;
pub mod ask;
pub mod audit;
pub mod backup;
pub mod ci;
pub mod commit;
pub mod config;
pub mod connect;
pub mod context;
pub mod definition;
pub mod diff;
pub mod doctor;
pub mod drift;
pub mod env;
pub mod explain;
pub mod export;
pub mod help;
pub mod history;
pub mod init;
pub mod login;
pub mod metrics;
pub mod overview;
pub mod plan;
pub mod policy;
pub mod privileges;
pub mod promote;
pub mod registry;
pub mod remote_migrate;
pub mod request;
pub mod resolve;
pub mod resource;
pub mod rightsize;
pub mod role;
pub mod rollback;
pub mod shared_state;
pub mod status;
pub mod sync;
pub mod sync_base;
pub mod test;
pub mod token;
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
    let request = Request::from_matches(spec, args)?;
    if let Request::Ask(ask) = &request {
        // ask runs the operations it proposes through `execute`, so it is called from here,
        // outside `execute`; through `execute` (other front ends) it only shows them.
        return ask::run(ctx, ask).await;
    }
    execute(ctx, request).await
}

/// Runs one operation, then records the hashes of the files it wrote in state.db and commits
/// those files to the workspace's git repository ([`commit`]): the one entry point of the
/// operations layer for every front end.
pub async fn execute(ctx: &mut Ctx, request: Request) -> Result<Report, CommandError> {
    let operation = request.name();
    let pending = commit::prepare(ctx, &request).await;
    let report = match role::enforce(ctx, &request).await {
        Ok(()) => dispatch(ctx, request).await,
        Err(refused) => Err(refused),
    };
    // An apply, sync or rollback held the team's lock (shared state) until here.
    ctx.release_lock().await;
    // Owned before the await: a borrow of the report held across it would make this future
    // not `Send` for every lifetime, which the servers' spawned tasks need.
    let refusal = match &report {
        Err(e) if e.kind != crate::error::ErrorKind::ChangesPresent => Some(e.message.clone()),
        _ => None,
    };
    audit::record_call(ctx, &operation, refusal).await;
    let settled = commit::settle(ctx, pending, report).await;
    // `/env use` switched environments: the next operation runs against the new one.
    ctx.finish_env_switch();
    settled
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
                from_bundle: r.from_bundle,
            };
            init::run(ctx, &args).await
        }
        Request::Status(r) => status::run(ctx, r.live).await,
        Request::Doctor(r) if r.privileges => Ok(privileges::report()),
        Request::Doctor(_) => doctor::run(ctx).await,
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
            if let Some(guest) = &r.restore_drill {
                return backup::drill::run(ctx, guest).await;
            }
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
                plan_id: r.plan_id,
                plan_hash: r.plan_hash,
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
        Request::Overview(r) => overview::run(ctx, &r).await,
        Request::Metrics(r) => metrics::run(ctx, &r).await,
        Request::Definition(r) => definition::run(ctx, &r).await,
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
        other => dispatch_more(ctx, other).await,
    }
}

/// The operations of environments, tokens, the audit log, natural language and backups
/// (the rest of [`dispatch`]).
async fn dispatch_more(ctx: &mut Ctx, request: Request) -> Result<Report, CommandError> {
    match request {
        Request::Audit(r) => audit::run(ctx, &r).await,
        Request::Token(r) => token::run(ctx, &r).await,
        Request::State(r) => shared_state::run(ctx, &r).await,
        Request::Unlock(r) => role::unlock(ctx, &r).await,
        Request::Role(r) => role::run(ctx, &r).await,
        Request::Env(r) => env::run(ctx, &r).await,
        Request::Promote(r) => promote::run(ctx, &r.guests, r.from.as_deref(), &r.to).await,
        Request::Export(r) => export::run(ctx, r.env.as_deref(), &r.to, r.format.as_deref()).await,
        Request::Ask(r) => ask::show_only(ctx, &r).await,
        Request::Explain(r) => explain::run(ctx, &r).await,
        Request::Backup(r) => backup::backup(ctx, &r).await,
        Request::Backups(r) => backup::backups(ctx, &r).await,
        Request::Restore(r) => backup::restore(ctx, &r).await,
        Request::ForgetBackup(r) => backup::forget_backup(ctx, &r).await,
        other => Err(CommandError::internal(format!(
            "no operation runs `{}`",
            other.name()
        ))),
    }
}
