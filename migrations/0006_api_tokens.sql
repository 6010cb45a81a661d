-- proxmox-mpc state schema, version 6: the REST API's tokens (`/token create`). Only the SHA-256
-- of a token is kept, never the token itself; a revoked token keeps its row (revoked_at set) so
-- the audit log's actor names stay explained. Times are RFC 3339 UTC text. Portable SQL (SQLite
-- and PostgreSQL).
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    environment  TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
