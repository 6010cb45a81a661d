//! Saved plans and their [`PlanStatus`], the apply journal and the managed-guest set in `state.db`.
//!
//! The journal is append-only: a row before a step (`started`, with the vmid a create will use
//! in `detail`) and a row after it (`done`, `failed`, `skipped`), so a crash leaves a `started`
//! row without its partner and the next apply knows what to check.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use sqlx::{FromRow, Row};
use thiserror::Error;

use super::{StateDb, StateError, now};

/// Where a saved plan is in its life. The database stores [`PlanStatus::as_str`], so these
/// strings are part of the `plans` table's format and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanStatus {
    /// Made by `/plan` (or `/apply`) and not carried out yet.
    Pending,
    /// An apply started and has not finished: the next `/apply` resumes it.
    Applying,
    /// Every step succeeded.
    Applied,
    /// The apply ended with a failed step.
    Failed,
    /// Replaced by a newer plan, or found stale.
    Discarded,
}

impl PlanStatus {
    /// The status as stored in `plans.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Pending => "pending",
            PlanStatus::Applying => "applying",
            PlanStatus::Applied => "applied",
            PlanStatus::Failed => "failed",
            PlanStatus::Discarded => "discarded",
        }
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for PlanStatus {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A `plans.status` that no [`PlanStatus`] stores (a database edited by hand).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown plan status `{0}`")]
pub struct UnknownPlanStatus(pub String);

impl FromStr for PlanStatus {
    type Err = UnknownPlanStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PlanStatus::Pending,
            PlanStatus::Applying,
            PlanStatus::Applied,
            PlanStatus::Failed,
            PlanStatus::Discarded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| UnknownPlanStatus(s.to_string()))
    }
}

/// A saved plan row.
#[derive(Debug, Clone)]
pub struct StoredPlan {
    pub id: i64,
    pub created_at: String,
    pub environment: String,
    pub based_on_serial: Option<i64>,
    pub status: PlanStatus,
    pub summary: String,
    /// The plan as JSON (`crate::plan::Plan`).
    pub data: String,
}

// Written out rather than derived: the status column is text that parses into a
// `PlanStatus`, and the derive's `try_from` attribute does not build with the sqlx features
// this crate enables.
impl FromRow<'_, sqlx::any::AnyRow> for StoredPlan {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        let status: String = row.try_get("status")?;
        Ok(StoredPlan {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            environment: row.try_get("environment")?,
            based_on_serial: row.try_get("based_on_serial")?,
            status: status.parse().map_err(|e| sqlx::Error::ColumnDecode {
                index: "status".into(),
                source: Box::new(e),
            })?,
            summary: row.try_get("summary")?,
            data: row.try_get("data")?,
        })
    }
}

/// One journal row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct JournalRow {
    pub id: i64,
    pub plan_id: i64,
    pub step: i64,
    pub action: String,
    pub target: String,
    pub upid: Option<String>,
    /// started, done, failed or skipped.
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub detail: Option<String>,
}

/// A journal row to append.
#[derive(Debug, Clone)]
pub struct JournalEntry<'a> {
    pub plan_id: i64,
    pub step: i64,
    pub action: &'a str,
    pub target: &'a str,
    pub upid: Option<&'a str>,
    pub status: &'a str,
    pub detail: Option<&'a str>,
}

impl StateDb {
    /// Saves a plan and returns its id.
    pub async fn save_plan(
        &self,
        environment: &str,
        based_on_serial: Option<i64>,
        summary: &str,
        data: &str,
    ) -> Result<i64, StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let id = super::next_id(&mut tx, "plans", "id").await.map_err(&err)?;
        // A new plan replaces the pending ones (an interrupted apply stays resumable).
        sqlx::query("UPDATE plans SET status = $1 WHERE status = $2")
            .bind(PlanStatus::Discarded.as_str())
            .bind(PlanStatus::Pending.as_str())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query(
            "INSERT INTO plans (id, created_at, environment, based_on_serial, status, summary, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(now())
        .bind(environment)
        .bind(based_on_serial)
        .bind(PlanStatus::Pending.as_str())
        .bind(summary)
        .bind(data)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(id)
    }

    /// Returns a plan by id.
    pub async fn plan(&self, id: i64) -> Result<Option<StoredPlan>, StateError> {
        sqlx::query_as::<_, StoredPlan>("SELECT * FROM plans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err())
    }

    /// Returns the newest plan with one of `statuses` ([`PlanStatus`]es; their stored strings
    /// are accepted too, which is what `AsRef<str>` allows).
    pub async fn latest_plan_with<S: AsRef<str>>(
        &self,
        statuses: &[S],
    ) -> Result<Option<StoredPlan>, StateError> {
        let marks = (1..=statuses.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT * FROM plans WHERE status IN ({marks}) ORDER BY id DESC LIMIT 1");
        let mut query = sqlx::query_as::<_, StoredPlan>(&sql);
        for s in statuses {
            query = query.bind(s.as_ref());
        }
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err())
    }

    /// Sets a plan's status.
    pub async fn set_plan_status(&self, id: i64, status: PlanStatus) -> Result<(), StateError> {
        sqlx::query("UPDATE plans SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.query_err())?;
        Ok(())
    }

    /// Appends a journal row and returns its id. One statement, so on SQLite it needs no
    /// read-then-write transaction (which SQLite refuses with "database is locked" under a
    /// concurrent writer); on PostgreSQL, where two statements' `MAX(id)` may see the same
    /// rows, it runs inside the serialized write transaction.
    pub async fn journal_append(&self, entry: &JournalEntry<'_>) -> Result<i64, StateError> {
        let at = now();
        let finished = (entry.status != "started").then(|| at.clone());
        let query = sqlx::query(
            "INSERT INTO journal (id, plan_id, step, action, target, upid, status, started_at, finished_at, detail)
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM journal
             RETURNING id",
        )
        .bind(entry.plan_id)
        .bind(entry.step)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.upid)
        .bind(entry.status)
        .bind(&at)
        .bind(finished)
        .bind(entry.detail);
        let err = self.query_err();
        if self.backend == super::Backend::Sqlite {
            return query
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(err);
        }
        let mut tx = self.write_tx().await?;
        let id = query
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(id)
    }

    /// Returns a plan's journal in order.
    pub async fn journal(&self, plan_id: i64) -> Result<Vec<JournalRow>, StateError> {
        sqlx::query_as::<_, JournalRow>("SELECT * FROM journal WHERE plan_id = $1 ORDER BY id")
            .bind(plan_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())
    }

    /// Returns the vmids this workspace manages.
    pub async fn managed_vmids(&self) -> Result<BTreeSet<u32>, StateError> {
        let rows = sqlx::query("SELECT vmid FROM managed_guests")
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<i64, _>(0).ok())
            .filter_map(|v| u32::try_from(v).ok())
            .collect())
    }

    /// Marks a guest as managed (idempotent; name and node follow the latest call).
    pub async fn set_managed(
        &self,
        vmid: u32,
        name: &str,
        node: &str,
        kind: &str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO managed_guests (vmid, name, node, kind, since) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (vmid) DO UPDATE SET name = excluded.name, node = excluded.node, kind = excluded.kind",
        )
        .bind(i64::from(vmid))
        .bind(name)
        .bind(node)
        .bind(kind)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(self.query_err())?;
        Ok(())
    }

    /// Marks many guests as managed (`(vmid, name, node, kind)`), as [`Self::set_managed`] does
    /// one: only rows that are new or differ are written, all in one transaction, so a plan
    /// over 10,000 unchanged guests writes nothing. Returns every managed vmid afterwards (what
    /// [`Self::managed_vmids`] would, without reading the table a second time).
    pub async fn set_managed_all(
        &self,
        guests: &[(u32, &str, &str, &str)],
    ) -> Result<BTreeSet<u32>, StateError> {
        let rows = sqlx::query("SELECT vmid, name, node, kind FROM managed_guests")
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())?;
        let known: std::collections::HashMap<i64, (String, String, String)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.try_get::<i64, _>(0).ok()?,
                    (r.try_get(1).ok()?, r.try_get(2).ok()?, r.try_get(3).ok()?),
                ))
            })
            .collect();
        let changed: Vec<_> = guests
            .iter()
            .filter(|(vmid, name, node, kind)| {
                known.get(&i64::from(*vmid)).is_none_or(|(n, o, k)| {
                    (n.as_str(), o.as_str(), k.as_str()) != (*name, *node, *kind)
                })
            })
            .collect();
        let managed: BTreeSet<u32> = known
            .keys()
            .filter_map(|v| u32::try_from(*v).ok())
            .chain(changed.iter().map(|(vmid, ..)| *vmid))
            .collect();
        if changed.is_empty() {
            return Ok(managed);
        }
        let mut tx = self.write_tx().await?;
        for (vmid, name, node, kind) in changed {
            sqlx::query(
                "INSERT INTO managed_guests (vmid, name, node, kind, since) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (vmid) DO UPDATE SET name = excluded.name, node = excluded.node, kind = excluded.kind",
            )
            .bind(i64::from(*vmid))
            .bind(name)
            .bind(node)
            .bind(kind)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(self.query_err())?;
        }
        tx.commit().await.map_err(self.query_err())?;
        Ok(managed)
    }

    /// Forgets a managed guest (after it was destroyed).
    pub async fn unset_managed(&self, vmid: u32) -> Result<(), StateError> {
        sqlx::query("DELETE FROM managed_guests WHERE vmid = $1")
            .bind(i64::from(vmid))
            .execute(&self.pool)
            .await
            .map_err(self.query_err())?;
        Ok(())
    }

    /// Returns the audit entries of one action (`apply`), oldest first, as
    /// (at, actor, target, detail).
    pub async fn audit_entries(
        &self,
        action: &str,
    ) -> Result<Vec<(String, String, String, Option<String>)>, StateError> {
        let rows = sqlx::query(
            "SELECT at, actor, target, detail FROM audit_log WHERE action = $1 ORDER BY id",
        )
        .bind(action)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_err())
    }

    /// Returns the data of the newest snapshot (JSON `ClusterSnapshot`) and its serial.
    pub async fn latest_snapshot_data(&self) -> Result<Option<(i64, String)>, StateError> {
        let row = sqlx::query("SELECT serial, data FROM snapshots ORDER BY serial DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err())?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
            .map_err(self.query_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_status_strings_round_trip() {
        for (status, text) in [
            (PlanStatus::Pending, "pending"),
            (PlanStatus::Applying, "applying"),
            (PlanStatus::Applied, "applied"),
            (PlanStatus::Failed, "failed"),
            (PlanStatus::Discarded, "discarded"),
        ] {
            assert_eq!(status.as_str(), text);
            assert_eq!(text.parse::<PlanStatus>(), Ok(status));
        }
        assert!("done".parse::<PlanStatus>().is_err());
    }

    #[tokio::test]
    async fn plans_journal_and_managed_set_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).await.unwrap();
        let first = db.save_plan("default", Some(3), "{}", "{}").await.unwrap();
        let second = db.save_plan("default", None, "{}", "{}").await.unwrap();
        assert_eq!(
            db.plan(first).await.unwrap().unwrap().status,
            PlanStatus::Discarded
        );
        let latest = db
            .latest_plan_with(&[PlanStatus::Pending])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.id, second);
        let entry = JournalEntry {
            plan_id: second,
            step: 0,
            action: "create",
            target: "vm web",
            upid: None,
            status: "started",
            detail: Some("{\"vmid\":105}"),
        };
        db.journal_append(&entry).await.unwrap();
        db.journal_append(&JournalEntry {
            status: "done",
            ..entry
        })
        .await
        .unwrap();
        let rows = db.journal(second).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].finished_at.is_none());
        assert_eq!(rows[1].status, "done");
        db.set_managed(105, "web", "pve1", "qemu").await.unwrap();
        db.set_managed(105, "web2", "pve1", "qemu").await.unwrap();
        assert_eq!(db.managed_vmids().await.unwrap(), BTreeSet::from([105]));
        db.unset_managed(105).await.unwrap();
        assert!(db.managed_vmids().await.unwrap().is_empty());
    }
}
