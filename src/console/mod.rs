//! The interactive console: the rustyline loop and piped mode around the terminal-free
//! [`Session`], plus the command registry and completion.
//!
//! The loop stays synchronous on the main thread and `block_on`s once per line (rustyline's
//! `readline` blocks); Ctrl-C during an operation cancels that operation, not the console.

pub mod completion;
pub mod demo;
pub mod log;
pub mod session;
pub mod tour;

use std::io::BufRead;

pub use session::{Outcome, Session};

use crate::ui::Ui;

/// Renders an outcome through the Ui (with the line's own format, if it asked for one).
pub fn render(ui: &Ui, outcome: &mut Outcome) {
    let ui = match outcome.format {
        Some(format) => ui.with_format(format),
        None => ui.clone(),
    };
    for item in &outcome.items {
        ui.render(item);
    }
    if let Some(error) = &outcome.error {
        ui.error(&error.message, &error.hints);
    }
}

/// Reads commands from non-terminal stdin line by line: no prompt, no colours. Returns the
/// process exit code: 0 when every line succeeded, otherwise the last failure's code.
pub fn run_piped(runtime: &tokio::runtime::Runtime, ui: &Ui, session: &mut Session) -> i32 {
    let mut code = 0;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut outcome = runtime.block_on(session.handle(&line));
        render(ui, &mut outcome);
        log::attach_if_possible(session.ctx());
        if let Some(e) = &outcome.error {
            code = e.kind.exit_code();
        }
        if outcome.exit {
            break;
        }
    }
    runtime.block_on(session.save());
    code
}

/// Runs the interactive console until `/exit` or Ctrl-D. Returns the exit code.
pub fn run_interactive(runtime: &tokio::runtime::Runtime, ui: &Ui, session: &mut Session) -> i32 {
    use rustyline::error::ReadlineError;

    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .completion_type(rustyline::CompletionType::List)
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(10_000))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: rustyline::Editor<
        completion::ConsoleHelper,
        rustyline::history::DefaultHistory,
    > = match rustyline::Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            ui.error(
                &format!("cannot open the terminal: {e}"),
                &["pipe commands on stdin instead".to_string()],
            );
            return 1;
        }
    };
    editor.set_helper(Some(completion::ConsoleHelper::new(ui.color)));
    let mut history_path = session.ctx().workspace_opt().map(|w| w.history_path());
    if let Some(path) = &history_path {
        let _ = editor.load_history(path);
    }
    loop {
        let prompt = session.prompt();
        let styled = if ui.color {
            format!("\x1b[1;32m{}\x1b[0m", prompt)
        } else {
            prompt.clone()
        };
        match editor.readline(&(prompt.as_str(), styled.as_str())) {
            Ok(line) => {
                let mut outcome = runtime.block_on(async {
                    tokio::select! {
                        outcome = session.handle(&line) => outcome,
                        _ = tokio::signal::ctrl_c() => Outcome::interrupted(),
                    }
                });
                if outcome.clear {
                    let _ = editor.clear_screen();
                }
                render(ui, &mut outcome);
                log::attach_if_possible(session.ctx());
                if let Some(helper) = editor.helper_mut() {
                    helper.set_names(session.names());
                }
                // A workspace created by /init starts its history now.
                if history_path.is_none() {
                    history_path = session.ctx().workspace_opt().map(|w| w.history_path());
                }
                if !line.trim().is_empty() && session.history_allowed(&line) {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history_path {
                        // Commands can name hosts and files: the history is the user's alone.
                        if editor.append_history(path).is_ok() {
                            let _ = crate::workspace::restrict_to_owner(path);
                        }
                    }
                }
                if outcome.exit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C cancels the line, not the console.
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                ui.error(&format!("cannot read from the terminal: {e}"), &[]);
                return 1;
            }
        }
    }
    runtime.block_on(session.save());
    0
}
