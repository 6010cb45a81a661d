//! `/state` (where the state is: the local state.db or the team's PostgreSQL database, its
//! schema version and rows per shared table) and `/state migrate --to postgres://...|sqlite`:
//! moves the shared tables between the local SQLite file and PostgreSQL, checked row for row
//! ([`crate::state::copy`]), then points config.yml's `state:` at the target. The source is
//! left as it was; nothing of the target is kept when any row fails (one transaction).

use crate::commands::request::StateRequest;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::state::copy::{CopyError, CopyReport};
use crate::state::{Backend, StateDb};
use crate::ui::{Item, Table};
use crate::workspace::config::{Config, SecretRef, StateSettings, validate_state_url};
use crate::workspace::write_atomic;

/// Runs `/state [show]` or `/state migrate`.
pub async fn run(ctx: &mut Ctx, request: &StateRequest) -> Result<Report, CommandError> {
    match request.action.as_deref().unwrap_or("show") {
        "show" => show(ctx).await,
        "migrate" => migrate(ctx, request).await,
        other => Err(
            CommandError::user(format!("`/state {other}` is not a state action"))
                .hint("use /state (where the state is) or /state migrate --to postgres://USER@HOST:PORT/DB|sqlite"),
        ),
    }
}

fn checks_table(report: &[crate::state::copy::TableCheck]) -> Table {
    let mut table = Table::new(&["table", "rows", "sha256"]);
    for check in report {
        table.row(vec![
            check.table.clone(),
            check.rows.to_string(),
            check.sha256[..16].to_string(),
        ]);
    }
    table
}

async fn show(ctx: &mut Ctx) -> Result<Report, CommandError> {
    let db = ctx.state().await?.clone();
    let checks = db.shared_table_checks().await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let value = serde_json::json!({
        "backend": backend,
        "location": db.location().display().to_string(),
        "local": db.path().display().to_string(),
        "schema_version": db.current_version().await?,
        "tables": checks,
    });
    Ok(vec![
        Item::Status(format!(
            "The shared state is in {} ({backend}); this copy's own tables are in {}.",
            db.location().display(),
            db.path().display()
        )),
        Item::Data {
            value,
            table: checks_table(&checks),
        },
    ])
}

/// Where `--to` points: the local file, or a PostgreSQL database with its settings.
enum Target {
    Sqlite,
    Postgres(StateSettings),
}

fn target_of(ctx: &mut Ctx, request: &StateRequest) -> Result<Target, CommandError> {
    let to = request.to.as_deref().ok_or_else(|| {
        CommandError::user("/state migrate needs --to")
            .hint("/state migrate --to postgres://USER@HOST:PORT/DB [--password env:VAR], or --to sqlite to come back")
    })?;
    if to == "sqlite" {
        return Ok(Target::Sqlite);
    }
    validate_state_url(to).map_err(|m| {
        CommandError::user(format!("cannot migrate to `--to`: {m}"))
            .hint("nothing was copied; give postgres://USER@HOST:PORT/DB (the password with --password env:VAR) or sqlite")
    })?;
    if let Some(password) = &request.password {
        SecretRef::parse(password).map_err(|m| {
            CommandError::user(format!("--password: {m}"))
                .hint("give where the password is read from: --password env:VAR, file:PATH or vault:MOUNT/PATH#FIELD")
        })?;
    }
    // TLS settings of an existing `state:` carry over; the password reference too unless given.
    let current = ctx.config()?.state.clone();
    Ok(Target::Postgres(StateSettings {
        url: to.to_string(),
        password: request
            .password
            .clone()
            .or_else(|| current.as_ref().and_then(|c| c.password.clone())),
        sslmode: current.as_ref().and_then(|c| c.sslmode.clone()),
        ca_file: current.and_then(|c| c.ca_file),
    }))
}

async fn migrate(ctx: &mut Ctx, request: &StateRequest) -> Result<Report, CommandError> {
    let target_spec = target_of(ctx, request)?;
    let source = ctx.state().await?.clone();
    let local = source.path().to_path_buf();
    let (target, settings) = match &target_spec {
        Target::Sqlite => {
            if source.backend() == Backend::Sqlite {
                return Err(CommandError::user(format!(
                    "the state is already in the local {}",
                    local.display()
                ))
                .hint("nothing to migrate; /state migrate --to postgres://USER@HOST:PORT/DB moves it to PostgreSQL"));
            }
            (StateDb::open(&local).await?, None)
        }
        Target::Postgres(settings) => {
            let shared = ctx.shared_state_for(settings)?;
            if source.location().display().to_string() == shared.display() {
                return Err(CommandError::user(format!(
                    "the state is already in {}",
                    shared.display()
                ))
                .hint("nothing to migrate"));
            }
            (
                StateDb::open_shared(&local, &shared).await?,
                Some(settings.clone()),
            )
        }
    };
    let report = match source.copy_shared_to(&target, request.force).await {
        Ok(report) => report,
        Err(CopyError::NotEmpty(held)) => {
            return Err(CommandError::user(format!(
                "{} already holds rows ({held}); nothing was copied",
                target.location().display()
            ))
            .hint(
                "migrate into an empty database, or pass --force to replace its rows with these",
            ));
        }
        Err(CopyError::State(e)) => return Err(e.into()),
    };
    if report.mismatches().is_empty() && target.backend() == Backend::Postgres {
        // Whoever moves the state there is its first admin, before anyone else points at it.
        let identity = ctx.config()?.active_env().token_id.clone();
        let environment = ctx.config()?.active.clone();
        let mut target = target.clone();
        target.set_principal(ctx.principal());
        if target.claim_first_admin(&identity).await? {
            target
                .audit(
                    &environment,
                    "role-grant",
                    &identity,
                    Some("admin (moved the state here)"),
                )
                .await?;
        }
    }
    target.clone().close().await;
    finish(ctx, &source, &target, settings, report)
}

/// Checks the copy and, when every table matches, points config.yml at the target.
fn finish(
    ctx: &mut Ctx,
    source: &StateDb,
    target: &StateDb,
    settings: Option<StateSettings>,
    report: CopyReport,
) -> Result<Report, CommandError> {
    let mismatches = report.mismatches();
    if !mismatches.is_empty() {
        return Err(CommandError::internal(format!(
            "the copy in {} does not match its source: {}",
            target.location().display(),
            mismatches.join("; ")
        ))
        .hint("config.yml still points at the source; run /state migrate again with --force"));
    }
    let path = ctx.workspace()?.config_path();
    let mut config = Config::load(&path)?;
    config.state = settings;
    write_atomic(&path, config.render().as_bytes(), 0o600)?;
    ctx.reload_env();
    ctx.change.subject = Some(format!("state migrate to {}", target.location().display()));
    ctx.change.paths.push(format!(
        "{}/{}",
        crate::workspace::DOT_DIR,
        crate::workspace::CONFIG_FILE
    ));
    let value = serde_json::json!({
        "from": source.location().display().to_string(),
        "to": target.location().display().to_string(),
        "rows": report.total_rows(),
        "verified": true,
        "tables": report.target,
    });
    Ok(vec![
        Item::Status(format!(
            "Copied {} rows from {} to {}; every table checked equal (rows and content hash).",
            report.total_rows(),
            source.location().display(),
            target.location().display()
        )),
        Item::Data {
            value,
            table: checks_table(&report.target),
        },
        Item::Hint(format!(
            "config.yml's state now points at {}; {} was left as it was",
            target.location().display(),
            source.location().display()
        )),
    ])
}
