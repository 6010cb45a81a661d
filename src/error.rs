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
}

impl ErrorKind {
    /// Returns the process exit code for this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::User | ErrorKind::Config => 1,
            ErrorKind::Cli => 2,
            ErrorKind::Internal => 255,
        }
    }
}

/// A failure as the user sees it: what went wrong and what to do next.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
}

impl CommandError {
    pub fn user(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::User,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: message.into(),
            hints: Vec::new(),
        }
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
