//! `/token create NAME --role viewer|operator|admin [--env ENV] [--expires DURATION]`,
//! `/token list`, `/token revoke NAME`: the REST API's (`proxmox-mpc serve`) bearer tokens.
//!
//! A token is `pmpc_` and 64 random hex digits. It is shown once, when created (alone on the
//! last line of stdout, so a script can take it with `tail -n 1`); `state.db` keeps only its
//! SHA-256, so neither the database nor a listing can give it back. A revoked token keeps its
//! row, so the audit log's actor names stay explained.

use chrono::{Duration as ChronoDuration, Utc};
use sha2::{Digest, Sha256};

use crate::commands::access::Role;
use crate::commands::request::TokenRequest;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::state::StateDb;
use crate::state::tokens::ApiToken;
use crate::ui::{Item, OutputFormat, Table};

/// What every token starts with (secret scanners and people recognise it).
pub const TOKEN_PREFIX: &str = "pmpc_";

/// Returns the SHA-256 (lowercase hex) a token is stored and found by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The state database the tokens live in: the workspace's own (its top folder's), whichever
/// environment is chosen, so a token works for every environment it is not limited away from.
pub async fn token_db(ctx: &mut Ctx) -> Result<StateDb, CommandError> {
    let top = crate::workspace::Workspace::at(ctx.workspace()?.top());
    if top.state_db_path() == ctx.workspace()?.state_db_path() {
        return Ok(ctx.state().await?.clone());
    }
    let path = top.state_db_path();
    let existed = path.is_file();
    // With shared state the tokens are the team's: the database's default schema.
    let mut db = match ctx.shared_state()? {
        Some(mut shared) => {
            shared.schema = None;
            StateDb::open_shared(&path, &shared).await?
        }
        None => StateDb::open(&path).await?,
    };
    if !existed {
        crate::workspace::restrict_to_owner(&path)?;
    }
    db.set_principal(ctx.principal());
    Ok(db)
}

/// Makes a new random token.
fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Reads `--expires`: a whole number with s, m, h, d or w (`90m`, `12h`, `30d`, `8w`).
pub fn parse_expires(text: &str) -> Result<ChronoDuration, CommandError> {
    let bad = || {
        CommandError::user(format!("`--expires {text}` is not a duration"))
            .hint("give a whole number with s, m, h, d or w, e.g. --expires 12h, --expires 30d")
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        "w" => n.checked_mul(604_800),
        _ => None,
    }
    // At most ten years: a token that outlives that is a mistake.
    .filter(|s| *s > 0 && *s <= 86_400 * 3660)
    .ok_or_else(bad)?;
    Ok(ChronoDuration::seconds(seconds))
}

/// A token name: letters, digits, `-`, `_` and `.`, 1 to 64 of them (it appears in the audit
/// log and in messages).
fn check_name(name: &str) -> Result<(), CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CommandError::user(format!("`{name}` is not a usable token name"))
            .hint("use letters, digits, -, _ and . (at most 64), e.g. /token create ci-bot --role operator"))
    }
}

/// Runs `/token`.
pub async fn run(ctx: &mut Ctx, request: &TokenRequest) -> Result<Report, CommandError> {
    match request.action.as_deref().unwrap_or("list") {
        "create" => create(ctx, request).await,
        "list" => list(ctx).await,
        "revoke" => revoke(ctx, request).await,
        other => Err(CommandError::user(format!(
            "`/token {other}`: the actions are create, list and revoke"
        ))
        .hint("/token create NAME --role viewer|operator|admin, /token list, /token revoke NAME")),
    }
}

fn required_name(request: &TokenRequest, action: &str) -> Result<String, CommandError> {
    let name = request.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(
            CommandError::user(format!("/token {action} needs the token's name")).hint(format!(
                "/token {action} NAME (/token list shows the names)"
            )),
        );
    }
    Ok(name)
}

/// Stores a new token `name` with `role` (limited to `environment`, expiring at `expires_at`
/// when given), audits it, and returns the token (the only time it exists outside the caller)
/// with the row stored.
pub async fn issue(
    ctx: &mut Ctx,
    name: &str,
    role: Role,
    environment: Option<String>,
    expires_at: Option<String>,
) -> Result<(String, ApiToken), CommandError> {
    let token = new_token();
    let row = ApiToken {
        name: name.to_string(),
        role: role.as_str().to_string(),
        environment,
        created_at: crate::state::now(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    let db = token_db(ctx).await?;
    if !db.create_token(&row, &token_hash(&token)).await? {
        return Err(
            CommandError::user(format!("a token named `{name}` exists already")).hint(format!(
                "pick another name, or /token revoke {name} and create it under a new name"
            )),
        );
    }
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    db.audit(&environment, "token-create", name, Some(role.as_str()))
        .await?;
    Ok((token, row))
}

async fn create(ctx: &mut Ctx, request: &TokenRequest) -> Result<Report, CommandError> {
    let name = required_name(request, "create")?;
    check_name(&name)?;
    let role = match request.role.as_deref() {
        Some(r) => Role::parse(r)?,
        None => {
            return Err(CommandError::user(format!(
                "/token create {name} needs a role"
            ))
            .hint("add --role viewer (reads), --role operator (reads, files, cluster) or --role admin"));
        }
    };
    let expires_at = match request.expires.as_deref() {
        Some(text) => Some(
            (Utc::now() + parse_expires(text)?).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        None => None,
    };
    if let Some(env) = &request.env {
        let config = ctx.config()?;
        if !config.environments.contains_key(env) {
            let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(CommandError::user(format!(
                "config.yml has no environment `{env}` to limit the token to"
            ))
            .hint(format!("use one of: {}", known.join(", "))));
        }
    }
    let (token, row) = issue(ctx, &name, role, request.env.clone(), expires_at.clone()).await?;
    ctx.remember_secret(&token);
    let until = expires_at
        .as_deref()
        .map_or_else(|| "does not expire".to_string(), |e| format!("expires {e}"));
    let mut items = vec![
        Item::Status(format!(
            "Created the API token `{name}` (role {}, {until}). It is shown once, below: keep it \
             in a secret store; state.db holds only its hash.",
            role.as_str()
        )),
        Item::Hint("send it as `Authorization: Bearer TOKEN` to proxmox-mpc serve".into()),
    ];
    if ctx.ui.format == OutputFormat::Table {
        items.push(Item::Text(token));
    } else {
        let mut value = serde_json::to_value(&row).unwrap_or_default();
        value["token"] = serde_json::Value::String(token);
        items.push(Item::Data {
            value,
            table: Table::default(),
        });
    }
    Ok(items)
}

async fn list(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let db = token_db(ctx).await?;
    let tokens = db.tokens().await?;
    let now = crate::state::now();
    let mut table = Table::new(&[
        "name",
        "role",
        "env",
        "state",
        "created",
        "expires",
        "last used",
    ]);
    let mut values = Vec::new();
    for t in &tokens {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.as_deref().is_some_and(|e| *e <= *now) {
            "expired"
        } else {
            "active"
        };
        table.row(vec![
            t.name.clone(),
            t.role.clone(),
            t.environment.clone().unwrap_or_else(|| "any".into()),
            state.into(),
            t.created_at.clone(),
            t.expires_at.clone().unwrap_or_else(|| "never".into()),
            t.last_used_at.clone().unwrap_or_else(|| "never".into()),
        ]);
        let mut value = serde_json::to_value(t).unwrap_or_default();
        value["state"] = serde_json::Value::String(state.into());
        values.push(value);
    }
    let mut items = vec![Item::Data {
        value: serde_json::json!({ "tokens": values }),
        table,
    }];
    if tokens.is_empty() {
        items.push(Item::Hint(
            "no API token yet: /token create NAME --role viewer|operator|admin".into(),
        ));
    }
    Ok(items)
}

async fn revoke(ctx: &mut Ctx, request: &TokenRequest) -> Result<Report, CommandError> {
    let name = required_name(request, "revoke")?;
    let environment = ctx.active_env_name().unwrap_or_else(|| "default".into());
    let db = token_db(ctx).await?;
    match db.revoke_token(&name).await? {
        None => Err(
            CommandError::user(format!("there is no API token named `{name}`"))
                .hint("/token list shows the tokens"),
        ),
        Some(false) => Ok(vec![Item::Status(format!(
            "The API token `{name}` was revoked already."
        ))]),
        Some(true) => {
            db.audit(&environment, "token-revoke", &name, None).await?;
            Ok(vec![Item::Status(format!(
                "Revoked the API token `{name}`: it is refused from now on."
            ))])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_durations_take_seconds_to_weeks_and_nothing_else() {
        assert_eq!(parse_expires("1s").unwrap(), ChronoDuration::seconds(1));
        assert_eq!(parse_expires("90m").unwrap(), ChronoDuration::minutes(90));
        assert_eq!(parse_expires("2d").unwrap(), ChronoDuration::hours(48));
        assert_eq!(parse_expires("1w").unwrap(), ChronoDuration::days(7));
        for bad in ["", "0d", "3", "5y", "-1h", "99999999999w"] {
            assert!(parse_expires(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_prefixed_and_found_by_their_hash() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!token_hash(&a).contains(&a[TOKEN_PREFIX.len()..]));
    }
}
