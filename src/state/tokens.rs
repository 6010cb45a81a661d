//! The REST API's tokens (`/token create|list|revoke`, checked by `proxmox-mpc serve`): a name,
//! a role, an optional environment and expiry, and the SHA-256 of the token. The token itself is
//! never stored: it is shown once when created and found again only by its hash.

use sqlx::{FromRow, Row};

use super::{StateDb, StateError, now};

/// One stored token (without any secret: only its hash, which is never shown either).
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct ApiToken {
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// The environment the token is limited to, if any.
    pub environment: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// What a token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// A live token.
    Valid(ApiToken),
    /// A known token that was revoked.
    Revoked(ApiToken),
    /// A known token past its expiry.
    Expired(ApiToken),
    /// No token has this hash.
    Unknown,
}

const COLUMNS: &str = "name, role, environment, created_at, expires_at, revoked_at, last_used_at";

impl StateDb {
    /// Stores a new token by its hash. Returns false (and stores nothing) when a token of that
    /// name exists, revoked or not: a name always means one token in the audit log.
    pub async fn create_token(
        &self,
        token: &ApiToken,
        token_sha256: &str,
    ) -> Result<bool, StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 FROM api_tokens WHERE name = $1")
            .bind(&token.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?
            .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO api_tokens (name, role, token_sha256, environment, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.name)
        .bind(&token.role)
        .bind(token_sha256)
        .bind(&token.environment)
        .bind(&token.created_at)
        .bind(&token.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(true)
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StateError> {
        sqlx::query_as::<_, ApiToken>(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_err())
    }

    /// Returns how many tokens can be used now (neither revoked nor expired).
    pub async fn live_token_count(&self) -> Result<usize, StateError> {
        let now = now();
        Ok(self
            .tokens()
            .await?
            .iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at.as_deref().is_none_or(|e| *e > *now))
            .count())
    }

    /// Revokes the token `name`. Returns None when there is no such token, else whether it was
    /// live before.
    pub async fn revoke_token(&self, name: &str) -> Result<Option<bool>, StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT revoked_at FROM api_tokens WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let revoked: Option<String> = row.try_get(0).map_err(&err)?;
        if revoked.is_some() {
            return Ok(Some(false));
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2")
            .bind(now())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Some(true))
    }

    /// Finds the token whose SHA-256 is `token_sha256` and says whether it can be used now.
    pub async fn token_by_hash(&self, token_sha256: &str) -> Result<TokenLookup, StateError> {
        let found = sqlx::query_as::<_, ApiToken>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_sha256 = $1"
        ))
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_err())?;
        let Some(token) = found else {
            return Ok(TokenLookup::Unknown);
        };
        if token.revoked_at.is_some() {
            return Ok(TokenLookup::Revoked(token));
        }
        let now = now();
        if token.expires_at.as_deref().is_some_and(|e| *e <= *now) {
            return Ok(TokenLookup::Expired(token));
        }
        Ok(TokenLookup::Valid(token))
    }

    /// Notes that token `name` was just used (best effort for `/token list`).
    pub async fn touch_token(&self, name: &str) -> Result<(), StateError> {
        let err = self.query_err();
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE name = $2")
            .bind(now())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }
}
