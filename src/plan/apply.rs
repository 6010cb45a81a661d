//! The apply engine: runs a [`Plan`]'s changes through `pve::Client` with a journal in
//! `state.db`.
//!
//! - Each change is one step. A step runs after the steps it depends on; when one of them
//!   failed it is skipped, and every independent step still runs.
//! - Steps run in parallel, bounded overall, per node and per storage they allocate on.
//! - PVE's lock errors (`VM is locked`, `can't lock file ... got timeout`) are waited out with
//!   backoff, never shown as failures unless they outlast [`ApplyOptions::lock_wait`].
//! - The journal gets a row before each step (`started`; a create's vmid is in it before the
//!   create request goes out) and a row after (`done`, `failed`, `skipped`). A resumed apply
//!   skips steps that are done, and for a step that was started but not finished checks the
//!   live guest: a guest with the journaled vmid and the planned name counts as created.
//! - Config updates carry the planned digest: if someone changed the guest meanwhile PVE
//!   refuses, and that step stops and says so.
//! - Never waits on a guest agent.
//!
//! The engine reports through an event callback and returns an [`ApplySummary`]; it prints
//! nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::diff::{ConfigUpdate, comparable_config, config_update};
use super::{Action, Change, Plan, ResourceKind};
use crate::model::propstring::format_size;
use crate::model::{Guest, config::ConfigValue};
use crate::model::{GuestConfig, GuestKind, GuestStatus, guest_from_config};
use crate::pve::{Client, PveError, TaskProgress, Upid, params};
use crate::state::plans::{JournalEntry, JournalRow};
use crate::state::{PlanStatus, StateDb};

/// The test-only crash hook: returns true to stop at the named point.
pub type CrashHook = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How an apply runs.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Steps running at once in total.
    pub parallelism: usize,
    /// Steps running at once on one node.
    pub per_node: usize,
    /// Steps allocating on one storage at once.
    pub per_storage: usize,
    /// How long one call may keep meeting lock errors before the step fails.
    pub lock_wait: Duration,
    /// How long to follow one task.
    pub task_timeout: Duration,
    /// Test hook: called at named points (`before-request:<step>`, `after-request:<step>`,
    /// `after-step:<step>`); returning true stops the apply there as a crash would (nothing
    /// more is journaled). The binary aborts the process instead (`PMPC_CRASH_AT`).
    pub crash_hook: Option<CrashHook>,
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("parallelism", &self.parallelism)
            .field("per_node", &self.per_node)
            .field("per_storage", &self.per_storage)
            .field("lock_wait", &self.lock_wait)
            .finish_non_exhaustive()
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: 8,
            per_node: 4,
            per_storage: 4,
            lock_wait: Duration::from_secs(120),
            task_timeout: Duration::from_secs(30 * 60),
            crash_hook: None,
        }
    }
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Done {
        detail: String,
    },
    /// Done by an earlier (interrupted) run of the same plan.
    AlreadyDone,
    Failed {
        error: String,
    },
    Skipped {
        because: String,
    },
    NotAttempted,
}

/// One step's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: usize,
    /// Guest name or pool id.
    pub name: String,
    pub address: String,
    pub action: Action,
    /// The vmid the guest has after the step (a create's new vmid).
    pub vmid: Option<u32>,
    pub outcome: StepOutcome,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplySummary {
    pub plan_id: i64,
    pub steps: Vec<StepReport>,
    /// True when the apply was cut short by the crash hook.
    pub interrupted: bool,
}

impl ApplySummary {
    /// Returns (done, failed, not attempted) counts; already-done steps count as done.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in &self.steps {
            match s.outcome {
                StepOutcome::Done { .. } | StepOutcome::AlreadyDone => c.0 += 1,
                StepOutcome::Failed { .. } => c.1 += 1,
                StepOutcome::Skipped { .. } | StepOutcome::NotAttempted => c.2 += 1,
            }
        }
        c
    }

    /// Returns true when every step is done.
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.counts().1 == 0 && self.counts().2 == 0
    }

    /// Returns the vmids of the guests created, by guest name.
    pub fn created(&self) -> BTreeMap<String, u32> {
        self.steps
            .iter()
            .filter(|s| matches!(s.action, Action::Create | Action::Replace))
            .filter(|s| {
                matches!(
                    s.outcome,
                    StepOutcome::Done { .. } | StepOutcome::AlreadyDone
                )
            })
            .filter_map(|s| s.vmid.map(|v| (s.name.clone(), v)))
            .collect()
    }

    /// Returns the lines of the summary a user reads: what was done, what failed and why, what
    /// was not attempted.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.steps {
            let line = match &s.outcome {
                StepOutcome::Done { detail } => format!("done: {} ({detail})", s.address),
                StepOutcome::AlreadyDone => {
                    format!("done: {} (by the interrupted apply)", s.address)
                }
                StepOutcome::Failed { error } => format!("failed: {}: {error}", s.address),
                StepOutcome::Skipped { because } => {
                    format!("not attempted: {} ({because})", s.address)
                }
                StepOutcome::NotAttempted => {
                    format!("not attempted: {} (apply was interrupted)", s.address)
                }
            };
            out.push(line);
        }
        out
    }
}

/// What the engine reports while it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApplyEvent {
    StepStarted {
        step: usize,
        address: String,
    },
    /// A task log line or a note (waiting out a lock).
    Progress {
        step: usize,
        message: String,
    },
    StepFinished {
        step: usize,
        outcome: StepOutcome,
    },
}

/// Why an apply could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan cannot be applied: {0}")]
    Refused(String),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

type EventSink = Arc<dyn Fn(ApplyEvent) + Send + Sync>;

struct Shared {
    client: Client,
    db: StateDb,
    plan_id: i64,
    opts: ApplyOptions,
    events: EventSink,
    /// vmids taken: this apply's (planned or allocated) and the guests on the server when it
    /// started, so parallel creates never collide with each other or walk into a guest.
    reserved: Mutex<BTreeSet<u32>>,
    /// Serializes journal writes (SQLite has one writer).
    journal_lock: Mutex<()>,
    halted: AtomicBool,
    nodes: Mutex<HashMap<String, Arc<Semaphore>>>,
    storages: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Storages every node sees as one (NFS, Ceph, ...): PVE locks them cluster-wide, so their
    /// slots are shared by all nodes; any other storage is a different one on each node.
    shared_storages: BTreeSet<String>,
    global: Arc<Semaphore>,
}

/// A step stopped by the crash hook.
struct Halted;

impl Shared {
    fn emit(&self, event: ApplyEvent) {
        (self.events)(event);
    }

    fn crash_point(&self, point: &str) -> Result<(), Halted> {
        if let Some(hook) = &self.opts.crash_hook
            && hook(point)
        {
            self.halted.store(true, Ordering::SeqCst);
            return Err(Halted);
        }
        Ok(())
    }

    async fn journal(
        &self,
        change: &Change,
        status: &str,
        upid: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), String> {
        let _guard = self.journal_lock.lock().await;
        let action = format!("{:?}", change.action).to_lowercase();
        self.db
            .journal_append(&JournalEntry {
                plan_id: self.plan_id,
                step: change.id as i64,
                action: &action,
                target: &change.address(),
                upid,
                status,
                detail,
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot write the journal: {e}"))
    }

    /// Records a guest as managed (serialized with the journal: SQLite has one writer).
    async fn managed(
        &self,
        vmid: u32,
        guest: Option<(&str, &str, GuestKind)>,
    ) -> Result<(), String> {
        let _guard = self.journal_lock.lock().await;
        match guest {
            Some((name, node, kind)) => self.db.set_managed(vmid, name, node, kind.as_str()).await,
            None => self.db.unset_managed(vmid).await,
        }
        .map_err(|e| format!("cannot record the guest in state.db: {e}"))
    }

    async fn semaphore(
        map: &Mutex<HashMap<String, Arc<Semaphore>>>,
        key: &str,
        n: usize,
    ) -> Arc<Semaphore> {
        map.lock()
            .await
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n.max(1))))
            .clone()
    }
}

fn is_lock_error(e: &PveError) -> bool {
    let text = match e {
        PveError::Locked { .. } => return true,
        PveError::Api { message, .. } => message.as_str(),
        PveError::TaskFailed { exitstatus, .. } => exitstatus.as_str(),
        _ => return false,
    };
    text.contains("can't lock file") || text.contains("is locked")
}

/// Runs `call` again while PVE answers with a lock error, with backoff, up to `lock_wait`.
async fn retry_locked<T, F, Fut>(shared: &Shared, step: usize, mut call: F) -> Result<T, PveError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PveError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match call().await {
            Err(e) if is_lock_error(&e) && started.elapsed() < shared.opts.lock_wait => {
                shared.emit(ApplyEvent::Progress {
                    step,
                    message: format!("waiting for a lock: {e}"),
                });
                let jitter =
                    Duration::from_millis(rand::random_range(0..=delay.as_millis() as u64 / 2));
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

async fn wait_task(shared: &Shared, step: usize, upid: &Upid) -> Result<(), PveError> {
    let events = shared.events.clone();
    shared
        .client
        .wait_task(
            upid,
            shared.opts.task_timeout,
            move |p| {
                if let TaskProgress::Log(line) = p {
                    events(ApplyEvent::Progress {
                        step,
                        message: line.to_string(),
                    });
                }
            },
            std::future::pending(),
        )
        .await
        .map(|_| ())
}

/// Starts a task (retrying lock errors) and follows it to its end; a task that failed on a lock
/// is started again.
async fn run_task<F, Fut>(
    shared: &Shared,
    step: usize,
    mut start: F,
) -> Result<Option<String>, PveError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Upid>, PveError>>,
{
    let started = Instant::now();
    loop {
        let upid = retry_locked(shared, step, &mut start).await?;
        let Some(upid) = upid else {
            return Ok(None);
        };
        match wait_task(shared, step, &upid).await {
            Err(e) if is_lock_error(&e) && started.elapsed() < shared.opts.lock_wait => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(Some(upid.to_string())),
        }
    }
}

/// Reads a guest as it is now, wherever it lives; `None` when it does not exist.
pub async fn read_live(client: &Client, vmid: u32) -> Result<Option<Guest>, PveError> {
    let list = client.cluster_resources(Some("vm")).await?;
    let Some(entry) = list.into_iter().find(|r| r.vmid == Some(vmid)) else {
        return Ok(None);
    };
    let (Some(node), Some(kind)) = (entry.node.clone(), GuestKind::parse(&entry.kind)) else {
        return Ok(None);
    };
    let raw = match client.guest_config(&node, kind, vmid).await {
        Ok(raw) => raw,
        Err(PveError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let status = GuestStatus::parse(entry.status.as_deref().unwrap_or(""));
    let (guest, _) = guest_from_config(vmid, &node, kind, status, entry.pool.clone(), &raw);
    Ok(Some(guest))
}

/// The parameters of a create: the guest's PVE keys plus vmid, pool and (LXC) ostemplate.
fn create_params(guest: &Guest, vmid: u32) -> Vec<(String, String)> {
    let mut body = params([("vmid", vmid.to_string())]);
    for (k, v) in comparable_config(guest) {
        body.push((k, v));
    }
    if let GuestConfig::Container(ct) = &guest.config
        && let Some(t) = &ct.ostemplate
    {
        body.push(("ostemplate".into(), t.clone()));
    }
    if let Some(pool) = &guest.pool {
        body.push(("pool".into(), pool.clone()));
    }
    body
}

async fn allocate_vmid(shared: &Shared, planned: Option<u32>) -> Result<u32, PveError> {
    let mut reserved = shared.reserved.lock().await;
    if let Some(v) = planned {
        reserved.insert(v);
        return Ok(v);
    }
    let mut id = shared.client.next_id().await?;
    while reserved.contains(&id) {
        id += 1;
    }
    reserved.insert(id);
    Ok(id)
}

fn err_text(e: &PveError) -> String {
    e.to_string()
}

/// What the journal says about one step.
#[derive(Debug, Default, Clone)]
struct StepHistory {
    finished: Option<String>,
    /// vmids journaled by `started` rows, newest last.
    vmids: Vec<u32>,
    started: bool,
}

fn histories(rows: &[JournalRow]) -> BTreeMap<usize, StepHistory> {
    let mut out: BTreeMap<usize, StepHistory> = BTreeMap::new();
    for row in rows {
        let h = out.entry(row.step as usize).or_default();
        if row.status == "started" {
            h.started = true;
            if let Some(v) = row
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .and_then(|d| d.get("vmid").and_then(|v| v.as_u64()))
                .and_then(|v| u32::try_from(v).ok())
            {
                h.vmids.push(v);
            }
        } else {
            h.finished = Some(row.status.clone());
        }
    }
    out
}

enum StepResult {
    Outcome(StepOutcome, Option<u32>),
    Halted,
}

/// Applies `plan` (saved as `plan_id`), resuming from its journal when it was started before.
pub async fn apply(
    client: &Client,
    db: &StateDb,
    plan_id: i64,
    plan: &Plan,
    opts: ApplyOptions,
    events: impl Fn(ApplyEvent) + Send + Sync + 'static,
) -> Result<ApplySummary, ApplyError> {
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        return Err(ApplyError::Refused(refusals.join("; ")));
    }
    db.set_plan_status(plan_id, PlanStatus::Applying).await?;
    let history = histories(&db.journal(plan_id).await?);
    let planned_vmids: BTreeSet<u32> = plan
        .actionable()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| c.vmid)
        .collect();
    // One listing of the cluster's resources; without it every storage counts as node-local
    // (the looser bound) and only this plan's vmids are known to be taken.
    let resources = client.cluster_resources(None).await.unwrap_or_default();
    let shared_storages = resources
        .iter()
        .filter(|r| r.kind == "storage" && r.shared)
        .filter_map(|r| r.storage.clone())
        .collect();
    // A vmid next to the one `/cluster/nextid` answered is tried only when this apply already
    // holds that one; the guests on the server are skipped too, or parallel creates walk one
    // vmid per try through a run of existing guests after a free hole (and give up after 8).
    let mut reserved = planned_vmids;
    reserved.extend(
        resources
            .iter()
            .filter(|r| GuestKind::parse(&r.kind).is_some())
            .filter_map(|r| r.vmid),
    );
    let shared = Arc::new(Shared {
        client: client.clone(),
        db: db.clone(),
        plan_id,
        global: Arc::new(Semaphore::new(opts.parallelism.max(1))),
        opts,
        events: Arc::new(events),
        reserved: Mutex::new(reserved),
        journal_lock: Mutex::new(()),
        halted: AtomicBool::new(false),
        nodes: Mutex::new(HashMap::new()),
        storages: Mutex::new(HashMap::new()),
        shared_storages,
    });

    let mut run = Launcher::new(plan, history, shared);
    let interrupted = run.run().await;
    let summary = ApplySummary {
        plan_id,
        steps: run.reports(),
        interrupted,
    };
    if !interrupted {
        let status = if summary.succeeded() {
            PlanStatus::Applied
        } else {
            PlanStatus::Failed
        };
        db.set_plan_status(plan_id, status).await?;
    }
    Ok(summary)
}

/// One run of a plan's steps: launches each step once its dependencies are settled and
/// records how every step settled.
struct Launcher<'a> {
    plan: &'a Plan,
    steps: Vec<&'a Change>,
    history: BTreeMap<usize, StepHistory>,
    shared: Arc<Shared>,
    outcomes: BTreeMap<usize, (StepOutcome, Option<u32>)>,
    launched: BTreeSet<usize>,
    running: JoinSet<(usize, StepResult)>,
}

impl<'a> Launcher<'a> {
    /// Steps the journal says are done count as settled (and launched) from the start.
    fn new(plan: &'a Plan, history: BTreeMap<usize, StepHistory>, shared: Arc<Shared>) -> Self {
        let steps: Vec<&Change> = plan.actionable().collect();
        let mut outcomes: BTreeMap<usize, (StepOutcome, Option<u32>)> = BTreeMap::new();
        for c in &steps {
            if history.get(&c.id).and_then(|h| h.finished.as_deref()) == Some("done") {
                let vmid = history
                    .get(&c.id)
                    .and_then(|h| h.vmids.last().copied())
                    .or(c.vmid);
                outcomes.insert(c.id, (StepOutcome::AlreadyDone, vmid));
            }
        }
        let launched: BTreeSet<usize> = outcomes.keys().copied().collect();
        Self {
            plan,
            steps,
            history,
            shared,
            outcomes,
            launched,
            running: JoinSet::new(),
        }
    }

    /// Runs until every step is settled; returns true when the crash hook halted the apply.
    async fn run(&mut self) -> bool {
        let mut interrupted = false;
        loop {
            self.launch_ready().await;
            let Some(joined) = self.running.join_next().await else {
                break;
            };
            match joined {
                Ok((id, StepResult::Outcome(outcome, vmid))) => {
                    self.outcomes.insert(id, (outcome, vmid));
                }
                Ok((_, StepResult::Halted)) => {
                    interrupted = true;
                    self.running.abort_all();
                    while self.running.join_next().await.is_some() {}
                    break;
                }
                Err(e) => self.record_panic(&e),
            }
            // Steps never launched because everything is settled get settled on the next pass.
            if self.running.is_empty() && self.steps.iter().all(|c| self.launched.contains(&c.id)) {
                break;
            }
        }
        interrupted
    }

    /// Launch every step whose dependencies are settled.
    async fn launch_ready(&mut self) {
        for i in 0..self.steps.len() {
            let c = self.steps[i];
            if self.launched.contains(&c.id) || !self.dependencies_settled(c) {
                continue;
            }
            self.launched.insert(c.id);
            match self.failed_dependency(c) {
                Some(bad) => self.skip(c, bad).await,
                None => self.spawn(c).await,
            }
        }
    }

    /// True when every dependency that is a step of this run has an outcome.
    fn dependencies_settled(&self, c: &Change) -> bool {
        let deps: Vec<&(StepOutcome, Option<u32>)> = c
            .depends_on
            .iter()
            .filter_map(|d| self.outcomes.get(d))
            .collect();
        let relevant = c
            .depends_on
            .iter()
            .filter(|d| self.steps.iter().any(|s| s.id == **d))
            .count();
        deps.len() >= relevant
    }

    /// The first dependency that settled without succeeding.
    fn failed_dependency(&self, c: &Change) -> Option<usize> {
        c.depends_on
            .iter()
            .find(|d| {
                self.outcomes.get(d).is_some_and(|(o, _)| {
                    !matches!(o, StepOutcome::Done { .. } | StepOutcome::AlreadyDone)
                })
            })
            .copied()
    }

    /// Settles a step as skipped because dependency `bad` did not succeed.
    async fn skip(&mut self, c: &Change, bad: usize) {
        let because = format!(
            "it depends on {}, which did not succeed",
            self.plan.changes[bad].address()
        );
        let outcome = StepOutcome::Skipped { because };
        let _ = self.shared.journal(c, "skipped", None, None).await;
        self.shared.emit(ApplyEvent::StepFinished {
            step: c.id,
            outcome: outcome.clone(),
        });
        self.outcomes.insert(c.id, (outcome, c.vmid));
    }

    /// Takes the global slot and starts the step in the background.
    async fn spawn(&mut self, c: &Change) {
        let change = c.clone();
        let hist = self.history.get(&c.id).cloned().unwrap_or_default();
        // The global slot is taken here, in plan order, so steps start in the order of the
        // plan (with --parallelism 1, strictly one after another), whatever order the
        // runtime would start spawned tasks in.
        let slot = self.shared.global.clone().acquire_owned().await.ok();
        let shared = self.shared.clone();
        self.running.spawn(async move {
            let id = change.id;
            let result = run_step(&shared, &change, &hist).await;
            drop(slot);
            (id, result)
        });
    }

    fn record_panic(&mut self, e: &tokio::task::JoinError) {
        // A panicking step is a bug; report it on that step and carry on.
        let id = self
            .steps
            .iter()
            .map(|c| c.id)
            .find(|id| !self.outcomes.contains_key(id) && self.launched.contains(id));
        if let Some(id) = id {
            self.outcomes.insert(
                id,
                (
                    StepOutcome::Failed {
                        error: format!("internal error: {e}"),
                    },
                    None,
                ),
            );
        }
    }

    /// One report per step, in plan order; a step without an outcome was not attempted.
    fn reports(&self) -> Vec<StepReport> {
        self.steps
            .iter()
            .map(|c| {
                let (outcome, vmid) = self
                    .outcomes
                    .get(&c.id)
                    .cloned()
                    .unwrap_or((StepOutcome::NotAttempted, c.vmid));
                StepReport {
                    step: c.id,
                    name: c.name.clone(),
                    address: c.address(),
                    action: c.action,
                    vmid,
                    outcome,
                }
            })
            .collect()
    }
}

/// The node and storage slots of a step (the global slot is taken when it is launched).
async fn acquire(shared: &Shared, change: &Change) -> Vec<OwnedSemaphorePermit> {
    let mut permits = Vec::new();
    if let Some(node) = &change.node {
        let sem = Shared::semaphore(&shared.nodes, node, shared.opts.per_node).await;
        if let Ok(p) = sem.acquire_owned().await {
            permits.push(p);
        }
    }
    // Sorted, so two steps never wait on each other's storages.
    for storage in change.storages() {
        let key = match &change.node {
            Some(node) if !shared.shared_storages.contains(&storage) => format!("{node}/{storage}"),
            _ => storage,
        };
        let sem = Shared::semaphore(&shared.storages, &key, shared.opts.per_storage).await;
        if let Ok(p) = sem.acquire_owned().await {
            permits.push(p);
        }
    }
    permits
}

async fn run_step(shared: &Shared, change: &Change, hist: &StepHistory) -> StepResult {
    let _permits = acquire(shared, change).await;
    if shared.halted.load(Ordering::SeqCst) {
        return StepResult::Halted;
    }
    shared.emit(ApplyEvent::StepStarted {
        step: change.id,
        address: change.address(),
    });
    let result = match change.action {
        Action::Create if change.resource == ResourceKind::Pool => {
            create_pool(shared, change).await
        }
        Action::Create => create_guest(shared, change, hist).await,
        Action::Update => update_guest(shared, change, hist).await,
        Action::Delete => delete_guest(shared, change).await.map(|d| (d, change.vmid)),
        // On resume, a journaled create means the old guest is already gone: never destroy
        // the new one.
        Action::Replace if !hist.vmids.is_empty() => create_guest(shared, change, hist).await,
        Action::Replace => match delete_guest(shared, change).await {
            Ok(Ok(_)) => create_guest(shared, change, hist).await,
            Ok(Err(e)) => Ok((
                Err(format!(
                    "destroying the old guest failed, nothing was created: {e}"
                )),
                change.vmid,
            )),
            Err(halted) => Err(halted),
        },
        Action::NoOp => Ok((Ok("nothing to do".into()), change.vmid)),
    };
    let (outcome, vmid) = match result {
        Err(Halted) => return StepResult::Halted,
        Ok((Ok(detail), vmid)) => (StepOutcome::Done { detail }, vmid),
        Ok((Err(error), vmid)) => (StepOutcome::Failed { error }, vmid),
    };
    let (status, detail) = match &outcome {
        StepOutcome::Done { detail } => ("done", detail.clone()),
        StepOutcome::Failed { error } => ("failed", error.clone()),
        _ => ("failed", String::new()),
    };
    let detail = serde_json::json!({"vmid": vmid, "detail": detail}).to_string();
    if let Err(e) = shared.journal(change, status, None, Some(&detail)).await {
        return StepResult::Outcome(StepOutcome::Failed { error: e }, vmid);
    }
    if shared
        .crash_point(&format!("after-step:{}", change.id))
        .is_err()
    {
        return StepResult::Halted;
    }
    shared.emit(ApplyEvent::StepFinished {
        step: change.id,
        outcome: outcome.clone(),
    });
    StepResult::Outcome(outcome, vmid)
}

/// A step's result: `Err(Halted)` when the crash hook fired, otherwise the detail or the
/// error, and the vmid the guest has.
type Step = Result<(Result<String, String>, Option<u32>), Halted>;

async fn create_pool(shared: &Shared, change: &Change) -> Step {
    if let Err(e) = shared.journal(change, "started", None, None).await {
        return Ok((Err(e), None));
    }
    shared.crash_point(&format!("before-request:{}", change.id))?;
    let result = retry_locked(shared, change.id, || {
        shared.client.create_pool(&change.name, None)
    })
    .await;
    match result {
        Ok(()) => Ok((Ok("pool created".into()), None)),
        Err(PveError::AlreadyExists { .. }) => Ok((Ok("pool already exists".into()), None)),
        Err(e) => Ok((Err(err_text(&e)), None)),
    }
}

async fn create_guest(shared: &Shared, change: &Change, hist: &StepHistory) -> Step {
    let Some(desired) = change.desired.as_ref() else {
        return Ok((
            Err("the plan has no desired guest for this create".into()),
            None,
        ));
    };
    // Resume: a guest with a journaled vmid and the planned name counts as created.
    for &vmid in hist.vmids.iter().rev() {
        match wait_unlocked(shared, change.id, vmid).await {
            Ok(Some(live)) if live.name == desired.name && live.kind == desired.kind => {
                shared.reserved.lock().await.insert(vmid);
                return finish_create(
                    shared,
                    change,
                    desired,
                    vmid,
                    "found created by the interrupted apply",
                )
                .await;
            }
            Ok(_) => {}
            Err(e) => return Ok((Err(err_text(&e)), Some(vmid))),
        }
    }
    let planned = match change.action {
        Action::Replace => change.observed.as_ref().map(|g| g.vmid),
        _ => change.vmid,
    };
    let mut last_error = String::new();
    for _attempt in 0..8 {
        let vmid = match allocate_vmid(shared, planned).await {
            Ok(v) => v,
            Err(e) => return Ok((Err(err_text(&e)), None)),
        };
        let detail = serde_json::json!({ "vmid": vmid }).to_string();
        if let Err(e) = shared.journal(change, "started", None, Some(&detail)).await {
            return Ok((Err(e), Some(vmid)));
        }
        shared.crash_point(&format!("before-request:{}", change.id))?;
        let body = create_params(desired, vmid);
        let upid = retry_locked(shared, change.id, || {
            shared
                .client
                .create_guest(&desired.node, desired.kind, body.clone())
        })
        .await;
        let upid = match upid {
            Ok(u) => u,
            // Someone took the vmid between nextid and create: take the next one.
            Err(PveError::AlreadyExists { message, .. }) if planned.is_none() => {
                last_error = message;
                continue;
            }
            Err(e) => return Ok((Err(err_text(&e)), Some(vmid))),
        };
        shared.crash_point(&format!("after-request:{}", change.id))?;
        if let Err(e) = wait_task(shared, change.id, &upid).await {
            return Ok((Err(err_text(&e)), Some(vmid)));
        }
        return finish_create(shared, change, desired, vmid, "created").await;
    }
    Ok((
        Err(format!(
            "could not find a free vmid after 8 tries (last: {last_error})"
        )),
        None,
    ))
}

/// After a create: start it if wanted, and record it as managed.
async fn finish_create(
    shared: &Shared,
    change: &Change,
    desired: &Guest,
    vmid: u32,
    what: &str,
) -> Step {
    let mut detail = format!("{what} as vmid {vmid}");
    if desired.status == GuestStatus::Running && !desired.template {
        let live_running = matches!(
            shared.client.guest_status(&desired.node, desired.kind, vmid).await,
            Ok(s) if s.status == "running"
        );
        if !live_running {
            let r = run_task(shared, change.id, || async {
                shared
                    .client
                    .start(&desired.node, desired.kind, vmid)
                    .await
                    .map(Some)
            })
            .await;
            if let Err(e) = r {
                return Ok((
                    Err(format!("{detail}, but starting it failed: {e}")),
                    Some(vmid),
                ));
            }
            detail.push_str(", started");
        }
    }
    if let Err(e) = shared
        .managed(vmid, Some((&desired.name, &desired.node, desired.kind)))
        .await
    {
        return Ok((
            Err(format!("{detail}, but recording it failed: {e}")),
            Some(vmid),
        ));
    }
    Ok((Ok(detail), Some(vmid)))
}

/// Reads a guest, waiting while it is locked by a create that is still running.
async fn wait_unlocked(shared: &Shared, step: usize, vmid: u32) -> Result<Option<Guest>, PveError> {
    let started = Instant::now();
    loop {
        let live = read_live(&shared.client, vmid).await?;
        match &live {
            Some(g)
                if g.lock.as_deref() == Some("create")
                    && started.elapsed() < shared.opts.lock_wait =>
            {
                shared.emit(ApplyEvent::Progress {
                    step,
                    message: format!("vmid {vmid} is still being created; waiting"),
                });
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => return Ok(live),
        }
    }
}

async fn update_guest(shared: &Shared, change: &Change, hist: &StepHistory) -> Step {
    let (Some(desired), Some(planned)) = (change.desired.as_ref(), change.observed.as_ref()) else {
        return Ok((
            Err("the plan has no desired or observed guest for this update".into()),
            change.vmid,
        ));
    };
    let vmid = planned.vmid;
    if let Err(e) = shared.journal(change, "started", None, None).await {
        return Ok((Err(e), Some(vmid)));
    }
    // A resumed step works from what the guest is now, not from what the plan saw.
    let observed = if hist.started {
        match read_live(&shared.client, vmid).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                return Ok((
                    Err(format!("vmid {vmid} no longer exists; re-run /plan")),
                    Some(vmid),
                ));
            }
            Err(e) => return Ok((Err(err_text(&e)), Some(vmid))),
        }
    } else {
        planned.clone()
    };
    shared.crash_point(&format!("before-request:{}", change.id))?;
    let mut r = update_steps(shared, change.id, desired, &observed).await;
    // On resume, the killed run's own config task may still have been running on the server
    // when the guest was read above; it lands afterwards and moves the digest. If the digest
    // moved, retry once from what the guest is now (the steps work from the live state).
    if r.is_err()
        && hist.started
        && let Ok(Some(now)) = read_live(&shared.client, vmid).await
        && now.digest != observed.digest
    {
        r = update_steps(shared, change.id, desired, &now).await;
    }
    Ok((r, Some(vmid)))
}

async fn update_steps(
    shared: &Shared,
    step: usize,
    desired: &Guest,
    observed: &Guest,
) -> Result<String, String> {
    let client = &shared.client;
    let kind = observed.kind;
    let vmid = observed.vmid;
    let mut node = observed.node.clone();
    let mut done: Vec<String> = Vec::new();
    let fail = |done: &[String], what: String| {
        if done.is_empty() {
            what
        } else {
            format!("{what} (already done: {})", done.join(", "))
        }
    };
    let want_running = desired.status == GuestStatus::Running && !desired.template;
    let is_running = observed.status == GuestStatus::Running;
    if is_running && !want_running && !desired.template {
        run_task(shared, step, || async {
            client.stop(&node, kind, vmid).await.map(Some)
        })
        .await
        .map_err(|e| fail(&done, format!("stopping failed: {e}")))?;
        done.push("stopped".into());
    }
    let ConfigUpdate {
        set,
        delete,
        resizes,
    } = config_update(desired, observed);
    if !set.is_empty() || !delete.is_empty() {
        let digest = observed.digest.clone();
        let r = run_task(shared, step, || {
            client.update_config(&node, kind, vmid, set.clone(), &delete, digest.as_deref())
        })
        .await;
        match r {
            Ok(_) => done.push(format!(
                "config updated ({} keys)",
                set.len() + delete.len()
            )),
            Err(PveError::Conflict { .. }) => {
                return Err(fail(
                    &done,
                    format!(
                        "vmid {vmid} was changed by someone else since the plan was made (its config digest differs); this step was stopped. Run /plan again to see the current state"
                    ),
                ));
            }
            Err(e) => return Err(fail(&done, format!("config update failed: {e}"))),
        }
    }
    // Changes a running guest cannot take live stay pending until it restarts (PVE's
    // `[PENDING]`); reboot it so the cluster really matches the files, as bpg does by default.
    let mut pending = Vec::new();
    if is_running && want_running && desired.node == node {
        pending = pending_keys(client, &node, kind, vmid)
            .await
            .unwrap_or_default();
    }
    if !pending.is_empty() {
        run_task(shared, step, || async {
            client.reboot(&node, kind, vmid).await.map(Some)
        })
        .await
        .map_err(|e| {
            fail(
                &done,
                format!("rebooting to apply pending changes failed: {e}"),
            )
        })?;
        done.push(format!("rebooted to apply {}", pending.join(", ")));
    }
    for r in &resizes {
        let size = format_size(r.to_bytes);
        run_task(shared, step, || {
            client.resize(&node, kind, vmid, &r.slot, &size, None)
        })
        .await
        .map_err(|e| fail(&done, format!("resizing {} failed: {e}", r.slot)))?;
        done.push(format!("{} grown to {size}", r.slot));
    }
    if desired.pool != observed.pool {
        let ids = [vmid];
        if let Some(old) = &observed.pool {
            retry_locked(shared, step, || client.update_pool(old, None, &ids, true))
                .await
                .map_err(|e| fail(&done, format!("leaving pool {old} failed: {e}")))?;
        }
        if let Some(new) = &desired.pool {
            retry_locked(shared, step, || client.update_pool(new, None, &ids, false))
                .await
                .map_err(|e| fail(&done, format!("joining pool {new} failed: {e}")))?;
        }
        done.push("pool changed".into());
    }
    if desired.node != node {
        let online = is_running && want_running;
        let target = desired.node.clone();
        run_task(shared, step, || async {
            client
                .migrate(&node, kind, vmid, &target, online)
                .await
                .map(Some)
        })
        .await
        .map_err(|e| fail(&done, format!("migrating to {target} failed: {e}")))?;
        done.push(format!("migrated to {target}"));
        node = target;
    }
    let now_running = is_running && want_running;
    if want_running && !now_running {
        run_task(shared, step, || async {
            client.start(&node, kind, vmid).await.map(Some)
        })
        .await
        .map_err(|e| fail(&done, format!("starting failed: {e}")))?;
        done.push("started".into());
    }
    if let Err(e) = shared
        .managed(vmid, Some((&desired.name, &node, kind)))
        .await
    {
        return Err(fail(&done, format!("recording the guest failed: {e}")));
    }
    if done.is_empty() {
        done.push("already as planned".into());
    }
    Ok(done.join(", "))
}

/// Keys with a change waiting for a restart (`GET .../pending`).
async fn pending_keys(
    client: &Client,
    node: &str,
    kind: GuestKind,
    vmid: u32,
) -> Result<Vec<String>, PveError> {
    let path = format!("/nodes/{node}/{}/{vmid}/pending", kind.as_str());
    let list: Vec<serde_json::Value> = client.get(&path, Vec::new()).await?;
    Ok(list
        .iter()
        .filter(|e| {
            e.get("pending").is_some_and(|p| !p.is_null())
                || e.get("delete").is_some_and(|d| {
                    d.as_u64().unwrap_or(0) > 0 || d.as_str().is_some_and(|s| s != "0")
                })
        })
        .filter_map(|e| e.get("key").and_then(|k| k.as_str()).map(str::to_string))
        .collect())
}

async fn delete_guest(shared: &Shared, change: &Change) -> Result<Result<String, String>, Halted> {
    let Some(planned) = change.observed.as_ref() else {
        return Ok(Err("the plan has no observed guest for this delete".into()));
    };
    let vmid = planned.vmid;
    if change.action == Action::Delete
        && let Err(e) = shared.journal(change, "started", None, None).await
    {
        return Ok(Err(e));
    }
    shared.crash_point(&format!("before-request:{}", change.id))?;
    let client = &shared.client;
    let live = match read_live(client, vmid).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            let _ = shared.managed(vmid, None).await;
            return Ok(Ok(format!("vmid {vmid} was already gone")));
        }
        Err(e) => return Ok(Err(err_text(&e))),
    };
    if live.name != planned.name || live.kind != planned.kind {
        return Ok(Err(format!(
            "vmid {vmid} is now {} \"{}\", not the guest the plan would destroy; nothing was destroyed. Run /plan again",
            live.kind, live.name
        )));
    }
    let mut detail = Vec::new();
    if live.status == GuestStatus::Running {
        let r = run_task(shared, change.id, || async {
            client.stop(&live.node, live.kind, vmid).await.map(Some)
        })
        .await;
        if let Err(e) = r {
            return Ok(Err(format!("stopping before destroy failed: {e}")));
        }
        detail.push("stopped");
    }
    let r = run_task(shared, change.id, || async {
        client.destroy(&live.node, live.kind, vmid).await.map(Some)
    })
    .await;
    match r {
        Ok(_) | Err(PveError::NotFound { .. }) => {}
        Err(e) => return Ok(Err(format!("destroy failed: {e}"))),
    }
    detail.push("destroyed");
    if let Err(e) = shared.managed(vmid, None).await {
        return Ok(Err(format!("destroyed, but recording it failed: {e}")));
    }
    Ok(Ok(detail.join(", ")))
}

/// Checks that a plan still matches the cluster: every guest it changes exists with the digest
/// it was planned against, and every vmid it creates is still free. Returns the differences.
pub async fn stale_reasons(client: &Client, plan: &Plan) -> Result<Vec<String>, PveError> {
    let mut reasons = Vec::new();
    for change in plan.actionable() {
        if change.resource == ResourceKind::Pool {
            continue;
        }
        match (&change.observed, change.action) {
            (Some(planned), _) => {
                let raw = match client
                    .guest_config(&planned.node, planned.kind, planned.vmid)
                    .await
                {
                    Ok(raw) => raw,
                    Err(PveError::NotFound { .. }) => {
                        reasons.push(format!("{} no longer exists", change.address()));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let digest = raw.get("digest").and_then(|d| d.to_config_string());
                if digest != planned.digest {
                    reasons.push(format!(
                        "{} was changed since the plan was made",
                        change.address()
                    ));
                }
            }
            (None, Action::Create) => {
                if let (Some(vmid), Some(node)) = (change.vmid, change.node.as_deref())
                    && let Some(d) = change.desired.as_ref()
                    && client.guest_config(node, d.kind, vmid).await.is_ok()
                {
                    reasons.push(format!("vmid {vmid} is now taken on {node}"));
                }
            }
            _ => {}
        }
    }
    Ok(reasons)
}

/// The privileges each change needs, as (ACL path, privilege, what for).
fn needed_privileges(plan: &Plan) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for c in plan.actionable() {
        let what = format!("{} {}", c.action.verb(), c.address());
        let vm_path = c
            .vmid
            .map_or_else(|| "/vms".to_string(), |v| format!("/vms/{v}"));
        match (c.resource, c.action) {
            (ResourceKind::Pool, _) => out.push(("/pool".to_string(), "Pool.Allocate", what)),
            (_, Action::Create | Action::Replace | Action::Delete) => {
                out.push((vm_path.clone(), "VM.Allocate", what.clone()));
                for s in c.storages() {
                    out.push((
                        format!("/storage/{s}"),
                        "Datastore.AllocateSpace",
                        what.clone(),
                    ));
                }
            }
            (_, Action::Update) => {
                for f in &c.fields {
                    let privilege = match f.key.as_str() {
                        "state" => "VM.PowerMgmt",
                        "node" => "VM.Migrate",
                        "pool" => "VM.Allocate",
                        k if k.ends_with(" size") => "VM.Config.Disk",
                        "memory" | "balloon" | "swap" => "VM.Config.Memory",
                        "cores" | "sockets" | "cpu" | "cpulimit" => "VM.Config.CPU",
                        k if k.starts_with("net") => "VM.Config.Network",
                        k if crate::model::config::is_vm_disk_slot(k)
                            || k == "rootfs"
                            || k.starts_with("mp") =>
                        {
                            "VM.Config.Disk"
                        }
                        _ => "VM.Config.Options",
                    };
                    out.push((vm_path.clone(), privilege, what.clone()));
                }
            }
            (_, Action::NoOp) => {}
        }
    }
    out
}

/// Checks up front (`GET /access/permissions`) that the token may make every change; returns
/// one sentence per missing privilege, so nothing is changed when the apply could not finish.
pub async fn missing_privileges(client: &Client, plan: &Plan) -> Result<Vec<String>, PveError> {
    let perms = client.permissions().await?;
    let granted = |path: &str, privilege: &str| {
        // The path itself or any parent (PVE propagates ACLs down).
        let mut p = path.to_string();
        loop {
            if perms
                .get(&p)
                .and_then(|m| m.get(privilege))
                .is_some_and(|v| v.as_u64().unwrap_or(0) > 0 || v.as_bool() == Some(true))
            {
                return true;
            }
            if p == "/" {
                return false;
            }
            p = match p.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => p[..i].to_string(),
            };
        }
    };
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, privilege, what) in needed_privileges(plan) {
        if !granted(&path, privilege) && seen.insert((path.clone(), privilege, what.clone())) {
            missing.push(format!("{privilege} on {path} (to {what})"));
        }
    }
    Ok(missing)
}
