//! The audit log's hash chain: what a row's hash covers, and checking a whole log.
//!
//! A row's hash is the SHA-256 (lowercase hex) of its canonical JSON: one object with the keys
//! `action, actor, at, detail, environment, id, origin, prev_hash, target` in that (sorted)
//! order, no whitespace, strings escaped as serde_json writes them, `detail` and `prev_hash`
//! `null` when absent. `prev_hash` is the hash of the row before it (by id), `null` for the
//! first chained row. [`crate::state::StateDb::audit`] computes both inside its write
//! transaction; [`verify`] recomputes them. Rows from before migration 0007 have no hash: they
//! may only come before the first chained row, and are counted, not checked.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use super::{StateDb, StateError};

/// An audit row with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct ChainedRow {
    pub id: i64,
    pub at: String,
    pub environment: String,
    pub actor: String,
    pub origin: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl ChainedRow {
    /// The hash this row's content and link call for (whatever its `hash` column says).
    pub fn expected_hash(&self) -> String {
        let text = |s: &str| serde_json::Value::String(s.to_string());
        let opt = |s: &Option<String>| s.as_deref().map_or(serde_json::Value::Null, text);
        let canonical: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
            ("id", serde_json::Value::from(self.id)),
            ("at", text(&self.at)),
            ("environment", text(&self.environment)),
            ("actor", text(&self.actor)),
            ("origin", text(&self.origin)),
            ("action", text(&self.action)),
            ("target", text(&self.target)),
            ("detail", opt(&self.detail)),
            ("prev_hash", opt(&self.prev_hash)),
        ]);
        // A BTreeMap serializes its keys sorted whatever serde_json's features are.
        let json = serde_json::to_string(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(json.as_bytes()))
    }
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The row's content no longer gives its stored hash: it was edited.
    Content { id: i64 },
    /// The row's `prev_hash` is not the hash of the row before it: a row was removed, inserted
    /// or reordered between `before` (if any) and `id`.
    Link { id: i64, before: Option<i64> },
    /// A row without a hash after the chain began.
    Unhashed { id: i64 },
}

impl Break {
    /// The id of the first entry found broken.
    pub fn id(&self) -> i64 {
        match self {
            Self::Content { id } | Self::Link { id, .. } | Self::Unhashed { id } => *id,
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Content { id } => write!(
                f,
                "audit entry {id} was changed after it was written: its content no longer matches its hash"
            ),
            Self::Link {
                id,
                before: Some(before),
            } => write!(
                f,
                "audit entry {id} does not link to entry {before} before it: an entry between them was removed, or one of them replaced (its prev_hash is not entry {before}'s hash)"
            ),
            Self::Link { id, before: None } => write!(
                f,
                "audit entry {id} links to an entry that is not there: an entry before it was removed (its prev_hash should be empty)"
            ),
            Self::Unhashed { id } => write!(
                f,
                "audit entry {id} has no hash although entries before it do: it was added or rewritten outside proxmox-mpc"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Rows checked (those with a hash).
    pub chained: usize,
    /// Rows from before the chain (migration 0007) that it does not cover.
    pub unchained: usize,
    /// The newest row's hash: kept elsewhere, it also shows a removed newest row.
    pub head: Option<String>,
    /// The first break, if any.
    pub broken: Option<Break>,
}

/// Checks `rows` (oldest first, all of the log).
pub fn verify(rows: &[ChainedRow]) -> Verdict {
    let mut verdict = Verdict {
        chained: 0,
        unchained: 0,
        head: None,
        broken: None,
    };
    let mut previous: Option<&ChainedRow> = None;
    for row in rows {
        let Some(hash) = &row.hash else {
            if verdict.chained > 0 {
                verdict.broken = Some(Break::Unhashed { id: row.id });
                return verdict;
            }
            verdict.unchained += 1;
            previous = Some(row);
            continue;
        };
        if *hash != row.expected_hash() {
            verdict.broken = Some(Break::Content { id: row.id });
            return verdict;
        }
        let link_ok = match previous {
            Some(before) => row.prev_hash == before.hash,
            None => row.prev_hash.is_none(),
        };
        if !link_ok {
            verdict.broken = Some(Break::Link {
                id: row.id,
                before: previous.map(|b| b.id),
            });
            return verdict;
        }
        verdict.chained += 1;
        verdict.head = Some(hash.clone());
        previous = Some(row);
    }
    verdict
}

impl StateDb {
    /// Every audit row with its hashes, oldest first.
    pub async fn audit_chain(&self) -> Result<Vec<ChainedRow>, StateError> {
        sqlx::query_as::<_, ChainedRow>(
            "SELECT id, at, environment, actor, origin, action, target, detail, prev_hash, hash
             FROM audit_log ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainedRow> {
        let mut rows: Vec<ChainedRow> = Vec::new();
        for id in 1..=n {
            let mut row = ChainedRow {
                id,
                at: "2026-01-01T00:00:00Z".into(),
                environment: "default".into(),
                actor: "alice".into(),
                origin: "cli".into(),
                action: "apply".into(),
                target: format!("plan-{id}"),
                detail: Some("{\"x\":1}".into()),
                prev_hash: rows.last().and_then(|r| r.hash.clone()),
                hash: None,
            };
            row.hash = Some(row.expected_hash());
            rows.push(row);
        }
        rows
    }

    #[test]
    fn an_intact_chain_verifies_and_each_tamper_is_named() {
        let rows = chain(4);
        let ok = verify(&rows);
        assert_eq!((ok.chained, ok.broken), (4, None));
        let mut edited = rows.clone();
        edited[1].detail = Some("{\"x\":2}".into());
        assert_eq!(verify(&edited).broken, Some(Break::Content { id: 2 }));
        let mut removed = rows.clone();
        removed.remove(2);
        assert_eq!(
            verify(&removed).broken,
            Some(Break::Link {
                id: 4,
                before: Some(2)
            })
        );
        let mut first_gone = rows.clone();
        first_gone.remove(0);
        assert_eq!(
            verify(&first_gone).broken,
            Some(Break::Link {
                id: 2,
                before: None
            })
        );
    }

    #[test]
    fn rows_from_before_the_chain_are_counted_only_as_a_prefix() {
        let mut rows = chain(3);
        let mut old = rows[0].clone();
        old.id = 0;
        old.hash = None;
        rows.insert(0, old.clone());
        let verdict = verify(&rows);
        assert_eq!(
            (verdict.chained, verdict.unchained, verdict.broken),
            (3, 1, None)
        );
        old.id = 9;
        rows.push(old);
        assert_eq!(verify(&rows).broken, Some(Break::Unhashed { id: 9 }));
    }
}
