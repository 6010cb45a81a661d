//! The console session as a value: `Session::handle(line)` turns one line into an [`Outcome`]
//! and never touches the terminal, so the interactive loop, piped mode and tests drive the
//! same code. Owns parsing a line (slash command, `!shell`, resource command), dispatch through
//! the registry, the prompt text, history safety and session restore (`--continue`).

use std::sync::Arc;

use crate::commands::registry::{self, Scope};
use crate::commands::{self, Ctx};
use crate::console::tour::{self, Tour};
use crate::error::CommandError;
use crate::lang::Names;
use crate::sim::SimControl;
use crate::ui::{Item, OutputFormat, Verbosity};

pub use crate::state::session_keys as keys;

/// Words people try as resource verbs that the language does not have (the real verbs are
/// the registry's): answered with the list of verbs instead of "not a command".
const NEAR_VERBS: &[&str] = &["destroy", "update", "resize", "add", "remove"];

/// What one line produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Output, in order.
    pub items: Vec<Item>,
    /// The failure, if the line failed.
    pub error: Option<CommandError>,
    /// True when the session should end.
    pub exit: bool,
    /// True when the screen should be cleared (`/clear`).
    pub clear: bool,
    /// The output format this line asked for (`/status --json`), if any.
    pub format: Option<OutputFormat>,
}

impl Outcome {
    fn failed(error: CommandError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }

    /// Returns the outcome of an operation cancelled with Ctrl-C.
    pub fn interrupted() -> Self {
        Self::failed(
            CommandError::interrupted()
                .hint("the operation was cancelled; the console is still open"),
        )
    }

    /// Returns true when the line failed.
    pub fn is_failure(&self) -> bool {
        self.error.is_some()
    }
}

/// One console session.
#[derive(Debug)]
pub struct Session {
    ctx: Ctx,
    failures: usize,
    unapplied: bool,
    /// The names completion offers: those the last resource command loaded (guests, nodes,
    /// storages, bridges, templates, pools); none before the first.
    names: Arc<Names>,
    /// The demo's simulator, which `/tour` needs for its drift step; none outside the demo.
    sim: Option<SimControl>,
    /// The tour in progress, if any: it answers Enter, `skip` and `q`.
    tour: Option<Tour>,
    /// A `? TEXT` proposal waiting for yes / no / edit (see [`commands::ask`]).
    ask: Option<commands::ask::Pending>,
}

impl Session {
    pub fn new(mut ctx: Ctx) -> Self {
        // What the console runs is recorded as the console's, piped or at a terminal.
        ctx.origin = "console".into();
        Self {
            ctx,
            failures: 0,
            unapplied: false,
            names: Arc::default(),
            sim: None,
            tour: None,
            ask: None,
        }
    }

    /// Gives the session the demo's simulator, which makes `/tour` available.
    pub fn set_sim(&mut self, sim: SimControl) {
        self.sim = Some(sim);
    }

    /// The names completion offers now (shared, cheap to clone, replaced after a resource
    /// command).
    pub fn names(&self) -> Arc<Names> {
        Arc::clone(&self.names)
    }

    /// Returns the completions for `line` up to `pos`, as the console's Tab does (see
    /// [`crate::console::completion::complete`]).
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<(String, String)>) {
        crate::console::completion::complete(line, pos, &self.names)
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub fn ctx_mut(&mut self) -> &mut Ctx {
        &mut self.ctx
    }

    /// Returns how many lines failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Returns the prompt: `proxmox-mpc[<env>]> `, with `*` when changes are not applied yet.
    /// During `/tour`, the step Enter runs next comes before `> `.
    pub fn prompt(&mut self) -> String {
        let marker = if self.unapplied { "*" } else { "" };
        let tour = self
            .tour
            .as_ref()
            .map(Tour::prompt_note)
            .unwrap_or_default();
        if self.ctx.workspace_opt().is_none() {
            return format!("proxmox-mpc{marker}{tour}> ");
        }
        match self.ctx.active_env_name() {
            Some(env) => format!("proxmox-mpc[{env}]{marker}{tour}> "),
            None => format!("proxmox-mpc[?]{marker}{tour}> "),
        }
    }

    /// Returns false when `line` must not be written to history: it holds a secret this process
    /// has seen, or something shaped like a full token (`user@realm!name=secret`).
    pub fn history_allowed(&self, line: &str) -> bool {
        if self.ctx.contains_secret(line) {
            return false;
        }
        !line.split_whitespace().any(|word| {
            let word = word.trim_matches(|c| c == '\'' || c == '"');
            let word = word.split_once('=').map_or(word, |(k, v)| {
                if k.starts_with('-') || k.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    v
                } else {
                    word
                }
            });
            crate::commands::context::split_full_token(word).is_some()
        })
    }

    /// Handles one line.
    pub async fn handle(&mut self, line: &str) -> Outcome {
        let answer = match (&mut self.tour, &self.sim) {
            (Some(tour), Some(sim)) => tour.answer(line.trim(), sim),
            _ => tour::Answer::Pass,
        };
        let outcome = match answer {
            tour::Answer::Pass => self.dispatch(line.trim()).await,
            tour::Answer::Say { items, finished } => {
                if finished {
                    self.tour = None;
                }
                Outcome {
                    items,
                    ..Outcome::default()
                }
            }
            tour::Answer::Run { line, before } => self.tour_step(line, before).await,
        };
        // A resource command (whether it succeeded or not) loaded the workspace's names.
        if let Some(names) = self.ctx.take_names() {
            self.names = Arc::new(names);
        }
        if let Some(error) = &outcome.error {
            self.failures += 1;
            commands::explain::remember(&mut self.ctx, line, &outcome.items, error).await;
        }
        self.refresh_marker().await;
        outcome
    }

    /// Runs one tour step's line as if typed, then introduces the next step. A failed step is
    /// reported and the tour goes on (the person may fix it or skip ahead).
    async fn tour_step(&mut self, line: &str, before: Vec<Item>) -> Outcome {
        let ran = self.dispatch(line).await;
        let mut items = before;
        items.extend(ran.items);
        if let Some(error) = ran.error {
            items.push(Item::Warning(format!(
                "this step failed: {}; the tour goes on",
                error.message
            )));
            items.extend(error.hints.into_iter().map(Item::Hint));
        }
        let finished = match self.tour.as_mut() {
            Some(tour) => {
                let (next, finished) = tour.advance();
                items.extend(next);
                finished
            }
            None => true,
        };
        if finished {
            self.tour = None;
        }
        Outcome {
            items,
            format: ran.format,
            ..Outcome::default()
        }
    }

    /// Starts `/tour`: only where the demo's simulator is at hand (see [`tour`]).
    fn start_tour(&mut self) -> Outcome {
        if self.sim.is_none() {
            return Outcome::failed(
                CommandError::user(
                    "/tour runs only in `proxmox-mpc demo`: one step changes a guest behind the console's back, which it does on the demo's simulated cluster",
                )
                .hint("leave the console and run `proxmox-mpc demo` (a workspace against a simulated cluster), then /tour"),
            );
        }
        let (tour, items) = Tour::start();
        self.tour = Some(tour);
        Outcome {
            items,
            ..Outcome::default()
        }
    }

    async fn dispatch(&mut self, line: &str) -> Outcome {
        if line.is_empty() || line.starts_with('#') {
            return Outcome::default();
        }
        // `? TEXT`, `/ask TEXT`, and the answer to a proposal waiting for one.
        if let Some(step) = commands::ask::console_line(&mut self.ctx, &mut self.ask, line).await {
            return Outcome {
                items: step.items,
                error: step.error,
                ..Outcome::default()
            };
        }
        if let Some(command) = line.strip_prefix('!') {
            return self.shell(command.trim()).await;
        }
        if let Some(rest) = line.strip_prefix('/') {
            return self.slash(rest).await;
        }
        let first = line.split_whitespace().next().unwrap_or_default();
        if commands::resource::is_resource_line(line) {
            let format = commands::resource::output_format(line);
            return match commands::resource::run(&mut self.ctx, line).await {
                Ok(items) => Outcome {
                    items,
                    format,
                    ..Outcome::default()
                },
                Err(mut error) => Outcome {
                    items: std::mem::take(&mut error.output),
                    error: Some(error),
                    ..Outcome::default()
                },
            };
        }
        if NEAR_VERBS.contains(&first.to_ascii_lowercase().as_str()) {
            let verbs: Vec<&str> = crate::lang::VERBS.iter().map(|(w, _)| *w).collect();
            return Outcome::failed(
                CommandError::user(format!(
                    "`{first}` is not a resource verb of this build; verbs: {}",
                    verbs.join(", ")
                ))
                .hint("type /help create for the grammar and examples"),
            );
        }
        let mut err =
            CommandError::user(format!("`{first}` is not a command; commands start with /"));
        if registry::lookup(first).is_some() {
            err = err.hint(format!("did you mean /{first}?"));
        } else if let Some(best) = registry::suggest(first).first() {
            err = err.hint(format!("did you mean /{best}? (/help lists the commands)"));
        } else {
            err = err.hint("type /help to list the commands");
        }
        Outcome::failed(err)
    }

    async fn slash(&mut self, rest: &str) -> Outcome {
        let Some(words) = shlex::split(rest) else {
            return Outcome::failed(
                CommandError::cli("the line has an unclosed quote")
                    .hint("close the quote and try again"),
            );
        };
        let Some((name, args)) = words.split_first() else {
            return Outcome::failed(
                CommandError::user("a command name must follow /")
                    .hint("type /help to list the commands"),
            );
        };
        let Some(spec) = registry::lookup(name) else {
            let suggestions = registry::suggest(name);
            let hint = if suggestions.is_empty() {
                "type /help to list the commands".to_string()
            } else {
                let list: Vec<String> = suggestions.iter().map(|s| format!("/{s}")).collect();
                format!("did you mean {}?", list.join(" or "))
            };
            return Outcome::failed(
                CommandError::user(format!("unknown command /{name}")).hint(hint),
            );
        };
        if spec.scope == Scope::Cli {
            return Outcome::failed(
                CommandError::user(format!("/{} works only from the shell", spec.name)).hint(
                    format!("leave the console and run `proxmox-mpc {}`", spec.name),
                ),
            );
        }
        let matches = match registry::parse_console_args(spec, args) {
            Ok(m) => m,
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
                return Outcome {
                    items: vec![Item::Text(registry::help_for(spec))],
                    ..Outcome::default()
                };
            }
            Err(e) => {
                let text = e.render().to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_string();
                return Outcome::failed(
                    CommandError::cli(format!("/{}: {first}", spec.name))
                        .hint(format!("usage: {} (see /help {})", spec.usage, spec.name)),
                );
            }
        };
        let format = if matches.get_flag("json") {
            Some(OutputFormat::Json)
        } else {
            matches
                .get_one::<String>("output")
                .map(|f| match f.as_str() {
                    "json" => OutputFormat::Json,
                    "yaml" => OutputFormat::Yaml,
                    _ => OutputFormat::Table,
                })
        };
        if spec.name == "exit" {
            return Outcome {
                exit: true,
                ..Outcome::default()
            };
        }
        if spec.name == "clear" {
            return Outcome {
                clear: true,
                ..Outcome::default()
            };
        }
        if spec.name == "tour" {
            return self.start_tour();
        }
        tracing::info!(command = spec.name, "running");
        // `/sync -v` says more for this line only.
        let saved = self.ctx.ui.verbosity;
        if matches.get_flag("verbose") {
            self.ctx.ui.verbosity = Verbosity::Verbose;
        }
        let result = commands::run(&mut self.ctx, spec, &matches).await;
        self.ctx.ui.verbosity = saved;
        tracing::info!(command = spec.name, ok = result.is_ok(), "finished");
        match result {
            Ok(items) => Outcome {
                items,
                format,
                ..Outcome::default()
            },
            Err(mut error) => Outcome {
                items: std::mem::take(&mut error.output),
                error: Some(error),
                format,
                ..Outcome::default()
            },
        }
    }

    /// Runs `command` with `sh -c` in the workspace (or current folder) and returns its output.
    /// The child is killed if the line is cancelled (Ctrl-C drops this future).
    async fn shell(&mut self, command: &str) -> Outcome {
        if command.is_empty() {
            return Outcome::failed(CommandError::user(
                "give a shell command after !, e.g. !git status",
            ));
        }
        let dir = self
            .ctx
            .workspace_opt()
            .map_or(self.ctx.cwd.clone(), |w| w.root().to_path_buf());
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Err(e) => Outcome::failed(CommandError::user(format!("cannot run `{command}`: {e}"))),
            Ok(out) => {
                let mut items = Vec::new();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                if !stdout.trim().is_empty() {
                    items.push(Item::Text(stdout.trim_end().to_string()));
                }
                if !stderr.trim().is_empty() {
                    items.push(Item::Status(stderr.trim_end().to_string()));
                }
                if out.status.success() {
                    Outcome {
                        items,
                        ..Outcome::default()
                    }
                } else if interrupted_by_ctrl_c(&out.status) {
                    // The terminal sent Ctrl-C to the command too, and it died of it before
                    // the console's own cancel: the same outcome, said the same way.
                    Outcome {
                        items,
                        error: Some(CommandError::interrupted()),
                        ..Outcome::default()
                    }
                } else {
                    let code = out
                        .status
                        .code()
                        .map_or("a signal".to_string(), |c| format!("status {c}"));
                    Outcome {
                        items,
                        error: Some(CommandError::user(format!(
                            "`{command}` exited with {code}"
                        ))),
                        ..Outcome::default()
                    }
                }
            }
        }
    }

    /// Updates the unapplied-changes marker when the database is already open (never opens it,
    /// to keep the prompt instant).
    async fn refresh_marker(&mut self) {
        if let Some(db) = self.ctx.state_if_open() {
            self.unapplied = db.pending_plans().await.map(|n| n > 0).unwrap_or(false);
        }
    }

    /// Restores the last session (`--continue`): the active environment, the last plan, and an
    /// unfinished apply, which is offered, never resumed silently.
    pub async fn restore(&mut self) -> Outcome {
        let mut items = Vec::new();
        let config = match self.ctx.config() {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::failed(e),
        };
        let db = match self.ctx.state().await {
            Ok(db) => db.clone(),
            Err(e) => return Outcome::failed(e),
        };
        let env = match db.session_get(keys::ACTIVE_ENV).await {
            Ok(env) => env,
            Err(e) => return Outcome::failed(e.into()),
        };
        match env {
            Some(env) if config.environments.contains_key(&env) && env != config.active => {
                let mut next = config.clone();
                next.active = env.clone();
                self.ctx.set_config(next);
                items.push(Item::Status(format!("Restored the session: environment {env}.")));
            }
            Some(env) if env != config.active => items.push(Item::Warning(format!(
                "the last session used environment `{env}`, which config.yml no longer defines; using `{}`",
                config.active
            ))),
            _ => items.push(Item::Status(format!(
                "Restored the session: environment {}.",
                config.active
            ))),
        }
        // The plans table says what is pending and whether an apply stopped halfway.
        if let Ok(Some(plan)) = db
            .latest_plan_with(&[crate::state::PlanStatus::Pending])
            .await
        {
            items.push(Item::Status(format!(
                "Last plan: #{} ({}), not applied yet; /apply carries it out.",
                plan.id, plan.created_at
            )));
        }
        if let Ok(Some(plan)) = db
            .latest_plan_with(&[crate::state::PlanStatus::Applying])
            .await
        {
            items.push(Item::Warning(format!(
                "the apply of plan #{} did not finish; it was not resumed. Run /apply to resume it (finished steps are not repeated), or /plan to start over.",
                plan.id
            )));
        }
        self.refresh_marker().await;
        Outcome {
            items,
            ..Outcome::default()
        }
    }

    /// Saves what `--continue` restores; only when the database is already open.
    pub async fn save(&mut self) {
        let env = self.ctx.active_env_name();
        if let (Some(db), Some(env)) = (self.ctx.state_if_open(), env) {
            let _ = db.session_set(keys::ACTIVE_ENV, &env).await;
        }
    }
}

/// True when a `!` command ended from SIGINT (the terminal's Ctrl-C).
fn interrupted_by_ctrl_c(status: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(libc::SIGINT)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Ui;

    fn session(dir: &std::path::Path) -> Session {
        Session::new(Ctx::new(Ui::default(), dir.to_path_buf(), false))
    }

    fn text(outcome: &Outcome) -> String {
        let mut out = String::new();
        for item in &outcome.items {
            if let Item::Text(t) | Item::Status(t) | Item::Warning(t) | Item::Hint(t) = item {
                out.push_str(t);
                out.push('\n');
            }
        }
        if let Some(e) = &outcome.error {
            out.push_str(&e.message);
            for h in &e.hints {
                out.push_str("\nHint: ");
                out.push_str(h);
            }
        }
        out
    }

    #[tokio::test]
    async fn lines_and_what_they_answer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        // (line, fails, expected text)
        let table: &[(&str, bool, &str)] = &[
            ("", false, ""),
            ("# a comment", false, ""),
            ("/help", false, "Commands:"),
            ("/h status", false, "/status — Show the workspace"),
            ("/help --help", false, "/help — List the commands"),
            ("/nope", true, "unknown command /nope"),
            ("/stauts", true, "did you mean /status"),
            ("/status", true, "is not inside a proxmox-mpc workspace"),
            ("/status --bogus", true, "--bogus"),
            ("/demo", true, "works only from the shell"),
            ("/init --endpoint 'unclosed", true, "unclosed quote"),
            ("/", true, "a command name must follow /"),
            ("stauts", true, "commands start with /"),
            ("!", true, "give a shell command after !"),
            ("!echo hello from sh", false, "hello from sh"),
            ("!exit 3", true, "exited with status 3"),
        ];
        for (line, fails, expected) in table {
            let outcome = s.handle(line).await;
            assert_eq!(outcome.is_failure(), *fails, "{line}: {}", text(&outcome));
            assert!(
                text(&outcome).contains(expected),
                "{line}: {}",
                text(&outcome)
            );
            assert!(!outcome.exit, "{line}");
        }
        assert!(s.handle("/exit").await.exit);
        assert!(s.handle("/quit").await.exit);
        assert_eq!(s.prompt(), "proxmox-mpc> ");
    }

    #[test]
    fn lines_holding_a_token_stay_out_of_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        assert!(s.history_allowed("/status --live"));
        assert!(s.history_allowed("/init --token-id root@pam!mpc --secret-env TOKEN"));
        assert!(!s.history_allowed("!echo root@pam!mpc=0b6ad9a4-6c1e"));
        assert!(!s.history_allowed("!env PROXMOX_VE_API_TOKEN='root@pam!mpc=abc' true"));
        s.ctx_mut().remember_secret("s3cr3t-value");
        assert!(!s.history_allowed("/config set endpoint s3cr3t-value"));
    }
}
