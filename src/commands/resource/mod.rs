//! Resource commands (`create vm --name web-01`, `set`, `delete`, `clone`, `list`, `show`,
//! power, snapshots, `migrate`): the console's second language.
//!
//! Declarative verbs (create, set, delete, clone, and pools) edit the workspace's Terraform
//! through the same templates and escaping as `/sync`, refresh the Ansible inventory, the test
//! specs and the docs, and print the pending change as a short plan; the server is not touched
//! until `/apply`. Imperative verbs (start, stop, shutdown, reboot, snapshot, rollback,
//! migrate) act at once through the client, follow the task to its end, write an audit entry,
//! and update the guest's file in the same step so the next `/plan` does not undo them.
//!
//! The line itself is parsed by [`crate::lang`]; this module loads the world the
//! grammar validates against and carries out the intent.

mod act;

pub(crate) use act::follow_task;
mod files;
mod view;

use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::iac::desired::{DesiredError, DesiredState, read_desired};
use crate::lang::{self as grammar, GrammarError, Intent, PlacementDefaults, World};
use crate::model::ClusterSnapshot;

pub use files::{check_rewritable, refresh_generated, strip_import_block};

/// What a resource command works with: the desired state, the last snapshot, the defaults.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub desired: DesiredState,
    pub snapshot: ClusterSnapshot,
    /// Serial of the snapshot, if there is one.
    pub serial: Option<i64>,
    pub defaults: PlacementDefaults,
    /// OS templates on the cluster's storages, read only for `create container`.
    pub ct_templates: Option<Vec<String>>,
}

impl Loaded {
    /// Returns the grammar's view of this world.
    pub fn world<'a>(&'a self, guests: &'a [crate::model::Guest]) -> World<'a> {
        World {
            desired: guests,
            desired_pools: &self.desired.pools,
            snapshot: &self.snapshot,
            defaults: &self.defaults,
            ct_templates: self.ct_templates.as_deref(),
        }
    }
}

impl From<GrammarError> for CommandError {
    fn from(e: GrammarError) -> Self {
        let mut err = CommandError::user(e.message);
        if let Some(h) = e.hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<DesiredError> for CommandError {
    fn from(e: DesiredError) -> Self {
        CommandError::user(format!("the workspace files cannot be read: {e}"))
            .hint("fix the file(s) named above; nothing was changed")
    }
}

/// Loads the desired state, the newest snapshot and config.yml's defaults.
pub async fn load(ctx: &mut Ctx) -> Result<Loaded, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let defaults = PlacementDefaults::from(&ctx.config()?.active_env().defaults);
    let desired = read_desired(&root)?;
    let db = ctx.state().await?;
    let (serial, snapshot) = match db.latest_snapshot_data().await? {
        Some((serial, data)) => {
            let snapshot: ClusterSnapshot = serde_json::from_str(&data).map_err(|e| {
                CommandError::internal(format!("snapshot #{serial} in state.db is unreadable: {e}"))
                    .hint("run /sync to record a fresh one")
            })?;
            (Some(serial), snapshot)
        }
        None => (None, ClusterSnapshot::default()),
    };
    Ok(Loaded {
        desired,
        snapshot,
        serial,
        defaults,
        ct_templates: None,
    })
}

/// Returns true when `line` starts with a resource verb.
pub fn is_resource_line(line: &str) -> bool {
    let first = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    grammar::VERBS.iter().any(|(w, _)| *w == first)
}

/// Runs one resource-command line.
pub async fn run(ctx: &mut Ctx, line: &str) -> Result<Report, CommandError> {
    let pending = crate::commands::commit::prepare_line(ctx, line);
    let report = run_line(ctx, line).await;
    crate::commands::commit::settle(ctx, pending, report).await
}

async fn run_line(ctx: &mut Ctx, line: &str) -> Result<Report, CommandError> {
    // Words alone first: a typo is answered without opening anything.
    let syntax = grammar::parse_syntax(line)?;
    run_checked(ctx, syntax).await
}

/// Runs a resource command given as syntax (a typed request's, checked by the language).
pub async fn run_syntax(ctx: &mut Ctx, syntax: grammar::Syntax) -> Result<Report, CommandError> {
    run_checked(ctx, syntax).await
}

async fn run_checked(ctx: &mut Ctx, syntax: grammar::Syntax) -> Result<Report, CommandError> {
    let mut loaded = load(ctx).await?;
    if syntax.verb == grammar::Verb::Create && syntax.kind == Some(grammar::Kind::Container) {
        loaded.ct_templates = container_templates(ctx, &loaded, &syntax).await;
    }
    let guests = loaded.desired.guests();
    ctx.set_names(grammar::Names::of(&loaded.world(&guests)));
    let intent = grammar::validate(&syntax, &loaded.world(&guests))?;
    match intent {
        Intent::Create(new) | Intent::Clone(new) => files::create(ctx, &loaded, *new).await,
        Intent::CreatePool { id, comment } => files::create_pool(ctx, &loaded, &id, comment),
        Intent::Set {
            target,
            guest,
            changes,
        } => files::set(ctx, &loaded, &target, *guest, &changes),
        Intent::Delete(target) => files::delete(ctx, &loaded, &target).await,
        Intent::DeletePool(id) => files::delete_pool(ctx, &loaded, &id),
        Intent::List(what, query) => view::list(&loaded, what, &query),
        Intent::Show(target) => view::show(&loaded, &target),
        Intent::ShowPool(id) => view::show_pool(&loaded, &id),
        Intent::Power {
            action,
            target,
            yes,
        } => act::power(ctx, &loaded, action, &target, yes).await,
        Intent::Snapshot {
            target,
            name,
            description,
        } => act::snapshot(ctx, &target, &name, description.as_deref()).await,
        Intent::Snapshots(target) => act::snapshots(ctx, &target).await,
        Intent::Rollback {
            target,
            snapshot,
            yes,
        } => act::rollback(ctx, &loaded, &target, &snapshot, yes).await,
        Intent::Migrate { target, to, yes } => act::migrate(ctx, &loaded, &target, &to, yes).await,
    }
}

/// The output format a `list`/`show` line asks for with `-o json|yaml|table`.
pub fn output_format(line: &str) -> Option<crate::ui::OutputFormat> {
    let syntax = grammar::parse_syntax(line).ok()?;
    let word = syntax
        .flags
        .iter()
        .rev()
        .find(|f| f.name == "o" || f.name == "output")?
        .value
        .clone()?;
    match word.as_str() {
        "json" => Some(crate::ui::OutputFormat::Json),
        "yaml" => Some(crate::ui::OutputFormat::Yaml),
        "table" => Some(crate::ui::OutputFormat::Table),
        _ => None,
    }
}

/// Reads the OS templates (`vztmpl` content) on the storages of the node the command names (or
/// of every online node), so `create container` can check `--template` and complete it. Returns
/// `None` when the server cannot be asked; the grammar then checks only the storage.
async fn container_templates(
    ctx: &mut Ctx,
    loaded: &Loaded,
    syntax: &grammar::Syntax,
) -> Option<Vec<String>> {
    let client = ctx.client().ok()?;
    let node_flag = syntax
        .flags
        .iter()
        .rev()
        .find(|f| f.name == "node")
        .and_then(|f| f.value.clone())
        .or_else(|| loaded.defaults.node.clone());
    let mut out = std::collections::BTreeSet::new();
    for storage in &loaded.snapshot.storages {
        let wanted_node = node_flag.as_deref().is_none_or(|n| n == storage.node);
        if !wanted_node || !storage.active || !storage.content.iter().any(|c| c == "vztmpl") {
            continue;
        }
        let list = client
            .storage_content(&storage.node, &storage.id, Some("vztmpl"))
            .await
            .ok()?;
        out.extend(list.into_iter().map(|c| c.volid));
    }
    Some(out.into_iter().collect())
}
