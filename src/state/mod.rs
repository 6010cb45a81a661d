//! The workspace state database (sqlx; SQLite by default, PostgreSQL for teams): observed
//! snapshots, plans, the apply journal, the audit log, session state and each guest's base
//! (what its file and the server agreed on at the last `/sync`).
//!
//! Owns opening the database (WAL), running the portable migrations in `migrations/`, and
//! refusing a database written by a newer proxmox-mpc. Queries use runtime `sqlx::query` with
//! bound parameters and `FromRow` rows; nothing here prints.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{FromRow, Row};
use thiserror::Error;

pub mod audit_chain;
pub mod base;
pub mod history;
pub mod plans;
pub mod summary;
pub mod tokens;
pub mod written;

pub use plans::PlanStatus;
pub use summary::SnapshotSummary;

/// Session keys kept in the state database's `session` table.
pub mod session_keys {
    /// The active environment's name. (The last plan and an unfinished apply are read from
    /// the plans table itself.)
    pub const ACTIVE_ENV: &str = "active_environment";
}

/// One schema migration: its version, a name, and portable SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Returns the next application-assigned id of `table.column` (ids are not AUTOINCREMENT or
/// SERIAL, so the migrations stay portable); call it inside a [`StateDb::write_tx`].
async fn next_id(
    conn: &mut sqlx::SqliteConnection,
    table: &'static str,
    column: &'static str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}"
    ))
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
}

/// The migrations this build knows, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "managed_guests",
        sql: include_str!("../../migrations/0002_managed_guests.sql"),
    },
    Migration {
        version: 3,
        name: "written_files",
        sql: include_str!("../../migrations/0003_written_files.sql"),
    },
    Migration {
        version: 4,
        name: "sync_base",
        sql: include_str!("../../migrations/0004_sync_base.sql"),
    },
    Migration {
        version: 5,
        name: "audit_origin",
        sql: include_str!("../../migrations/0005_audit_origin.sql"),
    },
    Migration {
        version: 6,
        name: "api_tokens",
        sql: include_str!("../../migrations/0006_api_tokens.sql"),
    },
    Migration {
        version: 7,
        name: "audit_chain",
        sql: include_str!("../../migrations/0007_audit_chain.sql"),
    },
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// A failure of the state database.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("the state database {path} does not exist")]
    Missing { path: PathBuf },
    #[error(
        "the state database {path} has schema version {found}, newer than this proxmox-mpc understands ({supported})"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("the state database {path} failed: {source}")]
    Query {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
}

/// The newest observed snapshot, as `/status` shows it.
#[derive(Debug, Clone, FromRow)]
pub struct SnapshotInfo {
    pub serial: i64,
    pub taken_at: String,
    pub endpoint: String,
    /// JSON [`SnapshotSummary`] written by `/sync`.
    pub summary: String,
}

impl SnapshotInfo {
    /// Returns the parsed summary (an unreadable one counts as empty).
    pub fn summary(&self) -> SnapshotSummary {
        serde_json::from_str(&self.summary).unwrap_or_default()
    }
}

/// An open state database.
#[derive(Debug, Clone)]
pub struct StateDb {
    pool: SqlitePool,
    path: PathBuf,
    /// Who the audit rows this handle writes name: the front end and its principal.
    principal: Principal,
}

/// Who asks for the changes an audit row records: the front end (`console`, `cli`, `api`,
/// `mcp`, ...) and its principal (a user name, an API token's name, an MCP client's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub origin: String,
    pub actor: String,
}

impl Default for Principal {
    fn default() -> Self {
        Self {
            origin: "cli".into(),
            actor: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        }
    }
}

impl StateDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StateError> {
        Self::open_with(path, true).await
    }

    /// Opens an existing database; a missing file is an error rather than a new database.
    pub async fn open_existing(path: &Path) -> Result<Self, StateError> {
        if !path.is_file() {
            return Err(StateError::Missing {
                path: path.to_path_buf(),
            });
        }
        Self::open_with(path, false).await
    }

    async fn open_with(path: &Path, create: bool) -> Result<Self, StateError> {
        let open_err = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // No idle timeout and no lifetime: a local file needs neither, and without them sqlx
        // runs no maintenance task. Its task loops `0..num_idle` over an atomic count that was
        // seen to wrap below zero, spinning a core for good (an infratest run hung 5 minutes
        // in `spawn_maintenance_tasks`, sqlx-core 0.8.6 pool/inner.rs:544).
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let db = Self {
            pool,
            path: path.to_path_buf(),
            principal: Principal::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    fn query_err(&self) -> impl Fn(sqlx::Error) -> StateError + '_ {
        move |source| StateError::Query {
            path: self.path.clone(),
            source,
        }
    }

    /// Starts a write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`):
    /// two consoles on one workspace then queue on the busy timeout, where a deferred
    /// transaction upgrading to a writer would fail with "database is locked". Every write goes
    /// through here, so a PostgreSQL backend changes this one place.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StateError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.query_err())
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations not yet applied; refuses a schema newer than this build.
    async fn migrate(&self) -> Result<(), StateError> {
        let err = self.query_err();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(&err)?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(&err)?
            .try_get(0)
            .map_err(&err)?;
        if current > schema_version() {
            return Err(StateError::NewerSchema {
                path: self.path.clone(),
                found: current,
                supported: schema_version(),
            });
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            let mut tx = self.write_tx().await?;
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
        }
        Ok(())
    }

    /// Returns the schema version recorded in the database.
    pub async fn current_version(&self) -> Result<i64, StateError> {
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.query_err())
    }

    /// Runs SQLite's integrity check; returns the problems found (empty when healthy).
    pub async fn integrity_problems(&self) -> Result<Vec<String>, StateError> {
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .filter(|s| s != "ok")
            .collect())
    }

    /// Returns a session value.
    pub async fn session_get(&self, key: &str) -> Result<Option<String>, StateError> {
        sqlx::query("SELECT value FROM session WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err())?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(self.query_err())
    }

    /// Stores a session value.
    pub async fn session_set(&self, key: &str, value: &str) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO session (key, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(self.query_err())?;
        Ok(())
    }

    /// Returns the newest snapshot, if any `/sync` has run.
    pub async fn latest_snapshot(&self) -> Result<Option<SnapshotInfo>, StateError> {
        sqlx::query_as::<_, SnapshotInfo>(
            "SELECT serial, taken_at, endpoint, summary FROM snapshots ORDER BY serial DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// Records an observed snapshot and returns its serial.
    pub async fn record_snapshot(
        &self,
        environment: &str,
        endpoint: &str,
        summary: &serde_json::Value,
        data: &str,
    ) -> Result<i64, StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let serial = next_id(&mut tx, "snapshots", "serial")
            .await
            .map_err(&err)?;
        sqlx::query(
            "INSERT INTO snapshots (serial, taken_at, environment, endpoint, summary, data)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(serial)
        .bind(now())
        .bind(environment)
        .bind(endpoint)
        .bind(summary.to_string())
        .bind(data)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(serial)
    }

    /// Returns how many saved plans are not applied yet.
    pub async fn pending_plans(&self) -> Result<i64, StateError> {
        sqlx::query("SELECT COUNT(*) FROM plans WHERE status IN (?, ?)")
            .bind(PlanStatus::Pending.as_str())
            .bind(PlanStatus::Applying.as_str())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.query_err())
    }

    /// Returns when the last apply finished, if any.
    pub async fn last_apply(&self) -> Result<Option<String>, StateError> {
        sqlx::query("SELECT MAX(finished_at) FROM journal WHERE finished_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<Option<String>, _>(0))
            .map_err(self.query_err())
    }

    /// Names who the audit rows written through this handle (and its clones) come from.
    pub fn set_principal(&mut self, principal: Principal) {
        self.principal = principal;
    }

    /// Appends an audit record, chained to the one before it ([`audit_chain`]): the previous
    /// row's hash is read inside the same write transaction, so two writers cannot fork the
    /// chain.
    pub async fn audit(
        &self,
        environment: &str,
        action: &str,
        target: &str,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let id = next_id(&mut tx, "audit_log", "id").await.map_err(&err)?;
        let prev_hash: Option<String> =
            sqlx::query("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(&err)?
                .map(|r| r.try_get::<Option<String>, _>(0))
                .transpose()
                .map_err(&err)?
                .flatten();
        let mut row = audit_chain::ChainedRow {
            id,
            at: now(),
            environment: environment.to_string(),
            actor: self.principal.actor.clone(),
            origin: self.principal.origin.clone(),
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.map(str::to_string),
            prev_hash,
            hash: None,
        };
        row.hash = Some(row.expected_hash());
        sqlx::query(
            "INSERT INTO audit_log
                 (id, at, environment, actor, origin, action, target, detail, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.id)
        .bind(&row.at)
        .bind(&row.environment)
        .bind(&row.actor)
        .bind(&row.origin)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.detail)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Returns the current time as RFC 3339 UTC text.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let db = StateDb::open(&path).await.unwrap();
        assert_eq!(db.current_version().await.unwrap(), schema_version());
        db.session_set("env", "default").await.unwrap();
        db.session_set("env", "prod").await.unwrap();
        assert_eq!(
            db.session_get("env").await.unwrap().as_deref(),
            Some("prod")
        );
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'x', 'y')",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        db.close().await;
        let err = StateDb::open(&path).await.unwrap_err();
        assert!(
            matches!(err, StateError::NewerSchema { found: 99, .. }),
            "{err}"
        );
    }
}
