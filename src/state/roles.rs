//! The `roles` table: who (a PVE token id) has which role in shared state, who granted it and
//! when. The meaning of a role is the operations layer's (`commands::access::Role`); this module stores
//! text.

use sqlx::{FromRow, Row};

use super::{StateDb, StateError, now};

/// One identity's role.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct RoleRow {
    pub identity: String,
    pub role: String,
    pub granted_by: String,
    pub granted_at: String,
}

impl StateDb {
    /// Every grant, by identity.
    pub async fn roles(&self) -> Result<Vec<RoleRow>, StateError> {
        sqlx::query_as::<_, RoleRow>(
            "SELECT identity, role, granted_by, granted_at FROM roles ORDER BY identity",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// The role of `identity`, if it has one.
    pub async fn role_of(&self, identity: &str) -> Result<Option<String>, StateError> {
        sqlx::query("SELECT role FROM roles WHERE identity = $1")
            .bind(identity)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err())?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(self.query_err())
    }

    /// Makes `identity` admin if no one has a role yet (the first to use an empty shared
    /// database); returns true when it did. Serialized with every other write, so two first
    /// users cannot both become the first.
    pub async fn claim_first_admin(&self, identity: &str) -> Result<bool, StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM roles")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(&err)?;
        if count > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO roles (identity, role, granted_by, granted_at) VALUES ($1, 'admin', $2, $3)",
        )
        .bind(identity)
        .bind("first use of the shared state")
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(true)
    }

    /// Grants `role` to `identity` (replacing its role).
    pub async fn grant_role(
        &self,
        identity: &str,
        role: &str,
        granted_by: &str,
    ) -> Result<(), StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO roles (identity, role, granted_by, granted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (identity) DO UPDATE SET role = excluded.role,
                granted_by = excluded.granted_by, granted_at = excluded.granted_at",
        )
        .bind(identity)
        .bind(role)
        .bind(granted_by)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    /// Removes `identity`'s role; returns the role it had.
    pub async fn revoke_role(&self, identity: &str) -> Result<Option<String>, StateError> {
        let err = self.query_err();
        let had = self.role_of(identity).await?;
        sqlx::query("DELETE FROM roles WHERE identity = $1")
            .bind(identity)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        Ok(had)
    }
}
