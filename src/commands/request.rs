//! Typed requests: what each operation takes, as plain data (serde, with a JSON Schema from
//! schemars), so every front end calls the same operation the same way. The console and the
//! one-shot CLI turn their clap matches into a [`Request`] ([`Request::from_matches`]); other
//! front ends (the REST API, the MCP server) deserialize one from JSON; a resource command
//! becomes a [`ResourceRequest`] without writing a line to parse.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::ArgMatches;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::registry::{CommandSpec, Scope};
use crate::error::CommandError;
use crate::lang::{self, Verb};

/// `/init`: connect a folder to a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InitRequest {
    /// API address, e.g. https://pve.example:8006
    pub endpoint: Option<String>,
    /// API token id, user@realm!name
    pub token_id: Option<String>,
    /// Environment variable holding the token secret
    pub secret_env: Option<String>,
    /// File holding the token secret
    pub secret_file: Option<String>,
    /// SHA-256 fingerprint of the server certificate to pin
    pub fingerprint: Option<String>,
    /// CA certificate file to verify the server with
    pub ca_file: Option<String>,
    /// Skip TLS verification
    pub insecure: bool,
    /// Write the workspace without contacting the server
    pub no_connect: bool,
    /// Answer yes to questions (pin the shown fingerprint)
    pub yes: bool,
    /// Log in as this user (user@realm) and create the workspace's own API token
    pub login: Option<String>,
    /// Read the token secret (with `login`: the password) from standard input
    pub secret_stdin: bool,
    /// Start from a bundle `/export` wrote: its Terraform, Ansible, tests and docs, with VMIDs
    /// made free on this cluster
    pub from_bundle: Option<String>,
}

/// `/env list | add NAME ... | use NAME | remove NAME | show NAME`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EnvRequest {
    /// list (default), add, use, remove or show
    pub action: Option<String>,
    /// The environment's name (lowercase letters, digits, - and _)
    pub name: Option<String>,
    /// add: Proxmox VE API address, e.g. https://pve.prod:8006
    pub endpoint: Option<String>,
    /// add: API token id, user@realm!name
    pub token_id: Option<String>,
    /// add: environment variable holding the token secret
    pub secret_env: Option<String>,
    /// add: file holding the token secret
    pub secret_file: Option<String>,
    /// add: SHA-256 fingerprint of the server certificate to pin
    pub fingerprint: Option<String>,
    /// add: CA certificate file to verify the server with
    pub ca_file: Option<String>,
    /// add: skip TLS verification
    pub insecure: bool,
    /// add: pin the certificate shown; remove: do not ask
    pub yes: bool,
    /// add: mark it a production environment
    pub protected: bool,
}

/// `/promote GUEST[,GUEST...] --from A --to B`: copy guests' definitions to another environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PromoteRequest {
    /// The guests' names (or VMIDs) in the source environment
    pub guests: Vec<String>,
    /// The source environment (default: the active one)
    pub from: Option<String>,
    /// The target environment
    pub to: String,
}

/// `/export --env NAME --to DIR [--format dir|tar.gz]`: a self-contained bundle of one
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExportRequest {
    /// The environment to export (default: the active one)
    pub env: Option<String>,
    /// Where to write the bundle (a new or empty folder; with tar.gz the archive's path)
    pub to: String,
    /// dir (default) or tar.gz
    pub format: Option<String>,
}

/// `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StatusRequest {
    /// Ask the server now instead of showing the last sync
    pub live: bool,
}

/// `/config [show|set KEY VALUE|unset KEY]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigRequest {
    /// show, set or unset
    pub action: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `/help [COMMAND]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HelpRequest {
    /// The command to explain
    pub command: Option<String>,
}

/// `/sync`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SyncRequest {
    /// Rewrite drifted guest files with the live values
    pub adopt: bool,
    /// Remove the files of guests gone from the server
    pub prune: bool,
    /// Ask running VMs' guest agents for their addresses
    pub agent_ips: bool,
}

/// `/drift`: where the cluster differs from the files, writing nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DriftRequest {
    /// Fail with exit code 2 when the cluster drifted (one-shot use)
    pub detailed_exitcode: bool,
}

/// `watch`: check for drift again and again, reporting each change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WatchRequest {
    /// Time between checks: 30s, 5m, 1h (default 5m)
    pub every: Option<String>,
    /// Stop after this many checks (default: until interrupted)
    pub count: Option<u64>,
    /// Post each check's changes to this http(s) address
    pub webhook: Option<String>,
    /// Environment variable holding the secret the webhook posts are signed with
    pub webhook_secret_env: Option<String>,
    /// Post Slack's body ({"text": ...}) instead of the JSON notice
    pub slack: bool,
}

/// Which side `/resolve` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    /// Write the server's value into the file
    Server,
    /// Keep the file's value; the next apply sets it on the server
    Code,
}

/// `/resolve GUEST [FIELD] --take server|code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The guest, by name or vmid
    pub guest: String,
    /// The field to settle (memory, cores, ...); every conflict of the guest without
    #[serde(default)]
    pub field: Option<String>,
    /// Which side wins; without it a person at the console is asked
    #[serde(default)]
    pub take: Option<Take>,
}

/// `/plan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PlanRequest {
    /// Plan against the last snapshot instead of asking the server
    pub offline: bool,
    /// Fail with exit code 2 when there are changes (one-shot use)
    pub detailed_exitcode: bool,
    /// Return the plan as data (JSON) rather than as text
    pub json: bool,
    /// Also write the plan to this file for `apply --plan` (the reviewed plan; no secret)
    pub out: Option<PathBuf>,
}

/// `/diff`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DiffRequest {
    /// Diff against the last snapshot instead of asking the server
    pub offline: bool,
    /// Return the diff as data (JSON)
    pub json: bool,
}

/// `/apply`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ApplyRequest {
    /// Carry out the plan without asking
    pub yes: bool,
    /// Limit the apply to these guests (names or vmids); dependencies come along
    pub targets: Vec<String>,
    /// How many steps run at once
    pub parallelism: Option<usize>,
    /// Apply although these error-level policy rules fail (recorded in the audit log)
    pub override_policy: Vec<String>,
    /// Apply exactly the plan in this file (from `plan --out`), refused if it is stale
    pub plan: Option<PathBuf>,
    /// Apply exactly this saved plan (the `plan_id` `/plan` answered), with `plan_hash`
    pub plan_id: Option<i64>,
    /// The `plan_hash` `/plan` answered with `plan_id`: the plan that was reviewed
    pub plan_hash: Option<String>,
}

/// `/audit`: the audit log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuditRequest {
    /// Only entries at or after this time: 30m, 2h, 3d, 1w, a date or RFC 3339
    pub since: Option<String>,
    /// Only entries from this front end: console, cli, api, mcp
    pub origin: Option<String>,
    /// Only entries of this actor (a user, an API token's name, an MCP client's name)
    pub actor: Option<String>,
    /// Check the log's hash chain; fails naming the first entry edited or removed
    pub verify: bool,
    /// Write every entry with its hashes to this file as JSON lines
    pub export: Option<PathBuf>,
    /// Answer data (JSON) rather than a table
    pub json: bool,
}

/// `/ci github|gitlab`: write the CI/CD pipeline files; `/ci comment`: a plan as a review
/// comment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CiRequest {
    /// github, gitlab or comment
    pub action: String,
    /// Runner labels (default: self-hosted)
    pub runner: Vec<String>,
    /// Environments to plan and apply (default: the active one)
    pub env: Vec<String>,
    /// Overwrite a pipeline file proxmox-mpc did not write
    pub force: bool,
    /// comment: the plan file (`plan --out`) to describe
    pub plan: Option<PathBuf>,
}

/// `/policy check`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyRequest {
    /// What to check: code (the .tf files, default), plan (what /apply would make) or live
    pub on: Option<String>,
    /// table (default), json, sarif or junit
    pub format: Option<String>,
}

/// `/rightsize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RightsizeRequest {
    /// How far back the usage data goes: day, week (default) or month
    pub window: Option<String>,
    /// Write the recommended sizes into the guests' files
    pub apply_to_code: bool,
    /// Return the recommendations as data (JSON)
    pub json: bool,
}

/// `/overview`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OverviewRequest {
    /// One guest, by name or vmid: its fields side by side (file, server, last sync)
    pub guest: Option<String>,
}

/// `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsRequest {
    /// The guest, by name or vmid
    pub guest: String,
    /// hour (default), day or week
    pub timeframe: Option<String>,
}

/// `/definition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DefinitionRequest {
    /// The guest, by name or vmid
    pub guest: String,
    /// Form fields to change (`memory`, `cores`, `sockets`, `swap`, `tags`, `pool`,
    /// `description`, `state`, `add-disk`, `add-mount`, `add-net`), each checked on its own
    pub set: BTreeMap<String, String>,
    /// The file's whole new text, checked by the reader before it is written
    pub hcl: Option<String>,
}

/// `/cost`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CostRequest {
    /// Return the costs as data (JSON)
    pub json: bool,
}

/// `/test`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TestRequest {
    /// Only checks whose label contains this text
    pub filter: Option<String>,
    /// Only guests with this tag
    pub tag: Option<String>,
    /// Write JUnit XML to this file
    pub junit: Option<PathBuf>,
    /// Instead of the checks: restore this guest's newest backup to a scratch VMID, start it,
    /// remove it, and report the time taken
    pub restore_drill: Option<String>,
}

/// `/history [GUEST] [--since TIME]`, `/history show ID`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryRequest {
    /// Only the entries about this guest
    pub guest: Option<String>,
    /// Only the entries at or after this time: 30m, 2h, 3d, 1w, 2024-05-01 or RFC 3339
    pub since: Option<String>,
    /// Show this entry's change (a commit id, plan-N, snapshot-N or audit-N) instead of the list
    pub show: Option<String>,
    /// Return the entries as data (JSON)
    pub json: bool,
}

/// `/rollback [ID]`: the workspace's files back to a history entry (not a guest snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RollbackRequest {
    /// The history entry (a commit id, plan-N or snapshot-N); the last apply is undone without
    pub id: Option<String>,
    /// Roll back without asking
    pub yes: bool,
    /// Roll back even if a destroyed guest would be created again, empty (its data is not
    /// restored)
    pub recreate_empty: bool,
}

/// `/token create NAME --role ROLE [--env ENV] [--expires DURATION]`, `/token list`,
/// `/token revoke NAME`: the REST API's bearer tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenRequest {
    /// create, list (default) or revoke
    pub action: Option<String>,
    /// The token's name (create, revoke)
    pub name: Option<String>,
    /// create: viewer (reads), operator (reads, files, cluster) or admin (everything)
    pub role: Option<String>,
    /// create: limit the token to this environment
    pub env: Option<String>,
    /// create: the token stops working after this long: 12h, 30d, 8w
    pub expires: Option<String>,
}

/// `/doctor [--privileges]`: the workspace's health checks, or the PVE role its operations need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DoctorRequest {
    /// Print the minimal PVE privileges the operations need, as a `pveum role add` line, instead of the checks
    pub privileges: bool,
}

/// `/state [show]`, `/state migrate --to postgres://USER@HOST:PORT/DB|sqlite`: where the
/// shared state is, and moving it ([`crate::commands::shared_state`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StateRequest {
    /// show (default) or migrate
    pub action: Option<String>,
    /// migrate: postgres://USER@HOST:PORT/DB (no password in it), or sqlite for the local state.db
    pub to: Option<String>,
    /// migrate: where the target's password is read from: env:VAR, file:PATH or vault:MOUNT/PATH#FIELD
    pub password: Option<String>,
    /// migrate: replace the rows a non-empty target holds
    pub force: bool,
}

/// `/unlock --force`: releases the workspace lock another process holds (admins; audited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UnlockRequest {
    /// Release it although its holder may still be running
    pub force: bool,
}

/// `/role grant ID ROLE`, `/role revoke ID`, `/role list`: who may do what in shared state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RoleRequest {
    /// list (default), grant or revoke
    pub action: Option<String>,
    /// grant, revoke: the identity, a PVE token id (user@realm!name)
    pub identity: Option<String>,
    /// grant: viewer, operator or admin
    pub role: Option<String>,
}

/// `/ask TEXT` (`? TEXT` in the console): a request in words, answered with the project's own
/// commands ([`crate::commands::ask`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AskRequest {
    /// What you want, in words: "create three web servers with 4 GB each on pve2"
    pub text: String,
    /// Run the proposed commands that change something (without it they are only shown)
    pub yes: bool,
}

/// `/explain [error|plan]`: the last error (a failed `/test` included) or the last plan, in
/// words, with the next commands to try.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainRequest {
    /// error (the last failed command, the default) or plan (the last plan)
    pub what: Option<String>,
}

/// `/backup vm|container NAME`: back a guest up now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackupRequest {
    /// vm or container
    pub kind: String,
    /// The guest, by name or vmid
    pub name: String,
    /// A storage with `backup` content (default: the configured default storage if it takes
    /// backups, else the first that does)
    pub storage: Option<String>,
    /// snapshot (default), suspend or stop
    pub mode: Option<String>,
    /// zstd (default), gzip, lzo or 0
    pub compress: Option<String>,
    /// The backup's notes; {{guestname}}, {{vmid}}, {{node}} and {{cluster}} are filled in
    pub notes: Option<String>,
    /// Protect the backup from pruning and removal
    pub protected: bool,
    /// Back up without asking
    pub yes: bool,
}

/// `/backups [vm|container NAME] [--storage S]`: the backup volumes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackupsRequest {
    /// vm or container (with `name`)
    pub kind: Option<String>,
    /// Only this guest's backups (name or vmid)
    pub name: Option<String>,
    /// Only the backups on this storage
    pub storage: Option<String>,
    /// Answer data (JSON) rather than a table
    pub json: bool,
}

/// `/restore vm|container NAME --from VOLID [--as NEWNAME]`: a backup as a new guest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreRequest {
    /// vm or container
    pub kind: String,
    /// The backed-up guest, by name or vmid
    pub name: String,
    /// The backup volume (STORAGE:backup/vzdump-...); default: the guest's newest backup
    pub from: Option<String>,
    /// The restored guest's name (default: NAME, which must then be free)
    #[serde(rename = "as")]
    pub as_name: Option<String>,
    /// The restored guest's vmid (default: the next free one)
    pub vmid: Option<u32>,
    /// The node to restore on (default: the guest's node)
    pub node: Option<String>,
    /// The storage for the restored disks (default: where they were)
    pub storage: Option<String>,
    /// Restore without asking
    pub yes: bool,
}

/// `/forget-backup VOLID`: remove one backup volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ForgetBackupRequest {
    /// The backup volume (STORAGE:backup/vzdump-...)
    pub volid: String,
    /// Remove without asking
    pub yes: bool,
}

/// A resource command (`create vm --name web-01 --memory 2G`) as data: the verb is the
/// operation, the rest is here. Flags are checked against the language's flag table
/// ([`crate::lang::flags_for`]), exactly as the console checks a typed line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceRequest {
    /// vm, container (ct, lxc) or pool; for list: vms, containers, nodes, storages, networks or
    /// pools
    pub kind: Option<String>,
    /// The guest or pool, by name or vmid
    pub name: Option<String>,
    /// Further positional words (rollback: the snapshot name)
    pub args: Vec<String>,
    /// Flags by name without dashes: a string for a flag with a value, true for a switch, a
    /// list for a repeatable flag (`"memory": "2G"`, `"start": true`, `"tag": ["web", "prod"]`)
    pub flags: BTreeMap<String, FlagValue>,
}

/// One flag's value in a [`ResourceRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FlagValue {
    Switch(bool),
    Value(String),
    Repeated(Vec<String>),
}

/// Every operation with its request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "input", rename_all = "kebab-case")]
pub enum Request {
    Init(InitRequest),
    Status(StatusRequest),
    Doctor(DoctorRequest),
    Config(ConfigRequest),
    Help(HelpRequest),
    Sync(SyncRequest),
    Drift(DriftRequest),
    Watch(WatchRequest),
    Resolve(ResolveRequest),
    Plan(PlanRequest),
    Diff(DiffRequest),
    Apply(ApplyRequest),
    Test(TestRequest),
    History(HistoryRequest),
    Rollback(RollbackRequest),
    Policy(PolicyRequest),
    Rightsize(RightsizeRequest),
    Cost(CostRequest),
    Overview(OverviewRequest),
    Metrics(MetricsRequest),
    Definition(DefinitionRequest),
    Ci(CiRequest),
    Audit(AuditRequest),
    Token(TokenRequest),
    State(StateRequest),
    Unlock(UnlockRequest),
    Role(RoleRequest),
    Env(EnvRequest),
    Promote(PromoteRequest),
    Export(ExportRequest),
    Ask(AskRequest),
    Explain(ExplainRequest),
    Backup(BackupRequest),
    Backups(BackupsRequest),
    Restore(RestoreRequest),
    ForgetBackup(ForgetBackupRequest),
    /// A resource verb with its request.
    Resource {
        verb: String,
        #[serde(flatten)]
        request: ResourceRequest,
    },
}

impl Request {
    /// The registry name of the operation.
    pub fn name(&self) -> String {
        match self {
            Request::Init(_) => "init".into(),
            Request::Status(_) => "status".into(),
            Request::Doctor(_) => "doctor".into(),
            Request::Config(_) => "config".into(),
            Request::Help(_) => "help".into(),
            Request::Sync(_) => "sync".into(),
            Request::Drift(_) => "drift".into(),
            Request::Watch(_) => "watch".into(),
            Request::Resolve(_) => "resolve".into(),
            Request::Plan(_) => "plan".into(),
            Request::Diff(_) => "diff".into(),
            Request::Apply(_) => "apply".into(),
            Request::Test(_) => "test".into(),
            Request::History(_) => "history".into(),
            Request::Rollback(_) => "rollback".into(),
            Request::Policy(_) => "policy".into(),
            Request::Rightsize(_) => "rightsize".into(),
            Request::Cost(_) => "cost".into(),
            Request::Overview(_) => "overview".into(),
            Request::Metrics(_) => "metrics".into(),
            Request::Definition(_) => "definition".into(),
            Request::Ci(_) => "ci".into(),
            Request::Audit(_) => "audit".into(),
            Request::Token(_) => "token".into(),
            Request::State(_) => "state".into(),
            Request::Unlock(_) => "unlock".into(),
            Request::Role(_) => "role".into(),
            Request::Env(_) => "env".into(),
            Request::Promote(_) => "promote".into(),
            Request::Export(_) => "export".into(),
            Request::Ask(_) => "ask".into(),
            Request::Explain(_) => "explain".into(),
            Request::Backup(_) => "backup".into(),
            Request::Backups(_) => "backups".into(),
            Request::Restore(_) => "restore".into(),
            Request::ForgetBackup(_) => "forget-backup".into(),
            Request::Resource { verb, .. } => super::registry::verb_operation(verb),
        }
    }

    /// Builds the request of operation `name` from its JSON input (`{}` for none), as a front
    /// end that speaks JSON would.
    pub fn from_json(name: &str, input: serde_json::Value) -> Result<Self, CommandError> {
        let bad = |e: serde_json::Error| {
            CommandError::user(format!(
                "the input of `{name}` does not fit its schema: {e}"
            ))
            .hint("`proxmox-mpc schema` prints every operation's input schema")
        };
        let input = if input.is_null() {
            serde_json::json!({})
        } else {
            input
        };
        if let Some(verb) = super::registry::operation_verb(name) {
            let request: ResourceRequest = serde_json::from_value(input).map_err(bad)?;
            return Ok(Request::Resource {
                verb: verb.as_str().to_string(),
                request,
            });
        }
        let tagged = serde_json::json!({ "operation": name, "input": input });
        serde_json::from_value(tagged).map_err(bad)
    }

    /// Reads a registry command's clap matches (console line or one-shot command line).
    pub fn from_matches(spec: &CommandSpec, m: &ArgMatches) -> Result<Self, CommandError> {
        let text = |k: &str| m.try_get_one::<String>(k).ok().flatten().cloned();
        let flag = |k: &str| matches!(m.try_get_one::<bool>(k), Ok(Some(true)));
        // On a console line `--json` / `-o json` asks for data; on the command line they are
        // global flags and already in the Ui.
        let json = flag("json") || text("output").is_some_and(|f| f != "table");
        Ok(match spec.name {
            "init" => Request::Init(InitRequest {
                endpoint: text("endpoint"),
                token_id: text("token-id"),
                secret_env: text("secret-env"),
                secret_file: text("secret-file"),
                fingerprint: text("fingerprint"),
                ca_file: text("ca-file"),
                insecure: flag("insecure"),
                no_connect: flag("no-connect"),
                yes: flag("yes"),
                login: text("login"),
                secret_stdin: flag("secret-stdin"),
                from_bundle: text("from-bundle"),
            }),
            "status" => Request::Status(StatusRequest { live: flag("live") }),
            "doctor" => Request::Doctor(DoctorRequest {
                privileges: flag("privileges"),
            }),
            "config" => Request::Config(ConfigRequest {
                action: text("action"),
                key: text("key"),
                value: text("value"),
            }),
            "help" => Request::Help(HelpRequest {
                command: text("command"),
            }),
            "sync" => Request::Sync(SyncRequest {
                adopt: flag("adopt"),
                prune: flag("prune"),
                agent_ips: flag("agent-ips"),
            }),
            "drift" => Request::Drift(DriftRequest {
                detailed_exitcode: flag("detailed-exitcode"),
            }),
            "watch" => watch_request(m)?,
            "resolve" => resolve_request(m)?,
            "plan" => Request::Plan(PlanRequest {
                offline: flag("offline"),
                detailed_exitcode: flag("detailed-exitcode"),
                json,
                out: text("out").map(PathBuf::from),
            }),
            "diff" => Request::Diff(DiffRequest {
                offline: flag("offline"),
                json,
            }),
            "apply" => Request::Apply(ApplyRequest {
                yes: flag("yes"),
                targets: comma_list(text("target")),
                parallelism: text("parallelism").and_then(|p| p.parse().ok()),
                override_policy: comma_list(text("override-policy")),
                plan: text("plan").map(PathBuf::from),
                plan_id: text("plan-id")
                    .map(|t| {
                        t.parse::<i64>().map_err(|_| {
                            CommandError::cli(format!("--plan-id takes a plan's number, not `{t}`"))
                                .hint("/plan answers the plan_id (with -o json) to apply")
                        })
                    })
                    .transpose()?,
                plan_hash: text("plan-hash"),
            }),
            "policy" if text("action").is_some_and(|a| a != "check") => {
                return Err(CommandError::cli(format!(
                    "`/policy {}`: the policy command is `/policy check`",
                    text("action").unwrap_or_default()
                ))
                .hint("/help policy explains the rules and the flags"));
            }
            "policy" => Request::Policy(PolicyRequest {
                on: text("on"),
                format: text("format"),
            }),
            "rightsize" => Request::Rightsize(RightsizeRequest {
                window: text("window"),
                apply_to_code: flag("apply-to-code"),
                json,
            }),
            "cost" => Request::Cost(CostRequest { json }),
            "ci" => {
                let list = |k: &str| -> Vec<String> {
                    text(k)
                        .map(|t| {
                            t.split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Request::Ci(CiRequest {
                    action: text("action").unwrap_or_default(),
                    runner: list("runner"),
                    env: list("env"),
                    force: flag("force"),
                    plan: text("file").map(PathBuf::from),
                })
            }
            "history" => {
                let first = text("guest");
                let (guest, show) = match first.as_deref() {
                    Some("show") => (
                        None,
                        Some(text("id").ok_or_else(|| {
                            CommandError::cli("/history show needs the id of an entry")
                                .hint("/history lists the entries with their ids")
                        })?),
                    ),
                    _ => (first, None),
                };
                Request::History(HistoryRequest {
                    guest,
                    since: text("since"),
                    show,
                    json,
                })
            }
            "rollback" => Request::Rollback(RollbackRequest {
                id: text("id"),
                yes: flag("yes"),
                recreate_empty: flag("recreate-empty"),
            }),
            "test" => Request::Test(TestRequest {
                filter: text("filter"),
                tag: text("tag"),
                junit: text("junit").map(PathBuf::from),
                restore_drill: text("restore-drill"),
            }),
            "backup" | "backups" | "restore" | "forget-backup" => {
                backup_request(spec.name, m, json)?
            }
            other if let Some(request) = team_request(other, m, json) => request,
            other if let Some(request) = dashboard_request(other, m) => request,
            other => {
                let where_ = match spec.scope {
                    Scope::Console => "only in the console",
                    _ => "only as a command of its own",
                };
                return Err(CommandError::cli(format!(
                    "`{other}` cannot run as an operation; it is available {where_}"
                )));
            }
        })
    }
}

/// The requests of the dashboard's operations (`overview`, `metrics`, `definition`), from their
/// clap matches; `None` for another command.
fn dashboard_request(name: &str, m: &ArgMatches) -> Option<Request> {
    let text = |k: &str| m.try_get_one::<String>(k).ok().flatten().cloned();
    Some(match name {
        "overview" => Request::Overview(OverviewRequest {
            guest: text("guest"),
        }),
        "metrics" => Request::Metrics(MetricsRequest {
            guest: text("guest").unwrap_or_default(),
            timeframe: text("timeframe"),
        }),
        "definition" => Request::Definition(DefinitionRequest {
            guest: text("guest").unwrap_or_default(),
            ..Default::default()
        }),
        _ => return None,
    })
}

/// The requests of environments, the audit log, natural language and tokens, from their clap
/// matches (the rest of [`Request::from_matches`]); `None` for another command.
fn team_request(name: &str, m: &ArgMatches, json: bool) -> Option<Request> {
    let text = |k: &str| m.try_get_one::<String>(k).ok().flatten().cloned();
    let flag = |k: &str| matches!(m.try_get_one::<bool>(k), Ok(Some(true)));
    Some(match name {
        "env" => Request::Env(EnvRequest {
            action: text("action"),
            name: text("name"),
            endpoint: text("endpoint"),
            token_id: text("token-id"),
            secret_env: text("secret-env"),
            secret_file: text("secret-file"),
            fingerprint: text("fingerprint"),
            ca_file: text("ca-file"),
            insecure: flag("insecure"),
            yes: flag("yes"),
            protected: flag("protected"),
        }),
        "promote" => Request::Promote(PromoteRequest {
            guests: comma_list(text("guests")),
            from: text("from"),
            to: text("to").unwrap_or_default(),
        }),
        "export" => Request::Export(ExportRequest {
            env: text("env"),
            to: text("to").unwrap_or_default(),
            format: text("format"),
        }),
        "audit" => Request::Audit(AuditRequest {
            since: text("since"),
            origin: text("origin"),
            actor: text("actor"),
            verify: flag("verify"),
            export: text("export").map(PathBuf::from),
            json,
        }),
        "ask" => Request::Ask(AskRequest {
            text: m
                .try_get_many::<String>("request")
                .ok()
                .flatten()
                .map(|words| words.cloned().collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            yes: flag("yes"),
        }),
        "explain" => Request::Explain(ExplainRequest { what: text("what") }),
        "token" => Request::Token(TokenRequest {
            action: text("action"),
            name: text("name"),
            role: text("role"),
            env: text("env"),
            expires: text("expires"),
        }),
        "state" => Request::State(StateRequest {
            action: text("action"),
            to: text("to"),
            password: text("password"),
            force: flag("force"),
        }),
        "unlock" => Request::Unlock(UnlockRequest {
            force: flag("force"),
        }),
        "role" => Request::Role(RoleRequest {
            action: text("action"),
            identity: text("identity"),
            role: text("role"),
        }),
        _ => return None,
    })
}

impl ResourceRequest {
    /// The request that checked syntax makes (what the one-shot CLI turns words into).
    pub fn from_syntax(syntax: &lang::Syntax) -> Self {
        let kind = match (syntax.kind, syntax.list) {
            (Some(k), _) => Some(k.as_str().to_string()),
            (None, Some(what)) => lang::LIST_WORDS
                .iter()
                .find(|(_, w)| *w == what)
                .map(|(word, _)| word.to_string()),
            (None, None) => None,
        };
        let mut flags: BTreeMap<String, FlagValue> = BTreeMap::new();
        for f in &syntax.flags {
            let next = match (&f.value, flags.remove(&f.name)) {
                (None, _) => FlagValue::Switch(true),
                (Some(v), Some(FlagValue::Value(old))) => FlagValue::Repeated(vec![old, v.clone()]),
                (Some(v), Some(FlagValue::Repeated(mut all))) => {
                    all.push(v.clone());
                    FlagValue::Repeated(all)
                }
                (Some(v), _) => FlagValue::Value(v.clone()),
            };
            flags.insert(f.name.clone(), next);
        }
        ResourceRequest {
            kind,
            name: syntax.name.clone(),
            args: syntax.rest.clone(),
            flags,
        }
    }

    /// The language's syntax for `verb` with this request, checked as a typed line would be.
    pub fn syntax(&self, verb: Verb) -> Result<lang::Syntax, CommandError> {
        let mut flags = Vec::new();
        for (name, value) in &self.flags {
            match value {
                FlagValue::Switch(true) => flags.push((name.clone(), None)),
                FlagValue::Switch(false) => {}
                FlagValue::Value(v) => flags.push((name.clone(), Some(v.clone()))),
                FlagValue::Repeated(vs) => {
                    flags.extend(vs.iter().map(|v| (name.clone(), Some(v.clone()))));
                }
            }
        }
        let mut positional: Vec<String> = self.name.iter().cloned().collect();
        positional.extend(self.args.iter().cloned());
        Ok(lang::syntax_of(verb, self.kind.clone(), positional, flags)?)
    }
}

/// `--a,b , c` as `[a, b, c]` (empty items dropped).
fn comma_list(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn matched_text(m: &ArgMatches, k: &str) -> Option<String> {
    m.try_get_one::<String>(k).ok().flatten().cloned()
}

/// `watch`'s request from its parsed flags (a count must be a whole number).
fn watch_request(m: &ArgMatches) -> Result<Request, CommandError> {
    let text = |k: &str| matched_text(m, k);
    let flag = |k: &str| matches!(m.try_get_one::<bool>(k), Ok(Some(true)));
    Ok(Request::Watch(WatchRequest {
        every: text("every"),
        count: match text("count") {
            Some(n) => Some(n.trim().parse().map_err(|_| {
                CommandError::cli(format!("`--count {n}` is not a whole number"))
                    .hint("give how many checks to run, e.g. --count 3")
            })?),
            None => None,
        },
        webhook: text("webhook"),
        webhook_secret_env: text("webhook-secret-env"),
        slack: flag("slack"),
    }))
}

/// `resolve`'s request from its parsed words (a side, when given, is server or code).
fn resolve_request(m: &ArgMatches) -> Result<Request, CommandError> {
    let text = |k: &str| matched_text(m, k);
    Ok(Request::Resolve(ResolveRequest {
        guest: text("guest").unwrap_or_default(),
        field: text("field"),
        take: match text("take").as_deref() {
            Some("server") => Some(Take::Server),
            Some("code") => Some(Take::Code),
            Some(other) => {
                return Err(CommandError::cli(format!(
                            "`--take {other}`: say server or code"
                        ))
                        .hint("--take server writes the server's value into the file; --take code keeps the file"));
            }
            // Asked at the console; refused where nobody can answer.
            None => None,
        },
    }))
}

/// The requests of `backup`, `backups`, `restore` and `forget-backup` from their parsed words.
fn backup_request(name: &str, m: &ArgMatches, json: bool) -> Result<Request, CommandError> {
    let text = |k: &str| matched_text(m, k);
    let flag = |k: &str| matches!(m.try_get_one::<bool>(k), Ok(Some(true)));
    let needed = |k: &str, example: &str| {
        text(k).ok_or_else(|| {
            CommandError::cli(format!("`{name}` needs {k}")).hint(format!("e.g. {example}"))
        })
    };
    Ok(match name {
        "backup" => Request::Backup(BackupRequest {
            kind: needed("kind", "backup vm web-01 --storage nas")?,
            name: needed("name", "backup vm web-01 --storage nas")?,
            storage: text("storage"),
            mode: text("mode"),
            compress: text("compress"),
            notes: text("notes"),
            protected: flag("protected"),
            yes: flag("yes"),
        }),
        "backups" => Request::Backups(BackupsRequest {
            kind: text("kind"),
            name: text("name"),
            storage: text("storage"),
            json,
        }),
        "restore" => Request::Restore(RestoreRequest {
            kind: needed(
                "kind",
                "restore vm web-01 --from VOLID --as web-01-restored",
            )?,
            name: needed(
                "name",
                "restore vm web-01 --from VOLID --as web-01-restored",
            )?,
            from: text("from"),
            as_name: text("as"),
            vmid: match text("vmid") {
                Some(v) => Some(v.trim().parse().map_err(|_| {
                    CommandError::cli(format!("`--vmid {v}` is not a vmid"))
                        .hint("a vmid is a whole number from 100 up, e.g. --vmid 150")
                })?),
                None => None,
            },
            node: text("node"),
            storage: text("storage"),
            yes: flag("yes"),
        }),
        _ => Request::ForgetBackup(ForgetBackupRequest {
            volid: needed(
                "volid",
                "forget-backup nas:backup/vzdump-qemu-100-2026_01_01-02_00_00.vma.zst",
            )?,
            yes: flag("yes"),
        }),
    })
}
