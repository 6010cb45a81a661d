-- proxmox-mpc state schema, version 3: the SHA-256 of every workspace file the console wrote,
-- so /test can tell a hand edit from generated text. `path` is relative to the workspace root
-- with `/` separators. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE written_files (
    path       TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    written_at TEXT NOT NULL
);
