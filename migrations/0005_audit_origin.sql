-- proxmox-mpc state schema, version 5: which front end asked for an audited change (console,
-- cli, api, mcp, ask, watch) beside the actor (a user name, an API token's name, an MCP
-- client's name). Rows written before this version came from the console or the command line.
-- Portable SQL (SQLite and PostgreSQL).
ALTER TABLE audit_log ADD COLUMN origin TEXT NOT NULL DEFAULT 'cli';
