//! Natural-language commands (`? TEXT` and `/ask TEXT` in the console, `proxmox-mpc ask TEXT`):
//! a request in words becomes this console's own command lines — resource commands and slash
//! commands, never shell — which are shown, previewed and run only as the fixed rules allow.
//!
//! - Proposals come from the built-in parser ([`offline`], no `ai:` in config.yml) or from an
//!   OpenAI-compatible model ([`model`]) given the registry's operations as tools.
//! - Every proposed line is parsed by the console's own parser and classified by the
//!   registry's access table ([`line`]); anything unknown, shell, or administrative is refused.
//!   The model's opinion of what a command changes is never asked.
//! - Read-only commands run at once. Each command that changes something is previewed (the plan
//!   it would make, from a scratch copy: [`preview`]) and waits for its own yes, no or edit
//!   ([`flow`]); `all` accepts the rest only of the built-in parser's proposals, which come
//!   from the typed words alone — a model's may have been steered by text from the server.

mod flow;
mod line;
mod model;
mod offline;
mod preview;

pub use flow::{Pending, Step, console_line, run, show_only};
pub use line::{Proposed, line_of_request, proposed, request_of_line};
pub use model::{Model, tools};
pub use offline::{Facts, GuestFacts, Parsed, parse as parse_offline};

use serde_json::{Value, json};

use crate::commands::request::Request;
use crate::commands::resource::{self, Loaded};
use crate::commands::{Ctx, access};
use crate::error::CommandError;
use crate::model::{GuestConfig, GuestStatus};
use crate::ui::Item;

/// How many guests the model's context lists (names are enough to refer to them).
const CONTEXT_GUESTS: usize = 300;

/// What a request in words turned into.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    /// True when a model proposed it (each change is then confirmed on its own).
    pub from_model: bool,
    /// The model's own words, or the built-in parser's "nothing to do" sentence.
    pub note: Option<String>,
    pub commands: Vec<Proposed>,
    /// What was proposed and refused, as warnings.
    pub refused: Vec<Item>,
}

/// Turns `text` into proposed commands: the model's, when config.yml has `ai:`, else the
/// built-in parser's.
pub async fn propose(ctx: &mut Ctx, text: &str) -> Result<Proposal, CommandError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CommandError::user("ask needs the request in words").hint(
            "e.g. `? which vms are stopped` in the console, or `proxmox-mpc ask create two web servers with 4 GB each`",
        ));
    }
    let loaded = resource::load(ctx).await?;
    match Model::from_config(ctx)? {
        None => propose_offline(text, &facts(&loaded)),
        Some(model) => {
            let context = context(ctx, &loaded).await;
            let answer = model.propose(&context, text).await?;
            let mut proposal = Proposal {
                from_model: true,
                note: answer.text,
                ..Proposal::default()
            };
            for (name, args) in answer.calls {
                match from_call(&name, args) {
                    Ok(p) => proposal.commands.push(p),
                    Err(e) => proposal.refused.push(Item::Warning(plain(&format!(
                        "refused a proposal of the model: {}",
                        e.message
                    )))),
                }
            }
            if proposal.commands.is_empty() && proposal.note.is_none() {
                proposal.note = Some("The model proposed no command.".into());
            }
            Ok(proposal)
        }
    }
}

/// The built-in parser's proposal.
fn propose_offline(text: &str, facts: &Facts) -> Result<Proposal, CommandError> {
    match offline::parse(text, facts) {
        Parsed::Commands(lines) => {
            let mut proposal = Proposal::default();
            for line in lines {
                match proposed(&line) {
                    Ok(p) => proposal.commands.push(p),
                    Err(e) => proposal.refused.push(Item::Warning(e.message)),
                }
            }
            Ok(proposal)
        }
        Parsed::Nothing(why) => Ok(Proposal {
            note: Some(why),
            ..Proposal::default()
        }),
        Parsed::Unknown => Err(CommandError::user(format!(
            "ask does not understand `{text}` (no model is configured, so only the built-in phrasings work)"
        ))
        .hint("try e.g. `? which vms are stopped`, `? stop all lab vms`, `? give db-01 two more cores`, `? create two web servers with 4 GB each on pve2`")
        .hint("/help lists the commands to type yourself; `ai:` in config.yml (docs/ask.md) lets a model read any wording")),
    }
}

/// `text` without control characters: what a model sent may reach a terminal.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A model's tool call as a proposed command, or why not.
fn from_call(name: &str, args: Result<Value, String>) -> Result<Proposed, CommandError> {
    let known = tools()
        .iter()
        .any(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name));
    if !known {
        return Err(CommandError::user(format!(
            "`{name}` is not an operation ask runs"
        )));
    }
    let args = args.map_err(|why| CommandError::user(format!("`{name}`: {why}")))?;
    let request = Request::from_json(name, args)?;
    let line = line_of_request(&request)?;
    proposed(&line)
}

/// The parser's view of the workspace: every guest of the files and of the last sync.
pub fn facts(loaded: &Loaded) -> Facts {
    let mut guests: Vec<GuestFacts> = Vec::new();
    let desired = loaded.desired.guests();
    for g in loaded.snapshot.guests.iter() {
        // The file's sizes, where there is one: `set` changes the file.
        let sized = desired.iter().find(|d| d.vmid == g.vmid).unwrap_or(g);
        guests.push(guest_facts(
            sized,
            g.status == GuestStatus::Running,
            g.template,
        ));
    }
    for d in &desired {
        if !loaded.snapshot.guests.iter().any(|g| g.vmid == d.vmid) {
            guests.push(guest_facts(d, false, d.template));
        }
    }
    let today = chrono::Local::now().date_naive();
    Facts {
        guests,
        nodes: loaded
            .snapshot
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect(),
        today: Some((
            today,
            chrono::Datelike::weekday(&today).num_days_from_monday(),
        )),
    }
}

fn guest_facts(g: &crate::model::Guest, running: bool, template: bool) -> GuestFacts {
    let (cores, memory_mib, container) = match &g.config {
        GuestConfig::Vm(vm) => (vm.cores, vm.memory_mib, false),
        GuestConfig::Container(ct) => (ct.cores, ct.memory_mib, true),
    };
    GuestFacts {
        name: g.name.clone(),
        container,
        running,
        template,
        tags: g.tags.clone(),
        pool: g.pool.clone(),
        cores,
        memory_mib,
    }
}

/// The workspace as the model sees it: one JSON document of names and facts. Strings from the
/// server (names, descriptions) are only ever values in it. No secret, no token, no endpoint.
pub async fn context(ctx: &mut Ctx, loaded: &Loaded) -> Value {
    let desired = loaded.desired.guests();
    let mut guests: Vec<Value> = Vec::new();
    for g in loaded.snapshot.guests.iter().take(CONTEXT_GUESTS) {
        let in_files = desired.iter().any(|d| d.vmid == g.vmid);
        guests.push(json!({
            "name": g.name,
            "vmid": g.vmid,
            "kind": if matches!(g.config, GuestConfig::Vm(_)) { "vm" } else { "container" },
            "node": g.node,
            "status": format!("{:?}", g.status).to_lowercase(),
            "template": g.template,
            "tags": g.tags,
            "pool": g.pool,
            "description": g.description,
            "in_files": in_files,
        }));
    }
    for d in desired
        .iter()
        .filter(|d| !loaded.snapshot.guests.iter().any(|g| g.vmid == d.vmid))
        .take(CONTEXT_GUESTS.saturating_sub(guests.len()))
    {
        guests.push(json!({
            "name": d.name,
            "vmid": d.vmid,
            "kind": if matches!(d.config, GuestConfig::Vm(_)) { "vm" } else { "container" },
            "node": d.node,
            "status": "not created yet (only in the files)",
            "in_files": true,
        }));
    }
    let mut storages: Vec<&str> = loaded
        .snapshot
        .storages
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    storages.sort_unstable();
    storages.dedup();
    let last_plan = match ctx.state().await {
        Ok(db) => db
            .latest_plan_with(&[crate::state::PlanStatus::Pending])
            .await
            .ok()
            .flatten()
            .map(|p| p.summary),
        Err(_) => None,
    };
    json!({
        "environment": ctx.active_env_name(),
        "nodes": loaded.snapshot.nodes.iter().map(|n| json!({
            "name": n.name,
            "status": format!("{:?}", n.status).to_lowercase(),
        })).collect::<Vec<_>>(),
        "storages": storages,
        "pools": loaded.snapshot.pools.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        "guests": guests,
        "guests_listed": guests.len(),
        "guests_total": loaded.snapshot.guests.len(),
        "pending_plan": last_plan,
    })
}

/// What a proposed command may change, in words.
fn access_words(access: access::Access) -> &'static str {
    match access {
        access::Access::Read => "reads only: runs now",
        access::Access::Files => "changes the files: needs your yes",
        access::Access::Cluster => "acts on the cluster: needs your yes",
        access::Access::Admin => "administration: refused",
    }
}
