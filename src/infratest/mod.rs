//! Infrastructure tests (`/test`): prove that the live cluster is what the workspace's code says.
//!
//! What this module owns:
//! - [`spec`]: loading the generated guest specs (`tests/<guest>.yml`, written by `/sync`) and the
//!   hand-written check files (`tests/checks/*.yml`, never touched by `/sync`) into [`Check`]s. A
//!   file that cannot be used becomes one failed check naming the file and line.
//! - [`fields`]: the pure comparison of a spec's `expect` block with a discovered guest.
//! - [`probe`]: the checks that need I/O beyond discovery: TCP reachability from this host
//!   (loopback-only when the endpoint is local), guest-to-guest reachability through the QEMU
//!   guest agent's exec API, and utilisation from RRD data.
//! - [`workspace`]: checks of the workspace files themselves (Terraform maps to the model, the
//!   provider is pinned, the inventory names existing guests, no token secret in any file).
//! - [`backup`]: backup coverage and age (RPO) from a `backups:` entry of a check file.
//! - [`report`]: one line per guest, the summary line, JUnit XML and the JSON report.
//! - [`run_suite`]: one discovery, then every check in parallel.
//!
//! It never prints; the `/test` command renders what it returns.

pub mod backup;
pub mod fields;
pub mod probe;
pub mod report;
pub mod spec;
pub mod workspace;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::iac::desired::read_workspace;
use crate::model::{ClusterSnapshot, Guest};
use crate::pve::{Client, PveError};

pub use spec::{Check, CheckKind, LoadedChecks, Subject};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Who the check is about: `web-01 (100)`, `workspace`, or a broken file's path.
    pub group: String,
    pub vmid: Option<u32>,
    /// What was checked: `memory_mib`, `disk scsi0 size_gib`, `tcp 127.0.0.1:22`.
    pub name: String,
    /// The file (and line, when known) the check comes from.
    pub source: String,
    pub status: Status,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Why it failed or was skipped, or a note on how it passed.
    pub message: Option<String>,
    pub duration_ms: f64,
}

impl CheckResult {
    fn new(check: &Check, status: Status) -> Self {
        Self {
            group: check.subject.label(),
            vmid: check.subject.vmid(),
            name: check.name.clone(),
            source: check.source.clone(),
            status,
            expected: None,
            actual: None,
            message: None,
            duration_ms: 0.0,
        }
    }

    /// A passed check.
    pub fn passed(check: &Check) -> Self {
        Self::new(check, Status::Passed)
    }

    /// A failed check with what was expected and what was found.
    pub fn mismatch(check: &Check, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Self {
            expected: Some(expected.into()),
            actual: Some(actual.into()),
            ..Self::new(check, Status::Failed)
        }
    }

    /// A failed check with a reason.
    pub fn failed(check: &Check, message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            ..Self::new(check, Status::Failed)
        }
    }

    /// A skipped check with the reason.
    pub fn skipped(check: &Check, reason: impl Into<String>) -> Self {
        Self {
            message: Some(reason.into()),
            ..Self::new(check, Status::Skipped)
        }
    }

    /// Adds a note (how a check passed, or more detail).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep only checks whose guest name, vmid, file or check name contains this text.
    pub filter: Option<String>,
    /// Keep only checks of guests (or hand-written checks) carrying this tag.
    pub tag: Option<String>,
    /// How many I/O checks (TCP, agent, RRD) run at once.
    pub concurrency: usize,
    /// Secrets this process knows (the workspace's token): a file containing one fails the
    /// secret scan. Never printed.
    pub known_secrets: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            filter: None,
            tag: None,
            concurrency: 32,
            known_secrets: Vec::new(),
        }
    }
}

/// Everything one `/test` run produced.
#[derive(Debug, Clone, Serialize)]
pub struct TestRun {
    pub results: Vec<CheckResult>,
    /// Notes from discovery (guests gone mid-read, offline nodes).
    pub warnings: Vec<String>,
    pub elapsed_ms: f64,
}

impl TestRun {
    /// Returns (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s: Status| self.results.iter().filter(|r| r.status == s).count();
        (n(Status::Passed), n(Status::Failed), n(Status::Skipped))
    }

    /// Returns true when no check failed.
    pub fn ok(&self) -> bool {
        self.results.iter().all(|r| r.status != Status::Failed)
    }
}

/// Returns true when `check` is selected by the filter and tag.
fn selected(check: &Check, options: &RunOptions, tags_of: &BTreeMap<u32, Vec<String>>) -> bool {
    if let Some(filter) = &options.filter {
        let f = filter.to_lowercase();
        let hit = check.subject.label().to_lowercase().contains(&f)
            || check.name.to_lowercase().contains(&f)
            || check.source.to_lowercase().contains(&f);
        if !hit {
            return false;
        }
    }
    if let Some(tag) = &options.tag {
        let t = tag.to_lowercase();
        let guest_tags = check
            .subject
            .vmid()
            .and_then(|v| tags_of.get(&v))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !guest_tags.contains(&t) && !check.tags.contains(&t) {
            return false;
        }
    }
    true
}

/// Runs the workspace's tests at `root` against the cluster behind `client`: loads every spec
/// and check file, discovers the cluster once, then evaluates all checks, the I/O ones
/// `options.concurrency` at a time. Fails only when discovery itself fails; every other
/// problem is a failed check.
pub async fn run_suite(
    client: &Client,
    root: &Path,
    options: &RunOptions,
) -> Result<TestRun, PveError> {
    let started = Instant::now();
    let code = read_workspace(root);
    let code_guests: Vec<Guest> = code.state.guests();
    let loaded = spec::load_checks(root, &code_guests);
    let tags_of: BTreeMap<u32, Vec<String>> = code_guests
        .iter()
        .map(|g| (g.vmid, g.tags.iter().map(|t| t.to_lowercase()).collect()))
        .collect();
    let mut checks: Vec<Check> = loaded
        .checks
        .into_iter()
        .filter(|c| selected(c, options, &tags_of))
        .collect();
    // Workspace checks belong to no guest: a tag never selects them; a filter does when it
    // matches their label, as for every other check.
    let workspace_selected = options.tag.is_none()
        && options
            .filter
            .as_deref()
            .is_none_or(|f| Subject::Workspace.label().contains(&f.to_lowercase()));
    if workspace_selected {
        checks.extend(workspace::checks());
    }

    let discovery = client.discover_detailed(|_, _| {}).await?;
    let snapshot = discovery.snapshot;
    let mut context = probe::ProbeContext::new(client, root, &code, &options.known_secrets);
    if workspace_selected {
        context.written = workspace::load_written(root).await;
    }

    // The backups are read once, and only when a check needs them.
    let backup_facts = if checks
        .iter()
        .any(|c| matches!(c.kind, CheckKind::Backup(_)))
    {
        Some(backup::gather(client).await)
    } else {
        None
    };
    let mut indexed: Vec<(usize, CheckResult)> =
        futures::stream::iter(checks.iter().enumerate().map(|(i, check)| {
            let snapshot = &snapshot;
            let context = &context;
            let backup_facts = backup_facts.as_ref();
            async move {
                let t = Instant::now();
                let mut result = evaluate(check, snapshot, context, backup_facts).await;
                result.duration_ms = t.elapsed().as_secs_f64() * 1000.0;
                (i, result)
            }
        }))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    Ok(TestRun {
        results: indexed.into_iter().map(|(_, r)| r).collect(),
        warnings: discovery.warnings,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Evaluates one check.
async fn evaluate(
    check: &Check,
    snapshot: &ClusterSnapshot,
    context: &probe::ProbeContext<'_>,
    backup_facts: Option<&Result<backup::BackupFacts, String>>,
) -> CheckResult {
    match &check.kind {
        CheckKind::Broken { message } => CheckResult::failed(check, message.clone()),
        CheckKind::Field(expect) => fields::evaluate(check, expect, snapshot),
        CheckKind::Workspace(kind) => workspace::evaluate(check, *kind, context, snapshot),
        CheckKind::Tcp(tcp) => probe::tcp(check, tcp, snapshot, context).await,
        CheckKind::Reaches(reaches) => probe::reaches(check, reaches, snapshot, context).await,
        CheckKind::Utilisation(u) => probe::utilisation(check, u, snapshot, context).await,
        CheckKind::Backup(b) => backup::evaluate(check, b, backup_facts),
    }
}

/// The timeout for a probe when the spec gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);
