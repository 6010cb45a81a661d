//! `/init`'s two ways in without a pre-made token in the environment: a secret pasted at the
//! prompt (or given on stdin), and a one-time login (`--login USER@REALM`) that creates the
//! workspace's own API token, a role with exactly the privileges the workspace's operations
//! use, and the ACL entry that grants it. Owns the per-user secrets folder
//! (`$XDG_CONFIG_HOME/proxmox-mpc/secrets/`, else `~/.config/...`): one file per workspace and
//! environment, mode 0600, written atomically, outside the workspace so git never sees it. The
//! password is used once for the ticket and never stored or shown.

use std::path::{Path, PathBuf};

use reqwest::Method;

use crate::commands::connect::{self, tls_mode};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::pve::{Auth, Client, ClientConfig, PveError, Secret, params};
use crate::ui::Item;
use crate::workspace::config::Environment;

/// The role `--login` creates and grants the workspace's token on `/`.
pub const ROLE: &str = "ProxmoxMPC";

/// Every privilege the workspace's operations check or the API calls they make require (see
/// `plan::apply::needed_privileges`, `connect`'s permission checks and the calls in
/// `pve::endpoints`), with the operation that needs it. Nothing else goes in the role: no
/// `Sys.Modify`, no `Datastore.Allocate`, no `Permissions.Modify`, no user administration.
pub const WORKSPACE_PRIVILEGES: &[(&str, &str)] = &[
    ("Sys.Audit", "/status --live, /sync: nodes and cluster"),
    ("VM.Audit", "/sync: guest configurations"),
    ("Datastore.Audit", "/sync: storages"),
    ("Pool.Audit", "/sync: pools"),
    (
        "VM.Allocate",
        "/apply: create and destroy guests, pool membership",
    ),
    ("VM.Clone", "/apply: guests cloned from a template"),
    ("Datastore.AllocateSpace", "/apply: disks of new guests"),
    ("Pool.Allocate", "/apply: pools"),
    ("VM.Config.Disk", "/apply: disks"),
    ("VM.Config.CDROM", "/apply: installation media"),
    ("VM.Config.CPU", "/apply: cores, sockets"),
    ("VM.Config.Memory", "/apply: memory"),
    ("VM.Config.Network", "/apply: network cards"),
    ("VM.Config.Options", "/apply: name, tags, options"),
    ("VM.Config.HWType", "/apply: machine and controller types"),
    ("VM.Config.Cloudinit", "/apply: cloud-init settings"),
    ("VM.PowerMgmt", "/apply, start/stop: power state"),
    ("VM.Migrate", "/apply: a guest moved to another node"),
    ("VM.Snapshot", "snapshot commands"),
    ("VM.Snapshot.Rollback", "snapshot-rollback"),
    (
        "VM.GuestAgent.Audit",
        "/sync --agent-ips, /test: addresses from the agent",
    ),
    (
        "VM.GuestAgent.Unrestricted",
        "/test: port probes run through the agent",
    ),
    (
        "SDN.Use",
        "/apply: attach network cards to bridges (PVE 8+)",
    ),
];

/// The folder the per-user secrets live in.
pub fn secrets_dir(ctx: &Ctx) -> Result<PathBuf, CommandError> {
    let base = match ctx.env_var("XDG_CONFIG_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => match ctx.env_var("HOME") {
            Some(home) => Path::new(&home).join(".config"),
            None => {
                return Err(CommandError::user(
                    "cannot keep the secret: neither XDG_CONFIG_HOME nor HOME is set",
                )
                .hint("set HOME (or XDG_CONFIG_HOME), or pass --secret-env VAR / --secret-file PATH; nothing was written"));
            }
        },
    };
    Ok(base.join("proxmox-mpc").join("secrets"))
}

/// The secret file of the workspace at `root`, environment `env_name`: the folder's name (for
/// people looking in the folder) and a hash of its full path (two folders of the same name
/// never share a file).
pub fn secret_path(ctx: &Ctx, root: &Path, env_name: &str) -> Result<PathBuf, CommandError> {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(root.to_string_lossy().as_bytes());
    let name: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let name = name.trim_matches('-');
    Ok(secrets_dir(ctx)?.join(format!(
        "{name}-{}-{env_name}.secret",
        &hex::encode(digest)[..12]
    )))
}

/// Writes `secret` to `path` (folder 0700, file 0600, atomically) and returns the reference
/// config.yml stores.
pub fn store_secret(path: &Path, secret: &str) -> Result<String, CommandError> {
    let fail = |e: &dyn std::fmt::Display| {
        CommandError::user(format!("cannot write the secret file {}: {e}", path.display()))
            .hint("make that folder writable for you, or pass --secret-env VAR / --secret-file PATH; nothing was written")
    };
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(&e))?;
    }
    crate::workspace::write_atomic(path, format!("{secret}\n").as_bytes(), 0o600)
        .map_err(|e| fail(&e))?;
    Ok(format!("file:{}", path.display()))
}

/// Reads a secret: from standard input (`--secret-stdin`), or asked without echo.
pub fn read_secret(ctx: &Ctx, from_stdin: bool, question: &str) -> Result<String, CommandError> {
    let answer = if from_stdin {
        crate::ui::read_secret_line(None)
    } else if ctx.interactive {
        ctx.ui.secret(question)
    } else {
        return Err(
            CommandError::user(format!("/init needs the answer to: {question}"))
                .hint("pass --secret-stdin and give it on standard input; nothing was written"),
        );
    };
    match answer {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(CommandError::user("the secret given is empty")
            .hint("run /init again and paste the secret; nothing was written")),
        None => Err(CommandError::interrupted().hint("/init was cancelled; nothing was written")),
    }
}

/// A token name for the workspace at `root`: `mpc-` and the folder's name, as PVE allows.
fn token_name(root: &Path) -> String {
    let folder: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    let folder = folder.trim_matches('-');
    if folder.is_empty() {
        "mpc".to_string()
    } else {
        format!("mpc-{folder}")
    }
}

/// What a login created on the server.
pub struct Created {
    pub token_id: String,
    pub secret: String,
}

/// Logs in as `user` with `password` once, then creates the workspace's token, the role and
/// the ACL entry. Returns the token; `items` gets what was created.
pub async fn create_token(
    ctx: &mut Ctx,
    env: &Environment,
    user: &str,
    password: String,
    root: &Path,
    items: &mut Report,
) -> Result<Created, CommandError> {
    let mut config = ClientConfig::new(
        env.endpoint.clone(),
        Auth::Password {
            username: user.to_string(),
            password: Secret::new(password),
        },
        tls_mode(env),
    );
    config.retries = 1;
    let client = Client::new(config).map_err(|e| connect::pve_error(e, &env.endpoint))?;
    let _spinner = ctx
        .ui
        .spinner(&format!("Logging in to {} as {user}", env.endpoint));
    let (token_id, secret) = new_token(&client, user, root).await?;
    ctx.remember_secret(&secret);
    items.push(Item::Status(format!(
        "Created the API token {token_id} (privilege separated) for this workspace."
    )));
    let role_note = ensure_role(&client, user).await?;
    items.push(Item::Status(role_note));
    client
        .write(
            Method::PUT,
            "/access/acl",
            params([
                ("path", "/"),
                ("roles", ROLE),
                ("tokens", token_id.as_str()),
            ]),
        )
        .await
        .map_err(|e| {
            refused(
                e,
                user,
                "grant the role on / to the token (Permissions.Modify on /)",
            )
        })?;
    items.push(Item::Status(format!(
        "Granted {ROLE} on / to {token_id}. The password was used once and not kept."
    )));
    Ok(Created { token_id, secret })
}

/// Creates `USER!mpc-FOLDER` (or `-2`, `-3`, ... when one of that name exists).
async fn new_token(
    client: &Client,
    user: &str,
    root: &Path,
) -> Result<(String, String), CommandError> {
    let base = token_name(root);
    for attempt in 1..=9 {
        let name = if attempt == 1 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let path = format!("/access/users/{user}/token/{name}");
        let comment = format!("proxmox-mpc workspace {}", root.display());
        match client
            .write(
                Method::POST,
                &path,
                params([("privsep", "1"), ("comment", comment.as_str())]),
            )
            .await
        {
            Ok(value) => {
                let secret = value
                    .get("value")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                if secret.is_empty() {
                    return Err(CommandError::user(format!(
                        "the server created the token {user}!{name} but sent no secret"
                    ))
                    .hint("delete that token in the web UI (Datacenter > Permissions > API Tokens) and run /init again"));
                }
                return Ok((format!("{user}!{name}"), secret));
            }
            Err(e) if e.to_string().contains("already exists") => continue,
            Err(e) => return Err(refused(e, user, "create an API token")),
        }
    }
    Err(CommandError::user(format!(
        "{user} already has tokens {base} to {base}-9"
    ))
    .hint("delete the unused ones in the web UI (Datacenter > Permissions > API Tokens) and run /init again; nothing was written"))
}

/// Creates the role, or checks that an existing one of that name holds exactly the
/// workspace's privileges (another workspace made it).
async fn ensure_role(client: &Client, user: &str) -> Result<String, CommandError> {
    let privs: Vec<&str> = WORKSPACE_PRIVILEGES.iter().map(|(p, _)| *p).collect();
    let list = privs.join(",");
    match client
        .write(
            Method::POST,
            "/access/roles",
            params([("roleid", ROLE), ("privs", list.as_str())]),
        )
        .await
    {
        Ok(_) => Ok(format!(
            "Created the role {ROLE} with the {} privileges the workspace uses: {}.",
            privs.len(),
            privs.join(", ")
        )),
        Err(e) if e.to_string().contains("already exists") => {
            let held: serde_json::Map<String, serde_json::Value> = client
                .get(&format!("/access/roles/{ROLE}"), Vec::new())
                .await
                .map_err(|e| refused(e, user, "read the role"))?;
            let mut held: Vec<&str> = held.keys().map(String::as_str).collect();
            held.sort_unstable();
            let mut wanted = privs.clone();
            wanted.sort_unstable();
            if held == wanted {
                Ok(format!(
                    "The role {ROLE} exists with the privileges the workspace uses."
                ))
            } else {
                Err(CommandError::user(format!(
                    "the role {ROLE} exists on the server with other privileges ({})",
                    held.join(", ")
                ))
                .hint(format!("set its privileges to {list} in the web UI (Datacenter > Permissions > Roles), or delete it, and run /init again; the token created was left on the server")))
            }
        }
        Err(e) => Err(refused(e, user, "create the role (Sys.Modify on /access)")),
    }
}

/// A failed login or creation as a console error naming what to do next.
fn refused(e: PveError, user: &str, what: &str) -> CommandError {
    let hint = match &e {
        PveError::Auth { .. } => {
            format!("check the password of {user} (and its realm); nothing was written")
        }
        PveError::Permission { .. } => format!(
            "{user} may not {what}: log in as a user that may (root@pam), or create a token in the web UI and run /init --token-id; nothing was written"
        ),
        _ => "run /init again; nothing was written to the workspace".to_string(),
    };
    CommandError::user(format!("cannot {what} as {user}: {e}")).hint(hint)
}
