-- proxmox-mpc state schema, version 8: who may do what in a shared (PostgreSQL) state, and who
-- holds the workspace's lock.
-- `roles`: one row per identity (a PVE token id, `user@realm!name`) with its role (viewer,
-- operator, admin), who granted it and when; a local SQLite workspace leaves it empty (the
-- person at the console is admin).
-- `locks`: the holder of a running apply, sync or rollback (user, host, pid, operation, since)
-- and its heartbeat in Unix seconds; a row whose heartbeat is older than its ttl_secs belongs to
-- a holder that died. On PostgreSQL the lock itself is an advisory lock held by the holder's
-- session; the row describes it. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE roles (
    identity   TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL
);
CREATE TABLE locks (
    name      TEXT PRIMARY KEY,
    holder    TEXT NOT NULL,
    host      TEXT NOT NULL,
    pid       BIGINT NOT NULL,
    operation TEXT NOT NULL,
    since     TEXT NOT NULL,
    heartbeat BIGINT NOT NULL,
    ttl_secs  BIGINT NOT NULL
);
