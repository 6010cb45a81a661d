-- proxmox-mpc state schema, version 1.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Ids are assigned by the application
-- (no AUTOINCREMENT / SERIAL), timestamps are RFC 3339 UTC text, documents are JSON text.

-- Every observed state of the cluster, numbered; plans name the serial they were made against.
CREATE TABLE snapshots (
    serial      BIGINT PRIMARY KEY,
    taken_at    TEXT NOT NULL,
    environment TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    data        TEXT NOT NULL
);

-- Saved plans; status is pending, applying, applied, failed or discarded.
CREATE TABLE plans (
    id              BIGINT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    environment     TEXT NOT NULL,
    based_on_serial BIGINT,
    status          TEXT NOT NULL,
    summary         TEXT NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX plans_status ON plans (status);

-- The apply journal: a row before and after each step, so a crash resumes, never repeats.
CREATE TABLE journal (
    id          BIGINT PRIMARY KEY,
    plan_id     BIGINT NOT NULL REFERENCES plans (id),
    step        INTEGER NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    upid        TEXT,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    detail      TEXT
);
CREATE INDEX journal_plan ON journal (plan_id, step);

-- Every change made through the console.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at          TEXT NOT NULL,
    environment TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT
);

-- Console session state restored by `--continue` (active environment, last plan, ...).
CREATE TABLE session (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
