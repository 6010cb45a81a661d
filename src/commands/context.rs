//! `Ctx`: what every command runs with — the Ui, the current folder, the workspace (found from
//! any subfolder), and the configuration and state database, each opened only when a command
//! needs it so that starting the console stays fast; and the API client built from an
//! environment's token. The one place environment variables are read.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::commands::connect;
use crate::error::CommandError;
use crate::lang::Names;
use crate::pve::{Client, Secret};
use crate::state::StateDb;
use crate::state::written::Written;
use crate::ui::Ui;
use crate::workspace::Workspace;
use crate::workspace::config::{Config, Environment, SecretRef};

/// An API token with its secret; Debug and Display never show the secret (nor does the
/// [`Secret`] itself).
#[derive(Clone)]
pub struct Token {
    pub id: String,
    pub secret: Secret,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}=***)", self.id)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=***", self.id)
    }
}

/// Splits bpg's `user@realm!name=secret` into id and secret.
pub fn split_full_token(value: &str) -> Option<(&str, &str)> {
    let (id, secret) = value.split_once('=')?;
    (id.contains('@') && id.contains('!') && !secret.is_empty()).then_some((id, secret))
}

/// The context a command runs in.
pub struct Ctx {
    pub ui: Ui,
    pub cwd: PathBuf,
    /// True when a person can answer questions (the console on a terminal).
    pub interactive: bool,
    /// Answer yes to confirmations for this session (`--yes`, or "yes for this session").
    pub assume_yes: bool,
    /// The files the running operation wrote or removed, with their hashes, until
    /// [`crate::commands::execute`] records them in the workspace's `state.db`.
    pub written: Written,
    /// Where the operations are asked from, for the history: `console`, `cli`, or another
    /// front end's name.
    pub origin: String,
    /// The front end's principal, for the audit log: an API token's name, an MCP client's
    /// name; `None` is the user running the process (`$USER`).
    pub actor: Option<String>,
    /// What the running operation says about its change of the files, for the git commit
    /// [`crate::commands::commit`] makes of it.
    pub change: ChangeNote,
    /// The names the last resource command loaded (guests, nodes, storages, bridges, templates,
    /// pools), until the front end takes them for completion ([`Ctx::take_names`]).
    names: Option<Names>,
    /// `--env NAME`: the environment this process's commands run against, over
    /// PROXMOX_MPC_ENV and config.yml's `active` (see [`Ctx::select_env`]).
    env_choice: Option<String>,
    env_switch_pending: bool,
    env_overlay: HashMap<String, String>,
    workspace: Option<Workspace>,
    config: Option<Config>,
    state: Option<StateDb>,
    /// Secrets read during this process, so the console can keep them out of history.
    seen_secrets: Vec<String>,
    /// Where progress events go besides the Ui (a front end that forwards them: REST, MCP,
    /// or a test).
    events: Option<EventSink>,
    /// The team's workspace lock the running operation holds (shared state), released by
    /// [`crate::commands::execute`] when the operation ends.
    shared_lock: Option<crate::state::locks::SharedLock>,
}

/// What an operation tells the commit that records its change of the workspace's files
/// ([`crate::commands::commit`]); every part is optional, the request itself names the change
/// otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeNote {
    /// The commit's subject, what changed and why (`sync: 2 new, 1 drift adopted (web-01
    /// memory)`).
    pub subject: Option<String>,
    /// Lines of the message body.
    pub body: Vec<String>,
    /// Console trailers ([`crate::workspace::git::trailer`] keys) with their values.
    pub trailers: Vec<(&'static str, String)>,
    /// Files written or removed that are not in [`Ctx::written`] (a sync records its own
    /// notes), relative to the workspace.
    pub paths: Vec<String>,
    /// Commit even when no file changed: the change was to the cluster (an apply).
    pub always: bool,
}

/// A typed progress event of an operation, for front ends that forward progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "operation", content = "event", rename_all = "snake_case")]
pub enum Event {
    Apply(crate::plan::apply::ApplyEvent),
}

/// Receives an operation's progress events.
pub type EventSink = std::sync::Arc<dyn Fn(Event) + Send + Sync>;

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("cwd", &self.cwd)
            .field("workspace", &self.workspace)
            .field("interactive", &self.interactive)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// Returns a context for `cwd`, finding the workspace at or above it. Reads no file.
    pub fn new(ui: Ui, cwd: PathBuf, interactive: bool) -> Self {
        // The environment decides where the files and state.db are (docs/environments.md).
        let choice = std::env::var("PROXMOX_MPC_ENV")
            .ok()
            .filter(|v| !v.is_empty());
        let workspace = Workspace::discover(&cwd).map(|w| w.with_environment(choice.as_deref()));
        Self {
            ui,
            cwd,
            interactive,
            assume_yes: false,
            written: Written::new(),
            // The console's session says `console`; another front end names itself.
            origin: "cli".to_string(),
            actor: None,
            change: ChangeNote::default(),
            names: None,
            env_choice: None,
            env_switch_pending: false,
            env_overlay: HashMap::new(),
            workspace,
            config: None,
            state: None,
            seen_secrets: Vec::new(),
            events: None,
            shared_lock: None,
        }
    }

    /// Holds the team's workspace lock until the running operation ends.
    pub fn hold_lock(&mut self, lock: crate::state::locks::SharedLock) {
        self.shared_lock = Some(lock);
    }

    /// Releases the team's workspace lock, if the operation took it, and waits for that.
    pub async fn release_lock(&mut self) {
        if let Some(lock) = self.shared_lock.take() {
            lock.release().await;
        }
    }

    /// Keeps the names a resource command loaded, for the front end's completion.
    pub fn set_names(&mut self, names: Names) {
        self.names = Some(names);
    }

    /// Takes the names the last resource command loaded, if one ran since the last call.
    pub fn take_names(&mut self) -> Option<Names> {
        self.names.take()
    }

    /// Sends every progress event of the operations run with this context to `sink` too.
    pub fn on_event(&mut self, sink: EventSink) {
        self.events = Some(sink);
    }

    /// Passes a progress event to the sink, if a front end gave one.
    pub fn emit(&self, event: Event) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }

    /// The event sink, for work that runs on other tasks.
    pub fn event_sink(&self) -> Option<EventSink> {
        self.events.clone()
    }

    /// Makes `name` visible to this process's commands only (the demo's token secret), without
    /// touching the real process environment.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env_overlay.insert(name.to_string(), value.to_string());
        if name == "PROXMOX_MPC_ENV" {
            // A front end chose the environment: its files and state.db from now on.
            self.reload_env();
        }
    }

    /// Returns an environment variable, the overlay first.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env_overlay
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }

    /// Returns the workspace, if the folder is inside one.
    pub fn workspace_opt(&self) -> Option<&Workspace> {
        self.workspace.as_ref()
    }

    /// Returns the workspace or says how to make one. Seen from the environment the command
    /// runs against: an environment without its folder (`environments/NAME/`) is refused here,
    /// before any file is read or written.
    pub fn workspace(&self) -> Result<&Workspace, CommandError> {
        let workspace = self.workspace.as_ref().ok_or_else(|| {
            CommandError::user(format!(
                "{} is not inside a proxmox-mpc workspace",
                self.cwd.display()
            ))
            .hint("run /init here to create one (or `proxmox-mpc demo` to try a simulated cluster)")
        })?;
        if workspace.is_env_folder() && !workspace.root().is_dir() {
            let name = workspace.env_name().unwrap_or_default();
            let known = Config::load(&workspace.config_path())
                .map(|c| {
                    c.environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            return Err(CommandError::user(format!(
                "the environment `{name}` is not in this workspace (there is no {})",
                crate::workspace::env_dir(name).display()
            ))
            .hint(format!(
                "the environments are: {known} (/env list); /env add {name} --endpoint URL ... adds it"
            )));
        }
        Ok(workspace)
    }

    /// Switches to a newly created workspace.
    pub fn set_workspace(&mut self, workspace: Workspace) {
        let choice = self.env_choice();
        self.workspace = Some(workspace.with_environment(choice.as_deref()));
        self.config = None;
        self.state = None;
    }

    /// Runs this process's commands against environment `name` (`--env NAME`) instead of
    /// PROXMOX_MPC_ENV or config.yml's `active`; `None` goes back to those. The configuration
    /// and state.db are read again for it.
    pub fn select_env(&mut self, name: Option<&str>) {
        self.env_choice = name.map(str::to_string);
        self.reload_env();
    }

    /// Reads the environment choice again (after `/env use` changed `active`): the files,
    /// configuration and state.db of the environment now chosen.
    pub fn reload_env(&mut self) {
        let choice = self.env_choice();
        self.workspace = self
            .workspace
            .take()
            .map(|w| w.with_environment(choice.as_deref()));
        self.config = None;
        self.state = None;
    }

    /// Asks for the environment to be read again once the running operation is recorded
    /// (`/env use`: its own commit is made in the environment it ran in).
    pub fn switch_env_after(&mut self) {
        self.env_switch_pending = true;
    }

    /// Reads the environment again if [`Ctx::switch_env_after`] asked for it.
    pub fn finish_env_switch(&mut self) {
        if std::mem::take(&mut self.env_switch_pending) {
            self.reload_env();
        }
    }

    /// The environment `--env` chose for this process, if any.
    pub fn selected_env(&self) -> Option<String> {
        self.env_choice.clone()
    }

    /// `--env`, else PROXMOX_MPC_ENV.
    fn env_choice(&self) -> Option<String> {
        self.env_choice
            .clone()
            .or_else(|| self.env_var("PROXMOX_MPC_ENV"))
    }

    /// Returns the loaded configuration (read on first use).
    pub fn config(&mut self) -> Result<&Config, CommandError> {
        if self.config.is_none() {
            let path = self.workspace()?.config_path();
            let mut config = Config::load(&path)?;
            // A pipeline job works on one environment without editing config.yml; `--env`
            // runs one command against another.
            let chosen = match self.env_choice.clone() {
                Some(name) => Some(("--env", name)),
                None => self
                    .env_var("PROXMOX_MPC_ENV")
                    .map(|n| ("PROXMOX_MPC_ENV", n)),
            };
            if let Some((source, name)) = chosen {
                if !config.environments.contains_key(&name) {
                    let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
                    return Err(CommandError::config(format!(
                        "{source} names the environment `{name}`, which config.yml does not have"
                    ))
                    .hint(format!(
                        "use one of: {} (/env list shows them)",
                        known.join(", ")
                    )));
                }
                config.active = name;
            }
            self.config = Some(config);
        }
        Ok(self.config.as_ref().expect("loaded above"))
    }

    /// Replaces the cached configuration after it was written.
    pub fn set_config(&mut self, config: Config) {
        self.config = Some(config);
    }

    /// Returns the active environment's name, if the configuration loads.
    pub fn active_env_name(&mut self) -> Option<String> {
        self.config().ok().map(|c| c.active.clone())
    }

    /// Returns the state database, opened on first use. A workspace cloned from git has its
    /// config.yml but no state.db (it is ignored): an empty one is created then.
    pub async fn state(&mut self) -> Result<&StateDb, CommandError> {
        if self.state.is_none() {
            let path = self.workspace()?.state_db_path();
            let existed = path.is_file();
            let mut db = match self.shared_state()? {
                Some(shared) => StateDb::open_shared(&path, &shared).await?,
                None => StateDb::open(&path).await?,
            };
            if !existed {
                crate::workspace::restrict_to_owner(&path)?;
            }
            db.set_principal(self.principal());
            self.state = Some(db);
        }
        Ok(self.state.as_ref().expect("opened above"))
    }

    /// Where the team's shared state is, from config.yml's `state:` section with its password
    /// read from its reference; `None` for a local workspace (or a config.yml that does not
    /// load: then nothing can point anywhere, and the command's own config read reports it).
    /// An environment's folder keeps its tables in a PostgreSQL schema of its own.
    pub fn shared_state(&mut self) -> Result<Option<crate::state::SharedState>, CommandError> {
        let Some(settings) = self.config().ok().and_then(|c| c.state.clone()) else {
            return Ok(None);
        };
        self.shared_state_for(&settings).map(Some)
    }

    /// The shared database `settings` describe, its password read (and kept out of every
    /// output) and this environment's schema: for the workspace's own settings and for the
    /// target of `/state migrate`.
    pub fn shared_state_for(
        &mut self,
        settings: &crate::workspace::config::StateSettings,
    ) -> Result<crate::state::SharedState, CommandError> {
        let password = match &settings.password {
            Some(text) => {
                let reference = SecretRef::parse(text).map_err(CommandError::config)?;
                let secret = self.read_secret(&reference, "the state database's password")?;
                self.remember_secret(secret.expose());
                Some(secret)
            }
            None => None,
        };
        Ok(crate::state::SharedState {
            url: settings.url.clone(),
            password,
            sslmode: settings.sslmode.clone(),
            ca_file: settings
                .ca_file
                .as_ref()
                .map(|p| self.resolve_path(Path::new(p))),
            schema: self.env_schema(),
        })
    }

    /// The PostgreSQL schema of this environment's shared tables: `pmpc_env_NAME` for an
    /// environment's folder, `None` (the default, `public`) for the workspace itself.
    pub fn env_schema(&self) -> Option<String> {
        self.workspace
            .as_ref()
            .filter(|w| w.is_env_folder())
            .and_then(|w| w.env_name())
            .map(|name| format!("pmpc_env_{name}"))
    }

    /// Reads a secret (`what`: whose, for messages) from where `reference` points.
    pub fn read_secret(&self, reference: &SecretRef, what: &str) -> Result<Secret, CommandError> {
        let value = match reference {
            SecretRef::Env(var) => self.env_var(var).ok_or_else(|| {
                CommandError::user(format!(
                    "{what} is read from the environment variable {var}, which is not set"
                ))
                .hint(format!("export {var}=... and try again"))
            })?,
            SecretRef::File(path) => {
                let path = self.resolve_path(path);
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        CommandError::user(format!(
                            "cannot read {what} from {}: {e}",
                            path.display()
                        ))
                        .hint("put it in that file (mode 0600), or point the reference elsewhere")
                    })?
                    .trim()
                    .to_string()
            }
            SecretRef::Vault { mount, path, field } => {
                return self.vault_secret(mount, path, field);
            }
        };
        if value.is_empty() {
            return Err(
                CommandError::user(format!("{what} in {reference} is empty"))
                    .hint("put the value there and try again"),
            );
        }
        Ok(Secret::new(value))
    }

    /// Who the audit rows of this context's operations name: its origin and actor.
    pub fn principal(&self) -> crate::state::Principal {
        crate::state::Principal {
            origin: self.origin.clone(),
            actor: self
                .actor
                .clone()
                .unwrap_or_else(|| crate::state::Principal::default().actor),
        }
    }

    /// Returns the state database only if it is already open.
    pub fn state_if_open(&self) -> Option<&StateDb> {
        self.state.as_ref()
    }

    /// Uses an already opened database.
    pub fn set_state(&mut self, db: StateDb) {
        self.state = Some(db);
    }

    /// Reads the token of `env` from where its secret reference points.
    pub fn resolve_token(&mut self, env: &Environment) -> Result<Token, CommandError> {
        let reference = env.secret_ref().map_err(CommandError::config)?;
        // The token's own hints name its id and the config key, where a secret in general
        // cannot.
        let raw = self
            .read_secret(&reference, "the token secret")
            .map_err(|mut e| {
                let id = &env.token_id;
                match &reference {
                    SecretRef::Env(var) => {
                        e.hints = vec![format!(
                            "export {var}=<secret of {id}> (or {var}={id}=<secret>) and try again"
                        )];
                    }
                    SecretRef::File(_) => {
                        e.hints = vec!["put the secret in that file (mode 0600) or change `secret` with /config set secret env:VAR".into()];
                    }
                    SecretRef::Vault { .. } => {}
                }
                e
            })?
            .expose()
            .to_string();
        let secret = match split_full_token(&raw) {
            Some((id, secret)) => {
                if id != env.token_id {
                    return Err(CommandError::config(format!(
                        "the token in {reference} is for `{id}`, but config.yml expects `{}`",
                        env.token_id
                    ))
                    .hint("use the token that belongs to this workspace, or change it with /config set token_id ID"));
                }
                secret.to_string()
            }
            None => raw,
        };
        if secret.is_empty() {
            return Err(
                CommandError::user(format!("the token secret in {reference} is empty"))
                    .hint("put the secret there and try again"),
            );
        }
        if !self.seen_secrets.contains(&secret) {
            self.seen_secrets.push(secret.clone());
        }
        Ok(Token {
            id: env.token_id.clone(),
            secret: Secret::new(secret),
        })
    }

    /// Reads `field` of the Vault/OpenBao KV v2 secret `mount/path`, with `VAULT_ADDR`,
    /// `VAULT_TOKEN` (or AppRole's `VAULT_ROLE_ID` and `VAULT_SECRET_ID`), `VAULT_NAMESPACE`
    /// and `VAULT_CACERT` (relative to the workspace). Held in memory only.
    pub fn vault_secret(
        &self,
        mount: &str,
        path: &str,
        field: &str,
    ) -> Result<Secret, CommandError> {
        use crate::workspace::vault::{self, VaultAuth, VaultSettings};
        let name = format!("vault:{mount}/{path}#{field}");
        let addr = self.env_var("VAULT_ADDR").ok_or_else(|| {
            CommandError::user(format!(
                "the secret is read from {name}, but VAULT_ADDR is not set"
            ))
            .hint("export VAULT_ADDR=https://vault.example:8200 (and VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID)")
        })?;
        let auth = match (
            self.env_var("VAULT_TOKEN"),
            self.env_var("VAULT_ROLE_ID"),
            self.env_var("VAULT_SECRET_ID"),
        ) {
            (Some(token), _, _) => VaultAuth::Token(Secret::new(token)),
            (None, Some(role_id), Some(secret_id)) => VaultAuth::AppRole {
                role_id,
                secret_id: Secret::new(secret_id),
            },
            _ => {
                return Err(CommandError::user(format!(
                    "the secret is read from {name}, but no Vault credentials are set"
                ))
                .hint("export VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole"));
            }
        };
        let settings = VaultSettings {
            addr,
            auth,
            namespace: self.env_var("VAULT_NAMESPACE"),
            cacert: self
                .env_var("VAULT_CACERT")
                .map(|p| self.resolve_path(Path::new(&p))),
        };
        vault::read_field(&settings, mount, path, field)
            .map_err(|e| CommandError::user(e.message).hint(e.hint))
    }

    /// Builds an API client for the active environment (see [`Ctx::client_for`]).
    pub fn client(&mut self) -> Result<Client, CommandError> {
        let env = self.config()?.active_env().clone();
        self.client_for(&env)
    }

    /// Builds an API client for `env` (during `/init` one not saved yet) with the token its
    /// secret reference points at, on the interactive budget of [`connect::client`]. The one
    /// way commands get a client, so every one reads the secret and reports a missing one alike.
    pub fn client_for(&mut self, env: &Environment) -> Result<Client, CommandError> {
        let token = self.resolve_token(env)?;
        connect::client(env, &token)
    }

    /// Asks before a destructive step: yes, no, or yes for the rest of this session. Without a
    /// person at the terminal it refuses unless `--yes` (or an earlier "always") allows it.
    pub fn confirm(&mut self, question: &str) -> Result<(), CommandError> {
        if self.assume_yes {
            return Ok(());
        }
        if !self.interactive {
            return Err(CommandError::user(format!("not confirmed: {question}"))
                .hint("pass --yes to confirm in scripts; nothing was changed"));
        }
        match self
            .ui
            .ask(&format!("{question} (yes/no/always)"), Some("no"))
            .map(|a| a.to_ascii_lowercase())
            .as_deref()
        {
            Some("y" | "yes") => Ok(()),
            Some("a" | "always") => {
                self.assume_yes = true;
                Ok(())
            }
            Some(_) => Err(CommandError::user("not confirmed").hint("nothing was changed")),
            None => Err(CommandError::interrupted().hint("nothing was changed")),
        }
    }

    /// Records a secret that passed through this process (so history can refuse it).
    pub fn remember_secret(&mut self, secret: &str) {
        if !secret.is_empty() && !self.seen_secrets.iter().any(|s| s == secret) {
            self.seen_secrets.push(secret.to_string());
        }
    }

    /// Returns true when `text` contains a secret this process has seen.
    pub fn contains_secret(&self, text: &str) -> bool {
        self.seen_secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every secret this process has seen replaced by `***` (a commit message or a
    /// history line never carries one).
    pub fn redact(&self, text: &str) -> String {
        self.seen_secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// Resolves a path relative to the workspace root (or the current folder).
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            // config.yml's paths (a secret file, a CA file) are relative to the workspace
            // root whatever the environment.
            self.workspace
                .as_ref()
                .map_or(self.cwd.as_path(), |w| w.top())
                .join(path)
        }
    }
}
