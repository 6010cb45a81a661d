//! Jobs: the operations the REST API runs in the background (sync, apply, test, and any
//! operation a webhook starts). Each has an id, a status, its result or problem, and the events
//! it emitted (kept so a client that subscribes late still sees them). Events go out on one
//! broadcast channel, numbered: a job's backlog and the live stream are joined by number.
//!
//! Every operation, in a job or not, runs through [`run_operation`]: a fresh [`Ctx`] per
//! request (origin `api`, the token's name as actor) and `commands::execute`, on a blocking
//! thread of its own so an operation's future never has to be `Send`; cancelling drops it,
//! as Ctrl-C does in the console (an apply's journal lets the next apply resume).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use crate::commands::context::Event;
use crate::commands::{Ctx, Report, Request, execute};
use crate::error::CommandError;
use crate::plan::apply::ApplyEvent;
use crate::ui::{Item, Ui};

/// How many events a slow subscriber may fall behind before it is told it lost some.
const BUS_CAPACITY: usize = 4096;
/// Finished jobs kept for `GET /api/v1/jobs/{id}` (the oldest are forgotten first).
const KEPT_JOBS: usize = 200;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// One job.
#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub operation: String,
    pub actor: String,
    pub status: JobStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The operation's answer ([`answer`]) once it succeeded.
    pub result: Option<Value>,
    /// The problem document once it failed or was cancelled.
    pub problem: Option<Value>,
    pub events: Vec<Arc<Value>>,
    cancel: Option<oneshot::Sender<()>>,
}

impl Job {
    /// The job as the API shows it.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "operation": self.operation,
            "actor": self.actor,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "problem": self.problem,
            "events": self.events.len(),
            "href": format!("/api/v1/jobs/{}", self.id),
        })
    }
}

/// The jobs of this server and its event channel.
pub struct Jobs {
    inner: Mutex<BTreeMap<u64, Job>>,
    next_id: AtomicU64,
    seq: AtomicU64,
    bus: broadcast::Sender<Arc<Value>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    pub fn new() -> Self {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        Self {
            inner: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            seq: AtomicU64::new(0),
            bus,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Job>> {
        // A panic while the lock was held leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.bus.subscribe()
    }

    /// Numbers `event`, keeps it with its job (if any) and sends it to every subscriber. The
    /// lock orders numbering, keeping and sending, so a backlog and the live stream never
    /// disagree.
    pub fn publish(&self, job: Option<u64>, mut event: Value) {
        let mut jobs = self.lock();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        event["seq"] = json!(seq);
        event["job"] = json!(job);
        event["at"] = json!(crate::state::now());
        let event = Arc::new(event);
        if let Some(j) = job.and_then(|id| jobs.get_mut(&id)) {
            j.events.push(event.clone());
        }
        // No subscriber is not an error.
        let _ = self.bus.send(event);
    }

    /// The events job `id` emitted so far, or None for an unknown job.
    pub fn backlog(&self, id: u64) -> Option<Vec<Arc<Value>>> {
        self.lock().get(&id).map(|j| j.events.clone())
    }

    /// Registers a running job; returns its id and the receiver its cancel arrives on.
    pub fn create(&self, operation: &str, actor: &str) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        let mut jobs = self.lock();
        while jobs.len() >= KEPT_JOBS {
            let Some(oldest) = jobs
                .iter()
                .find(|(_, j)| j.status != JobStatus::Running)
                .map(|(id, _)| *id)
            else {
                break;
            };
            jobs.remove(&oldest);
        }
        jobs.insert(
            id,
            Job {
                id,
                operation: operation.to_string(),
                actor: actor.to_string(),
                status: JobStatus::Running,
                created_at: crate::state::now(),
                finished_at: None,
                result: None,
                problem: None,
                events: Vec::new(),
                cancel: Some(tx),
            },
        );
        (id, rx)
    }

    /// The job as JSON, if known.
    pub fn get(&self, id: u64) -> Option<Value> {
        self.lock().get(&id).map(Job::json)
    }

    /// The operation of job `id`, if known.
    pub fn operation(&self, id: u64) -> Option<String> {
        self.lock().get(&id).map(|j| j.operation.clone())
    }

    /// Every job, newest first.
    pub fn list(&self) -> Vec<Value> {
        self.lock().values().rev().map(Job::json).collect()
    }

    /// Asks job `id` to stop. Returns None for an unknown job, else whether it was running.
    pub fn cancel(&self, id: u64) -> Option<bool> {
        let mut jobs = self.lock();
        let job = jobs.get_mut(&id)?;
        match job.cancel.take() {
            Some(tx) if job.status == JobStatus::Running => {
                let _ = tx.send(());
                Some(true)
            }
            _ => Some(false),
        }
    }

    /// Records how job `id` ended and publishes `job_finished`.
    pub fn finish(
        &self,
        id: u64,
        status: JobStatus,
        result: Option<Value>,
        problem: Option<Value>,
    ) {
        {
            let mut jobs = self.lock();
            if let Some(job) = jobs.get_mut(&id) {
                job.status = status;
                job.finished_at = Some(crate::state::now());
                job.result = result;
                job.problem = problem.clone();
                job.cancel = None;
            }
        }
        self.publish(
            Some(id),
            json!({ "type": "job_finished", "status": status, "problem": problem }),
        );
    }
}

/// What an operation runs with: the workspace folder, the quiet Ui, who asks, and where its
/// events go.
#[derive(Clone)]
pub struct Runner {
    pub root: PathBuf,
    pub ui: Ui,
    pub jobs: Arc<Jobs>,
    /// The environment `serve --env` chose, if any.
    pub default_env: Option<String>,
    /// Variables every operation's context sees besides the process's (the demo's token
    /// secret); their values are masked like any secret.
    pub environment_overlay: Vec<(String, String)>,
}

impl Runner {
    /// Runs `request` as `actor` through `commands::execute` in a fresh context (in
    /// `environment` when the caller's token is limited to one); `job` names the job its events
    /// belong to. Stops (as interrupted) when `cancel` fires.
    pub async fn run_operation(
        &self,
        actor: &str,
        environment: Option<&str>,
        request: Request,
        job: Option<u64>,
        cancel: oneshot::Receiver<()>,
    ) -> Result<Report, CommandError> {
        let handle = tokio::runtime::Handle::current();
        let (root, ui, jobs) = (self.root.clone(), self.ui.clone(), self.jobs.clone());
        let overlay = self.environment_overlay.clone();
        let actor = actor.to_string();
        let environment = environment
            .map(str::to_string)
            .or_else(|| self.default_env.clone());
        let steps: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
        let task = tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let mut ctx = Ctx::new(ui, root, false);
                for (name, value) in &overlay {
                    ctx.set_env(name, value);
                    ctx.remember_secret(value);
                }
                ctx.origin = "api".into();
                ctx.actor = Some(actor);
                if environment.is_some() {
                    ctx.select_env(environment.as_deref());
                }
                let sink_jobs = jobs.clone();
                ctx.on_event(Arc::new(move |event: Event| {
                    sink_jobs.publish(job, event_json(&event, &steps));
                }));
                tokio::select! {
                    result = execute(&mut ctx, request) => result,
                    Ok(()) = cancel => Err(CommandError::interrupted()
                        .hint("cancelled through the API; an interrupted apply resumes with the next /apply")),
                }
            })
        });
        task.await.unwrap_or_else(|e| {
            Err(CommandError::internal(format!(
                "the operation stopped unexpectedly: {e}"
            )))
        })
    }
}

/// The guest a plan address names: `vm "web-01" (100 on pve1)` -> `web-01`.
fn guest_of(address: &str) -> Option<String> {
    let start = address.find('"')? + 1;
    let len = address[start..].find('"')?;
    Some(address[start..start + len].to_string())
}

/// An operation's progress event as the API sends it; each step event names its guest.
fn event_json(event: &Event, steps: &Mutex<BTreeMap<usize, String>>) -> Value {
    let mut steps = steps.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        Event::Apply(ApplyEvent::StepStarted { step, address }) => {
            steps.insert(*step, address.clone());
            json!({ "type": "step_started", "operation": "apply", "step": step,
                    "address": address, "guest": guest_of(address) })
        }
        Event::Apply(ApplyEvent::Progress { step, message }) => {
            let address = steps.get(step).cloned();
            json!({ "type": "step_progress", "operation": "apply", "step": step,
                    "guest": address.as_deref().and_then(guest_of), "message": message })
        }
        Event::Apply(ApplyEvent::StepFinished { step, outcome }) => {
            let address = steps.get(step).cloned();
            json!({ "type": "step_finished", "operation": "apply", "step": step,
                    "address": address, "guest": address.as_deref().and_then(guest_of),
                    "outcome": outcome })
        }
        #[allow(unreachable_patterns)]
        other => json!({ "type": "progress", "event": other }),
    }
}

/// An operation's report as the API answers it: its data (one value, or a list when it gave
/// several, or null) and its status lines, warnings and hints in order.
pub fn answer(operation: &str, report: &Report) -> Value {
    let mut data: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for item in report {
        match item {
            Item::Data { value, .. } => data.push(value.clone()),
            other => messages.push(serde_json::to_value(other).unwrap_or_default()),
        }
    }
    let data = match data.len() {
        0 => Value::Null,
        1 => data.pop().unwrap_or_default(),
        _ => Value::Array(data),
    };
    json!({ "operation": operation, "data": data, "messages": messages })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_subscriber_gets_the_backlog_and_events_are_numbered_in_order() {
        let jobs = Jobs::new();
        let (id, _cancel) = jobs.create("apply", "ci");
        let mut rx = jobs.subscribe();
        jobs.publish(Some(id), json!({"type": "job_started"}));
        jobs.publish(Some(id), json!({"type": "step_started"}));
        let backlog = jobs.backlog(id).unwrap();
        assert_eq!(backlog.len(), 2);
        assert!(backlog[0]["seq"].as_u64() < backlog[1]["seq"].as_u64());
        assert_eq!(rx.try_recv().unwrap()["type"], "job_started");
        jobs.finish(id, JobStatus::Succeeded, Some(json!({})), None);
        assert_eq!(jobs.get(id).unwrap()["status"], "succeeded");
        assert_eq!(jobs.cancel(id), Some(false));
        assert_eq!(
            guest_of("vm \"web-01\" (100 on pve1)").as_deref(),
            Some("web-01")
        );
    }
}
