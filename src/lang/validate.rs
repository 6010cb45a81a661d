//! Step 2: a [`Syntax`] checked against the [`World`], per verb, into an [`Intent`]. The small
//! verbs are settled here; `create`, `clone` and `set` have files of their own.

use super::create::{clone, create};
use super::error::{GrammarError, list_of, q};
use super::intent::{Intent, ListQuery, MigrateTo, RemoteMove, Target};
use super::parse::{Syntax, example_for};
use super::set::set;
use super::values::{check_pool_id, check_snapshot_name};
use super::words::{Kind, ListWhat, Verb};
use super::world::{World, target_of};
use crate::model::PowerAction;

/// The name or vmid after the kind, which the verb cannot do without.
pub(super) fn require_name(syntax: &Syntax, kind: Kind) -> Result<String, GrammarError> {
    syntax.name.clone().ok_or_else(|| {
        GrammarError::new(format!(
            "`{} {}` needs the name or vmid of the {}",
            syntax.verb.as_str(),
            kind.as_str(),
            kind.as_str()
        ))
        .hint(example_for(syntax.verb))
    })
}

/// Refuses positional words beyond the first `allowed` after the name: they are usually a
/// value whose flag was forgotten or text that needed quotes.
fn no_extra_words(syntax: &Syntax, allowed: usize) -> Result<(), GrammarError> {
    let mut extra: Vec<&String> = syntax.rest.iter().skip(allowed).collect();
    if syntax.verb == Verb::Create
        && let Some(name) = &syntax.name
        && syntax.get("name").is_some()
    {
        extra.insert(0, name);
    }
    match extra.first() {
        None => Ok(()),
        Some(word) => Err(GrammarError::new(format!(
            "unexpected word {} after `{}`",
            q(word),
            syntax.verb.as_str()
        ))
        .hint("values go after their flag, e.g. --memory 2G; quote text with spaces")),
    }
}

/// Step 2: checks the syntax against the world and returns what to do.
pub fn validate(syntax: &Syntax, world: &World<'_>) -> Result<Intent, GrammarError> {
    match (syntax.verb, syntax.kind) {
        (Verb::List, _) => list(syntax, world),
        (Verb::Create, Some(Kind::Pool)) => create_pool(syntax, world),
        (Verb::Create, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            create(syntax, world, kind).map(|g| Intent::Create(Box::new(g)))
        }
        (Verb::Clone, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let source = require_name(syntax, kind)?;
            let source = world.desired_guest(kind, &source)?.clone();
            clone(syntax, world, kind, &source).map(|g| Intent::Clone(Box::new(g)))
        }
        (Verb::Set, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            let current = world.desired_guest(kind, &word)?;
            set(syntax, world, current)
        }
        (Verb::Delete, Some(Kind::Pool)) | (Verb::Show, Some(Kind::Pool)) => {
            no_extra_words(syntax, 0)?;
            let id = require_name(syntax, Kind::Pool)?;
            world.check_pool(&id)?;
            Ok(if syntax.verb == Verb::Delete {
                Intent::DeletePool(id)
            } else {
                Intent::ShowPool(id)
            })
        }
        (Verb::Delete, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            Ok(Intent::Delete(target_of(world.desired_guest(kind, &word)?)))
        }
        (Verb::Show, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            let all = world.all_guests();
            Ok(Intent::Show(target_of(
                world.find_in(&all, kind, &word, "")?,
            )))
        }
        (
            verb @ (Verb::Start
            | Verb::Stop
            | Verb::Shutdown
            | Verb::Reboot
            | Verb::Snapshots
            | Verb::Snapshot
            | Verb::Rollback
            | Verb::Migrate),
            Some(kind),
        ) => imperative(syntax, world, verb, kind),
        (verb, None) => Err(GrammarError::new(format!(
            "`{}` needs a kind: vm, container or pool",
            verb.as_str()
        ))),
    }
}

/// `list`: the filters, each checked.
fn list(syntax: &Syntax, world: &World<'_>) -> Result<Intent, GrammarError> {
    no_extra_words(syntax, 0)?;
    if let Some(word) = &syntax.name {
        return Err(
            GrammarError::new(format!("unexpected word {} after `list`", q(word)))
                .hint("filter with --node, --tag, --status or --pool"),
        );
    }
    let query = ListQuery {
        node: syntax.get("node").map(str::to_string),
        tag: syntax.get("tag").map(str::to_ascii_lowercase),
        status: syntax.get("status").map(str::to_ascii_lowercase),
        pool: syntax.get("pool").map(str::to_string),
        output: syntax
            .get("output")
            .or_else(|| syntax.get("o"))
            .map(str::to_string),
    };
    if let Some(node) = &query.node {
        world.check_node(node)?;
    }
    if let Some(status) = &query.status
        && !["running", "stopped", "paused", "template"].contains(&status.as_str())
    {
        return Err(GrammarError::new(format!(
            "unknown status {}; statuses: running, stopped, paused, template",
            q(status)
        )));
    }
    if let Some(out) = &query.output
        && !["table", "json", "yaml"].contains(&out.as_str())
    {
        return Err(GrammarError::new(format!(
            "unknown output {}; outputs: table, json, yaml",
            q(out)
        )));
    }
    Ok(Intent::List(syntax.list.unwrap_or(ListWhat::Vms), query))
}

/// `create pool`: the id from `--name` or the word after the kind.
fn create_pool(syntax: &Syntax, world: &World<'_>) -> Result<Intent, GrammarError> {
    no_extra_words(syntax, 0)?;
    let id = syntax
        .get("name")
        .map(str::to_string)
        .or_else(|| syntax.name.clone())
        .ok_or_else(|| {
            GrammarError::new("`create pool` needs the pool id")
                .hint("e.g. create pool prod --comment Production")
        })?;
    check_pool_id(&id)?;
    if world.pool_ids().contains(&id) {
        return Err(GrammarError::new(format!("pool {} already exists", q(&id))));
    }
    Ok(Intent::CreatePool {
        id,
        comment: syntax.get("comment").map(str::to_string),
    })
}

/// The imperative verbs: they act on a guest as it is on the server, not in the files.
fn imperative(
    syntax: &Syntax,
    world: &World<'_>,
    verb: Verb,
    kind: Kind,
) -> Result<Intent, GrammarError> {
    let allowed = usize::from(verb == Verb::Rollback);
    no_extra_words(syntax, allowed)?;
    let word = require_name(syntax, kind)?;
    let g = world.live_guest(kind, &word)?;
    let target = target_of(g);
    let yes = syntax.has("yes");
    let power = |action| Intent::Power {
        action,
        target: target.clone(),
        yes,
    };
    Ok(match verb {
        Verb::Start => power(PowerAction::Start),
        Verb::Stop => power(PowerAction::Stop),
        Verb::Shutdown => power(PowerAction::Shutdown),
        Verb::Reboot => power(PowerAction::Reboot),
        Verb::Snapshots => Intent::Snapshots(target),
        Verb::Snapshot => {
            let name = syntax
                .get("name")
                .map(str::to_string)
                .unwrap_or_else(default_snapshot_name);
            check_snapshot_name(&name)?;
            Intent::Snapshot {
                target,
                name,
                description: syntax.get("description").map(str::to_string),
            }
        }
        Verb::Rollback => {
            let snapshot = syntax.rest.first().cloned().ok_or_else(|| {
                GrammarError::new(format!(
                    "`rollback {} {word}` needs the snapshot name",
                    kind.as_str()
                ))
                .hint(format!(
                    "list them with: snapshots {} {word}",
                    kind.as_str()
                ))
            })?;
            check_snapshot_name(&snapshot)?;
            Intent::Rollback {
                target,
                snapshot,
                yes,
            }
        }
        _ if syntax.get("to-env").is_some() => remote_move(syntax, &target, &word, yes)?,
        _ => {
            if let Some(flag) = REMOTE_ONLY
                .iter()
                .find(|f| syntax.get(f).is_some() || syntax.has(f))
            {
                return Err(
                    GrammarError::new(format!("--{flag} goes with --to-env ENV")).hint(format!(
                        "e.g. migrate {} {word} --to-env prod --{flag} ...",
                        kind.as_str()
                    )),
                );
            }
            let to = syntax.get("to").ok_or_else(|| {
                GrammarError::new(format!(
                    "`migrate {} {word}` needs --to NODE",
                    kind.as_str()
                ))
                .hint(format!("nodes: {}", list_of(&world.node_names())))
            })?;
            world.check_node(to)?;
            if to == target.node {
                return Err(GrammarError::new(format!(
                    "{} {} is already on {to}",
                    kind.as_str(),
                    q(&target.name)
                )));
            }
            Intent::Migrate {
                target,
                to: MigrateTo::Node(to.to_string()),
                yes,
            }
        }
    })
}

/// The flags that only a move to another environment takes.
const REMOTE_ONLY: &[&str] = &[
    "target-storage",
    "target-bridge",
    "target-vmid",
    "keep-source",
];

/// `migrate KIND NAME --to-env ENV [...]`: the words checked here; the environments, maps and
/// VMID are checked against both clusters by the command before anything changes.
fn remote_move(
    syntax: &Syntax,
    target: &Target,
    word: &str,
    yes: bool,
) -> Result<Intent, GrammarError> {
    if syntax.get("to").is_some() {
        return Err(GrammarError::new(
            "--to NODE and --to-env ENV exclude each other",
        )
        .hint(format!(
            "--to moves {word} to another node of this cluster; --to-env moves it to another environment's cluster"
        )));
    }
    let env = syntax.get("to-env").unwrap_or_default().to_string();
    let vmid = match syntax.get("target-vmid") {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .ok()
                .filter(|v| (super::world::VMID_MIN..=super::world::VMID_MAX).contains(v))
                .ok_or_else(|| {
                    GrammarError::new(format!("--target-vmid {} is not a VMID", q(text))).hint(
                        format!(
                            "a VMID is a number from {} to {}",
                            super::world::VMID_MIN,
                            super::world::VMID_MAX
                        ),
                    )
                })?,
        ),
    };
    Ok(Intent::Migrate {
        target: target.clone(),
        to: MigrateTo::Env(RemoteMove {
            env,
            storage_map: syntax.get("target-storage").map(str::to_string),
            bridge_map: syntax.get("target-bridge").map(str::to_string),
            vmid,
            keep_source: syntax.has("keep-source"),
        }),
        yes,
    })
}

/// A snapshot name from the time, for `snapshot` without `--name`.
fn default_snapshot_name() -> String {
    format!("snap_{}", chrono::Utc::now().format("%Y%m%d_%H%M%S"))
}
