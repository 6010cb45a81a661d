//! The workspace lock in shared (PostgreSQL) state: one apply, sync or rollback at a time
//! across every copy of the workspace, on every machine.
//!
//! The lock itself is a session-level advisory lock (`pg_try_advisory_lock`) held by a
//! connection of its own for as long as the operation runs; the `locks` row says who holds it
//! (user, host, pid, operation, since) and carries a heartbeat the holder's task renews every
//! third of the TTL. A holder that dies loses its session, and with it the advisory lock, but
//! its row stays: a new holder is refused until the row's heartbeat is older than its TTL, so a
//! holder cut off from the database (whose session may linger) and one killed outright are
//! treated alike. A stale holder whose session still holds the advisory lock is ended
//! (`pg_terminate_backend`) once its heartbeat is past the TTL. On SQLite the file lock
//! (`crate::plan::lock`) is the lock and this module is not used.

use std::time::Duration;

use sqlx::{Connection, FromRow, Row};

use super::{Backend, StateDb, StateError};

/// The name of the one lock row a workspace (an environment's schema) has.
const LOCK_NAME: &str = "workspace";

/// How long a holder's heartbeat stays fresh: `PMPC_LOCK_TTL_SECS`, else 60 s.
pub fn ttl_secs() -> i64 {
    std::env::var("PMPC_LOCK_TTL_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(60)
}

/// Who holds the lock, as its row says.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct LockRow {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub operation: String,
    pub since: String,
    /// Unix seconds of the holder's last heartbeat.
    pub heartbeat: i64,
    pub ttl_secs: i64,
}

impl LockRow {
    /// `locked by USER@HOST (pid N, OPERATION, since TIME)`.
    pub fn describe(&self) -> String {
        format!(
            "locked by {}@{} (pid {}, {}, since {})",
            self.holder, self.host, self.pid, self.operation, self.since
        )
    }

    /// True when the heartbeat is older than the TTL: the holder died or lost the database.
    pub fn is_stale(&self, now: i64) -> bool {
        now - self.heartbeat >= self.ttl_secs
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Why the shared lock was not taken.
#[derive(Debug)]
pub enum SharedLockError {
    /// Someone else holds it; `ended` when its session is gone but its TTL has not run out.
    Held {
        row: LockRow,
        ended: bool,
    },
    State(StateError),
}

impl From<StateError> for SharedLockError {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

/// A held shared lock. [`SharedLock::release`] gives it back at once; dropping it without
/// that stops the heartbeat, and the session's end releases the advisory lock (the row then
/// waits for its TTL).
#[derive(Debug)]
pub struct SharedLock {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SharedLock {
    /// Removes the row, unlocks and closes the lock's session, and waits for that.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl StateDb {
    /// The advisory lock key of this database's workspace lock (per schema, so environments
    /// in one database lock apart).
    fn lock_key(&self) -> i64 {
        let text = self.location.display().to_string();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    /// Who holds the shared lock, if its row is there.
    pub async fn lock_holder(&self) -> Result<Option<LockRow>, StateError> {
        sqlx::query_as::<_, LockRow>(
            "SELECT holder, host, pid, operation, since, heartbeat, ttl_secs FROM locks WHERE name = $1",
        )
        .bind(LOCK_NAME)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// Takes the shared lock for `operation` as `holder` (a user name) of this process, or
    /// says who holds it. Only for PostgreSQL state.
    pub async fn acquire_shared_lock(
        &self,
        holder: &str,
        operation: &str,
    ) -> Result<SharedLock, SharedLockError> {
        debug_assert_eq!(self.backend, Backend::Postgres);
        let err = self.query_err();
        let key = self.lock_key();
        let mut conn = self.pool.acquire().await.map_err(&err)?.detach();
        let mut got = try_advisory_lock(&mut conn, key).await.map_err(&err)?;
        let existing = self.lock_holder().await?;
        if !got {
            // Held by a live session: refused, unless its heartbeat ran out (a holder cut off
            // from the database): then its session is ended and the lock taken over.
            match existing {
                Some(row) if row.is_stale(unix_now()) => {
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks
                         WHERE locktype = 'advisory' AND objid::bigint = ($1::bigint & 4294967295)
                           AND classid::bigint = (($1::bigint >> 32) & 4294967295) AND granted",
                    )
                    .bind(key)
                    .execute(&mut conn)
                    .await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    got = try_advisory_lock(&mut conn, key).await.map_err(&err)?;
                    if !got {
                        let _ = conn.close().await;
                        return Err(SharedLockError::Held { row, ended: false });
                    }
                }
                Some(row) => {
                    let _ = conn.close().await;
                    return Err(SharedLockError::Held { row, ended: false });
                }
                None => {
                    let _ = conn.close().await;
                    return Err(SharedLockError::Held {
                        row: LockRow {
                            holder: "another process".into(),
                            host: "unknown".into(),
                            pid: 0,
                            operation: "starting".into(),
                            since: super::now(),
                            heartbeat: unix_now(),
                            ttl_secs: ttl_secs(),
                        },
                        ended: false,
                    });
                }
            }
        } else if let Some(row) = existing {
            // The advisory lock is free but a row is left: its holder's session ended. Its
            // TTL still runs unless it was this very process.
            let mine = row.host == crate::plan::lock::host_name()
                && row.pid == i64::from(std::process::id());
            if !mine && !row.is_stale(unix_now()) {
                let _ = conn.close().await;
                return Err(SharedLockError::Held { row, ended: true });
            }
        }
        let ttl = ttl_secs();
        let row = LockRow {
            holder: holder.to_string(),
            host: crate::plan::lock::host_name(),
            pid: i64::from(std::process::id()),
            operation: operation.to_string(),
            since: super::now(),
            heartbeat: unix_now(),
            ttl_secs: ttl,
        };
        sqlx::query(
            "INSERT INTO locks (name, holder, host, pid, operation, since, heartbeat, ttl_secs)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host,
                pid = excluded.pid, operation = excluded.operation, since = excluded.since,
                heartbeat = excluded.heartbeat, ttl_secs = excluded.ttl_secs",
        )
        .bind(LOCK_NAME)
        .bind(&row.holder)
        .bind(&row.host)
        .bind(row.pid)
        .bind(&row.operation)
        .bind(&row.since)
        .bind(row.heartbeat)
        .bind(row.ttl_secs)
        .execute(&mut conn)
        .await
        .map_err(&err)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(heartbeat(conn, key, row, stopped));
        Ok(SharedLock {
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Removes the lock row and ends the session holding the advisory lock (`/unlock
    /// --force`); returns who held it.
    pub async fn force_unlock(&self) -> Result<Option<LockRow>, StateError> {
        let err = self.query_err();
        let row = self.lock_holder().await?;
        if self.backend == Backend::Postgres {
            let key = self.lock_key();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_locks
                 WHERE locktype = 'advisory' AND objid::bigint = ($1::bigint & 4294967295)
                   AND classid::bigint = (($1::bigint >> 32) & 4294967295) AND granted
                   AND pid <> pg_backend_pid()",
            )
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        }
        sqlx::query("DELETE FROM locks WHERE name = $1")
            .bind(LOCK_NAME)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        Ok(row)
    }
}

async fn try_advisory_lock(conn: &mut sqlx::AnyConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get::<bool, _>(0))
}

/// Renews the heartbeat every third of the TTL until told to stop, then removes the row,
/// unlocks and closes the session.
async fn heartbeat(
    mut conn: sqlx::AnyConnection,
    key: i64,
    row: LockRow,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let every = Duration::from_millis(u64::try_from(row.ttl_secs).unwrap_or(60) * 1000 / 3);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = tokio::time::sleep(every) => {
                let _ = sqlx::query("UPDATE locks SET heartbeat = $1 WHERE name = $2 AND host = $3 AND pid = $4")
                    .bind(unix_now())
                    .bind(LOCK_NAME)
                    .bind(&row.host)
                    .bind(row.pid)
                    .execute(&mut conn)
                    .await;
            }
        }
    }
    let _ = sqlx::query("DELETE FROM locks WHERE name = $1 AND host = $2 AND pid = $3")
        .bind(LOCK_NAME)
        .bind(&row.host)
        .bind(row.pid)
        .execute(&mut conn)
        .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}
