//! Who may do what in shared state, and the workspace lock seen from the operations:
//!
//! - [`enforce`]: the role check [`crate::commands::execute`] runs before every operation, so
//!   every front end gets it. In a local (SQLite) workspace the person at the console is
//!   admin. In shared state the identity is the active environment's PVE token id; the first
//!   identity to use an empty shared database becomes admin, others need a grant. viewer:
//!   reads, plans, tests; operator: also files, apply and actions on guests, except on the
//!   cluster of a `protected` environment; admin: everything.
//! - `/role list|grant|revoke` ([`run`]) and `/unlock --force` ([`unlock`]).
//! - [`lock`]: the lock apply, sync and rollback take: the file lock of this copy
//!   ([`crate::plan::lock`]) and, in shared state, the team's lock ([`crate::state::locks`]),
//!   held in the [`Ctx`] until `execute` releases it.

use crate::commands::access::{Access, Role};
use crate::commands::request::{RoleRequest, UnlockRequest};
use crate::commands::{Ctx, Report, Request};
use crate::error::CommandError;
use crate::plan::lock::ApplyLock;
use crate::state::locks::SharedLockError;
use crate::state::{Backend, StateDb};
use crate::ui::{Item, Table};

/// Operations that touch no shared state, run whatever the role (the configuration of this
/// copy is its own file, which whoever has the copy can edit anyway).
const FREE: &[&str] = &[
    "help",
    "exit",
    "clear",
    "tour",
    "completions",
    "schema",
    "config",
    "init",
    "doctor",
];

/// The admins' identities, for "ask an admin" hints.
async fn admins(db: &StateDb) -> String {
    let names: Vec<String> = db
        .roles()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.role == "admin")
        .map(|r| r.identity)
        .collect();
    if names.is_empty() {
        "none yet".to_string()
    } else {
        names.join(", ")
    }
}

/// Refuses `request` unless the identity's role allows it (shared state only).
pub async fn enforce(ctx: &mut Ctx, request: &Request) -> Result<(), CommandError> {
    let name = request.name();
    if FREE.contains(&name.as_str()) || ctx.workspace_opt().is_none() {
        return Ok(());
    }
    let Ok(config) = ctx.config() else {
        // The operation's own read of config.yml reports what is wrong with it.
        return Ok(());
    };
    if config.state.is_none() {
        return Ok(());
    }
    let identity = config.active_env().token_id.clone();
    let environment = config.active.clone();
    let protected = config.active_env().protected;
    let db = ctx.state().await?.clone();
    if db.claim_first_admin(&identity).await? {
        db.audit(
            &environment,
            "role-grant",
            &identity,
            Some("admin (first use of the shared state)"),
        )
        .await?;
    }
    let access = request.access();
    let role = db.role_of(&identity).await?;
    let Some(role) = role.and_then(|r| Role::parse(&r).ok()) else {
        let needed = Role::least_for(access).as_str();
        return Err(CommandError::forbidden(format!(
            "{identity} has no role in the shared state at {}; /{name} needs the role {needed}",
            db.location().display()
        ))
        .hint(format!(
            "ask an admin ({}) to run /role grant {identity} {needed}",
            admins(&db).await
        )));
    };
    if !role.allows(access) {
        let needed = Role::least_for(access).as_str();
        return Err(CommandError::forbidden(format!(
            "the role {} of {identity} may not run /{name} (it changes {}); it needs the role {needed}",
            role.as_str(),
            access.as_str()
        ))
        .hint(format!(
            "ask an admin ({}) to run /role grant {identity} {needed}",
            admins(&db).await
        )));
    }
    if role == Role::Operator && access == Access::Cluster && protected {
        return Err(CommandError::forbidden(format!(
            "the environment `{environment}` is protected: /{name} changes its cluster and needs the role admin; {identity} is operator"
        ))
        .hint(format!(
            "ask an admin ({}) to run it, or to run /role grant {identity} admin",
            admins(&db).await
        )));
    }
    Ok(())
}

/// Takes the workspace lock for `operation`: this copy's file lock (returned; hold it until
/// the operation ends) and, in shared state, the team's lock, kept in `ctx` until
/// [`crate::commands::execute`] releases it. A refusal names the holder.
pub async fn lock(ctx: &mut Ctx, operation: &str) -> Result<ApplyLock, CommandError> {
    let lock_path = ctx.workspace()?.dot_dir().join("apply.lock");
    let file = ApplyLock::acquire_for(&lock_path, operation).map_err(|e| {
        CommandError::user(e.to_string()).hint(format!(
            "wait for the running operation in this workspace to finish, then run /{operation} again"
        ))
    })?;
    let db = ctx.state().await?.clone();
    if db.backend() == Backend::Postgres {
        let holder = ctx.principal().actor;
        match db.acquire_shared_lock(&holder, operation).await {
            Ok(lock) => ctx.hold_lock(lock),
            Err(SharedLockError::Held { row, ended }) => {
                let next = if ended {
                    format!(
                        "its process is gone; the lock is released {} s after its last heartbeat, or now with /unlock --force (admins)",
                        row.ttl_secs
                    )
                } else {
                    "wait for it to finish; if that process is gone, the lock is released after its TTL, or now with /unlock --force (admins)".to_string()
                };
                return Err(CommandError::user(format!(
                    "/{operation} refused: the workspace is {}",
                    row.describe()
                ))
                .hint(next));
            }
            Err(SharedLockError::State(e)) => return Err(e.into()),
        }
    }
    Ok(file)
}

/// `/unlock --force`: releases the lock, naming who held it; audited.
pub async fn unlock(ctx: &mut Ctx, request: &UnlockRequest) -> Result<Report, CommandError> {
    if !request.force {
        return Err(CommandError::user(
            "/unlock releases a lock another process may still be using; it needs --force",
        )
        .hint("check that the holder is gone (the refusal names user@host and pid), then /unlock --force"));
    }
    let environment = ctx.config()?.active.clone();
    let db = ctx.state().await?.clone();
    let lock_path = ctx.workspace()?.dot_dir().join("apply.lock");
    let held = match db.backend() {
        Backend::Postgres => db.force_unlock().await?.map(|row| row.describe()),
        Backend::Sqlite => ApplyLock::force_release(&lock_path).map(|h| {
            format!(
                "locked by {} (pid {}, {}, since {})",
                h.host, h.pid, h.operation, h.since
            )
        }),
    };
    let Some(held) = held else {
        return Ok(vec![Item::Status(
            "The workspace is not locked; nothing to release.".to_string(),
        )]);
    };
    db.audit(&environment, "unlock", "workspace", Some(&held))
        .await?;
    Ok(vec![
        Item::Status(format!("Released the workspace lock ({held}).")),
        Item::Hint("if that process is still running, stop it: it no longer holds the lock".into()),
    ])
}

/// `/role list|grant|revoke`.
pub async fn run(ctx: &mut Ctx, request: &RoleRequest) -> Result<Report, CommandError> {
    let config = ctx.config()?.clone();
    let db = ctx.state().await?.clone();
    let action = request.action.as_deref().unwrap_or("list");
    if config.state.is_none() {
        if action == "list" {
            return Ok(vec![Item::Status(
                "This workspace's state is local: the person at the console is admin. Roles apply to shared state (/state migrate --to postgres://...)."
                    .to_string(),
            )]);
        }
        return Err(CommandError::user(format!(
            "/role {action} applies to shared state; this workspace's state is local, where the person at the console is admin"
        ))
        .hint("move the state to PostgreSQL first: /state migrate --to postgres://USER@HOST:PORT/DB"));
    }
    let me = config.active_env().token_id.clone();
    let identity = || {
        let id = request.identity.clone().ok_or_else(|| {
            CommandError::user(format!("/role {action} needs an identity")).hint(format!(
                "/role {action} user@realm!name ... (a PVE token id)"
            ))
        })?;
        crate::workspace::config::validate_token_id(&id).map_err(|m| {
            CommandError::user(format!("`{id}` is not an identity: {m}"))
                .hint("identities are PVE token ids, user@realm!name")
        })?;
        Ok::<String, CommandError>(id)
    };
    match action {
        "list" => {
            let rows = db.roles().await?;
            let mut table = Table::new(&["identity", "role", "granted_by", "granted_at"]);
            for r in &rows {
                table.row(vec![
                    r.identity.clone(),
                    r.role.clone(),
                    r.granted_by.clone(),
                    r.granted_at.clone(),
                ]);
            }
            let value = serde_json::to_value(&rows).unwrap_or_default();
            Ok(vec![Item::Data { value, table }])
        }
        "grant" => {
            let id = identity()?;
            let role_text = request.role.as_deref().ok_or_else(|| {
                CommandError::user(format!("/role grant {id} needs a role"))
                    .hint(format!("/role grant {id} viewer|operator|admin"))
            })?;
            let role = Role::parse(role_text)?;
            db.grant_role(&id, role.as_str(), &me).await?;
            db.audit(&config.active, "role-grant", &id, Some(role.as_str()))
                .await?;
            Ok(vec![Item::Status(format!(
                "Granted {} to {id}.",
                role.as_str()
            ))])
        }
        "revoke" => {
            let id = identity()?;
            let rows = db.roles().await?;
            let admins = rows.iter().filter(|r| r.role == "admin").count();
            let target = rows.iter().find(|r| r.identity == id);
            match target {
                None => Err(CommandError::user(format!("{id} has no role to revoke"))
                    .hint("/role list shows who has which role")),
                Some(r) if r.role == "admin" && admins == 1 => Err(CommandError::user(format!(
                    "{id} is the only admin; revoking it would leave no one to grant roles"
                ))
                .hint("grant admin to someone else first: /role grant ID admin")),
                Some(r) => {
                    let had = r.role.clone();
                    db.revoke_role(&id).await?;
                    db.audit(&config.active, "role-revoke", &id, Some(&had))
                        .await?;
                    Ok(vec![Item::Status(format!("Revoked {had} from {id}."))])
                }
            }
        }
        other => Err(
            CommandError::user(format!("`/role {other}` is not a role action"))
                .hint("use /role list, /role grant ID viewer|operator|admin or /role revoke ID"),
        ),
    }
}
