-- proxmox-mpc state schema, version 4: what each guest's file and the server agreed on at the
-- last /sync, field by field (the base of the three-way comparison: drift, pending change,
-- conflict). `fields` is JSON: {"fields": {"memory": "2048", ...}, "unknown": ["cores"]}.
-- Portable SQL (SQLite and PostgreSQL).
CREATE TABLE sync_base (
    environment TEXT NOT NULL,
    vmid        BIGINT NOT NULL,
    fields      TEXT NOT NULL,
    serial      BIGINT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, vmid)
);
