//! What each operation may change, and which roles may run it: the one fixed rule every front
//! end asks (the REST API's roles, the MCP server's profiles, natural-language proposals), so
//! that whether an operation mutates is decided here and never by a client or a model.
//!
//! The table names every operation of the registry; an operation it does not name is treated
//! as [`Access::Admin`] (closed by default), and a test keeps the two lists equal.

use serde::Serialize;

use super::request::Request;
use crate::error::CommandError;

/// What an operation may change, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reads the workspace, the state and the cluster; changes none of them (it may record a
    /// plan, a snapshot or an audit row, which is bookkeeping, not a change).
    Read,
    /// Changes the workspace's files (and commits them), never the cluster.
    Files,
    /// Changes the cluster (apply, power, snapshots, migration, backups).
    Cluster,
    /// Changes who may do what or where the workspace points: tokens, environments, the
    /// configuration, `init`; and the commands that start servers or simulators.
    Admin,
}

impl Access {
    /// The word used in messages and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Files => "files",
            Access::Cluster => "cluster",
            Access::Admin => "admin",
        }
    }

    /// True when the operation changes anything (files, cluster or configuration).
    pub fn mutates(self) -> bool {
        self != Access::Read
    }
}

/// The access of every registry operation by name; `None` for a name it does not know.
pub fn operation_access(name: &str) -> Option<Access> {
    use Access::*;
    Some(match name {
        // Reads. `plan` saves the plan it shows and `drift` records what it found: bookkeeping.
        "status" | "doctor" | "help" | "schema" | "exit" | "clear" | "tour" | "completions"
        | "drift" | "diff" | "plan" | "history" | "test" | "policy" | "rightsize" | "cost"
        | "list" | "show" | "snapshots" | "audit" | "watch" | "backups" | "explain" | "ask"
        | "overview" | "metrics" | "definition" => Read,
        // The workspace's files.
        "sync" | "resolve" | "rollback" | "ci" | "create" | "set" | "delete" | "clone"
        | "promote" => Files,
        // The cluster.
        "apply" | "start" | "stop" | "shutdown" | "reboot" | "snapshot" | "snapshot-rollback"
        | "migrate" | "backup" | "restore" | "forget-backup" => Cluster,
        // Who may do what, where the workspace points, and servers.
        "init" | "config" | "token" | "env" | "export" | "serve" | "mcp" | "demo" | "sim"
        | "state" | "unlock" | "role" => Admin,
        _ => return None,
    })
}

impl Request {
    /// What this request may change: its operation's access, raised where a flag makes a read
    /// write (`plan --out FILE` writes a file, `rightsize --apply-to-code` edits the files) or
    /// lowered where an action only reads (`config show`).
    pub fn access(&self) -> Access {
        let base = operation_access(&self.name()).unwrap_or(Access::Admin);
        match self {
            Request::Plan(r) if r.out.is_some() => Access::Files,
            Request::Rightsize(r) if r.apply_to_code => Access::Files,
            // Showing a definition reads; an edit writes its file.
            Request::Definition(r) if !r.set.is_empty() || r.hcl.is_some() => Access::Files,
            // `--export FILE` writes a file where it is told to.
            Request::Audit(r) if r.export.is_some() => Access::Files,
            // A restore drill creates, starts and destroys a scratch guest.
            Request::Test(r) if r.restore_drill.is_some() => Access::Cluster,
            Request::Config(r) if matches!(r.action.as_deref(), None | Some("show")) => {
                Access::Read
            }
            Request::Env(r) if matches!(r.action.as_deref(), None | Some("list" | "show")) => {
                Access::Read
            }
            Request::State(r) if matches!(r.action.as_deref(), None | Some("show")) => Access::Read,
            Request::Role(r) if matches!(r.action.as_deref(), None | Some("list")) => Access::Read,
            _ => base,
        }
    }
}

/// A principal's role: what it may run (the REST API's tokens; the team issue's users).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads, changes the files and the cluster.
    Operator,
    /// Everything, tokens and environments included.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Reads a role's name, or says which names there are.
    pub fn parse(text: &str) -> Result<Role, CommandError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                CommandError::user(format!("`{text}` is not a role"))
                    .hint("the roles are viewer (reads), operator (reads, files, cluster) and admin (everything)")
            })
    }

    /// True when this role may run an operation of `access`.
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Viewer => access == Access::Read,
            Role::Operator => access != Access::Admin,
            Role::Admin => true,
        }
    }

    /// The least role that may run an operation of `access`.
    pub fn least_for(access: Access) -> Role {
        Role::ALL
            .into_iter()
            .find(|r| r.allows(access))
            .unwrap_or(Role::Admin)
    }

    /// Refuses `request` unless this role allows it, naming the role and the one needed.
    pub fn check(self, request: &Request) -> Result<(), CommandError> {
        let access = request.access();
        if self.allows(access) {
            return Ok(());
        }
        Err(CommandError::forbidden(format!(
            "the role {} may not run {} (it changes {}); it needs the role {}",
            self.as_str(),
            request.name(),
            access.as_str(),
            Role::least_for(access).as_str()
        ))
        .hint("use a token with that role, or ask an admin for one"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::registry::COMMANDS;

    #[test]
    fn every_registry_operation_has_an_access_and_the_table_names_no_other() {
        let unknown: Vec<&str> = COMMANDS
            .iter()
            .map(|c| c.name)
            .filter(|n| operation_access(n).is_none())
            .collect();
        assert!(
            unknown.is_empty(),
            "operations without an access in commands/access.rs: {unknown:?}"
        );
    }

    #[test]
    fn roles_allow_what_their_names_say() {
        assert!(Role::Viewer.allows(Access::Read));
        assert!(!Role::Viewer.allows(Access::Files));
        assert!(Role::Operator.allows(Access::Cluster));
        assert!(!Role::Operator.allows(Access::Admin));
        assert!(Role::Admin.allows(Access::Admin));
        assert_eq!(Role::least_for(Access::Files), Role::Operator);
        assert_eq!(Role::parse(" Viewer ").unwrap(), Role::Viewer);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn flags_that_write_raise_a_read_and_config_show_is_a_read() {
        let plan = Request::from_json("plan", serde_json::json!({"out": "p.json"})).unwrap();
        assert_eq!(plan.access(), Access::Files);
        let err = Role::Viewer
            .check(&plan)
            .expect_err("a viewer may not write a file");
        assert!(err.to_string().contains("operator"), "{err}");
        let show: Request = Request::from_json("config", serde_json::json!({})).unwrap();
        assert_eq!(show.access(), Access::Read);
        let apply: Request = Request::from_json("apply", serde_json::json!({})).unwrap();
        assert_eq!(apply.access(), Access::Cluster);
    }
}
