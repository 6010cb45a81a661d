//! The workspace state database (sqlx's `Any` driver; SQLite by default, PostgreSQL for teams):
//! observed snapshots, plans, the apply journal, the audit log, session state and each guest's
//! base (what its file and the server agreed on at the last `/sync`).
//!
//! Owns opening the database (SQLite: WAL, foreign keys, a busy timeout; PostgreSQL: from
//! config.yml's `state:` section, [`SharedState`]), running the portable migrations in
//! `migrations/` (the same files on both backends), and refusing a database written by a newer
//! proxmox-mpc. Queries use runtime `sqlx::query` with `$1, $2` placeholders (sqlx's SQLite
//! driver binds `$N` by number) and `FromRow` rows; nothing here prints.
//!
//! With shared state, two pools: `pool` is the team's database (PostgreSQL) for what describes
//! the cluster and the team's work; `local` is this copy's `state.db` for what belongs to one
//! copy of the files (the session, the record of written files). Without it both are the same
//! SQLite pool. docs/team.md lists the tables on each side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Executor, FromRow, Row};
use thiserror::Error;

pub mod audit_chain;
pub mod base;
pub mod copy;
pub mod history;
pub mod locks;
pub mod plans;
pub mod roles;
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
/// SERIAL, so the migrations stay portable); call it inside a [`StateDb::write_tx`], which
/// serializes writers on both backends.
async fn next_id(
    conn: &mut sqlx::AnyConnection,
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
    Migration {
        version: 8,
        name: "team",
        sql: include_str!("../../migrations/0008_team.sql"),
    },
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// A failure of the state database. `path` is the SQLite file, or the PostgreSQL address
/// without its password.
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

/// Which database holds the shared tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the team's state is: a PostgreSQL database (config.yml's `state:` section, the
/// password already read from its reference). Debug never shows the password.
#[derive(Clone)]
pub struct SharedState {
    /// `postgres://USER@HOST:PORT/DB`, without a password.
    pub url: String,
    pub password: Option<crate::pve::Secret>,
    /// libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
    pub sslmode: Option<String>,
    /// A PEM file of the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// The PostgreSQL schema of this environment's tables (`None`: the default, `public`).
    pub schema: Option<String>,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("sslmode", &self.sslmode)
            .field("schema", &self.schema)
            .finish()
    }
}

impl SharedState {
    /// The address to show: the URL (never with a password) and the schema when not `public`.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{} (schema {schema})", self.url),
            None => self.url.clone(),
        }
    }

    /// The connection URL with the password and TLS options, held in memory only.
    fn connect_url(&self) -> Result<url::Url, String> {
        let mut url = url::Url::parse(&self.url).map_err(|e| format!("`{}`: {e}", self.url))?;
        if let Some(password) = &self.password {
            url.set_password(Some(password.expose()))
                .map_err(|()| format!("`{}` cannot carry a password", self.url))?;
        }
        if let Some(mode) = &self.sslmode {
            url.query_pairs_mut().append_pair("sslmode", mode);
        }
        if let Some(ca) = &self.ca_file {
            url.query_pairs_mut()
                .append_pair("sslrootcert", &ca.to_string_lossy());
        }
        Ok(url)
    }
}

/// An open state database.
#[derive(Clone)]
pub struct StateDb {
    /// The shared tables: the SQLite file, or the team's PostgreSQL database.
    pool: AnyPool,
    /// This copy's own tables (session, written files): always the SQLite file.
    local: AnyPool,
    backend: Backend,
    /// The SQLite file.
    path: PathBuf,
    /// Where the shared tables are, for messages: the file, or the URL without a password.
    location: PathBuf,
    /// Who the audit rows this handle writes name: the front end and its principal.
    principal: Principal,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
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

/// The key of the transaction-level advisory lock every PostgreSQL write takes first: writers
/// queue on it as SQLite's `BEGIN IMMEDIATE` makes them queue, so `MAX(id) + 1` never hands
/// two writers the same id and the audit chain never forks.
const PG_WRITE_LOCK: i64 = 0x706d_7063_7772;

/// A `sqlite://` URL for `path` (percent signs escaped first: the driver decodes them).
fn sqlite_url(path: &Path, create: bool) -> Result<AnyConnectOptions, sqlx::Error> {
    let mut url = url::Url::parse("sqlite://").map_err(|e| sqlx::Error::Configuration(e.into()))?;
    url.set_path(&path.to_string_lossy().replace('%', "%25"));
    if create {
        url.set_query(Some("mode=rwc"));
    }
    <AnyConnectOptions as sqlx::ConnectOptions>::from_url(&url)
}

/// Opens the SQLite file at `path` (WAL, foreign keys, a 5 s busy timeout).
async fn open_sqlite(path: &Path, create: bool) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let options = sqlite_url(path, create)?;
    // No idle timeout and no lifetime: a local file needs neither, and without them sqlx
    // runs no maintenance task. Its task loops `0..num_idle` over an atomic count that was
    // seen to wrap below zero, spinning a core for good (an infratest run hung 5 minutes
    // in `spawn_maintenance_tasks`, sqlx-core 0.8.6 pool/inner.rs:544).
    AnyPoolOptions::new()
        .max_connections(2)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Foreign keys and the busy timeout are the driver's defaults; WAL is not.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// Opens the team's PostgreSQL database, in `shared.schema` when set (created if missing).
async fn open_postgres(shared: &SharedState) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = shared
        .connect_url()
        .map_err(|m| sqlx::Error::Configuration(m.into()))?;
    let options = <AnyConnectOptions as sqlx::ConnectOptions>::from_url(&url)?;
    // One connection first, so the reason it fails (refused, password, TLS) is what the user
    // reads: the pool would retry until its timeout and say only that it timed out.
    let probe = tokio::time::timeout(
        Duration::from_secs(10),
        <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options),
    )
    .await
    .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let _ = <sqlx::AnyConnection as sqlx::Connection>::close(probe).await;
    let schema = shared.schema.clone();
    AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            let schema = schema.clone();
            Box::pin(async move {
                if let Some(schema) = schema {
                    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
                    conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {quoted}").as_str())
                        .await?;
                    conn.execute(format!("SET search_path TO {quoted}").as_str())
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
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
        let pool = open_sqlite(path, create)
            .await
            .map_err(|source| StateError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let db = Self {
            local: pool.clone(),
            pool,
            backend: Backend::Sqlite,
            path: path.to_path_buf(),
            location: path.to_path_buf(),
            principal: Principal::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Opens this copy's SQLite file at `path` for its own tables and the team's PostgreSQL
    /// database for the shared ones, bringing both schemas up to date.
    pub async fn open_shared(path: &Path, shared: &SharedState) -> Result<Self, StateError> {
        let mut db = Self::open(path).await?;
        let location = PathBuf::from(shared.display());
        db.pool = open_postgres(shared)
            .await
            .map_err(|source| StateError::Open {
                path: location.clone(),
                source,
            })?;
        db.backend = Backend::Postgres;
        db.location = location;
        db.migrate().await?;
        Ok(db)
    }

    /// Which database holds the shared tables.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the shared tables are: the SQLite file, or the PostgreSQL URL (no password).
    pub fn location(&self) -> &Path {
        &self.location
    }

    fn query_err(&self) -> impl Fn(sqlx::Error) -> StateError + '_ {
        move |source| StateError::Query {
            path: self.location.clone(),
            source,
        }
    }

    /// Starts a write transaction on the shared tables that serializes writers: on SQLite it
    /// takes the write lock at once (`BEGIN IMMEDIATE`), so two consoles queue on the busy
    /// timeout where a deferred transaction upgrading to a writer would fail with "database is
    /// locked"; on PostgreSQL it takes a transaction-level advisory lock first, which two
    /// machines queue on alike. Every write that reads before it writes goes through here.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StateError> {
        let err = self.query_err();
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await.map_err(&err)?;
                sqlx::query(&format!("SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"))
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
                Ok(tx)
            }
        }
    }

    /// A write transaction on this copy's own tables (always SQLite, `BEGIN IMMEDIATE`).
    pub(crate) async fn local_write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StateError> {
        self.local
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|source| StateError::Query {
                path: self.path.clone(),
                source,
            })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations not yet applied to the shared tables' database; refuses a schema
    /// newer than this build. One write transaction, so two copies starting at once on one
    /// PostgreSQL database migrate it once.
    async fn migrate(&self) -> Result<(), StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?
            .try_get(0)
            .map_err(&err)?;
        if current > schema_version() {
            return Err(StateError::NewerSchema {
                path: self.location.clone(),
                found: current,
                supported: schema_version(),
            });
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
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
            .fetch_all(&self.local)
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
        sqlx::query("SELECT value FROM session WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.local)
            .await
            .map_err(self.query_err())?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(self.query_err())
    }

    /// Stores a session value.
    pub async fn session_set(&self, key: &str, value: &str) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO session (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now())
        .execute(&self.local)
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        sqlx::query("SELECT COUNT(*) FROM plans WHERE status IN ($1, $2)")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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

    /// Closes the pools, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
        self.local.close().await;
    }
}

/// Rows per statement when many are written at once: one statement per row made recording a
/// 10,000-guest sync's 20,000 file hashes take over a second. Well under both databases'
/// limits on bound values (SQLite 32,766, PostgreSQL 65,535).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4)`: the VALUES list of `rows` rows of `columns` bound values each.
pub(crate) fn values_list(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let values: Vec<String> = (1..=columns)
                .map(|c| format!("${}", row * columns + c))
                .collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
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
        // WAL, foreign keys and the busy timeout hold on every connection of the pool.
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .and_then(|r| r.try_get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let keys: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(&db.pool)
            .await
            .and_then(|r| r.try_get(0))
            .unwrap();
        assert_eq!(keys, 1);
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
