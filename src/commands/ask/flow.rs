//! Walking a proposal: read-only commands run at once, in order; each command that changes
//! something is previewed and waits for its own answer. In the console the waiting proposal is
//! a [`Pending`] the session keeps, and the next line answers it (`yes`, `no`, `edit LINE`,
//! `all`), piped or at a terminal alike; any other line leaves the rest unrun. One-shot
//! ([`run`]) shows everything and changes nothing unless told `yes`.

use std::collections::VecDeque;

use super::{Proposal, Proposed, access_words, preview::preview, propose, proposed};
use crate::commands::request::AskRequest;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::ui::Item;

/// A proposal waiting for the answer about its current command.
#[derive(Debug, Clone)]
pub struct Pending {
    current: Proposed,
    rest: VecDeque<Proposed>,
    from_model: bool,
}

/// What one console line of `ask` produced.
#[derive(Debug, Default)]
pub struct Step {
    pub items: Report,
    pub error: Option<CommandError>,
}

/// Handles a console line if it is ask's: `? TEXT`, `/ask TEXT` (without `--yes`, which runs
/// as the one-shot command), or the answer to a waiting proposal. Any other line while a
/// proposal waits drops the proposal's remaining commands (none of them ran) and returns
/// `None`, so the line runs as usual.
pub async fn console_line(
    ctx: &mut Ctx,
    pending: &mut Option<Pending>,
    line: &str,
) -> Option<Step> {
    let line = line.trim();
    if let Some(waiting) = pending.take() {
        if is_answer(line) {
            let mut step = Step::default();
            *pending = answer(ctx, waiting, line, &mut step).await;
            return Some(step);
        }
        tracing::info!(dropped = %waiting.current.line, "ask: proposal left unanswered");
    }
    let text = ask_text(line)?;
    tracing::info!(words = text.len(), "ask: a request in words");
    let mut step = Step::default();
    match propose(ctx, text).await {
        Ok(proposal) => {
            *pending = start(ctx, proposal, &mut step).await;
        }
        Err(e) => step.error = Some(e),
    }
    Some(step)
}

/// The words of `? TEXT` or `/ask TEXT`.
fn ask_text(line: &str) -> Option<&str> {
    if line == "?" || line == "/ask" {
        return Some("");
    }
    if let Some(text) = line.strip_prefix("? ") {
        return Some(text);
    }
    let text = line.strip_prefix("/ask ")?;
    let yes = text.split_whitespace().any(|w| w == "--yes" || w == "-y");
    (!yes).then_some(text)
}

fn is_answer(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default();
    matches!(
        first.to_ascii_lowercase().as_str(),
        "y" | "yes" | "n" | "no" | "all" | "edit"
    )
}

/// Shows a new proposal and walks it up to its first change.
async fn start(ctx: &mut Ctx, proposal: Proposal, step: &mut Step) -> Option<Pending> {
    show(&proposal, &mut step.items);
    let queue: VecDeque<Proposed> = proposal.commands.into_iter().collect();
    walk(ctx, queue, proposal.from_model, step).await
}

/// The proposal as a numbered list, with what each command may change.
fn show(proposal: &Proposal, items: &mut Report) {
    if let Some(note) = &proposal.note {
        let who = if proposal.from_model {
            "The model says"
        } else {
            "ask"
        };
        items.push(Item::Status(format!("{who}: {note}")));
    }
    items.extend(proposal.refused.iter().cloned());
    if proposal.commands.is_empty() {
        items.push(Item::Status(
            "No command to run; nothing was changed.".into(),
        ));
        return;
    }
    let mut text = String::from("Proposed commands:");
    for (i, p) in proposal.commands.iter().enumerate() {
        text.push_str(&format!(
            "\n  {}. {}    ({})",
            i + 1,
            p.line,
            access_words(p.access)
        ));
    }
    items.push(Item::Text(text));
}

/// Runs the read-only commands at the front of `queue`; stops at the first change, previews it
/// and returns it as the waiting proposal.
async fn walk(
    ctx: &mut Ctx,
    mut queue: VecDeque<Proposed>,
    from_model: bool,
    step: &mut Step,
) -> Option<Pending> {
    while let Some(next) = queue.pop_front() {
        if !next.mutates() {
            step.items.push(Item::Status(format!(
                "Running `{}` (it only reads):",
                next.line
            )));
            if !execute(ctx, &next, step).await {
                unrun(&queue, step);
                return None;
            }
            continue;
        }
        step.items.extend(preview(ctx, &next).await);
        let waiting = Pending {
            current: next,
            rest: queue,
            from_model,
        };
        step.items.push(question(&waiting));
        return Some(waiting);
    }
    None
}

/// The question about the waiting command.
fn question(waiting: &Pending) -> Item {
    let later = waiting.rest.iter().filter(|p| p.mutates()).count();
    let all = if !waiting.from_model && later > 0 {
        format!(", all (this and the {later} after it)")
    } else {
        String::new()
    };
    Item::Status(format!(
        "Run `{}`? Answer yes, no, edit NEW-LINE{all}; any other line leaves it unrun.",
        waiting.current.line
    ))
}

/// Handles the answer to `waiting`; returns what waits next.
async fn answer(ctx: &mut Ctx, waiting: Pending, line: &str, step: &mut Step) -> Option<Pending> {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match word.to_ascii_lowercase().as_str() {
        "y" | "yes" => {
            if !run_confirmed(ctx, &waiting.current, step).await {
                unrun(&waiting.rest, step);
                return None;
            }
            walk(ctx, waiting.rest, waiting.from_model, step).await
        }
        "n" | "no" => {
            tracing::info!(command = %waiting.current.line, "ask: declined");
            step.items.push(Item::Status(format!(
                "Skipped `{}`: nothing was run or written for it.",
                waiting.current.line
            )));
            walk(ctx, waiting.rest, waiting.from_model, step).await
        }
        "all" if waiting.from_model => {
            step.items.push(Item::Warning(
                "`all` is not taken for a model's proposal: each command that changes something is confirmed on its own (text from the server may have steered the model)".into(),
            ));
            step.items.push(question(&waiting));
            Some(waiting)
        }
        "all" => {
            let mut queue = waiting.rest;
            queue.push_front(waiting.current);
            while let Some(next) = queue.pop_front() {
                if !run_confirmed(ctx, &next, step).await {
                    unrun(&queue, step);
                    return None;
                }
            }
            None
        }
        _ => edit(ctx, waiting, rest.trim(), step).await,
    }
}

/// `edit LINE`: the person's own line replaces the waiting command, checked like a proposal.
async fn edit(ctx: &mut Ctx, waiting: Pending, line: &str, step: &mut Step) -> Option<Pending> {
    if line.is_empty() {
        step.items.push(Item::Hint(format!(
            "type `edit` and the changed command on one line, e.g. `edit {}`",
            waiting.current.line
        )));
        step.items.push(question(&waiting));
        return Some(waiting);
    }
    match proposed(line) {
        Ok(changed) => {
            let mut queue = waiting.rest;
            queue.push_front(changed);
            walk(ctx, queue, waiting.from_model, step).await
        }
        Err(e) => {
            step.items.push(Item::Warning(format!(
                "the edited line is refused: {}",
                e.message
            )));
            step.items.extend(e.hints.into_iter().map(Item::Hint));
            step.items.push(question(&waiting));
            Some(waiting)
        }
    }
}

/// Runs a command the person confirmed: its own confirmation was this answer.
async fn run_confirmed(ctx: &mut Ctx, p: &Proposed, step: &mut Step) -> bool {
    tracing::info!(command = %p.line, access = p.access.as_str(), "ask: confirmed");
    step.items
        .push(Item::Status(format!("Running `{}`:", p.line)));
    let saved = ctx.assume_yes;
    ctx.assume_yes = true;
    let ok = execute(ctx, p, step).await;
    ctx.assume_yes = saved;
    ok
}

/// Runs one command through the operations layer (history, commit, audit as any other);
/// returns false when it failed (the failure is the step's error).
async fn execute(ctx: &mut Ctx, p: &Proposed, step: &mut Step) -> bool {
    match crate::commands::execute(ctx, p.request.clone()).await {
        Ok(report) => {
            step.items.extend(report);
            true
        }
        Err(mut e) => {
            step.items.append(&mut e.output);
            step.error = Some(e);
            false
        }
    }
}

/// Says which proposed commands were left unrun after a failure.
fn unrun(queue: &VecDeque<Proposed>, step: &mut Step) {
    if !queue.is_empty() {
        let lines: Vec<&str> = queue.iter().map(|p| p.line.as_str()).collect();
        step.items.push(Item::Warning(format!(
            "not run after that failure: {}",
            lines.join("; ")
        )));
    }
}

/// ask through [`crate::commands::execute`] (the REST API, the MCP server): the proposal and
/// the previews of its commands, none of them run — the caller runs each operation itself,
/// each checked against its role. (The console and the command line call [`run`].)
pub async fn show_only(ctx: &mut Ctx, request: &AskRequest) -> Result<Report, CommandError> {
    if request.yes {
        return Err(CommandError::forbidden(format!(
            "ask with yes runs only from the console or the command line, not from {}",
            ctx.origin
        ))
        .hint("call ask without yes to see the proposed operations, then call each one itself (each is checked against your role)"));
    }
    let proposal = propose(ctx, &request.text).await?;
    let mut items = Report::new();
    show(&proposal, &mut items);
    for p in &proposal.commands {
        if p.mutates() {
            items.extend(preview(ctx, p).await);
        }
    }
    items.push(data(&proposal));
    Ok(items)
}

/// The proposal as data (`-o json`, other front ends): each line, its access and its request.
fn data(proposal: &Proposal) -> Item {
    Item::Data {
        value: serde_json::json!({
            "from_model": proposal.from_model,
            "note": proposal.note,
            "commands": proposal.commands.iter().map(|p| serde_json::json!({
                "line": p.line,
                "access": p.access,
                "operation": p.request,
            })).collect::<Vec<_>>(),
        }),
        // The human view is the numbered list above.
        table: crate::ui::Table::new(&[]),
    }
}

/// `proxmox-mpc ask TEXT [--yes]` (and `/ask TEXT --yes`): shows the proposal; read-only
/// commands run, the others are previewed — and run only with `yes`.
pub async fn run(ctx: &mut Ctx, request: &AskRequest) -> Result<Report, CommandError> {
    let proposal = propose(ctx, &request.text).await?;
    let mut step = Step::default();
    show(&proposal, &mut step.items);
    let mut shown_only = 0;
    for p in &proposal.commands {
        let ok = if !p.mutates() {
            step.items.push(Item::Status(format!(
                "Running `{}` (it only reads):",
                p.line
            )));
            execute(ctx, p, &mut step).await
        } else if request.yes {
            run_confirmed(ctx, p, &mut step).await
        } else {
            step.items.extend(preview(ctx, p).await);
            shown_only += 1;
            true
        };
        if !ok {
            let error = step
                .error
                .take()
                .unwrap_or_else(|| CommandError::internal("failed"));
            return Err(error.with_report(step.items));
        }
    }
    step.items.push(data(&proposal));
    if shown_only > 0 {
        step.items.push(Item::Hint(format!(
            "nothing was changed: add --yes to run the {shown_only} command(s) that change something, or type them yourself"
        )));
    }
    Ok(step.items)
}
