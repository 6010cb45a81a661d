//! Following PVE tasks (pve-api/NOTES.md §5): poll `GET /nodes/{node}/tasks/{upid}/status` with
//! backoff (fast at first, then slower), stream new log lines to a progress callback, honour a
//! timeout and cancellation, and turn the exit status into an outcome or a
//! [`PveError::TaskFailed`].

use std::future::Future;
use std::time::{Duration, Instant};

use super::client::{Client, Params, params};
use super::error::{PveError, RequestInfo};
use super::types::{TaskLogLine, TaskStatus};
use super::upid::Upid;

/// Poll delays: never less than [`MIN_POLL`], an eighth of the time the task has run so far,
/// never more than [`MAX_POLL`]. A task is seen stopped at most an eighth of its run time late
/// (a short task within milliseconds), at about one status request per 12% of its life: about
/// 16 for a 200 ms task, 30 for a 10 s one. A fixed delay doubling from 50 ms (what this was)
/// saw a 200 ms task up to 75% late, which made a parallel apply wait more than it worked.
const MIN_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_secs(2);
/// While a task runs its log is read at most this often (status polls are cheaper and more
/// frequent); once it stops the log is read to the end.
const LOG_EVERY: Duration = Duration::from_secs(1);
/// Log lines kept for a failure report.
const LOG_TAIL: usize = 10;

/// How a task ended when it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub upid: Upid,
    /// `OK` or `WARNINGS: n`.
    pub exitstatus: String,
    /// Number of warnings (0 for `OK`).
    pub warnings: u32,
    /// Every log line seen.
    pub log: Vec<String>,
}

/// What a progress callback hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskProgress<'a> {
    /// A new task log line.
    Log(&'a str),
    /// The task is still running after this long.
    Running(Duration),
}

fn task_path(upid: &Upid) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(upid.as_str().as_bytes()).collect();
    format!("/nodes/{}/tasks/{encoded}", upid.node)
}

/// Reads `WARNINGS: n`.
fn warnings_of(exitstatus: &str) -> Option<u32> {
    exitstatus
        .strip_prefix("WARNINGS:")
        .and_then(|n| n.trim().parse().ok())
}

impl Client {
    /// `GET /nodes/{node}/tasks/{upid}/status`.
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, PveError> {
        self.get(&format!("{}/status", task_path(upid)), Params::new())
            .await
    }

    /// `GET /nodes/{node}/tasks/{upid}/log?start=&limit=` (`start` is 0-based).
    pub async fn task_log(
        &self,
        upid: &Upid,
        start: u32,
        limit: u32,
    ) -> Result<Vec<TaskLogLine>, PveError> {
        self.get(
            &format!("{}/log", task_path(upid)),
            params([("start", start.to_string()), ("limit", limit.to_string())]),
        )
        .await
    }

    /// Waits for a task with the default 30-minute timeout, no progress and no cancellation.
    pub async fn wait(&self, upid: &Upid) -> Result<TaskOutcome, PveError> {
        self.wait_task(
            upid,
            Duration::from_secs(30 * 60),
            |_| {},
            std::future::pending(),
        )
        .await
    }

    /// Follows a task until it stops, `timeout` passes, or `cancel` completes.
    ///
    /// New log lines go to `progress` as they appear. `OK` and `WARNINGS: n` are success; any
    /// other exit status is [`PveError::TaskFailed`] with the last log lines. Cancelling stops
    /// waiting only; the task keeps running on PVE.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        timeout: Duration,
        mut progress: impl FnMut(TaskProgress<'_>),
        cancel: impl Future<Output = ()>,
    ) -> Result<TaskOutcome, PveError> {
        let started = Instant::now();
        let mut log: Vec<String> = Vec::new();
        // A short task's log is read once, when it stopped.
        let mut log_read = started;
        tokio::pin!(cancel);
        loop {
            let status = self.task_status(upid).await?;
            let stopped = status.status == "stopped";
            let log_due = log_read.elapsed() >= LOG_EVERY;
            // Read new log lines; after the task stopped, read until the end.
            let mut read_log = stopped || log_due;
            while read_log {
                log_read = Instant::now();
                let lines = self.task_log(upid, log.len() as u32, 500).await?;
                let mut added = 0;
                for line in lines {
                    if line.n as usize > log.len() {
                        progress(TaskProgress::Log(&line.t));
                        log.push(line.t);
                        added += 1;
                    }
                }
                read_log = stopped && added == 500;
            }
            if stopped {
                let exitstatus = status
                    .exitstatus
                    .unwrap_or_else(|| "unexpected status".to_string());
                if exitstatus == "OK" || warnings_of(&exitstatus).is_some() {
                    return Ok(TaskOutcome {
                        upid: upid.clone(),
                        warnings: warnings_of(&exitstatus).unwrap_or(0),
                        exitstatus,
                        log,
                    });
                }
                let tail_from = log.len().saturating_sub(LOG_TAIL);
                return Err(PveError::TaskFailed {
                    upid: upid.to_string(),
                    node: upid.node.clone(),
                    exitstatus,
                    log_tail: log[tail_from..].to_vec(),
                });
            }
            if status.status != "running" {
                return Err(PveError::Protocol {
                    request: RequestInfo::new("GET", &format!("{}/status", task_path(upid))),
                    reason: format!("unknown task status '{}'", status.status),
                });
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Err(PveError::Timeout {
                    request: RequestInfo::new("GET", &format!("{}/status", task_path(upid))),
                    what: format!("task {upid}"),
                    after: timeout,
                });
            }
            progress(TaskProgress::Running(elapsed));
            let sleep = (elapsed / 8)
                .clamp(MIN_POLL, MAX_POLL)
                .min(timeout - elapsed);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = &mut cancel => {
                    return Err(PveError::Cancelled { upid: upid.to_string() });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_success_with_a_count() {
        assert_eq!(warnings_of("WARNINGS: 3"), Some(3));
        assert_eq!(warnings_of("OK"), None);
        assert_eq!(warnings_of("VM is locked (backup)"), None);
    }

    #[test]
    fn task_path_uses_the_upid_node_and_encodes_it() {
        let upid: Upid = "UPID:pve2:00000001:00000002:6745F0A1:qmstart:100:root@pam!mpc:"
            .parse()
            .unwrap();
        let path = task_path(&upid);
        assert!(
            path.starts_with("/nodes/pve2/tasks/UPID%3Apve2%3A"),
            "{path}"
        );
        assert!(path.contains("root%40pam%21mpc"));
    }
}
