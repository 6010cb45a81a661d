//! The error at the edge: every domain error becomes a `CommandError` with a kind (which decides
//! the exit code) and hints that name the next step.

use std::fmt;

/// What kind of failure this is, for the exit code and the way it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user asked for something that cannot be done as asked.
    User,
    /// The workspace configuration is wrong.
    Config,
    /// The command line itself is wrong.
    Cli,
    /// A bug: the user should report it.
    Internal,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// Not a failure: `plan --detailed-exitcode` found changes (exit 2, as Terraform).
    ChangesPresent,
    /// The principal's role (or the server's profile) does not allow the operation.
    Forbidden,
}

impl ErrorKind {
    /// Returns the process exit code for this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::User | ErrorKind::Config | ErrorKind::Forbidden => 1,
            ErrorKind::Cli | ErrorKind::ChangesPresent => 2,
            ErrorKind::Internal => 255,
            ErrorKind::Interrupted => 130,
        }
    }
}

/// A failure as the user sees it: what went wrong and what to do next.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// Output produced before the failure (e.g. `/doctor`'s table), shown before the error.
    pub output: Vec<crate::ui::Item>,
}

impl CommandError {
    pub fn user(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::User,
            message: message.into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config,
            message: message.into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    pub fn cli(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Cli,
            message: message.into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    /// A role or profile that does not allow the operation (the REST API answers 403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Forbidden,
            message: message.into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    pub fn interrupted() -> Self {
        Self {
            kind: ErrorKind::Interrupted,
            message: "interrupted".into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    /// `plan --detailed-exitcode` with changes: shows `output` and exits 2 without an error line.
    pub fn changes_present(output: Vec<crate::ui::Item>) -> Self {
        Self {
            kind: ErrorKind::ChangesPresent,
            message: "the plan has changes".into(),
            hints: Vec::new(),
            output,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: message.into(),
            hints: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Attaches output to show before the error.
    pub fn with_report(mut self, output: Vec<crate::ui::Item>) -> Self {
        self.output = output;
        self
    }

    /// Adds a hint naming the next step.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

impl From<crate::workspace::WorkspaceError> for CommandError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        use crate::workspace::WorkspaceError;
        match &e {
            WorkspaceError::AlreadyExists { path } => CommandError::user(e.to_string()).hint(format!(
                "nothing was changed; use the existing workspace (run `proxmox-mpc` in {}), change it with /config set, or run /init in another folder",
                path.display()
            )),
            WorkspaceError::Io { path, .. } if e.is_permission_denied() => {
                CommandError::user(e.to_string()).hint(format!(
                    "make {} writable for your user, or work in another folder",
                    path.display()
                ))
            }
            WorkspaceError::Io { .. } => CommandError::user(e.to_string())
                .hint("check the disk space and permissions of the workspace folder"),
        }
    }
}

impl From<crate::workspace::config::ConfigError> for CommandError {
    fn from(e: crate::workspace::config::ConfigError) -> Self {
        let path = e.path.display().to_string();
        CommandError::config(e.to_string()).hint(format!(
            "fix {path} by hand (see the comments in it), or set a value with /config set KEY VALUE"
        ))
    }
}

impl From<crate::state::StateError> for CommandError {
    fn from(e: crate::state::StateError) -> Self {
        use crate::state::StateError;
        let hint = match &e {
            StateError::Missing { .. } => {
                "run /init to create the workspace, or restore .proxmox/state.db from a backup".to_string()
            }
            StateError::NewerSchema { .. } => {
                "upgrade proxmox-mpc to the version that wrote this database; the file was not changed".to_string()
            }
            StateError::Open { path, .. } if path.to_string_lossy().starts_with("postgres") => format!(
                "check that the PostgreSQL server of {} is reachable, that its user and database exist, and config.yml's \
                 state.password, state.sslmode and state.ca_file (/config set state.url none goes back to the local state.db)",
                path.display()
            ),
            StateError::Open { path, .. } => format!(
                "check that {} is a proxmox-mpc database and that its folder is writable",
                path.display()
            ),
            StateError::Query { .. } => {
                "run /doctor to check the database; restore it from a backup if it is damaged".to_string()
            }
        };
        CommandError::config(e.to_string()).hint(hint)
    }
}
