//! Completion, hints and highlighting for the console, all from the registry: `/` + Tab lists
//! the commands with their one-line summaries, `-` + Tab the command's flags; a greyed hint
//! shows the rest of the command's usage; the command word is highlighted. Resource commands
//! complete with the names the session's last resource command loaded, which the console loop
//! hands to its helper after every line ([`ConsoleHelper::set_names`]).

use std::borrow::Cow;
use std::sync::Arc;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::commands::registry::{self, COMMANDS, Scope};
use crate::lang::Names;

/// The rustyline helper.
#[derive(Debug, Clone)]
pub struct ConsoleHelper {
    color: bool,
    /// The names resource commands complete with (the session's, see [`Session::names`]).
    ///
    /// [`Session::names`]: crate::console::Session::names
    names: Arc<Names>,
}

impl ConsoleHelper {
    pub fn new(color: bool) -> Self {
        Self {
            color,
            names: Arc::default(),
        }
    }

    /// Completes resource commands with `names` from now on.
    pub fn set_names(&mut self, names: Arc<Names>) {
        self.names = names;
    }
}

/// Returns the completions for `line` up to `pos`: the start of the replaced word and the
/// candidates (display text, replacement). Resource commands complete with `names`.
pub fn complete(line: &str, pos: usize, names: &Names) -> (usize, Vec<(String, String)>) {
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let word = &before[start..];
    let trimmed = before.trim_start();
    if !trimmed.starts_with('/') && !trimmed.starts_with('!') {
        // Resource commands (`create vm --node pve1`): verbs, kinds, flags and names.
        let candidates = crate::lang::complete(before, names)
            .into_iter()
            .map(|c| (c.clone(), format!("{c} ")))
            .collect();
        return (start, candidates);
    }
    if start == 0 {
        if let Some(prefix) = word.strip_prefix('/') {
            let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0) + 1;
            let candidates = COMMANDS
                .iter()
                .filter(|c| c.scope != Scope::Cli && c.name.starts_with(prefix))
                .map(|c| {
                    (
                        format!("/{:<width$} {}", c.name, c.summary),
                        format!("/{} ", c.name),
                    )
                })
                .collect();
            return (0, candidates);
        }
        return (0, Vec::new());
    }
    let Some(spec) = before
        .split_whitespace()
        .next()
        .and_then(|w| w.strip_prefix('/'))
        .and_then(registry::lookup)
    else {
        return (start, Vec::new());
    };
    if word.starts_with('-') || (word.is_empty() && spec.positionals.is_empty()) {
        let mut candidates: Vec<(String, String)> = spec
            .flags
            .iter()
            .map(|f| (format!("--{}", f.long), f.help))
            .chain([
                ("--json".to_string(), "Shorthand for --output json"),
                ("--output".to_string(), "table, json or yaml"),
            ])
            .filter(|(flag, _)| flag.starts_with(word))
            .map(|(flag, help)| (format!("{flag:<16} {help}"), format!("{flag} ")))
            .collect();
        candidates.dedup();
        return (start, candidates);
    }
    if spec.name == "help" {
        let candidates = COMMANDS
            .iter()
            .filter(|c| c.scope != Scope::Cli && c.name.starts_with(word))
            .map(|c| (c.name.to_string(), format!("{} ", c.name)))
            .collect();
        return (start, candidates);
    }
    if spec.name == "config" {
        let words: Vec<&str> = before.split_whitespace().collect();
        let typing_new = before.ends_with(char::is_whitespace);
        let index = if typing_new {
            words.len()
        } else {
            words.len() - 1
        };
        let options: Vec<&str> = match index {
            1 => vec!["set"],
            2 => crate::workspace::config::SETTABLE_KEYS.to_vec(),
            _ => Vec::new(),
        };
        let candidates = options
            .into_iter()
            .filter(|o| o.starts_with(word))
            .map(|o| (o.to_string(), format!("{o} ")))
            .collect();
        return (start, candidates);
    }
    (start, Vec::new())
}

/// Returns the greyed hint for `line`: the rest of the only matching command name, then its
/// usage.
pub fn hint(line: &str) -> Option<String> {
    let prefix = line.strip_prefix('/')?;
    if prefix.is_empty() || prefix.contains(char::is_whitespace) {
        return None;
    }
    let mut matching = COMMANDS
        .iter()
        .filter(|c| c.scope != Scope::Cli && c.name.starts_with(prefix));
    let only = matching.next()?;
    if matching.next().is_some() {
        return None;
    }
    let usage_rest = only
        .usage
        .split_once(' ')
        .map(|(_, rest)| format!(" {rest}"))
        .unwrap_or_default();
    Some(format!("{}{usage_rest}", &only.name[prefix.len()..]))
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = complete(line, pos, &self.names);
        Ok((
            start,
            candidates
                .into_iter()
                .map(|(display, replacement)| Pair {
                    display,
                    replacement,
                })
                .collect(),
        ))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        hint(line)
    }
}

impl Highlighter for ConsoleHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        let end = line.find(char::is_whitespace).unwrap_or(line.len());
        let word = &line[..end];
        let style = if let Some(name) = word.strip_prefix('/') {
            if registry::lookup(name).is_some() {
                "\x1b[1;36m"
            } else {
                "\x1b[31m"
            }
        } else if word.starts_with('!') {
            "\x1b[35m"
        } else {
            return Cow::Borrowed(line);
        };
        Cow::Owned(format!("{style}{word}\x1b[0m{}", &line[end..]))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for ConsoleHelper {}

impl Helper for ConsoleHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_lists_commands_with_summaries() {
        let (start, candidates) = complete("/", 1, &Names::default());
        assert_eq!(start, 0);
        assert!(
            candidates
                .iter()
                .any(|(d, r)| r == "/status " && d.contains("Show the workspace"))
        );
        assert!(
            !candidates.iter().any(|(_, r)| r == "/demo "),
            "demo is shell-only"
        );
    }

    #[test]
    fn flags_complete_after_the_command() {
        let (start, candidates) = complete("/init --end", 11, &Names::default());
        assert_eq!(start, 6);
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].1, "--endpoint ");
    }

    #[test]
    fn hint_shows_the_rest_of_the_only_match() {
        assert_eq!(
            hint("/statu").as_deref(),
            Some("s [--live] [-o table|json|yaml]")
        );
        assert_eq!(hint("/s"), None);
    }
}
