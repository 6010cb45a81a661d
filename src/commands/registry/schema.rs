//! The registry as data: every operation with what it may change, whether it asks, and its
//! input's JSON Schema (`proxmox-mpc schema`, the OpenAPI document, the MCP tool list); and
//! the names of the resource verbs as operations.

use serde::Serialize;

use super::{Availability, COMMANDS, Scope};
use crate::lang::Verb;

/// What an operation may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// It acts on the cluster (apply, power, snapshot, migrate).
    pub cluster: bool,
    /// It writes the workspace's files (sync, resource commands, apply's write-back).
    pub files: bool,
}

const NOTHING: Changes = Changes {
    cluster: false,
    files: false,
};
const FILES: Changes = Changes {
    cluster: false,
    files: true,
};
const CLUSTER: Changes = Changes {
    cluster: true,
    files: false,
};
const BOTH: Changes = Changes {
    cluster: true,
    files: true,
};

/// One entry of the operation registry: every front end's view of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub name: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// Where it can be called: `both`, `console` or `cli`.
    pub scope: &'static str,
    /// True when it changes the cluster or the files.
    pub mutating: bool,
    pub changes: Changes,
    /// True when it asks before acting (or takes `yes`).
    pub confirm: bool,
    /// JSON Schema of its input.
    pub input_schema: serde_json::Value,
}

/// The registry name of a resource verb.
pub(super) fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Rollback => "snapshot-rollback",
        other => other.as_str(),
    }
}

/// The registry name of a resource verb word (`rm` -> `delete`). A guest-snapshot rollback is
/// `snapshot-rollback`, so it is never confused with rolling the workspace back.
pub fn verb_operation(word: &str) -> String {
    match crate::lang::VERBS.iter().find(|(w, _)| *w == word) {
        Some((_, verb)) => verb_name(*verb).into(),
        None => word.into(),
    }
}

/// The resource verb behind an operation name, if it is one.
pub fn operation_verb(name: &str) -> Option<Verb> {
    if name == "snapshot-rollback" {
        return Some(Verb::Rollback);
    }
    if name == "rollback" {
        return None;
    }
    crate::lang::VERBS
        .iter()
        .find(|(w, v)| *w == name && v.as_str() == name)
        .map(|(_, v)| *v)
}

/// Every resource verb once, in the language's order.
pub(super) fn verbs() -> Vec<Verb> {
    let mut out: Vec<Verb> = Vec::new();
    for (_, v) in crate::lang::VERBS {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

pub(super) fn verb_summary(verb: Verb) -> &'static str {
    match verb {
        Verb::Create => "Add a VM, container or pool to the workspace files (apply creates it)",
        Verb::Set => "Change a guest's settings in its file (apply carries it out)",
        Verb::Delete => "Remove a guest or pool from the workspace files (apply destroys it)",
        Verb::List => "List guests, nodes, storages, networks or pools",
        Verb::Show => "Show one guest or pool: its file, the server and the difference",
        Verb::Start => "Start a guest now",
        Verb::Stop => "Stop a guest now (hard stop)",
        Verb::Shutdown => "Shut a guest down cleanly now",
        Verb::Reboot => "Reboot a guest now",
        Verb::Snapshot => "Take a snapshot of a guest now",
        Verb::Snapshots => "List a guest's snapshots",
        Verb::Rollback => {
            "Roll a guest back to one of its snapshots now (a guest snapshot, not the workspace)"
        }
        Verb::Migrate => "Move a guest to another node now, or to another cluster (--to-env ENV)",
        Verb::Clone => "Add a copy of a VM to the workspace files (apply creates it)",
    }
}

pub(super) fn verb_changes(verb: Verb) -> Changes {
    match verb {
        Verb::Create | Verb::Set | Verb::Delete | Verb::Clone => FILES,
        Verb::List | Verb::Show | Verb::Snapshots => NOTHING,
        Verb::Migrate => BOTH,
        Verb::Start
        | Verb::Stop
        | Verb::Shutdown
        | Verb::Reboot
        | Verb::Snapshot
        | Verb::Rollback => CLUSTER,
    }
}

pub(super) fn command_changes(name: &str) -> (Changes, bool) {
    match name {
        "init" | "config" | "demo" | "sync" | "resolve" | "state" => (FILES, false),
        "rollback" => (FILES, true),
        "rightsize" | "ci" => (FILES, false),
        "apply" => (BOTH, true),
        // It only shows unless told `yes`; then it runs what it proposed, each confirmed.
        "ask" => (BOTH, true),
        "backup" | "forget-backup" => (CLUSTER, true),
        // a restore writes the restored guest's file
        "restore" => (BOTH, true),
        _ => (NOTHING, false),
    }
}

/// The input schema of a registry command, from its typed request.
pub(super) fn command_schema(name: &str) -> serde_json::Value {
    use crate::commands::request::*;
    let schema = match name {
        "init" => schemars::schema_for!(InitRequest),
        "status" => schemars::schema_for!(StatusRequest),
        "doctor" => schemars::schema_for!(DoctorRequest),
        "config" => schemars::schema_for!(ConfigRequest),
        "help" => schemars::schema_for!(HelpRequest),
        "sync" => schemars::schema_for!(SyncRequest),
        "drift" => schemars::schema_for!(DriftRequest),
        "watch" => schemars::schema_for!(WatchRequest),
        "resolve" => schemars::schema_for!(ResolveRequest),
        "plan" => schemars::schema_for!(PlanRequest),
        "diff" => schemars::schema_for!(DiffRequest),
        "apply" => schemars::schema_for!(ApplyRequest),
        "test" => schemars::schema_for!(TestRequest),
        "history" => schemars::schema_for!(HistoryRequest),
        "rollback" => schemars::schema_for!(RollbackRequest),
        "policy" => schemars::schema_for!(PolicyRequest),
        "rightsize" => schemars::schema_for!(RightsizeRequest),
        "cost" => schemars::schema_for!(CostRequest),
        "overview" => schemars::schema_for!(OverviewRequest),
        "metrics" => schemars::schema_for!(MetricsRequest),
        "definition" => schemars::schema_for!(DefinitionRequest),
        "audit" => schemars::schema_for!(AuditRequest),
        "ci" => schemars::schema_for!(CiRequest),
        "token" => schemars::schema_for!(TokenRequest),
        "state" => schemars::schema_for!(StateRequest),
        "unlock" => schemars::schema_for!(UnlockRequest),
        "role" => schemars::schema_for!(RoleRequest),
        "ask" => schemars::schema_for!(AskRequest),
        "explain" => schemars::schema_for!(ExplainRequest),
        "backup" => schemars::schema_for!(BackupRequest),
        "backups" => schemars::schema_for!(BackupsRequest),
        "restore" => schemars::schema_for!(RestoreRequest),
        "forget-backup" => schemars::schema_for!(ForgetBackupRequest),
        _ => {
            return serde_json::json!({ "type": "object", "properties": {}, "additionalProperties": false });
        }
    };
    serde_json::to_value(schema).unwrap_or_default()
}

/// The input schema of a resource verb: [`super::request::ResourceRequest`] with the flags the
/// language takes for that verb (over every kind it applies to).
pub(super) fn verb_schema(verb: Verb) -> serde_json::Value {
    use crate::lang::{KINDS, flags_for};
    let mut flags = serde_json::Map::new();
    let kinds: Vec<Option<crate::lang::Kind>> = std::iter::once(None)
        .chain(KINDS.iter().map(|(_, k)| Some(*k)))
        .collect();
    for kind in kinds {
        for f in flags_for(verb, kind) {
            let schema = if f.is_switch() {
                serde_json::json!({ "type": "boolean", "description": f.help })
            } else {
                serde_json::json!({
                    "description": f.help,
                    "examples": [f.example],
                    "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
                })
            };
            flags.entry(f.name.to_string()).or_insert(schema);
        }
    }
    let kind_words: Vec<&str> = if verb == Verb::List {
        crate::lang::LIST_WORDS.iter().map(|(w, _)| *w).collect()
    } else {
        KINDS.iter().map(|(w, _)| *w).collect()
    };
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": verb_operation(verb.as_str()),
        "type": "object",
        "properties": {
            "kind": { "enum": kind_words, "description": "what to act on" },
            "name": { "type": "string", "description": "the guest or pool, by name or vmid" },
            "args": { "type": "array", "items": { "type": "string" }, "description": "further positional words" },
            "flags": { "type": "object", "properties": flags, "additionalProperties": false },
        },
        "additionalProperties": false,
    })
}

pub(super) fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::Both => "both",
        Scope::Console => "console",
        Scope::Cli => "cli",
    }
}

/// The whole registry: the registry commands, then one operation per resource verb.
pub fn operations() -> Vec<Operation> {
    let mut out: Vec<Operation> = COMMANDS
        .iter()
        .filter(|c| c.availability == Availability::Ready)
        .map(|c| {
            let (changes, confirm) = command_changes(c.name);
            Operation {
                name: c.name.to_string(),
                aliases: c.aliases.iter().map(|a| a.to_string()).collect(),
                summary: c.summary.to_string(),
                scope: scope_word(c.scope),
                mutating: changes.cluster || changes.files,
                changes,
                confirm,
                input_schema: command_schema(c.name),
            }
        })
        .collect();
    for verb in verbs() {
        let name = verb_operation(verb.as_str());
        let changes = verb_changes(verb);
        let confirm = crate::lang::KINDS.iter().any(|(_, k)| {
            crate::lang::flags_for(verb, Some(*k))
                .iter()
                .any(|f| f.name == "yes")
        });
        // The console spells a guest-snapshot rollback `rollback vm NAME SNAP`.
        let aliases = crate::lang::VERBS
            .iter()
            .filter(|(w, v)| *v == verb && (*w != verb.as_str() || verb == Verb::Rollback))
            .map(|(w, _)| w.to_string())
            .collect();
        out.push(Operation {
            name,
            aliases,
            summary: verb_summary(verb).to_string(),
            scope: "both",
            mutating: changes.cluster || changes.files,
            changes,
            confirm,
            input_schema: verb_schema(verb),
        });
    }
    out
}

/// `proxmox-mpc schema`: every operation with its input schema and what it changes.
pub fn schema_document() -> serde_json::Value {
    let ops: Vec<serde_json::Value> = operations()
        .into_iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "aliases": o.aliases,
                "summary": o.summary,
                "scope": o.scope,
                "input_schema": o.input_schema,
                "mutating": o.mutating,
                "changes": o.changes,
                "confirm": o.confirm,
            })
        })
        .collect();
    serde_json::json!({ "operations": ops })
}
