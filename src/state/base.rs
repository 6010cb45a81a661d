//! Each guest's base: what its file and the server agreed on at the last `/sync`, per
//! environment, as the JSON text of [`crate::iac::drift::GuestBase`]. `/sync` writes it after
//! the files; `/resolve` moves one field; `/drift`, `watch` and `/sync` read it to tell drift
//! from a pending change from a conflict. This module stores text and reads it back; the
//! meaning is `iac::drift`'s.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{StateDb, StateError, now};

impl StateDb {
    /// The base of every guest of `environment`: vmid -> JSON text.
    pub async fn sync_bases(&self, environment: &str) -> Result<BTreeMap<u32, String>, StateError> {
        let rows = sqlx::query("SELECT vmid, fields FROM sync_base WHERE environment = $1")
            .bind(environment)
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err())?;
        let mut out = BTreeMap::new();
        for row in rows {
            let vmid: i64 = row.try_get(0).map_err(self.query_err())?;
            let fields: String = row.try_get(1).map_err(self.query_err())?;
            if let Ok(vmid) = u32::try_from(vmid) {
                out.insert(vmid, fields);
            }
        }
        Ok(out)
    }

    /// Stores `rows` (vmid -> JSON text) as the bases of `environment`, taken at snapshot
    /// `serial`, and removes the bases of `removed`, in one transaction.
    pub async fn save_sync_bases(
        &self,
        environment: &str,
        serial: Option<i64>,
        rows: &BTreeMap<u32, String>,
        removed: &[u32],
    ) -> Result<(), StateError> {
        if rows.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let err = self.query_err();
        let at = now();
        let mut tx = self.write_tx().await?;
        let rows: Vec<(&u32, &String)> = rows.iter().collect();
        for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO sync_base (environment, vmid, fields, serial, updated_at)
                 VALUES {}
                 ON CONFLICT (environment, vmid) DO UPDATE SET fields = excluded.fields,
                    serial = excluded.serial, updated_at = excluded.updated_at",
                super::values_list(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (vmid, fields) in chunk {
                query = query
                    .bind(environment)
                    .bind(i64::from(**vmid))
                    .bind(fields.as_str())
                    .bind(serial)
                    .bind(&at);
            }
            query.execute(&mut *tx).await.map_err(&err)?;
        }
        for vmid in removed {
            sqlx::query("DELETE FROM sync_base WHERE environment = $1 AND vmid = $2")
                .bind(environment)
                .bind(i64::from(*vmid))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bases_are_kept_per_environment_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).await.unwrap();
        let rows = BTreeMap::from([(100, "{\"fields\":{}}".to_string()), (101, "b".to_string())]);
        db.save_sync_bases("default", Some(1), &rows, &[])
            .await
            .unwrap();
        db.save_sync_bases("prod", Some(2), &BTreeMap::from([(100, "p".into())]), &[])
            .await
            .unwrap();
        db.save_sync_bases(
            "default",
            Some(3),
            &BTreeMap::from([(100, "a2".into())]),
            &[101],
        )
        .await
        .unwrap();
        let got = db.sync_bases("default").await.unwrap();
        assert_eq!(got, BTreeMap::from([(100, "a2".to_string())]));
        assert_eq!(db.sync_bases("prod").await.unwrap()[&100], "p");
        // More rows than one statement holds.
        let many: BTreeMap<u32, String> = (1000..2100).map(|v| (v, format!("b{v}"))).collect();
        db.save_sync_bases("prod", Some(4), &many, &[])
            .await
            .unwrap();
        let got = db.sync_bases("prod").await.unwrap();
        assert_eq!(got.len(), 1101);
        assert_eq!(got[&2099], "b2099");
    }
}
