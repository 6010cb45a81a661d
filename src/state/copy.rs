//! Copying the shared tables from one state database to another (`/state migrate`): SQLite to
//! PostgreSQL and back. Every row of every shared table is read as typed values (integers and
//! text, the only column types the migrations use) and written into the target inside one
//! write transaction, so a failure leaves the target as it was; afterwards both sides are read
//! again and compared table by table: the number of rows and a SHA-256 over the rows'
//! canonical JSON, sorted (so the two databases' orderings of text keys do not matter).
//!
//! What is copied is the list [`SHARED_TABLES`]; this copy's own tables (`session`,
//! `written_files`) stay where they are, and the lock rows are not copied (a lock belongs to a
//! running process, not to the history).

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{StateDb, StateError};

/// A column's type: the migrations use only integers and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// One shared table: its name and columns, in an order where a table comes after those its
/// foreign keys name.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
}

use Kind::{Int, Text};

/// The tables that describe the cluster and the team's work (docs/team.md).
const SHARED_TABLES: &[Table] = &[
    Table {
        name: "snapshots",
        columns: &[
            ("serial", Int),
            ("taken_at", Text),
            ("environment", Text),
            ("endpoint", Text),
            ("summary", Text),
            ("data", Text),
        ],
    },
    Table {
        name: "plans",
        columns: &[
            ("id", Int),
            ("created_at", Text),
            ("environment", Text),
            ("based_on_serial", Int),
            ("status", Text),
            ("summary", Text),
            ("data", Text),
        ],
    },
    Table {
        name: "journal",
        columns: &[
            ("id", Int),
            ("plan_id", Int),
            ("step", Int),
            ("action", Text),
            ("target", Text),
            ("upid", Text),
            ("status", Text),
            ("started_at", Text),
            ("finished_at", Text),
            ("detail", Text),
        ],
    },
    Table {
        name: "audit_log",
        columns: &[
            ("id", Int),
            ("at", Text),
            ("environment", Text),
            ("actor", Text),
            ("origin", Text),
            ("action", Text),
            ("target", Text),
            ("detail", Text),
            ("prev_hash", Text),
            ("hash", Text),
        ],
    },
    Table {
        name: "managed_guests",
        columns: &[
            ("vmid", Int),
            ("name", Text),
            ("node", Text),
            ("kind", Text),
            ("since", Text),
        ],
    },
    Table {
        name: "sync_base",
        columns: &[
            ("environment", Text),
            ("vmid", Int),
            ("fields", Text),
            ("serial", Int),
            ("updated_at", Text),
        ],
    },
    Table {
        name: "api_tokens",
        columns: &[
            ("name", Text),
            ("role", Text),
            ("token_sha256", Text),
            ("environment", Text),
            ("created_at", Text),
            ("expires_at", Text),
            ("revoked_at", Text),
            ("last_used_at", Text),
        ],
    },
    Table {
        name: "roles",
        columns: &[
            ("identity", Text),
            ("role", Text),
            ("granted_by", Text),
            ("granted_at", Text),
        ],
    },
];

/// The names of the tables `/state migrate` copies.
pub fn shared_table_names() -> Vec<&'static str> {
    SHARED_TABLES.iter().map(|t| t.name).collect()
}

/// One table's rows on one side: how many and their content hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCheck {
    pub table: String,
    pub rows: usize,
    /// SHA-256 (hex) of the rows' canonical JSON lines, sorted.
    pub sha256: String,
}

/// What a copy did: per table, the source's rows and hash and whether the target matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub source: Vec<TableCheck>,
    pub target: Vec<TableCheck>,
}

impl CopyReport {
    /// The tables whose target differs from the source (empty after a good copy).
    pub fn mismatches(&self) -> Vec<String> {
        self.source
            .iter()
            .zip(&self.target)
            .filter(|(s, t)| s != t)
            .map(|(s, t)| {
                format!(
                    "{}: {} rows (sha256 {}) in the source, {} (sha256 {}) in the target",
                    s.table,
                    s.rows,
                    &s.sha256[..12],
                    t.rows,
                    &t.sha256[..12]
                )
            })
            .collect()
    }

    /// Rows copied, all tables together.
    pub fn total_rows(&self) -> usize {
        self.source.iter().map(|t| t.rows).sum()
    }
}

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target already holds rows ({0}); nothing was copied")]
    NotEmpty(String),
    #[error(transparent)]
    State(#[from] StateError),
}

type Value = serde_json::Value;

impl StateDb {
    /// Every row of `table`, each as the JSON array of its columns' values.
    async fn table_rows(&self, table: &Table) -> Result<Vec<Vec<Value>>, StateError> {
        let err = self.query_err();
        let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
        let sql = format!("SELECT {} FROM {}", names.join(", "), table.name);
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                let value = match kind {
                    Int => row
                        .try_get::<Option<i64>, _>(i)
                        .map_err(&err)?
                        .map_or(Value::Null, Value::from),
                    Text => row
                        .try_get::<Option<String>, _>(i)
                        .map_err(&err)?
                        .map_or(Value::Null, Value::from),
                };
                values.push(value);
            }
            out.push(values);
        }
        Ok(out)
    }

    /// How many rows each shared table holds, and their content hash.
    pub async fn shared_table_checks(&self) -> Result<Vec<TableCheck>, StateError> {
        let mut out = Vec::new();
        for table in SHARED_TABLES {
            let rows = self.table_rows(table).await?;
            let mut lines: Vec<String> = rows
                .iter()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .collect();
            lines.sort();
            let mut hasher = Sha256::new();
            for line in &lines {
                hasher.update(line.as_bytes());
                hasher.update(b"\n");
            }
            out.push(TableCheck {
                table: table.name.to_string(),
                rows: lines.len(),
                sha256: hex::encode(hasher.finalize()),
            });
        }
        Ok(out)
    }

    /// Copies every shared table's rows from `self` into `target` in one transaction of the
    /// target, then compares both sides. A target holding rows is refused unless `force`,
    /// which empties its shared tables first (inside the same transaction).
    pub async fn copy_shared_to(
        &self,
        target: &StateDb,
        force: bool,
    ) -> Result<CopyReport, CopyError> {
        let err = target.query_err();
        let mut tx = target.write_tx().await?;
        let mut held = Vec::new();
        for table in SHARED_TABLES {
            let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {}", table.name))
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(&err)?;
            if count > 0 {
                held.push(format!("{} in {}", count, table.name));
            }
        }
        if !held.is_empty() {
            if !force {
                return Err(CopyError::NotEmpty(held.join(", ")));
            }
            for table in SHARED_TABLES.iter().rev() {
                sqlx::query(&format!("DELETE FROM {}", table.name))
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
            }
        }
        for table in SHARED_TABLES {
            let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
            let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                names.join(", "),
                marks.join(", ")
            );
            for row in self.table_rows(table).await? {
                let mut query = sqlx::query(&sql);
                for (value, (_, kind)) in row.iter().zip(table.columns) {
                    query = match kind {
                        Int => query.bind(value.as_i64()),
                        Text => query.bind(value.as_str().map(str::to_string)),
                    };
                }
                query.execute(&mut *tx).await.map_err(&err)?;
            }
        }
        tx.commit().await.map_err(&err)?;
        Ok(CopyReport {
            source: self.shared_table_checks().await?,
            target: target.shared_table_checks().await?,
        })
    }
}
