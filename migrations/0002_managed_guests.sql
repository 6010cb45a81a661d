-- proxmox-mpc state schema, version 2: the guests this workspace manages.
-- A guest is managed once it is in the files (imported or created through the console); only
-- managed guests are ever planned for deletion. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE managed_guests (
    vmid  BIGINT PRIMARY KEY,
    name  TEXT NOT NULL,
    node  TEXT NOT NULL,
    kind  TEXT NOT NULL,
    since TEXT NOT NULL
);
