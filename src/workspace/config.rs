//! `.proxmox/config.yml`: the workspace configuration. Owns its schema, its validation (errors
//! name the file, the line and what was expected), its documented rendering and `/config set`.
//! The token secret is never stored here, only a reference to where it comes from
//! (`env:VAR`, `file:PATH` or `vault:MOUNT/PATH#FIELD`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The schema version this build writes and reads.
pub const CONFIG_VERSION: u32 = 1;
/// The environment name used until several environments exist.
pub const DEFAULT_ENV: &str = "default";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    /// The environment the console talks to.
    pub active: String,
    pub environments: BTreeMap<String, Environment>,
    /// How the console records its changes in the workspace's git repository.
    #[serde(default, skip_serializing_if = "GitSettings::is_default")]
    pub git: GitSettings,
    /// `cost:` prices for /cost and /rightsize (`policy::rightsize::CostModel`); without it the
    /// documented defaults apply and the report says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::policy::rightsize::CostModel>,
    /// `ai:` the OpenAI-compatible endpoint natural-language commands (`? TEXT`, `ask`,
    /// `/explain`) use; without it they use the built-in offline parser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiSettings>,
    /// `state:` the team's shared state in PostgreSQL (docs/team.md); without it the state is
    /// the local `.proxmox/state.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSettings>,
}

/// The `state:` section: `url: postgres://USER@HOST:PORT/DB` (never with a password), the
/// password's reference (`env:VAR`, `file:PATH`, `vault:MOUNT/PATH#FIELD`), and TLS:
/// `sslmode` (libpq's words) and `ca_file` (a PEM file, relative to the workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// libpq's `sslmode` values sqlx understands.
pub const SSL_MODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

impl StateSettings {
    /// Checks the URL (PostgreSQL, a user, a host, a database, no password), the password's
    /// reference and the TLS mode.
    pub fn validate(&self) -> Result<(), (Option<String>, String)> {
        validate_state_url(&self.url).map_err(|m| (Some("url".into()), m))?;
        if let Some(password) = &self.password {
            SecretRef::parse(password)
                .map_err(|m| (Some("password".into()), format!("state.password: {m}")))?;
        }
        if let Some(mode) = &self.sslmode
            && !SSL_MODES.contains(&mode.as_str())
        {
            return Err((
                Some("sslmode".into()),
                format!(
                    "state.sslmode `{mode}` is not one of {}",
                    SSL_MODES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a shared state URL: `postgres://USER@HOST[:PORT]/DB`, with no password in it.
pub fn validate_state_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "state.url `{url}` is not a PostgreSQL address; expected postgres://USER@HOST:PORT/DB"
        ));
    }
    if parsed.password().is_some() {
        return Err(
            "state.url carries a password; config.yml may be committed, so the password never goes in it: \
             set the URL without it (postgres://USER@HOST:PORT/DB) and /config set state.password env:VARIABLE"
                .to_string(),
        );
    }
    if parsed.username().is_empty() || parsed.host_str().unwrap_or("").is_empty() {
        return Err(format!(
            "state.url `{url}` needs a user and a host: postgres://USER@HOST:PORT/DB"
        ));
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err(format!(
            "state.url `{url}` names no database: postgres://USER@HOST:PORT/DB"
        ));
    }
    Ok(())
}

/// The `ai:` section: an OpenAI-compatible chat-completions endpoint (`http://127.0.0.1:11434/v1`
/// for Ollama), the model name, and where its key comes from (`env:VAR` or `file:PATH`, as the
/// token secret; none for a local endpoint). The key itself never goes in config.yml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The `git:` section: every change the console makes to the files becomes a commit unless
/// `auto_commit` is false; `author` is the identity used when git has none configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSettings {
    #[serde(default = "default_true")]
    pub auto_commit: bool,
    /// `Name <email>`; the built-in `proxmox-mpc <proxmox-mpc@localhost>` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

fn default_true() -> bool {
    true
}

impl Default for GitSettings {
    fn default() -> Self {
        Self {
            auto_commit: true,
            author: None,
        }
    }
}

impl GitSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One cluster the workspace talks to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// `https://host:8006`
    pub endpoint: String,
    /// `user@realm!tokenname`
    pub token_id: String,
    /// Where the secret comes from: `env:VAR`, `file:PATH` or `vault:MOUNT/PATH#FIELD`.
    pub secret: String,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub defaults: Defaults,
    /// A production environment: marked for the roles of the teams issue and shown by
    /// `/env list`; set with `/env add NAME ... --protected`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub protected: bool,
    /// How `/promote` renames nodes, storages and bridges when a guest comes *to* this
    /// environment: `map: {node: {pve1: node1}, storage: {local-lvm: data}, bridge: {}}`.
    #[serde(default, skip_serializing_if = "NameMap::is_empty")]
    pub map: NameMap,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Per-environment renames of the names that differ between clusters (source name -> this
/// environment's name). A name with no entry must exist under the same name here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameMap {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bridge: BTreeMap<String, String>,
}

impl NameMap {
    pub fn is_empty(&self) -> bool {
        self.node.is_empty() && self.storage.is_empty() && self.bridge.is_empty()
    }
}

/// How the server's certificate is trusted. With none set, the system roots are used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// SHA-256 fingerprint pinned on first use, `AB:CD:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A PEM CA file that signs the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Skip verification entirely (loud warning on every connection).
    #[serde(default)]
    pub insecure: bool,
}

/// Defaults for commands that create things.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_parallelism() -> u32 {
    4
}
fn default_timeout() -> u64 {
    30
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            node: None,
            storage: None,
            bridge: None,
            parallelism: default_parallelism(),
            timeout_secs: default_timeout(),
        }
    }
}

/// Where the token secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    /// A field of a Vault/OpenBao KV v2 secret: `vault:MOUNT/PATH#FIELD`
    /// ([`crate::workspace::vault`]).
    Vault {
        mount: String,
        path: String,
        field: String,
    },
}

impl SecretRef {
    /// Parses `env:VAR`, `file:PATH` or `vault:MOUNT/PATH#FIELD`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("vault:") {
            return crate::workspace::vault::parse_reference(rest)
                .map(|(mount, path, field)| Self::Vault { mount, path, field })
                .map_err(|why| format!("`{text}` is not a vault reference: {why}"));
        }
        if let Some(var) = text.strip_prefix("env:") {
            let ok = !var.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if ok {
                return Ok(Self::Env(var.to_string()));
            }
            return Err(format!("`{text}` names no valid environment variable"));
        }
        if let Some(path) = text.strip_prefix("file:")
            && !path.is_empty()
        {
            return Ok(Self::File(PathBuf::from(path)));
        }
        Err(format!(
            "`{}` is not a secret reference; expected `env:VARIABLE`, `file:PATH` or `vault:MOUNT/PATH#FIELD` (the secret itself never goes in config.yml)",
            mask_if_secret_like(text)
        ))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "env:{var}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Vault { mount, path, field } => write!(f, "vault:{mount}/{path}#{field}"),
        }
    }
}

/// Hides a value that may be a secret pasted in the wrong place.
fn mask_if_secret_like(text: &str) -> String {
    if text.len() > 12 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(4).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text.to_string()
    }
}

/// A configuration that cannot be used, located as precisely as possible.
#[derive(Debug, Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl Config {
    /// Returns a configuration with one `default` environment.
    pub fn new(env: Environment) -> Self {
        let mut environments = BTreeMap::new();
        environments.insert(DEFAULT_ENV.to_string(), env);
        Self {
            version: CONFIG_VERSION,
            active: DEFAULT_ENV.to_string(),
            environments,
            git: GitSettings::default(),
            cost: None,
            ai: None,
            state: None,
        }
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = yaml_serde::from_str(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            message: describe_yaml_error(&e.to_string()),
        })?;
        config.validate().map_err(|(key, message)| ConfigError {
            path: path.to_path_buf(),
            line: key.and_then(|k| line_of_key(text, &k)),
            message,
        })?;
        Ok(config)
    }

    /// Returns the active environment.
    pub fn active_env(&self) -> &Environment {
        // validate() guarantees the active environment exists.
        &self.environments[&self.active]
    }

    fn active_env_mut(&mut self) -> &mut Environment {
        self.environments
            .get_mut(&self.active)
            .expect("validated: active environment exists")
    }

    /// Checks every value; on failure returns the offending key (for the line) and a message.
    pub fn validate(&self) -> Result<(), (Option<String>, String)> {
        if self.version > CONFIG_VERSION {
            return Err((
                Some("version".into()),
                format!(
                    "version {} is newer than this proxmox-mpc understands ({CONFIG_VERSION}); upgrade proxmox-mpc",
                    self.version
                ),
            ));
        }
        if self.version == 0 {
            return Err((Some("version".into()), "version must be 1".into()));
        }
        if !self.environments.contains_key(&self.active) {
            return Err((
                Some("active".into()),
                format!(
                    "active environment `{}` is not defined under `environments` (defined: {})",
                    self.active,
                    self.environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (name, env) in &self.environments {
            // The name is a folder (environments/NAME/): never a path.
            crate::workspace::validate_env_name(name).map_err(|m| (Some(name.clone()), m))?;
            env.validate()?;
        }
        if let Some(ai) = &self.ai {
            // The key is read from where this points, like the token secret; a pasted key is
            // refused so it never sits in a file that may be committed.
            if let Some(key) = &ai.key {
                SecretRef::parse(key).map_err(|m| (Some("key".into()), format!("ai.key: {m}")))?;
            }
            if !(ai.endpoint.starts_with("http://") || ai.endpoint.starts_with("https://")) {
                return Err((
                    Some("endpoint".into()),
                    format!("ai.endpoint `{}` is not an http(s) address", ai.endpoint),
                ));
            }
        }
        if let Some(state) = &self.state {
            state.validate()?;
        }
        if let Some(author) = &self.git.author
            && crate::workspace::git::Identity::parse(author).is_none()
        {
            return Err((
                Some("author".into()),
                format!("git author `{author}` is not of the form `Name <email>`"),
            ));
        }
        Ok(())
    }

    /// Sets `key` (`endpoint`, `tls.fingerprint`, `defaults.node`, ...) on the active
    /// environment, validating the result before anything is kept.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        if key == "active" {
            next.active = value.to_string();
        } else if key == "git.auto_commit" {
            next.git.auto_commit = parse_bool(value)?;
        } else if key == "git.author" {
            next.git.author = (!value.is_empty() && value != "none").then(|| value.to_string());
        } else if let Some(part) = key.strip_prefix("state.") {
            set_state(&mut next, part, value)?;
        } else {
            let env = next.active_env_mut();
            let opt = |v: &str| (!v.is_empty() && v != "none").then(|| v.to_string());
            match key {
                "endpoint" => env.endpoint = value.to_string(),
                "token_id" => env.token_id = value.to_string(),
                "secret" => env.secret = value.to_string(),
                "tls.fingerprint" => env.tls.fingerprint = opt(value).map(|v| v.to_uppercase()),
                "tls.ca_file" => env.tls.ca_file = opt(value),
                "tls.insecure" => env.tls.insecure = parse_bool(value)?,
                "defaults.node" => env.defaults.node = opt(value),
                "defaults.storage" => env.defaults.storage = opt(value),
                "defaults.bridge" => env.defaults.bridge = opt(value),
                "defaults.parallelism" => {
                    env.defaults.parallelism = value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a whole number"))?
                }
                "defaults.timeout_secs" => {
                    env.defaults.timeout_secs = value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a whole number of seconds"))?
                }
                _ => {
                    return Err(format!(
                        "unknown key `{key}`; known keys: {}",
                        SETTABLE_KEYS.join(", ")
                    ));
                }
            }
        }
        next.validate().map_err(|(_, message)| message)?;
        *self = next;
        Ok(())
    }

    /// Returns the file text: commented, stable, with the secret only as a reference.
    pub fn render(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let mut out = String::new();
        out.push_str(
            "# proxmox-mpc workspace configuration (written by /init; edit by hand or with /config set).\n\
             # The API token secret is never stored here: `secret` says where to read it from,\n\
             # `env:VARIABLE` or `file:PATH`. This file may be committed.\n",
        );
        out.push_str(&format!("version: {}\n", self.version));
        out.push_str("# The environment the console talks to (shown in the prompt).\n");
        out.push_str(&format!("active: {}\n", q(&self.active)));
        out.push_str("environments:\n");
        for (name, env) in &self.environments {
            out.push_str(&format!("  {}:\n", q(name)));
            out.push_str("    # Proxmox VE API address\n");
            out.push_str(&format!("    endpoint: {}\n", q(&env.endpoint)));
            out.push_str("    # API token id, user@realm!name\n");
            out.push_str(&format!("    token_id: {}\n", q(&env.token_id)));
            out.push_str("    # where the token secret comes from: env:VARIABLE or file:PATH\n");
            out.push_str(&format!("    secret: {}\n", q(&env.secret)));
            out.push_str(
                "    # certificate trust: a pinned SHA-256 fingerprint, a CA file, or insecure: true\n",
            );
            out.push_str("    tls:\n");
            if let Some(fp) = &env.tls.fingerprint {
                out.push_str(&format!("      fingerprint: {}\n", q(fp)));
            }
            if let Some(ca) = &env.tls.ca_file {
                out.push_str(&format!("      ca_file: {}\n", q(ca)));
            }
            out.push_str(&format!("      insecure: {}\n", env.tls.insecure));
            out.push_str("    # defaults for commands that create guests\n");
            out.push_str("    defaults:\n");
            for (key, value) in [
                ("node", &env.defaults.node),
                ("storage", &env.defaults.storage),
                ("bridge", &env.defaults.bridge),
            ] {
                if let Some(v) = value {
                    out.push_str(&format!("      {key}: {}\n", q(v)));
                }
            }
            out.push_str(&format!(
                "      parallelism: {}\n      timeout_secs: {}\n",
                env.defaults.parallelism, env.defaults.timeout_secs
            ));
            if env.protected {
                out.push_str("    # a production environment (/env add --protected)\n");
                out.push_str("    protected: true\n");
            }
            if !env.map.is_empty() {
                out.push_str(
                    "    # /promote renames these when a guest comes to this environment (from: to)\n",
                );
                out.push_str("    map:\n");
                for (kind, names) in [
                    ("node", &env.map.node),
                    ("storage", &env.map.storage),
                    ("bridge", &env.map.bridge),
                ] {
                    if names.is_empty() {
                        continue;
                    }
                    out.push_str(&format!("      {kind}:\n"));
                    for (from, to) in names {
                        out.push_str(&format!("        {}: {}\n", q(from), q(to)));
                    }
                }
            }
        }
        if !self.git.is_default() {
            out.push_str(
                "# every change the console makes to the files is a git commit (auto_commit: false turns\n\
                 # that off); author is used when git has no identity configured\n",
            );
            out.push_str(&format!("git:\n  auto_commit: {}\n", self.git.auto_commit));
            if let Some(author) = &self.git.author {
                out.push_str(&format!("  author: {}\n", q(author)));
            }
        }
        if let Some(cost) = &self.cost
            && let Ok(text) = yaml_serde::to_string(&serde_json::json!({ "cost": cost }))
        {
            out.push_str("# monthly prices for /cost and /rightsize\n");
            out.push_str(&text);
        }
        if let Some(state) = &self.state {
            out.push_str(
                "# the team's shared state (PostgreSQL); password is where it is read from\n\
                 # (env:VAR, file:PATH or vault:MOUNT/PATH#FIELD), never the password itself\n",
            );
            out.push_str(&format!("state:\n  url: {}\n", q(&state.url)));
            for (key, value) in [
                ("password", &state.password),
                ("sslmode", &state.sslmode),
                ("ca_file", &state.ca_file),
            ] {
                if let Some(v) = value {
                    out.push_str(&format!("  {key}: {}\n", q(v)));
                }
            }
        }
        if let Some(ai) = &self.ai {
            out.push_str(
                "# natural-language commands (? TEXT, ask, /explain): an OpenAI-compatible endpoint;\n\
                 # key is where its key is read from (env:VAR or file:PATH), never the key itself\n",
            );
            out.push_str(&format!("ai:\n  endpoint: {}\n", q(&ai.endpoint)));
            if let Some(model) = &ai.model {
                out.push_str(&format!("  model: {}\n", q(model)));
            }
            if let Some(key) = &ai.key {
                out.push_str(&format!("  key: {}\n", q(key)));
            }
        }
        out
    }

    /// Returns the effective settings of the active environment as key/value pairs.
    pub fn effective(&self) -> Vec<(String, String)> {
        let env = self.active_env();
        let none = || "(none)".to_string();
        vec![
            ("active".into(), self.active.clone()),
            ("endpoint".into(), env.endpoint.clone()),
            ("token_id".into(), env.token_id.clone()),
            ("secret".into(), format!("{} (value hidden)", env.secret)),
            (
                "tls.fingerprint".into(),
                env.tls.fingerprint.clone().unwrap_or_else(none),
            ),
            (
                "tls.ca_file".into(),
                env.tls.ca_file.clone().unwrap_or_else(none),
            ),
            ("tls.insecure".into(), env.tls.insecure.to_string()),
            (
                "defaults.node".into(),
                env.defaults.node.clone().unwrap_or_else(none),
            ),
            (
                "defaults.storage".into(),
                env.defaults.storage.clone().unwrap_or_else(none),
            ),
            (
                "defaults.bridge".into(),
                env.defaults.bridge.clone().unwrap_or_else(none),
            ),
            (
                "defaults.parallelism".into(),
                env.defaults.parallelism.to_string(),
            ),
            (
                "defaults.timeout_secs".into(),
                env.defaults.timeout_secs.to_string(),
            ),
            (
                "state.url".into(),
                self.state.as_ref().map_or_else(
                    || "(none: the local .proxmox/state.db)".to_string(),
                    |s| s.url.clone(),
                ),
            ),
            ("git.auto_commit".into(), self.git.auto_commit.to_string()),
            (
                "git.author".into(),
                self.git.author.clone().unwrap_or_else(|| {
                    format!(
                        "{} (when git has no identity)",
                        crate::workspace::git::DEFAULT_AUTHOR
                    )
                }),
            ),
        ]
    }
}

/// Sets `state.PART`; `state.url none` removes the section (back to the local state.db).
fn set_state(config: &mut Config, part: &str, value: &str) -> Result<(), String> {
    let clear = value.is_empty() || value == "none";
    if part == "url" {
        if clear {
            config.state = None;
            return Ok(());
        }
        // Checked here too so a URL with a password is refused before it could be kept.
        validate_state_url(value)?;
        match &mut config.state {
            Some(state) => state.url = value.to_string(),
            None => {
                config.state = Some(StateSettings {
                    url: value.to_string(),
                    password: None,
                    sslmode: None,
                    ca_file: None,
                })
            }
        }
        return Ok(());
    }
    let state = config.state.as_mut().ok_or_else(|| {
        format!(
            "state.{part} needs state.url first: /config set state.url postgres://USER@HOST:PORT/DB"
        )
    })?;
    let opt = (!clear).then(|| value.to_string());
    match part {
        "password" => state.password = opt,
        "sslmode" => state.sslmode = opt,
        "ca_file" => state.ca_file = opt,
        _ => {
            return Err(format!(
                "unknown key `state.{part}`; known keys: {}",
                SETTABLE_KEYS.join(", ")
            ));
        }
    }
    Ok(())
}

/// Keys `/config set` accepts.
pub const SETTABLE_KEYS: [&str; 18] = [
    "active",
    "endpoint",
    "token_id",
    "secret",
    "tls.fingerprint",
    "tls.ca_file",
    "tls.insecure",
    "defaults.node",
    "defaults.storage",
    "defaults.bridge",
    "defaults.parallelism",
    "defaults.timeout_secs",
    "git.auto_commit",
    "git.author",
    "state.url",
    "state.password",
    "state.sslmode",
    "state.ca_file",
];

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("`{value}` is not true or false")),
    }
}

impl Environment {
    /// Checks each field; returns the key and what was expected on failure.
    pub fn validate(&self) -> Result<(), (Option<String>, String)> {
        validate_endpoint(&self.endpoint).map_err(|m| (Some("endpoint".into()), m))?;
        validate_token_id(&self.token_id).map_err(|m| (Some("token_id".into()), m))?;
        SecretRef::parse(&self.secret).map_err(|m| (Some("secret".into()), m))?;
        if let Some(fp) = &self.tls.fingerprint {
            validate_fingerprint(fp).map_err(|m| (Some("fingerprint".into()), m))?;
        }
        if self.defaults.parallelism == 0 || self.defaults.parallelism > 64 {
            return Err((
                Some("parallelism".into()),
                "parallelism must be between 1 and 64".into(),
            ));
        }
        if self.defaults.timeout_secs == 0 {
            return Err((
                Some("timeout_secs".into()),
                "timeout_secs must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Returns the parsed secret reference (valid after validation).
    pub fn secret_ref(&self) -> Result<SecretRef, String> {
        SecretRef::parse(&self.secret)
    }
}

/// Checks that `endpoint` is an http(s) URL with a host.
pub fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        format!("endpoint `{endpoint}` is not a URL ({e}); expected e.g. https://pve.example:8006")
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!(
            "endpoint `{endpoint}` must be an https:// address with a host, e.g. https://pve.example:8006"
        ));
    }
    Ok(())
}

/// Checks `user@realm!name`.
pub fn validate_token_id(token_id: &str) -> Result<(), String> {
    let ok = token_id.split_once('!').is_some_and(|(user, name)| {
        user.split_once('@')
            .is_some_and(|(u, realm)| !u.is_empty() && !realm.is_empty())
            && !name.is_empty()
            && !name.contains(['=', ' '])
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "token id `{token_id}` is not of the form user@realm!tokenname (e.g. root@pam!mpc)"
        ))
    }
}

/// Checks a SHA-256 fingerprint `AB:CD:...` (32 bytes).
pub fn validate_fingerprint(fp: &str) -> Result<(), String> {
    let parts: Vec<&str> = fp.split(':').collect();
    let ok = parts.len() == 32
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "fingerprint `{fp}` is not a SHA-256 fingerprint (32 hex bytes separated by colons)"
        ))
    }
}

/// Finds the first line (1-based) whose key is `key`.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let needle = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&needle))
        .map(|i| i + 1)
}

/// Rewords serde's messages to say what was expected.
fn describe_yaml_error(message: &str) -> String {
    // yaml_serde appends " at line N column M"; the line is reported separately.
    let trimmed = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    if trimmed.contains("unknown field") {
        format!("{trimmed} (unknown key; remove it or check its spelling)")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config::new(Environment {
            endpoint: "https://127.0.0.1:8006".into(),
            token_id: "root@pam!mpc".into(),
            secret: "env:PROXMOX_VE_API_TOKEN".into(),
            tls: Tls {
                fingerprint: Some(vec!["AB"; 32].join(":")),
                ..Tls::default()
            },
            defaults: Defaults::default(),
            protected: false,
            map: NameMap::default(),
        })
    }

    #[test]
    fn environments_with_a_map_round_trip_and_names_are_checked() {
        let mut config = sample();
        let mut prod = config.active_env().clone();
        prod.protected = true;
        prod.map.storage.insert("local-lvm".into(), "data".into());
        prod.map.node.insert("pve1".into(), "node1".into());
        config.environments.insert("prod".into(), prod.clone());
        let text = config.render();
        assert_eq!(Config::parse(&text, Path::new("c.yml")).unwrap(), config);
        config.environments.insert("../x".into(), prod);
        let err = config.validate().unwrap_err();
        assert!(err.1.contains("not an environment name"), "{err:?}");
    }

    #[test]
    fn render_parses_back_to_the_same_config() {
        let config = sample();
        let text = config.render();
        assert_eq!(Config::parse(&text, Path::new("c.yml")).unwrap(), config);
    }

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let text = sample().render().replace(
            "      insecure: false\n",
            "      insecure: false\n      insecur: true\n",
        );
        let err = Config::parse(&text, Path::new("c.yml")).unwrap_err();
        assert!(err.message.contains("unknown field `insecur`"), "{err}");
        let line = text
            .lines()
            .position(|l| l.contains("insecur: true"))
            .unwrap()
            + 1;
        assert_eq!(err.line, Some(line));
    }

    #[test]
    fn a_secret_in_place_of_a_reference_is_refused_and_masked() {
        let mut config = sample();
        let err = config
            .set("secret", "0b6ad9a4-6c1e-4f8f-9f0e-2f4c1d2e3f4a")
            .unwrap_err();
        assert!(err.contains("env:VARIABLE"), "{err}");
        assert!(!err.contains("2f4c1d2e3f4a"), "{err}");
    }

    #[test]
    fn the_git_section_round_trips_and_checks_the_author() {
        let mut config = sample();
        assert!(
            !config.render().contains("git:"),
            "the default is not written"
        );
        config.set("git.auto_commit", "false").unwrap();
        config
            .set("git.author", "Ops Bot <ops@example.com>")
            .unwrap();
        let text = config.render();
        assert_eq!(Config::parse(&text, Path::new("c.yml")).unwrap(), config);
        let err = config.set("git.author", "nobody").unwrap_err();
        assert!(err.contains("Name <email>"), "{err}");
        assert_eq!(
            config.git.author.as_deref(),
            Some("Ops Bot <ops@example.com>")
        );
    }

    #[test]
    fn set_validates_before_keeping() {
        let mut config = sample();
        assert!(config.set("endpoint", "not a url").is_err());
        assert_eq!(config, sample());
        config.set("defaults.node", "pve2").unwrap();
        assert_eq!(config.active_env().defaults.node.as_deref(), Some("pve2"));
    }
}
