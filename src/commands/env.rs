//! `/env list | add NAME | use NAME | remove NAME | show NAME`: the clusters one workspace
//! talks to. Owns adding an environment (connection tested and certificate pinned before
//! anything is written; its folder `environments/NAME/` and state.db made, config.yml written
//! last) and removing one. Where each environment's files live is [`crate::workspace`]'s
//! (see docs/environments.md).

use std::path::Path;

use serde_json::json;

use crate::commands::request::EnvRequest;
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::state::StateDb;
use crate::ui::{Item, Table};
use crate::workspace::config::{
    Config, DEFAULT_ENV, Defaults, Environment, NameMap, SecretRef, Tls, validate_endpoint,
    validate_fingerprint, validate_token_id,
};
use crate::workspace::{ENVIRONMENTS_DIR, Workspace, env_dir, validate_env_name, write_atomic};

/// Runs `/env`.
pub async fn run(ctx: &mut Ctx, args: &EnvRequest) -> Result<Report, CommandError> {
    let action = args.action.as_deref().unwrap_or("list");
    let name = || -> Result<String, CommandError> {
        args.name.clone().ok_or_else(|| {
            CommandError::cli(format!("/env {action} needs the environment's name"))
                .hint(format!("e.g. /env {action} prod; /env list shows them"))
        })
    };
    match action {
        "list" => list(ctx),
        "show" => show(ctx, &name()?),
        "add" => add(ctx, &name()?, args).await,
        "use" => use_env(ctx, &name()?).await,
        "remove" | "rm" => {
            if args.yes {
                ctx.assume_yes = true;
            }
            remove(ctx, &name()?)
        }
        other => Err(
            CommandError::cli(format!("`/env {other}` is not an /env action"))
                .hint("the actions are list, add, use, remove and show (/help env)"),
        ),
    }
}

/// config.yml as written (without `--env` or PROXMOX_MPC_ENV applied: `/env` edits the file).
fn file_config(ctx: &Ctx) -> Result<(Workspace, Config), CommandError> {
    let top = Workspace::at(
        ctx.workspace_opt()
            .map_or_else(|| ctx.cwd.clone(), |w| w.top().to_path_buf()),
    );
    if !top.exists() {
        ctx.workspace()?;
    }
    let config = Config::load(&top.config_path())?;
    Ok((top, config))
}

/// Refuses a name config.yml does not have, naming the ones it has.
fn known<'a>(config: &'a Config, name: &str) -> Result<&'a Environment, CommandError> {
    config.environments.get(name).ok_or_else(|| {
        let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        CommandError::user(format!(
            "there is no environment `{name}` in this workspace"
        ))
        .hint(format!(
            "the environments are: {} (/env add {name} --endpoint URL ... adds it)",
            names.join(", ")
        ))
    })
}

fn env_json(config: &Config, name: &str, env: &Environment) -> serde_json::Value {
    json!({
        "name": name,
        "active": config.active == name,
        "endpoint": env.endpoint,
        "token_id": env.token_id,
        "secret": env.secret,
        "protected": env.protected,
        "files": format!("{}/", env_dir(name).display()).replace("./", ""),
        "map": env.map,
    })
}

fn list(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let (_, config) = file_config(ctx)?;
    let mut table = Table::new(&["", "name", "endpoint", "token id", "protected", "files"]);
    let mut value = Vec::new();
    for (name, env) in &config.environments {
        let row = env_json(&config, name, env);
        table.row(vec![
            if config.active == *name { "*" } else { "" }.into(),
            name.clone(),
            env.endpoint.clone(),
            env.token_id.clone(),
            if env.protected { "yes" } else { "" }.into(),
            row["files"].as_str().unwrap_or_default().to_string(),
        ]);
        value.push(row);
    }
    Ok(vec![Item::Data {
        value: json!({ "active": config.active, "environments": value }),
        table,
    }])
}

fn show(ctx: &mut Ctx, name: &str) -> Result<Report, CommandError> {
    let (_, config) = file_config(ctx)?;
    let env = known(&config, name)?;
    let value = env_json(&config, name, env);
    let mut table = Table::new(&["key", "value"]);
    for (key, v) in [
        ("name", name.to_string()),
        ("active", (config.active == name).to_string()),
        ("endpoint", env.endpoint.clone()),
        ("token_id", env.token_id.clone()),
        ("secret", format!("{} (value hidden)", env.secret)),
        ("protected", env.protected.to_string()),
        ("files", value["files"].as_str().unwrap_or_default().into()),
        (
            "tls",
            match (&env.tls.fingerprint, &env.tls.ca_file, env.tls.insecure) {
                (_, _, true) => "insecure".into(),
                (Some(fp), _, _) => format!("pinned {fp}"),
                (None, Some(ca), _) => format!("CA file {ca}"),
                _ => "system roots".into(),
            },
        ),
        ("map", serde_json::to_string(&env.map).unwrap_or_default()),
    ] {
        table.row(vec![key.into(), v]);
    }
    Ok(vec![Item::Data { value, table }])
}

/// The new environment from `/env add`'s flags, each checked before anything is asked.
fn gather(name: &str, args: &EnvRequest) -> Result<Environment, CommandError> {
    let nothing = "nothing was written";
    let endpoint = args
        .endpoint
        .clone()
        .ok_or_else(|| {
            CommandError::cli(format!("/env add {name} needs --endpoint URL"))
                .hint("e.g. /env add prod --endpoint https://pve.prod:8006 --token-id root@pam!mpc --secret-env PROD_TOKEN")
        })?
        .trim_end_matches('/')
        .to_string();
    validate_endpoint(&endpoint).map_err(|m| CommandError::user(m).hint(nothing))?;
    let token_id = args.token_id.clone().ok_or_else(|| {
        CommandError::cli(format!("/env add {name} needs --token-id USER@REALM!NAME")).hint(nothing)
    })?;
    validate_token_id(&token_id).map_err(|m| CommandError::user(m).hint(nothing))?;
    let secret = match (&args.secret_env, &args.secret_file) {
        (Some(_), Some(_)) => {
            return Err(CommandError::cli(
                "give one of --secret-env or --secret-file, not both",
            ));
        }
        (Some(var), None) => format!("env:{var}"),
        (None, Some(path)) => format!("file:{path}"),
        (None, None) => {
            return Err(CommandError::cli(format!(
                "/env add {name} needs --secret-env VAR or --secret-file PATH"
            ))
            .hint("the secret itself never goes in config.yml, only where to read it from"));
        }
    };
    SecretRef::parse(&secret).map_err(|m| CommandError::user(m).hint(nothing))?;
    Ok(Environment {
        endpoint,
        token_id,
        secret,
        tls: Tls::default(),
        defaults: Defaults::default(),
        protected: args.protected,
        map: NameMap::default(),
    })
}

/// Decides how the new environment trusts its server's certificate: insecure, a CA file, or
/// the fingerprint pinned (given, accepted with --yes, or answered at the terminal).
async fn trust(
    ctx: &mut Ctx,
    args: &EnvRequest,
    env: &mut Environment,
) -> Result<(), CommandError> {
    let nothing = "nothing was written";
    if args.insecure {
        env.tls.insecure = true;
        return Ok(());
    }
    if let Some(ca) = &args.ca_file {
        if !ctx.resolve_path(Path::new(ca)).is_file() {
            return Err(
                CommandError::user(format!("the CA file {ca} does not exist")).hint(nothing),
            );
        }
        env.tls.ca_file = Some(ca.clone());
        return Ok(());
    }
    if !env.endpoint.starts_with("https://") {
        return Ok(());
    }
    let seen = connect::fetch_fingerprint(&env.endpoint)
        .await
        .map_err(|e| unreachable(e, &env.endpoint))?;
    match &args.fingerprint {
        Some(fp) => {
            let fp = fp.to_uppercase();
            validate_fingerprint(&fp).map_err(|m| CommandError::user(m).hint(nothing))?;
            if fp != seen {
                return Err(CommandError::user(format!(
                    "the certificate of {} does not match the given fingerprint\n  expected {fp}\n  server   {seen}",
                    env.endpoint
                ))
                .hint("check that this is the right server; nothing was written"));
            }
        }
        None if args.yes => {}
        None if ctx.interactive => {
            ctx.ui.status(&format!(
                "The server's certificate SHA-256 fingerprint is\n  {seen}"
            ));
            let answer = ctx
                .ui
                .ask(
                    "Pin this fingerprint and trust it from now on? (yes/no)",
                    Some("yes"),
                )
                .ok_or_else(|| CommandError::interrupted().hint(nothing))?;
            if !matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
                return Err(
                    CommandError::user("the server's certificate is not trusted").hint(
                        "pass --fingerprint FP, --ca-file PATH or --insecure; nothing was written",
                    ),
                );
            }
        }
        None => {
            return Err(CommandError::user(format!(
                "the certificate of {} is not trusted yet (fingerprint {seen})",
                env.endpoint
            ))
            .hint(format!(
                "compare it with the server's (pvenode cert info), then pass --fingerprint {seen} or --yes; nothing was written"
            )));
        }
    }
    env.tls.fingerprint = Some(seen);
    Ok(())
}

/// A server that does not answer: the error says so and that nothing was written.
fn unreachable(mut e: CommandError, endpoint: &str) -> CommandError {
    e.message = format!(
        "cannot add the environment: {endpoint} did not answer ({})",
        e.message
    );
    e.hints = vec![
        "check that the server is up and the address is right, then run /env add again; nothing was written"
            .into(),
    ];
    e
}

async fn add(ctx: &mut Ctx, name: &str, args: &EnvRequest) -> Result<Report, CommandError> {
    validate_env_name(name).map_err(|m| CommandError::user(m).hint("nothing was written"))?;
    let (top, mut config) = file_config(ctx)?;
    if config.environments.contains_key(name) {
        return Err(
            CommandError::user(format!("the environment `{name}` exists already")).hint(format!(
                "/env show {name} shows it; /env remove {name} first to add it again"
            )),
        );
    }
    let target = top.for_env(name);
    if target.root().exists() {
        return Err(CommandError::user(format!(
            "{} exists already, but config.yml has no environment `{name}`",
            env_dir(name).display()
        ))
        .hint("move that folder away (or choose another name); nothing was written"));
    }
    let mut env = gather(name, args)?;
    trust(ctx, args, &mut env).await?;
    // Test the connection before anything is written.
    let client = ctx.client_for(&env)?;
    let info = connect::probe(&client, &env.endpoint)
        .await
        .map_err(|e| unreachable(e, &env.endpoint))?;
    let nodes: Vec<&str> = info.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut items = vec![Item::Status(format!(
        "Connected to Proxmox VE {} at {}: node(s) {}.",
        info.version,
        env.endpoint,
        nodes.join(", ")
    ))];
    config.environments.insert(name.to_string(), env.clone());
    config
        .validate()
        .map_err(|(_, m)| CommandError::user(m).hint("nothing was written"))?;
    if let Err(e) = write_environment(&target, &config).await {
        // Nothing half-written: the folder goes, config.yml was not touched.
        let _ = std::fs::remove_dir_all(target.root());
        return Err(e);
    }
    // The commit of this change: config.yml and the environment's .gitignore.
    for path in [target.root().join(".gitignore"), top.config_path()] {
        if let Ok(bytes) = std::fs::read(&path) {
            ctx.written.note_written(&path, &bytes);
        }
    }
    if let Ok(db) = ctx.state().await {
        let _ = db
            .audit(name, "env add", &env.endpoint, Some(&env.token_id))
            .await;
    }
    ctx.change.subject = Some(format!("env: add {name} ({})", env.endpoint));
    items.push(Item::Status(format!(
        "Environment {name} added{}: its files go in {}/ (terraform/, ansible/, tests/, docs/), its state in {}/.proxmox/state.db.",
        if env.protected { " (protected)" } else { "" },
        env_dir(name).display(),
        env_dir(name).display()
    )));
    items.push(Item::Hint(format!(
        "next: proxmox-mpc --env {name} sync imports its guests; /env use {name} makes it the active one"
    )));
    Ok(items)
}

/// Creates the environment's folder and state.db, then writes config.yml (last: it is what
/// makes the environment exist).
async fn write_environment(target: &Workspace, config: &Config) -> Result<(), CommandError> {
    target.create_layout()?;
    let db = StateDb::open(&target.state_db_path()).await?;
    crate::workspace::restrict_to_owner(&target.state_db_path())?;
    drop(db);
    write_atomic(
        &Workspace::at(target.top()).config_path(),
        config.render().as_bytes(),
        0o600,
    )?;
    Ok(())
}

async fn use_env(ctx: &mut Ctx, name: &str) -> Result<Report, CommandError> {
    let (top, mut config) = file_config(ctx)?;
    known(&config, name)?;
    if name != DEFAULT_ENV && !top.for_env(name).root().is_dir() {
        return Err(CommandError::user(format!(
            "the environment `{name}` has no folder {}",
            env_dir(name).display()
        ))
        .hint(format!("/env remove {name}, then /env add it again")));
    }
    config.active = name.to_string();
    write_atomic(&top.config_path(), config.render().as_bytes(), 0o600)?;
    let path = top.config_path();
    if let Ok(bytes) = std::fs::read(&path) {
        ctx.written.note_written(&path, &bytes);
    }
    ctx.change.subject = Some(format!("env: use {name}"));
    if let Ok(db) = ctx.state().await {
        let _ = db
            .session_set(crate::state::session_keys::ACTIVE_ENV, name)
            .await;
    }
    // The commands after this one run against the environment now active (this one's
    // commit is made where it ran).
    ctx.switch_env_after();
    Ok(vec![Item::Status(format!(
        "The active environment is now {name} (files in {}/).",
        env_dir(name).display()
    ))])
}

fn remove(ctx: &mut Ctx, name: &str) -> Result<Report, CommandError> {
    let (top, mut config) = file_config(ctx)?;
    known(&config, name)?;
    if config.active == name {
        return Err(CommandError::user(format!(
            "`{name}` is the active environment and cannot be removed"
        ))
        .hint("/env use ANOTHER first, then /env remove it; nothing was changed"));
    }
    if ctx.workspace_opt().and_then(|w| w.env_name()) == Some(name) {
        return Err(CommandError::user(format!(
            "this command runs against `{name}` (--env or PROXMOX_MPC_ENV), which cannot remove it"
        ))
        .hint("run /env remove from another environment; nothing was changed"));
    }
    if name == DEFAULT_ENV {
        return Err(CommandError::user(
            "the default environment's files are the workspace's own (terraform/ at the root); it cannot be removed",
        )
        .hint("nothing was changed"));
    }
    let folder = top.for_env(name);
    ctx.confirm(&format!(
        "Remove the environment {name} from config.yml and delete {}/ (its files stay in git history; its state.db goes)?",
        env_dir(name).display()
    ))?;
    config.environments.remove(name);
    write_atomic(&top.config_path(), config.render().as_bytes(), 0o600)?;
    let path = top.config_path();
    if let Ok(bytes) = std::fs::read(&path) {
        ctx.written.note_written(&path, &bytes);
    }
    let mut items = Vec::new();
    if folder.root().is_dir() {
        let tracked = list_files(folder.root());
        if let Err(e) = std::fs::remove_dir_all(folder.root()) {
            items.push(Item::Warning(format!(
                "config.yml no longer has {name}, but {} could not be deleted: {e}; delete it by hand",
                env_dir(name).display()
            )));
        } else {
            for file in tracked {
                ctx.written.note_removed(&file);
            }
        }
    }
    // An empty environments/ folder means one environment again.
    let _ = std::fs::remove_dir(top.top().join(ENVIRONMENTS_DIR));
    ctx.change.subject = Some(format!("env: remove {name}"));
    items.insert(0, Item::Status(format!("Environment {name} removed.")));
    Ok(items)
}

/// Every file under `dir` (for the commit of a removal), `.proxmox/` left out.
fn list_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".proxmox") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
