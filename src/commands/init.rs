//! `/init`: makes the current folder a workspace. Gathers endpoint, token id, secret reference
//! and TLS trust from flags, the bpg provider's environment variables, or a short wizard; pins
//! the server's certificate on first use; tests the connection; and only then writes the
//! workspace, config.yml last (its presence is what makes a folder a workspace), so a failed
//! `/init` leaves nothing that looks like a workspace.

use crate::commands::context::split_full_token;
use crate::commands::{Ctx, Report};
use crate::commands::{connect, login};
use crate::error::CommandError;
use crate::state::StateDb;
use crate::ui::Item;
use crate::workspace::config::{
    Config, Defaults, Environment, SecretRef, Tls, validate_endpoint, validate_fingerprint,
    validate_token_id,
};
use crate::workspace::{Workspace, write_atomic};

/// bpg provider variable: the API address.
pub const ENV_ENDPOINT: &str = "PROXMOX_VE_ENDPOINT";
/// bpg provider variable: `user@realm!name=secret`.
pub const ENV_API_TOKEN: &str = "PROXMOX_VE_API_TOKEN";
/// bpg provider variable: skip TLS verification.
pub const ENV_INSECURE: &str = "PROXMOX_VE_INSECURE";

/// `/init`'s flags.
#[derive(Debug, Clone, Default)]
pub struct InitArgs {
    pub endpoint: Option<String>,
    pub token_id: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    pub fingerprint: Option<String>,
    pub ca_file: Option<String>,
    pub insecure: bool,
    pub no_connect: bool,
    pub yes: bool,
    /// No token yet: log in as this user once and create one (see [`crate::commands::login`]).
    pub login: Option<String>,
    /// Read the secret (with `login`: the password) from standard input.
    pub secret_stdin: bool,
    /// Start from a bundle `/export` wrote ([`crate::commands::export::prepare_bundle`]).
    pub from_bundle: Option<String>,
}

/// Where the token secret comes from, once the questions are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The reference in `Environment::secret` (env:VAR or file:PATH).
    Reference,
    /// Pasted at the prompt or given on stdin: kept in the per-user secrets folder.
    Paste,
    /// A one-time login as this user creates the token.
    Login(String),
}

/// The process-only variable a pasted or created secret is held in until it is stored: the
/// client reads it like any `env:` reference, and the real environment is never touched.
const HELD_SECRET_VAR: &str = "PROXMOX_MPC_INIT_SECRET";

fn truthy(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "yes")
}

/// Asks `question` if a person is there; otherwise fails naming the flag to pass.
fn ask_or_fail(
    ctx: &Ctx,
    question: &str,
    default: Option<&str>,
    flag: &str,
) -> Result<String, CommandError> {
    if !ctx.interactive {
        return Err(CommandError::user(format!("/init needs {flag}")).hint(format!(
            "pass {flag}, or set the bpg provider variables {ENV_ENDPOINT} and {ENV_API_TOKEN}; nothing was written"
        )));
    }
    match ctx.ui.ask(question, default) {
        Some(answer) if !answer.is_empty() => Ok(answer),
        Some(_) => Err(CommandError::user(format!("/init needs {flag}"))
            .hint("run /init again and answer the question; nothing was written")),
        None => Err(CommandError::interrupted().hint("/init was cancelled; nothing was written")),
    }
}

/// Creates the workspace in the current folder.
pub async fn run(ctx: &mut Ctx, args: &InitArgs) -> Result<Report, CommandError> {
    let workspace = Workspace::at(ctx.cwd.clone());
    // Fail on an existing workspace or a read-only folder before asking anything.
    workspace.check_can_create()?;
    let mut items = Vec::new();
    if let Some(outer) = ctx.workspace_opt().filter(|w| w.root() != workspace.root()) {
        items.push(Item::Warning(format!(
            "this folder is inside the workspace {}; the new workspace will be separate from it",
            outer.root().display()
        )));
    }
    let (mut env, source) = gather_environment(ctx, args)?;
    match &source {
        Source::Reference if !args.no_connect => {
            // Read the secret now, so a missing one fails before any certificate question
            // (the client reads it again when the connection is tested).
            ctx.resolve_token(&env)?;
        }
        Source::Paste => {
            let secret = login::read_secret(
                ctx,
                args.secret_stdin,
                "Paste the token secret (it is not shown)",
            )?;
            hold_secret(ctx, &mut env, &secret);
        }
        _ => {}
    }
    trust_tls(ctx, args, &mut env, &mut items).await?;
    if let Source::Login(user) = &source {
        let question = format!("Password of {user} (it is not shown)");
        let password = login::read_secret(ctx, args.secret_stdin, &question)?;
        ctx.remember_secret(&password);
        let created =
            login::create_token(ctx, &env, user, password, workspace.root(), &mut items).await?;
        env.token_id = created.token_id;
        hold_secret(ctx, &mut env, &created.secret);
    }
    if args.no_connect {
        items.push(Item::Warning(
            "the connection was not tested (--no-connect)".into(),
        ));
    } else {
        // Test the connection before anything is written.
        items.push(test_connection(ctx, &mut env).await?);
    }
    // A bundle is read and fitted to this cluster before anything is written.
    let bundle = match &args.from_bundle {
        Some(dir) => Some(
            crate::commands::export::prepare_bundle(ctx, (!args.no_connect).then_some(&env), dir)
                .await?,
        ),
        None => None,
    };
    let stored = match source {
        Source::Reference => None,
        _ => {
            // Checked against the server above; now kept outside the workspace.
            let secret = ctx.env_var(HELD_SECRET_VAR).unwrap_or_default();
            let path =
                login::secret_path(ctx, workspace.root(), crate::workspace::config::DEFAULT_ENV)?;
            env.secret = login::store_secret(&path, &secret)?;
            items.push(Item::Status(format!(
                "The token secret is kept in {} (mode 0600, outside the workspace); config.yml refers to it.",
                path.display()
            )));
            Some(path)
        }
    };
    let root = workspace.root().to_path_buf();
    let mut result = write_workspace(ctx, workspace, env, items).await;
    if let (Ok(report), Some(bundle)) = (&mut result, &bundle) {
        report.extend(crate::commands::export::install_bundle(ctx, &root, bundle)?);
    }
    if result.is_err()
        && let Some(path) = stored
    {
        // No workspace refers to it.
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Holds a secret that is in no file yet for this process's client (see [`HELD_SECRET_VAR`]).
fn hold_secret(ctx: &mut Ctx, env: &mut Environment, secret: &str) {
    ctx.remember_secret(secret);
    ctx.set_env(HELD_SECRET_VAR, secret);
    env.secret = format!("env:{HELD_SECRET_VAR}");
}

/// Gathers endpoint, token id and secret reference (or the user to log in as) from the flags,
/// the bpg provider's variables, or questions, each checked before the next is asked.
fn gather_environment(ctx: &Ctx, args: &InitArgs) -> Result<(Environment, Source), CommandError> {
    // The bpg provider's variables fill in what the flags do not give.
    let env_token = ctx.env_var(ENV_API_TOKEN);
    let env_token_id = env_token
        .as_deref()
        .and_then(split_full_token)
        .map(|(id, _)| id.to_string());

    let endpoint = match args.endpoint.clone().or_else(|| ctx.env_var(ENV_ENDPOINT)) {
        Some(e) => e,
        None => ask_or_fail(
            ctx,
            "Proxmox VE endpoint (e.g. https://pve.example:8006)",
            None,
            "--endpoint URL",
        )?,
    };
    let endpoint = endpoint.trim_end_matches('/').to_string();
    validate_endpoint(&endpoint).map_err(|m| {
        CommandError::user(m).hint("nothing was written; give the address as https://HOST:8006")
    })?;

    if args.login.is_some() && args.token_id.is_some() {
        return Err(CommandError::cli(
            "give either --token-id or --login, not both",
        ));
    }
    if args.login.is_some() && args.no_connect {
        return Err(CommandError::cli(
            "--login needs the server: it cannot go with --no-connect",
        ));
    }
    let token_id = match args.login.clone() {
        Some(user) => return login_environment(endpoint, user),
        None => match args.token_id.clone().or(env_token_id) {
            Some(t) => t,
            None => ask_or_fail(
                ctx,
                "API token id (user@realm!name), or `login` if you have no API token yet",
                None,
                "--token-id USER@REALM!NAME (or --login USER@REALM)",
            )?,
        },
    };
    if token_id == "login" {
        let user = ask_or_fail(
            ctx,
            "Log in once as (user@realm; a token for this workspace is made from it)",
            Some("root@pam"),
            "--login USER@REALM",
        )?;
        return login_environment(endpoint, user);
    }
    validate_token_id(&token_id).map_err(|m| CommandError::user(m).hint("nothing was written"))?;

    let given = [
        args.secret_env.is_some(),
        args.secret_file.is_some(),
        args.secret_stdin,
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(CommandError::cli(
            "give one of --secret-env, --secret-file or --secret-stdin",
        ));
    }
    let secret = match (&args.secret_env, &args.secret_file) {
        _ if args.secret_stdin => "paste".to_string(),
        (Some(var), _) => format!("env:{var}"),
        (None, Some(path)) => format!("file:{path}"),
        (None, None) if env_token.is_some() => format!("env:{ENV_API_TOKEN}"),
        (None, None) => ask_or_fail(
            ctx,
            "Where is the token secret read from? env:VARIABLE, file:PATH, or paste",
            Some("paste"),
            "--secret-env VAR, --secret-file PATH or --secret-stdin",
        )?,
    };
    let source = if secret == "paste" {
        Source::Paste
    } else {
        SecretRef::parse(&secret).map_err(|m| CommandError::user(m).hint("nothing was written"))?;
        Source::Reference
    };
    let environment = Environment {
        endpoint,
        token_id,
        secret: if source == Source::Paste {
            format!("env:{HELD_SECRET_VAR}")
        } else {
            secret
        },
        tls: Tls::default(),
        defaults: Defaults::default(),
        protected: false,
        map: Default::default(),
    };
    Ok((environment, source))
}

/// The environment of a `--login` init: the token id is filled in once the token exists.
fn login_environment(
    endpoint: String,
    user: String,
) -> Result<(Environment, Source), CommandError> {
    let valid = user.split_once('@').is_some_and(|(name, realm)| {
        !name.is_empty()
            && !realm.is_empty()
            && !user.contains('!')
            && !user.contains(char::is_whitespace)
    });
    if !valid {
        return Err(CommandError::user(format!("`{user}` is not a user@realm"))
            .hint("log in as e.g. root@pam; nothing was written"));
    }
    let environment = Environment {
        endpoint,
        token_id: format!("{user}!pending"),
        secret: format!("env:{HELD_SECRET_VAR}"),
        tls: Tls::default(),
        defaults: Defaults::default(),
        protected: false,
        map: Default::default(),
    };
    Ok((environment, Source::Login(user)))
}

/// Decides how `env` trusts the server's certificate: no verification (`--insecure` or the bpg
/// variable), a CA file, or for https a pinned fingerprint.
async fn trust_tls(
    ctx: &mut Ctx,
    args: &InitArgs,
    env: &mut Environment,
    items: &mut Report,
) -> Result<(), CommandError> {
    let endpoint = env.endpoint.clone();
    let insecure = args.insecure || ctx.env_var(ENV_INSECURE).is_some_and(|v| truthy(&v));
    if insecure {
        env.tls.insecure = true;
        items.push(Item::Warning(format!(
            "TLS verification is OFF for {endpoint}: anyone on the path can read the token. Pin the certificate instead (/config set tls.fingerprint FP)."
        )));
    } else if let Some(ca) = &args.ca_file {
        let path = ctx.resolve_path(std::path::Path::new(ca));
        if !path.is_file() {
            return Err(CommandError::user(format!("the CA file {} does not exist", path.display()))
                .hint("give the path of the PEM file that signed the server's certificate; nothing was written"));
        }
        env.tls.ca_file = Some(ca.clone());
    } else if endpoint.starts_with("https://") {
        let wanted = match &args.fingerprint {
            Some(fp) => {
                let fp = fp.to_uppercase();
                validate_fingerprint(&fp)
                    .map_err(|m| CommandError::user(m).hint("nothing was written"))?;
                Some(fp)
            }
            None => None,
        };
        if args.no_connect {
            env.tls.fingerprint = wanted;
        } else {
            let seen = {
                let _spinner = ctx
                    .ui
                    .spinner(&format!("Fetching the certificate of {endpoint}"));
                connect::fetch_fingerprint(&endpoint).await?
            };
            match wanted {
                Some(fp) if fp != seen => {
                    return Err(CommandError::user(format!(
                        "the certificate of {endpoint} does not match the pinned fingerprint\n  expected {fp}\n  server   {seen}"
                    ))
                    .hint("check that this is the right server (someone may be intercepting the connection); if its certificate was renewed, pass the new fingerprint; nothing was written"));
                }
                Some(fp) => env.tls.fingerprint = Some(fp),
                None => trust_on_first_use(ctx, args, env, seen, items)?,
            }
        }
    }
    Ok(())
}

/// Shows the certificate `seen` that no flag vouches for and pins it if the person (or
/// `--yes`) accepts; refused, a CA file is the other way to trust it.
fn trust_on_first_use(
    ctx: &mut Ctx,
    args: &InitArgs,
    env: &mut Environment,
    seen: String,
    items: &mut Report,
) -> Result<(), CommandError> {
    let endpoint = &env.endpoint;
    let shown = format!("The server's certificate SHA-256 fingerprint is\n  {seen}");
    if ctx.interactive && !args.yes {
        // Shown now: the question below is about it.
        ctx.ui.status(&shown);
    } else {
        items.push(Item::Status(shown));
    }
    let accepted = if args.yes {
        true
    } else if ctx.interactive {
        match ctx.ui.ask(
            "Pin this fingerprint and trust it from now on? (yes/no)",
            Some("yes"),
        ) {
            Some(a) => matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"),
            None => {
                return Err(
                    CommandError::interrupted().hint("/init was cancelled; nothing was written")
                );
            }
        }
    } else {
        return Err(CommandError::user(format!(
            "the certificate of {endpoint} is not trusted yet (fingerprint {seen})"
        ))
        .hint(format!(
            "compare it with the one shown on the server (pvenode cert info), then pass --fingerprint {seen} or --yes; nothing was written"
        )));
    };
    if accepted {
        env.tls.fingerprint = Some(seen);
    } else {
        // Not pinned: a CA file is the other way to trust it.
        let ca = ctx
            .ui
            .ask(
                "Path of a CA file (PEM) that signs the server's certificate, empty to stop",
                None,
            )
            .unwrap_or_default();
        let path = ctx.resolve_path(std::path::Path::new(&ca));
        if ca.is_empty() || !path.is_file() {
            return Err(CommandError::user("the server's certificate is not trusted")
                .hint("run /init again and pin the fingerprint, or pass --ca-file PATH (or --insecure, unsafe); nothing was written"));
        }
        env.tls.ca_file = Some(ca);
    }
    Ok(())
}

/// Connects with `env` and returns the line saying what answered.
async fn test_connection(ctx: &mut Ctx, env: &mut Environment) -> Result<Item, CommandError> {
    let endpoint = env.endpoint.clone();
    let client = ctx.client_for(env)?;
    let info = {
        let _spinner = ctx.ui.spinner(&format!("Connecting to {endpoint}"));
        connect::probe(&client, &endpoint).await?
    };
    let online: Vec<&str> = info
        .nodes
        .iter()
        .filter(|n| n.online)
        .map(|n| n.name.as_str())
        .collect();
    let offline = info.nodes.len() - online.len();
    // No default node is pinned: `create` without --node chooses per guest (the node with
    // the most free memory), so a burst of creates spreads over the cluster.
    Ok(Item::Status(format!(
        "Connected to Proxmox VE {} at {endpoint}: {} node(s) online ({}){}.",
        info.version,
        online.len(),
        online.join(", "),
        if offline > 0 {
            format!(", {offline} offline")
        } else {
            String::new()
        }
    )))
}

/// Writes the workspace: layout, database, then config.yml last (its presence is what makes
/// the folder a workspace), and switches the context to it.
async fn write_workspace(
    ctx: &mut Ctx,
    workspace: Workspace,
    env: Environment,
    mut items: Report,
) -> Result<Report, CommandError> {
    let endpoint = env.endpoint.clone();
    let token_id = env.token_id.clone();
    let gitignore = workspace.root().join(".gitignore");
    let ignore_before = std::fs::read(&gitignore).ok();
    workspace.create_layout()?;
    let mut db = StateDb::open(&workspace.state_db_path()).await?;
    db.set_principal(ctx.principal());
    crate::workspace::restrict_to_owner(&workspace.state_db_path())?;
    let config = Config::new(env);
    write_atomic(&workspace.config_path(), config.render().as_bytes(), 0o600)?;
    db.audit(&config.active, "init", &endpoint, Some(&token_id))
        .await?;
    db.session_set(crate::state::session_keys::ACTIVE_ENV, &config.active)
        .await?;
    ctx.set_workspace(workspace.clone());
    ctx.set_config(config);
    ctx.set_state(db);
    // The first commit: the configuration, and the .gitignore when /init wrote it.
    let mut wrote = vec![format!(
        "{}/{}",
        crate::workspace::DOT_DIR,
        crate::workspace::CONFIG_FILE
    )];
    if std::fs::read(&gitignore).ok() != ignore_before {
        wrote.push(".gitignore".into());
    }
    items.extend(crate::commands::commit::init_repository(
        ctx, &endpoint, &wrote,
    ));
    items.push(Item::Status(format!(
        "Workspace ready in {}: .proxmox/config.yml, .proxmox/state.db, terraform/, ansible/, tests/, docs/.",
        workspace.root().display()
    )));
    items.push(Item::Hint(
        "next: /status shows the workspace; /sync will import the cluster into terraform/ and ansible/".into(),
    ));
    Ok(items)
}
