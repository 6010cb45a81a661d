-- proxmox-mpc state schema, version 7: a tamper-evident audit log. Each row written from now on
-- carries the hash of the row before it (prev_hash) and its own hash (SHA-256 over the row's
-- canonical JSON, prev_hash included), so editing or removing a row breaks the chain where it
-- happened (`/audit --verify`). Rows written before this version keep NULL in both: the chain
-- starts at the first row that has a hash, and `--verify` says how many older rows it does
-- not cover. Portable SQL (SQLite and PostgreSQL).
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
