//! `proxmox-mpc watch`: runs the drift check ([`super::drift::check`], which writes nothing)
//! every `--every`, prints one line per change (a new difference, one whose values changed,
//! one gone) and, with `--webhook`, posts the changes of each check as one notice
//! ([`super::webhook`]: generic JSON or Slack's body, signed with the secret from
//! `--webhook-secret-env`).
//!
//! Failures never stop the watch. An unreachable cluster gets a warning and the next check
//! waits twice as long each time (up to an hour), back to `--every` once it answers. A
//! receiver that is down or answers with an error gets a warning naming the notice; notices
//! wait in order, oldest first, and go out once it answers, so none is lost while the watch
//! runs; whatever is still undelivered when it stops (`--count`, Ctrl-C) is printed and the
//! command fails.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde_json::json;

use crate::commands::drift::{self, DriftCheck, DriftEntry};
use crate::commands::webhook::{Change, Format, Notice, Transition, Webhook};
use crate::commands::workspace_state::{state_db, workspace_client};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::pve::Secret;
use crate::ui::{Item, OutputFormat, Table, Ui};

/// The check interval without `--every`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);
/// The longest wait between checks while the cluster does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// At most this many notices wait for a receiver; older ones are dropped with a warning (a
/// receiver down for weeks must not grow memory without bound).
const MAX_WAITING: usize = 10_000;

/// What `watch` was asked, as given.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub every: Option<String>,
    pub count: Option<u64>,
    pub webhook: Option<String>,
    pub webhook_secret_env: Option<String>,
    pub slack: bool,
}

/// Reads a duration: a whole number with `s`, `m` or `h` (`30s`, `5m`, `1h`); a bare number
/// is seconds. At least one second.
pub fn parse_every(text: &str) -> Result<Duration, CommandError> {
    let bad = || {
        CommandError::user(format!("`--every {text}` is not a duration"))
            .hint("give a whole number with s, m or h, e.g. --every 30s, --every 5m, --every 1h")
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(bad().hint("the shortest interval is 1s"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Writes a duration the way `--every` takes it.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The wait before the next check after `failures` failed checks in a row.
fn next_delay(every: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return every;
    }
    let factor = 1u32 << failures.min(12);
    every.saturating_mul(factor).min(MAX_BACKOFF.max(every))
}

/// Reads the webhook secret from the variable `name` names; the value is never shown.
fn webhook_secret(ctx: &mut Ctx, name: &str) -> Result<Secret, CommandError> {
    let looks_like_a_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !looks_like_a_name {
        // Never echo it: it may be the secret itself, given by mistake.
        return Err(CommandError::user(
            "--webhook-secret-env takes the name of an environment variable, not the secret itself",
        )
        .hint("export WEBHOOK_SECRET=... and pass --webhook-secret-env WEBHOOK_SECRET"));
    }
    let value = ctx.env_var(name).ok_or_else(|| {
        CommandError::user(format!(
            "the webhook secret is read from the environment variable {name}, which is not set"
        ))
        .hint(format!(
            "export {name}=<the secret the receiver checks signatures with> and run watch again"
        ))
    })?;
    ctx.remember_secret(&value);
    Ok(Secret::new(value))
}

/// The receiver, if one was given, after checking the flags that go with it.
fn prepare_webhook(ctx: &mut Ctx, o: &WatchOptions) -> Result<Option<Webhook>, CommandError> {
    let Some(url) = &o.webhook else {
        if o.slack || o.webhook_secret_env.is_some() {
            return Err(CommandError::user(
                "--slack and --webhook-secret-env go with --webhook URL",
            )
            .hint("add --webhook https://... (the receiver's address)"));
        }
        return Ok(None);
    };
    let secret = match &o.webhook_secret_env {
        Some(name) => Some(webhook_secret(ctx, name)?),
        None => None,
    };
    let format = if o.slack { Format::Slack } else { Format::Json };
    Webhook::new(url, secret, format).map(Some)
}

/// Follows the differences from one check to the next.
#[derive(Debug, Default)]
pub struct Tracker {
    seen: BTreeMap<(Option<u32>, String, String), DriftEntry>,
}

impl Tracker {
    /// The changes since the last check (the first check's differences are all new). Pending
    /// changes in the files are not drift and not followed.
    pub fn update(&mut self, found: &DriftCheck) -> Vec<Change> {
        let now: BTreeMap<_, DriftEntry> = found.drifted().map(|e| (e.key(), e.clone())).collect();
        let mut out = Vec::new();
        for (key, entry) in &now {
            let transition = match self.seen.get(key) {
                None => Transition::New,
                Some(old) if old != entry => Transition::Changed,
                Some(_) => continue,
            };
            out.push(Change {
                transition,
                entry: entry.clone(),
            });
        }
        for (key, entry) in &self.seen {
            if !now.contains_key(key) {
                out.push(Change {
                    transition: Transition::Gone,
                    entry: entry.clone(),
                });
            }
        }
        self.seen = now;
        out
    }
}

/// Notices waiting for the receiver, oldest first.
#[derive(Debug, Default)]
struct Outbox {
    waiting: VecDeque<Notice>,
    delivered: usize,
}

impl Outbox {
    fn push(&mut self, notice: Notice, ui: &Ui) {
        if self.waiting.len() >= MAX_WAITING
            && let Some(old) = self.waiting.pop_front()
        {
            ui.warning(&format!(
                "{MAX_WAITING} drift notices are waiting for the receiver; dropped the oldest ({}, check {})",
                old.id, old.check
            ));
        }
        self.waiting.push_back(notice);
    }

    /// Sends the waiting notices in order until one fails; that one and the rest wait (on the
    /// `last` try before the watch ends, they are printed instead).
    async fn flush(&mut self, hook: &Webhook, ui: &Ui, last: bool) {
        while let Some(notice) = self.waiting.front() {
            match hook.deliver(notice).await {
                Ok(status) => {
                    ui.status(&format!(
                        "Delivered drift notice {} (check {}) to {} (HTTP {status}).",
                        notice.id,
                        notice.check,
                        hook.shown()
                    ));
                    self.waiting.pop_front();
                    self.delivered += 1;
                }
                Err(why) => {
                    let then = if last {
                        "the watch is ending, so it is printed with the report instead".to_string()
                    } else {
                        format!(
                            "it waits with {} other(s) and goes out after the next check; watching goes on",
                            self.waiting.len() - 1
                        )
                    };
                    ui.warning(&format!(
                        "cannot deliver drift notice {} (check {}) to {}: {why}; {then}",
                        notice.id,
                        notice.check,
                        hook.shown()
                    ));
                    break;
                }
            }
        }
    }
}

/// Prints one change as it happens: a line of text, or a JSON object per line.
fn print_change(ui: &Ui, check: u64, change: &Change) {
    let at = crate::state::now();
    if ui.format == OutputFormat::Table {
        ui.data(&format!("{at} {}", change.line()));
    } else {
        let mut value = json!({ "at": at, "check": check });
        if let (Some(obj), Ok(serde_json::Value::Object(more))) =
            (value.as_object_mut(), serde_json::to_value(change))
        {
            obj.extend(more);
        }
        ui.data(&value.to_string());
    }
}

/// How a watch ended.
struct Tally {
    checks: u64,
    changes: usize,
    interrupted: bool,
}

/// Runs `watch` in the current workspace until `--count` checks are done or Ctrl-C.
pub async fn run(ctx: &mut Ctx, options: &WatchOptions) -> Result<Report, CommandError> {
    let every = match &options.every {
        Some(text) => parse_every(text)?,
        None => DEFAULT_EVERY,
    };
    if options.count == Some(0) {
        return Err(CommandError::user("`--count 0` would check nothing")
            .hint("give --count 1 or more, or leave it out to watch until Ctrl-C"));
    }
    let hook = prepare_webhook(ctx, options)?;
    let root = ctx.workspace()?.root().to_path_buf();
    let (client, endpoint) = workspace_client(ctx)?;
    let environment = ctx.config()?.active.clone();
    let db = state_db(ctx).await?;
    let ui = ctx.ui.clone();
    ui.status(&format!(
        "Watching {endpoint} for drift from the files every {}{}; Ctrl-C stops.",
        duration_text(every),
        match &hook {
            Some(h) if h.is_signed() => format!(", notifying {} (signed)", h.shown()),
            Some(h) => format!(
                ", notifying {} (unsigned: no --webhook-secret-env)",
                h.shown()
            ),
            None => String::new(),
        }
    ));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut tracker = Tracker::default();
    let mut outbox = Outbox::default();
    let mut tally = Tally {
        checks: 0,
        changes: 0,
        interrupted: false,
    };
    let mut failures = 0u32;
    loop {
        tally.checks += 1;
        let found = tokio::select! {
            found = drift::check(&client, &root, Some((&db, environment.as_str()))) => found,
            _ = &mut ctrl_c => { tally.interrupted = true; break; }
        };
        match found {
            Ok(found) => {
                failures = 0;
                let changes = tracker.update(&found);
                for change in &changes {
                    print_change(&ui, tally.checks, change);
                }
                if !changes.is_empty() {
                    drift::record_found(&db, &environment, &found, "watch").await;
                }
                tally.changes += changes.len();
                if hook.is_some() && !changes.is_empty() {
                    let now = found.drifted().count();
                    let notice = Notice::new(&environment, &endpoint, tally.checks, changes, now);
                    outbox.push(notice, &ui);
                }
            }
            Err(e) => {
                failures += 1;
                ui.warning(&format!(
                    "check {}: cannot read the cluster: {}; next check in {} (waiting longer while it fails); watching goes on",
                    tally.checks,
                    e.message,
                    duration_text(next_delay(every, failures))
                ));
            }
        }
        // After the last check the final try in `finish` sends what waits.
        if options.count.is_some_and(|n| tally.checks >= n) {
            break;
        }
        if let Some(hook) = &hook {
            outbox.flush(hook, &ui, false).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(next_delay(every, failures)) => {}
            _ = &mut ctrl_c => { tally.interrupted = true; break; }
        }
    }
    finish(&endpoint, hook.as_ref(), outbox, &tally, &ui).await
}

/// The last word: what was watched and delivered; a failure when notices are left.
async fn finish(
    endpoint: &str,
    hook: Option<&Webhook>,
    mut outbox: Outbox,
    tally: &Tally,
    ui: &Ui,
) -> Result<Report, CommandError> {
    if let Some(hook) = hook
        && !outbox.waiting.is_empty()
    {
        // One last try before giving up on them.
        outbox.flush(hook, ui, true).await;
    }
    let delivered = match hook {
        Some(h) => format!(
            "; {} notice(s) delivered to {}",
            outbox.delivered,
            h.shown()
        ),
        None => String::new(),
    };
    let mut items = vec![Item::Status(format!(
        "Watched {endpoint}: {} check(s), {} change(s){delivered}{}.",
        tally.checks,
        tally.changes,
        if tally.interrupted {
            "; stopped by Ctrl-C"
        } else {
            ""
        }
    ))];
    let Some(hook) = hook.filter(|_| !outbox.waiting.is_empty()) else {
        return Ok(items);
    };
    // Nothing is lost: what the receiver never took is printed, whole with -o json.
    let mut table = Table::new(&["notice", "check", "at", "changes"]);
    for n in &outbox.waiting {
        table.row(vec![
            n.id.clone(),
            n.check.to_string(),
            n.at.clone(),
            n.text.lines().skip(1).collect::<Vec<_>>().join("; "),
        ]);
    }
    let bodies: Vec<serde_json::Value> = outbox.waiting.iter().map(Notice::json).collect();
    items.insert(
        0,
        Item::Data {
            value: json!({ "undelivered": bodies }),
            table,
        },
    );
    Err(CommandError::user(format!(
        "{} drift notice(s) could not be delivered to {}",
        outbox.waiting.len(),
        hook.shown()
    ))
    .hint("they are printed above (whole with -o json); check that the receiver is up, then watch again")
    .with_report(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_and_back_off() {
        assert_eq!(parse_every("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_every("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_every("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_every("90").unwrap(), Duration::from_secs(90));
        for bad in ["", "0s", "5x", "m", "-1s", "1.5m"] {
            let e = parse_every(bad).unwrap_err();
            assert!(
                e.message.contains("is not a duration"),
                "{bad}: {}",
                e.message
            );
        }
        let every = Duration::from_secs(60);
        assert_eq!(next_delay(every, 0), every);
        assert_eq!(next_delay(every, 1), Duration::from_secs(120));
        assert_eq!(next_delay(every, 3), Duration::from_secs(480));
        assert_eq!(next_delay(every, 30), MAX_BACKOFF);
        assert_eq!(
            next_delay(Duration::from_secs(7200), 5),
            Duration::from_secs(7200)
        );
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
    }
}
