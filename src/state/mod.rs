//! The workspace state database (sqlx; SQLite by default, PostgreSQL for teams): observed
//! snapshots, plans, the apply journal, the audit log and session state.
