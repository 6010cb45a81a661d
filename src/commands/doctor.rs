//! `/doctor`: checks configuration, secret, TLS, connection, PVE version, token privileges,
//! database integrity, writable files and optional tools, each ok / warn / fail with its fix.
//! Fails (exit code) when any check fails.

use serde_json::json;

use crate::commands::connect;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::ui::{Item, Table};
use crate::workspace::config::Environment;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    pub fix: String,
}

fn check(
    name: &'static str,
    level: Level,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// Returns true when `tool` is an executable on PATH.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(tool);
            p.is_file()
        })
    })
}

/// Returns true when a file can be created in `dir`.
fn writable(dir: &std::path::Path) -> bool {
    let probe = dir.join(format!(".proxmox-mpc-doctor-{}", std::process::id()));
    let ok = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Runs every check.
pub async fn run(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let mut checks = Vec::new();
    let config = match ctx.config() {
        Ok(c) => {
            checks.push(check("configuration", Level::Ok, "config.yml is valid", ""));
            Some(c.clone())
        }
        Err(e) => {
            checks.push(check(
                "configuration",
                Level::Fail,
                e.message.clone(),
                e.hints.join("; "),
            ));
            None
        }
    };
    if let Some(config) = &config {
        let env = config.active_env();
        checks.push(tls_check(env));
        checks.extend(server_checks(ctx, env).await);
    }
    checks.push(database_check(ctx).await);
    checks.push(files_check(&root));
    checks.extend(tool_checks());
    report(&checks)
}

/// How the active environment trusts the server's certificate.
fn tls_check(env: &Environment) -> Check {
    if env.tls.insecure {
        check(
            "tls",
            Level::Warn,
            "certificate verification is off",
            "pin the fingerprint: /config set tls.fingerprint FP, then /config set tls.insecure false",
        )
    } else if env.endpoint.starts_with("http://") {
        check(
            "tls",
            Level::Warn,
            "the endpoint uses plain http",
            "use https://",
        )
    } else if let Some(fp) = &env.tls.fingerprint {
        check(
            "tls",
            Level::Ok,
            format!("pinned SHA-256 {}…", &fp[..fp.len().min(11)]),
            "",
        )
    } else if let Some(ca) = &env.tls.ca_file {
        check("tls", Level::Ok, format!("CA file {ca}"), "")
    } else {
        check("tls", Level::Ok, "system certificate roots", "")
    }
}

/// The secret, then (when it reads) the connection, the PVE version, the token's privileges and
/// the node clock.
async fn server_checks(ctx: &mut Ctx, env: &Environment) -> Vec<Check> {
    // The secret is a check of its own, told apart from a failing connection; the client reads
    // it again below.
    if let Err(e) = ctx.resolve_token(env) {
        return vec![check("secret", Level::Fail, e.message, e.hints.join("; "))];
    }
    let mut checks = vec![check(
        "secret",
        Level::Ok,
        format!("read from {}", env.secret),
        "",
    )];
    let probe = match ctx.client_for(env) {
        Err(e) => Err(e),
        Ok(client) => {
            let _spinner = ctx.ui.spinner(&format!("Checking {}", env.endpoint));
            connect::probe(&client, &env.endpoint)
                .await
                .map(|info| (client, info))
        }
    };
    let (client, info) = match probe {
        Err(e) => {
            checks.push(check(
                "connection",
                Level::Fail,
                e.message,
                e.hints.join("; "),
            ));
            return checks;
        }
        Ok(answer) => answer,
    };
    let online = info.nodes.iter().filter(|n| n.online).count();
    checks.push(check(
        "connection",
        Level::Ok,
        format!(
            "{} answers; {online}/{} nodes online",
            env.endpoint,
            info.nodes.len()
        ),
        "",
    ));
    let major: u32 = info
        .version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let level = if major >= 8 { Level::Ok } else { Level::Warn };
    checks.push(check(
        "pve version",
        level,
        format!("Proxmox VE {}", info.version),
        if level == Level::Ok {
            ""
        } else {
            "proxmox-mpc is tested with PVE 8.4 and 9.x; upgrade the cluster"
        },
    ));
    checks.extend(connect::privilege_checks(&client, &env.token_id).await);
    checks
}

/// Whether state.db opens and passes SQLite's integrity check.
async fn database_check(ctx: &mut Ctx) -> Check {
    match ctx.state().await {
        Err(e) => check("database", Level::Fail, e.message, e.hints.join("; ")),
        Ok(db) => match db.integrity_problems().await {
            Ok(p) if p.is_empty() => check(
                "database",
                Level::Ok,
                "state.db passes the integrity check",
                "",
            ),
            Ok(p) => check(
                "database",
                Level::Fail,
                format!("state.db is damaged: {}", p.join("; ")),
                "restore .proxmox/state.db from a backup",
            ),
            Err(e) => check(
                "database",
                Level::Fail,
                e.to_string(),
                "restore .proxmox/state.db from a backup",
            ),
        },
    }
}

/// Whether the workspace folders under `root` can be written.
fn files_check(root: &std::path::Path) -> Check {
    let not_writable: Vec<String> = [".proxmox", "terraform", "ansible", "tests", "docs"]
        .iter()
        .filter(|d| !writable(&root.join(d)))
        .map(|d| d.to_string())
        .collect();
    if not_writable.is_empty() {
        check("files", Level::Ok, "workspace folders are writable", "")
    } else {
        check(
            "files",
            Level::Fail,
            format!("not writable: {}", not_writable.join(", ")),
            "fix the permissions (chmod u+w) or recreate the missing folders",
        )
    }
}

/// Whether the optional tools the generated files are for are on PATH.
fn tool_checks() -> Vec<Check> {
    [
        (
            "terraform",
            "to run `terraform plan` on the generated files",
        ),
        ("ansible-playbook", "to run the generated playbooks"),
    ]
    .into_iter()
    .map(|(tool, why)| {
        if on_path(tool) {
            check("tools", Level::Ok, format!("{tool} found"), "")
        } else {
            check(
                "tools",
                Level::Warn,
                format!("{tool} not on PATH"),
                format!("install it {why} (optional)"),
            )
        }
    })
    .collect()
}

/// The checks as a table (and JSON); an error carrying it when any check failed.
fn report(checks: &[Check]) -> Result<Report, CommandError> {
    let mut table = Table::new(&["check", "result", "detail", "fix"]);
    let mut values = Vec::new();
    for c in checks {
        table.row(vec![
            c.name.into(),
            c.level.as_str().into(),
            c.detail.clone(),
            c.fix.clone(),
        ]);
        values.push(
            json!({"check": c.name, "result": c.level.as_str(), "detail": c.detail, "fix": c.fix}),
        );
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warned = checks.iter().filter(|c| c.level == Level::Warn).count();
    let items = vec![Item::Data {
        value: serde_json::Value::Array(values),
        table,
    }];
    if failed > 0 {
        return Err(CommandError::user(format!(
            "/doctor found {failed} failing check(s), {warned} warning(s)"
        ))
        .hint("follow the fix column above")
        .with_report(items));
    }
    let mut items = items;
    items.push(Item::Status(format!(
        "All checks passed ({warned} warning(s))."
    )));
    Ok(items)
}
