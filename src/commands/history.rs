//! `/history [GUEST] [--since TIME]` and `/history show ID`: one timeline, newest first, of
//! what happened in the workspace, joined from the git log of the workspace (every change the
//! console made to the files is a commit, [`crate::commands::commit`], and a person's own
//! commits are there too) and `state.db` (plans, cluster snapshots, applies and the actions on
//! guests in the audit log). An apply's audit entry joins the commit that names its plan, a
//! sync's snapshot the commit that names its serial, so each event is one entry.
//!
//! Ids: a commit's short id; `plan-N`, `snapshot-N`, `audit-N` for rows without a commit.
//! `show` gives the change itself: `git show` for a commit, the plan text (and its journal) for
//! a plan.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::commands::commit::{names_suffix, plan_summary};
use crate::commands::workspace_state::state_db;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::plan::Plan;
use crate::state::StateDb;
use crate::ui::{Item, OutputFormat, Table};
use crate::workspace::git::{GitError, LogEntry, Repo, trailer};

/// How many commits the timeline reads at most.
pub const LOG_LIMIT: usize = 2000;

/// What `/history` was asked.
#[derive(Debug, Clone, Default)]
pub struct HistoryArgs {
    /// Only entries about this guest.
    pub guest: Option<String>,
    /// Only entries at or after this time (`2h`, `3d`, `2024-05-01`, RFC 3339).
    pub since: Option<String>,
    /// Show this entry's change instead of the list.
    pub show: Option<String>,
    /// Data (JSON) rather than a table.
    pub machine: bool,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What `/history show` and `/rollback` take: a short commit id, `plan-N`, `snapshot-N`,
    /// `audit-N`.
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// `sync`, `create`, `apply`, `rollback`, `plan`, `snapshot`, `stop`, ..., or `commit` for
    /// a commit the console did not make.
    pub kind: String,
    /// Who: the login name the console recorded, or the commit's author.
    pub actor: String,
    /// `console` or `cli` when the console recorded it; `git` for a person's own commit.
    pub origin: Option<String>,
    /// What changed, in one line.
    pub what: String,
    /// The guests it is about.
    pub guests: Vec<String>,
    /// The full commit id, when the event is a commit.
    pub commit: Option<String>,
    pub plan: Option<i64>,
    pub snapshot: Option<i64>,
    /// Files the commit changed (relative to the workspace).
    pub files: Vec<String>,
    /// Sort key within one second: larger is newer.
    #[serde(skip)]
    seq: i64,
}

/// Parses `--since`: a span back from now (`30m`, `2h`, `3d`, `1w`), a date (`2024-05-01`,
/// midnight UTC), a date and time (`2024-05-01T12:00`, UTC) or RFC 3339.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Some(unit) = t.chars().last().filter(char::is_ascii_alphabetic)
        && let Ok(n) = t[..t.len() - 1].parse::<i64>()
    {
        let span = match unit {
            'm' => chrono::Duration::try_minutes(n),
            'h' => chrono::Duration::try_hours(n),
            'd' => chrono::Duration::try_days(n),
            'w' => chrono::Duration::try_weeks(n),
            _ => None,
        };
        if let Some(span) = span {
            return Ok(now - span);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "`{text}` is not a time; give a span back from now (30m, 2h, 3d, 1w), a date (2024-05-01) or an RFC 3339 time"
    ))
}

/// `time` as RFC 3339 UTC to the second (the form `state.db` stores), or as it is when it does
/// not parse.
fn utc(time: &str) -> String {
    DateTime::parse_from_rfc3339(time)
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| time.to_string())
}

fn commit_entry(e: &LogEntry, seq: i64) -> Entry {
    let kind = e
        .trailer(trailer::OPERATION)
        .unwrap_or("commit")
        .to_string();
    let mut guests: Vec<String> = e
        .trailers_of(trailer::GUEST)
        .into_iter()
        .map(str::to_string)
        .collect();
    guests.dedup();
    Entry {
        id: e.short().to_string(),
        time: utc(&e.time),
        actor: e
            .trailer(trailer::ACTOR)
            .map_or_else(|| e.author.clone(), str::to_string),
        origin: Some(e.trailer(trailer::ORIGIN).unwrap_or("git").to_string()),
        what: e.subject.clone(),
        guests,
        commit: Some(e.sha.clone()),
        plan: e.trailer(trailer::PLAN).and_then(|p| p.parse().ok()),
        snapshot: e.trailer(trailer::SNAPSHOT).and_then(|s| s.parse().ok()),
        files: e.files.clone(),
        kind,
        seq,
    }
}

fn row_entry(id: String, time: &str, kind: &str, actor: &str, what: String, seq: i64) -> Entry {
    Entry {
        id,
        time: utc(time),
        kind: kind.to_string(),
        actor: actor.to_string(),
        origin: None,
        what,
        guests: Vec::new(),
        commit: None,
        plan: None,
        snapshot: None,
        files: Vec::new(),
        seq,
    }
}

/// The workspace's git log, or why there is none.
pub fn workspace_log(ctx: &Ctx, since: Option<&str>) -> Result<(Repo, Vec<LogEntry>), GitError> {
    let root = ctx
        .workspace_opt()
        .map(|w| w.root().to_path_buf())
        .unwrap_or_else(|| ctx.cwd.clone());
    let repo = Repo::open(&root)?;
    let log = repo.log(since, LOG_LIMIT)?;
    Ok((repo, log))
}

/// The whole timeline at or after `since`, newest first, and warnings about what could not be
/// read.
pub async fn timeline(
    ctx: &mut Ctx,
    since: Option<DateTime<Utc>>,
) -> Result<(Vec<Entry>, Vec<Item>), CommandError> {
    let since_text = since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut warnings = Vec::new();
    let log = match workspace_log(ctx, since_text.as_deref()) {
        Ok((_, log)) => log,
        Err(e) => {
            warnings.push(Item::Warning(format!(
                "only state.db's entries are shown: {e}; {}",
                git_next_step(&e)
            )));
            Vec::new()
        }
    };
    let db = state_db(ctx).await?;
    let count = log.len() as i64;
    let mut entries: Vec<Entry> = log
        .iter()
        .enumerate()
        .map(|(i, e)| commit_entry(e, count - i as i64))
        .collect();
    entries.extend(db_entries(&db, since_text.as_deref(), &entries).await?);
    // git reads dates its own way (a far-off year is not cut): every entry is judged here too.
    if let Some(since) = &since_text {
        entries.retain(|e| e.time >= *since);
    }
    entries.sort_by(|a, b| b.time.cmp(&a.time).then(b.seq.cmp(&a.seq)));
    Ok((entries, warnings))
}

/// The next step when git cannot be read.
pub fn git_next_step(e: &GitError) -> &'static str {
    match e {
        GitError::Missing(_) => "install git to keep the workspace's history",
        GitError::NotARepo { .. } => {
            "run `git init` in the workspace (a workspace made by /init is a repository from the start)"
        }
        _ => "check the repository with `git status`",
    }
}

/// Plans, snapshots and audit entries, each once: a snapshot or an apply that a commit names
/// is part of that commit's entry.
async fn db_entries(
    db: &StateDb,
    since: Option<&str>,
    commits: &[Entry],
) -> Result<Vec<Entry>, CommandError> {
    let mut out: Vec<Entry> = db
        .plans_since(since)
        .await?
        .iter()
        .map(plan_entry)
        .collect();
    let snapshots_in_commits: BTreeSet<i64> = commits.iter().filter_map(|c| c.snapshot).collect();
    out.extend(
        db.snapshots_since(since)
            .await?
            .iter()
            .filter(|s| !snapshots_in_commits.contains(&s.serial))
            .map(snapshot_entry),
    );
    let applies_in_commits: BTreeSet<i64> = commits
        .iter()
        .filter(|c| c.kind == "apply")
        .filter_map(|c| c.plan)
        .collect();
    let init_committed = commits.iter().any(|c| c.kind == "init");
    // A front end's calls (`call` rows: every REST or MCP request, reads included) are in
    // `/audit`; the timeline keeps what changed.
    for a in db
        .audit_since(since)
        .await?
        .into_iter()
        .filter(|a| a.action != "call")
    {
        let entry = audit_entry(&a);
        let joined = match a.action.as_str() {
            "apply" => entry.plan.is_some_and(|p| applies_in_commits.contains(&p)),
            "init" => init_committed,
            _ => false,
        };
        if !joined {
            out.push(entry);
        }
    }
    Ok(out)
}

/// A plan row: what it would change, and whether it was applied.
fn plan_entry(plan: &crate::state::plans::StoredPlan) -> Entry {
    let mut entry = row_entry(
        format!("plan-{}", plan.id),
        &plan.created_at,
        "plan",
        "-",
        format!("plan {} ({})", plan.id, plan.status),
        plan.id,
    );
    entry.plan = Some(plan.id);
    if let Ok(p) = serde_json::from_str::<Plan>(&plan.data) {
        entry.guests = p.actionable().map(|c| c.name.clone()).collect();
        entry.what = format!(
            "plan {} ({}): {}{}",
            plan.id,
            plan.status,
            plan_summary(&p),
            names_suffix(&entry.guests)
        );
    }
    entry
}

/// A snapshot no sync commit names (one a plan or an apply read).
fn snapshot_entry(s: &crate::state::history::SnapshotRow) -> Entry {
    let summary: crate::state::SnapshotSummary =
        serde_json::from_str(&s.summary).unwrap_or_default();
    let guests: u32 = summary
        .vms
        .values()
        .chain(summary.containers.values())
        .sum();
    let mut entry = row_entry(
        format!("snapshot-{}", s.serial),
        &s.taken_at,
        "snapshot",
        "-",
        format!("read the cluster: snapshot {} ({guests} guests)", s.serial),
        s.serial,
    );
    entry.snapshot = Some(s.serial);
    entry
}

/// An audit row: an apply (its plan and outcome), `/init`, or an action on a guest.
fn audit_entry(a: &crate::state::history::AuditRow) -> Entry {
    let detail: serde_json::Value = a
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let what = match a.action.as_str() {
        "apply" => format!(
            "apply {}: {}",
            a.target,
            detail["outcome"].as_str().unwrap_or("finished")
        ),
        "drift" => {
            let fields: Vec<String> = detail["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    format!(
                        "{} {} (server {}, file {})",
                        f["guest"].as_str().unwrap_or("-"),
                        f["field"].as_str().unwrap_or("-"),
                        f["server"].as_str().unwrap_or("not set"),
                        f["file"].as_str().unwrap_or("not set")
                    )
                })
                .collect();
            format!(
                "drift found by {}: {}",
                detail["found_by"].as_str().unwrap_or("drift"),
                fields.join("; ")
            )
        }
        _ => format!("{} {}", a.action, a.target),
    };
    let mut entry = row_entry(
        format!("audit-{}", a.id),
        &a.at,
        &a.action,
        &a.actor,
        what,
        a.id,
    );
    entry.plan = detail["plan_id"].as_i64();
    entry.origin = Some(a.origin.clone());
    if a.action == "drift" {
        entry.guests = detail["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["guest"].as_str())
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        entry.guests.dedup();
    } else if a.action != "apply" && a.action != "init" {
        // Guest actions name `kind vmid name`.
        entry.guests = a
            .target
            .split_whitespace()
            .nth(2)
            .map(str::to_string)
            .into_iter()
            .collect();
    }
    entry
}

/// True when `entry` is about the guest `name`.
fn mentions(entry: &Entry, name: &str) -> bool {
    let ident = crate::iac::names::sanitize(name).unwrap_or_default();
    entry.guests.iter().any(|g| g.eq_ignore_ascii_case(name))
        || entry.files.iter().any(|f| {
            let stem = f.rsplit('/').next().unwrap_or(f);
            let stem = stem.split('.').next().unwrap_or(stem);
            !ident.is_empty()
                && stem == ident
                && (f.starts_with("terraform/") || f.starts_with("tests/"))
        })
        || entry
            .what
            .split(|c: char| c.is_whitespace() || "(),:".contains(c))
            .any(|w| w.eq_ignore_ascii_case(name))
}

/// Runs `/history`.
pub async fn run(ctx: &mut Ctx, args: &HistoryArgs) -> Result<Report, CommandError> {
    ctx.workspace()?;
    if let Some(id) = &args.show {
        return show(ctx, id, args.machine).await;
    }
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()
        .map_err(|m| CommandError::user(m).hint("for example: /history --since 2h"))?;
    let (mut entries, mut items) = timeline(ctx, since).await?;
    if let Some(guest) = &args.guest {
        entries.retain(|e| mentions(e, guest));
    }
    let machine = args.machine || ctx.ui.format != OutputFormat::Table;
    let mut table = Table::new(&["id", "time", "actor", "origin", "kind", "what"]);
    for e in &entries {
        table.row(vec![
            e.id.clone(),
            e.time.clone(),
            e.actor.clone(),
            e.origin.clone().unwrap_or_else(|| "-".into()),
            e.kind.clone(),
            e.what.clone(),
        ]);
    }
    let empty = entries.is_empty();
    let value = json!({ "entries": entries });
    if empty && !machine {
        let whose = args
            .guest
            .as_ref()
            .map(|g| format!(" about {g}"))
            .unwrap_or_default();
        items.insert(0, Item::Status(format!("No history entries{whose}.")));
    } else {
        items.insert(0, Item::Data { value, table });
    }
    if !empty && !machine {
        items.push(Item::Hint(
            "/history show ID shows one change; /rollback ID brings the files back to how they were after it".into(),
        ));
    }
    Ok(items)
}

/// A commit from the log by id: a commit id (or its start), `plan-N` (the apply of plan N),
/// `snapshot-N` (the sync that recorded it).
pub fn find_commit<'a>(repo: &Repo, log: &'a [LogEntry], id: &str) -> Option<&'a LogEntry> {
    let by_trailer = |key: &str, value: &str| log.iter().find(|e| e.trailer(key) == Some(value));
    if let Some(n) = id.strip_prefix("plan-") {
        return log.iter().find(|e| {
            e.trailer(trailer::PLAN) == Some(n) && e.trailer(trailer::OPERATION) == Some("apply")
        });
    }
    if let Some(n) = id.strip_prefix("snapshot-") {
        return by_trailer(trailer::SNAPSHOT, n);
    }
    if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let sha = repo.resolve(id).ok().flatten()?;
    log.iter().find(|e| e.sha == sha)
}

/// `/history show ID`.
async fn show(ctx: &mut Ctx, id: &str, machine: bool) -> Result<Report, CommandError> {
    let unknown = || {
        CommandError::user(format!("there is no history entry `{id}`"))
            .hint("/history lists the entries with their ids (a commit id, plan-N, snapshot-N or audit-N)")
    };
    if let Some(n) = id.strip_prefix("plan-") {
        let n: i64 = n.parse().map_err(|_| unknown())?;
        // An applied plan with a commit shows the commit (its files); its plan text follows.
        let db = state_db(ctx).await?;
        let stored = db.plan(n).await?.ok_or_else(unknown)?;
        let plan: Plan = serde_json::from_str(&stored.data).map_err(|e| {
            CommandError::internal(format!("plan {n} in state.db cannot be read: {e}"))
        })?;
        let mut text = format!(
            "plan {n} made {} against snapshot {}, {}\n\n{}",
            stored.created_at,
            stored.based_on_serial.map_or("-".into(), |s| s.to_string()),
            stored.status,
            crate::plan::render::render_text(&plan)
        );
        let journal = db.journal(n).await?;
        if !journal.is_empty() {
            text.push_str("\nJournal:\n");
            for row in &journal {
                text.push_str(&format!(
                    "  {} step {} {} {}: {}\n",
                    row.finished_at.as_deref().unwrap_or(&row.started_at),
                    row.step,
                    row.action,
                    row.target,
                    row.status
                ));
            }
        }
        return Ok(shown(id, text, machine));
    }
    if let Some(n) = id.strip_prefix("snapshot-") {
        let n: i64 = n.parse().map_err(|_| unknown())?;
        let db = state_db(ctx).await?;
        let row = db
            .snapshots_since(None)
            .await?
            .into_iter()
            .find(|s| s.serial == n)
            .ok_or_else(unknown)?;
        let text = format!(
            "snapshot {n} taken {} ({}): {}",
            row.taken_at, row.environment, row.summary
        );
        return Ok(shown(id, text, machine));
    }
    if let Some(n) = id.strip_prefix("audit-") {
        let n: i64 = n.parse().map_err(|_| unknown())?;
        let db = state_db(ctx).await?;
        let row = db
            .audit_since(None)
            .await?
            .into_iter()
            .find(|a| a.id == n)
            .ok_or_else(unknown)?;
        let text = format!(
            "{} {} by {} ({}): {} {}\n{}",
            row.at,
            row.action,
            row.actor,
            row.environment,
            row.action,
            row.target,
            row.detail.unwrap_or_default()
        );
        return Ok(shown(id, ctx.redact(&text), machine));
    }
    let (repo, log) = workspace_log(ctx, None).map_err(|e| {
        CommandError::user(format!("cannot read the workspace's git history: {e}"))
            .hint(git_next_step(&e))
    })?;
    let entry = find_commit(&repo, &log, id).ok_or_else(unknown)?;
    let text = repo.show(&entry.sha).map_err(|e| {
        CommandError::user(format!("cannot show commit {}: {e}", entry.short()))
            .hint("check the repository with `git status`")
    })?;
    Ok(shown(id, text, machine))
}

fn shown(id: &str, text: String, machine: bool) -> Report {
    if machine {
        let mut table = Table::default();
        table.row(vec![text.clone()]);
        vec![Item::Data {
            value: json!({ "id": id, "text": text }),
            table,
        }]
    } else {
        vec![Item::Text(text)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_spans_dates_and_times() {
        let now = DateTime::parse_from_rfc3339("2024-05-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| {
            parse_since(s, now)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        assert_eq!(at("2h"), "2024-05-02T10:00:00Z");
        assert_eq!(at("1d"), "2024-05-01T12:00:00Z");
        assert_eq!(at("2024-05-01"), "2024-05-01T00:00:00Z");
        assert_eq!(at("2024-05-01T08:30"), "2024-05-01T08:30:00Z");
        assert_eq!(at("2024-05-01T08:30:00+02:00"), "2024-05-01T06:30:00Z");
        assert!(parse_since("yesterday", now).is_err());
    }
}
