//! The rows `/history` joins into one timeline and `/rollback` consults: snapshots (without
//! their data), plans, audit entries, and the destroy steps the journal recorded as done.
//! Times are the RFC 3339 UTC text every table stores, so `since` compares as text.

use sqlx::{FromRow, Row};

use super::plans::StoredPlan;
use super::{StateDb, StateError};

/// A snapshot row without its data.
#[derive(Debug, Clone, FromRow)]
pub struct SnapshotRow {
    pub serial: i64,
    pub taken_at: String,
    pub environment: String,
    /// JSON [`super::SnapshotSummary`].
    pub summary: String,
}

/// An audit-log row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub environment: String,
    pub actor: String,
    /// The front end that asked (`console`, `cli`, `api`, `mcp`, ...).
    pub origin: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}

/// A destroy step an apply finished: which plan, the change's address, when.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DestroyedRow {
    pub plan_id: i64,
    /// The change's address, `vm "web-01" (105 on pve1)`.
    pub target: String,
    pub finished_at: Option<String>,
}

const EPOCH: &str = "0000";

impl StateDb {
    /// Snapshots taken at or after `since` (all without), oldest first.
    pub async fn snapshots_since(
        &self,
        since: Option<&str>,
    ) -> Result<Vec<SnapshotRow>, StateError> {
        sqlx::query_as::<_, SnapshotRow>(
            "SELECT serial, taken_at, environment, summary FROM snapshots WHERE taken_at >= $1 ORDER BY serial",
        )
        .bind(since.unwrap_or(EPOCH))
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// Plans made at or after `since`, oldest first.
    pub async fn plans_since(&self, since: Option<&str>) -> Result<Vec<StoredPlan>, StateError> {
        sqlx::query_as::<_, StoredPlan>("SELECT * FROM plans WHERE created_at >= $1 ORDER BY id")
            .bind(since.unwrap_or(EPOCH))
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())
    }

    /// Audit entries at or after `since`, oldest first.
    pub async fn audit_since(&self, since: Option<&str>) -> Result<Vec<AuditRow>, StateError> {
        sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, environment, actor, origin, action, target, detail FROM audit_log WHERE at >= $1 ORDER BY id",
        )
        .bind(since.unwrap_or(EPOCH))
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// The newest audit entry's id (0 when there is none).
    pub async fn last_audit_id(&self) -> Result<i64, StateError> {
        sqlx::query("SELECT COALESCE(MAX(id), 0) FROM audit_log")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.query_err())
    }

    /// The newest audit entry of `action` with an id above `after`, if one was written since.
    pub async fn audit_after(
        &self,
        after: i64,
        action: &str,
    ) -> Result<Option<AuditRow>, StateError> {
        sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, environment, actor, origin, action, target, detail FROM audit_log
             WHERE id > $1 AND action = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(after)
        .bind(action)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// Every destroy step an apply finished, oldest first.
    pub async fn destroyed(&self) -> Result<Vec<DestroyedRow>, StateError> {
        sqlx::query_as::<_, DestroyedRow>(
            "SELECT plan_id, target, finished_at FROM journal
             WHERE action = 'delete' AND status = 'done' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }
}
