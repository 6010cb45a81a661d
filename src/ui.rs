//! All output: data to stdout, status, warnings and hints to stderr; tables, JSON and YAML;
//! colour only on a terminal and never with `NO_COLOR`. Nothing else in the crate prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::io::Write;

/// How data is rendered where a command returns data (`-o/--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// How much the user wants to hear on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// The one place output goes through.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    pub verbosity: Verbosity,
    pub color: bool,
}

impl Default for Ui {
    fn default() -> Self {
        Self::new(OutputFormat::Table, Verbosity::Normal)
    }
}

impl Ui {
    /// Returns a Ui that colours only when stderr is a terminal and `NO_COLOR` is unset.
    pub fn new(format: OutputFormat, verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            format,
            verbosity,
            color,
        }
    }

    /// Writes a line of data to stdout.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Writes a status line to stderr (suppressed by `-q`).
    pub fn status(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("{text}");
        }
    }

    /// Writes a warning to stderr.
    pub fn warning(&self, text: &str) {
        if self.color {
            eprintln!("\x1b[33mWarning:\x1b[0m {text}");
        } else {
            eprintln!("Warning: {text}");
        }
    }

    /// Writes an error and its hints to stderr.
    pub fn error(&self, text: &str, hints: &[String]) {
        if self.color {
            eprintln!("\x1b[31mError:\x1b[0m {text}");
        } else {
            eprintln!("Error: {text}");
        }
        for hint in hints {
            eprintln!("Hint: {hint}");
        }
    }
}
