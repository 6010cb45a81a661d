//! `/test`'s backup checks, from a `backups:` entry in a hand-written check file
//! (`tests/checks/*.yml`):
//!
//! ```yaml
//! version: 1
//! backups:
//!   rpo: 24h              # the newest backup of each guest must be younger than this
//!   exclude: [scratch-01] # guests left out of backups on purpose (names or vmids)
//! ```
//!
//! Each guest of the code gets two checks: `backup job` (some scheduled backup job covers it,
//! as `GET /cluster/backup-info/not-backed-up` says) and `backup age` (its newest backup volume
//! on any backup storage is younger than the RPO). An excluded guest's checks are skipped with
//! the reason. The facts are read once per run ([`gather`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::CheckResult;
use super::spec::{Check, CheckKind, Subject};
use crate::model::Guest;
use crate::pve::{Client, Params, params};

/// The `backups:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsSpec {
    rpo: String,
    #[serde(default)]
    exclude: Vec<Named>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Named {
    Vmid(u32),
    Name(String),
}

/// Which backup check.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupCheck {
    /// Some backup job covers the guest.
    InJob { excluded: bool },
    /// The guest's newest backup is at most `rpo_seconds` old.
    Fresh {
        rpo_seconds: u64,
        rpo: String,
        excluded: bool,
    },
}

/// What the checks are judged against, read once per run.
#[derive(Debug, Clone, Default)]
pub struct BackupFacts {
    /// Guests no backup job covers.
    pub not_backed_up: BTreeSet<u32>,
    /// Each guest's newest backup: (ctime, volid).
    pub newest: BTreeMap<u32, (u64, String)>,
    pub now: u64,
}

/// Parses `30m`, `24h`, `7d`, `2w` into seconds.
fn parse_rpo(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("rpo: `{text}` is not a duration (write e.g. 24h, 7d)"))?;
    let mult = match unit.trim() {
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "rpo: `{text}` is not a duration (write e.g. 24h, 7d)"
            ));
        }
    };
    if n == 0 {
        return Err("rpo: must be longer than 0".into());
    }
    Ok(n * mult)
}

/// The backup checks of every guest of the code, from the `backups:` entry of `file`.
pub fn checks(
    file: &str,
    text: &str,
    spec: BackupsSpec,
    code: &BTreeMap<u32, &Guest>,
) -> Vec<Check> {
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("backups:"))
        .map(|i| i + 1);
    let source = match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    };
    let broken = |message: String| Check {
        subject: Subject::File(source.clone()),
        name: "spec is readable".into(),
        source: source.clone(),
        tags: Vec::new(),
        kind: CheckKind::Broken { message },
    };
    let rpo_seconds = match parse_rpo(&spec.rpo) {
        Ok(s) => s,
        Err(message) => return vec![broken(message)],
    };
    let mut excluded = BTreeSet::new();
    let mut out = Vec::new();
    for named in &spec.exclude {
        let hit = code.values().find(|g| match named {
            Named::Vmid(v) => g.vmid == *v,
            Named::Name(n) => g.name == *n || n.parse::<u32>().is_ok_and(|v| v == g.vmid),
        });
        match hit {
            Some(g) => {
                excluded.insert(g.vmid);
            }
            None => {
                let what = match named {
                    Named::Vmid(v) => v.to_string(),
                    Named::Name(n) => n.clone(),
                };
                out.push(broken(format!(
                    "backups.exclude: guest `{what}` is not in the code (no terraform/*.tf describes it)"
                )));
            }
        }
    }
    for g in code.values() {
        let subject = Subject::Guest {
            vmid: g.vmid,
            name: g.name.clone(),
        };
        let is_excluded = excluded.contains(&g.vmid);
        for (name, kind) in [
            (
                "backup job",
                BackupCheck::InJob {
                    excluded: is_excluded,
                },
            ),
            (
                "backup age",
                BackupCheck::Fresh {
                    rpo_seconds,
                    rpo: spec.rpo.trim().to_string(),
                    excluded: is_excluded,
                },
            ),
        ] {
            out.push(Check {
                subject: subject.clone(),
                name: name.into(),
                source: source.clone(),
                tags: Vec::new(),
                kind: CheckKind::Backup(kind),
            });
        }
    }
    out
}

/// An age as the report says it: `90 s`, `12 min`, `5 h`, `3 d`.
fn age_text(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Reads which guests no job covers and each guest's newest backup (every storage with
/// `backup` content, a shared one once).
pub async fn gather(client: &Client) -> Result<BackupFacts, String> {
    let err = |e: crate::pve::PveError| e.to_string();
    let list: Vec<Value> = client
        .get("/cluster/backup-info/not-backed-up", Params::new())
        .await
        .map_err(err)?;
    let mut facts = BackupFacts {
        not_backed_up: list
            .iter()
            .filter_map(|g| g.get("vmid").and_then(u64_of))
            .filter_map(|v| u32::try_from(v).ok())
            .collect(),
        newest: BTreeMap::new(),
        now: chrono::Utc::now().timestamp().max(0) as u64,
    };
    let nodes = client.nodes().await.map_err(err)?;
    let mut shared_seen = BTreeSet::new();
    for node in nodes
        .iter()
        .filter(|n| n.status.as_deref() != Some("offline"))
    {
        for s in client.storages(&node.node).await.map_err(err)? {
            let backups = s
                .content
                .as_deref()
                .is_some_and(|c| c.split(',').any(|c| c.trim() == "backup"));
            if !backups || (s.shared && !shared_seen.insert(s.storage.clone())) {
                continue;
            }
            let path = format!("/nodes/{}/storage/{}/content", node.node, s.storage);
            let entries: Vec<Value> = client
                .get(&path, params([("content", "backup")]))
                .await
                .map_err(err)?;
            for e in entries {
                let (Some(vmid), Some(ctime), Some(volid)) = (
                    e.get("vmid").and_then(u64_of),
                    e.get("ctime").and_then(u64_of),
                    e.get("volid").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let Ok(vmid) = u32::try_from(vmid) else {
                    continue;
                };
                let slot = facts.newest.entry(vmid).or_insert((0, String::new()));
                if ctime >= slot.0 {
                    *slot = (ctime, volid.to_string());
                }
            }
        }
    }
    Ok(facts)
}

/// Judges one backup check.
pub fn evaluate(
    check: &Check,
    b: &BackupCheck,
    facts: Option<&Result<BackupFacts, String>>,
) -> CheckResult {
    let excluded = match b {
        BackupCheck::InJob { excluded } | BackupCheck::Fresh { excluded, .. } => *excluded,
    };
    if excluded {
        return CheckResult::skipped(check, "excluded from backups on purpose (backups.exclude)");
    }
    let facts = match facts {
        Some(Ok(f)) => f,
        Some(Err(e)) => return CheckResult::failed(check, format!("cannot read the backups: {e}")),
        None => return CheckResult::failed(check, "the backups were not read"),
    };
    let Some(vmid) = check.subject.vmid() else {
        return CheckResult::failed(check, "a backup check needs a guest");
    };
    match b {
        BackupCheck::InJob { .. } => {
            if facts.not_backed_up.contains(&vmid) {
                CheckResult::mismatch(check, "in a backup job", "in no backup job").with_message(
                    "add the guest to a scheduled backup job (Datacenter > Backup), or list it under backups.exclude",
                )
            } else {
                CheckResult::passed(check)
            }
        }
        BackupCheck::Fresh {
            rpo_seconds, rpo, ..
        } => match facts.newest.get(&vmid) {
            None => {
                CheckResult::mismatch(check, format!("a backup younger than {rpo}"), "no backup")
                    .with_message("`backup vm NAME` (or `backup container NAME`) makes one now")
            }
            Some((ctime, volid)) => {
                let age = facts.now.saturating_sub(*ctime);
                if age <= *rpo_seconds {
                    CheckResult::passed(check)
                        .with_message(format!("newest backup {volid} is {} old", age_text(age)))
                } else {
                    CheckResult::mismatch(
                        check,
                        format!("a backup younger than {rpo}"),
                        format!("{} old ({volid})", age_text(age)),
                    )
                    .with_message(
                        "the newest backup is older than the RPO: is its backup job running?",
                    )
                }
            }
        },
    }
}
