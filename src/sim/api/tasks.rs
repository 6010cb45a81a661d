//! Worker tasks: starting one (a UPID, work that runs after the configured task duration, fault
//! injection), finishing or undoing it, and the task endpoints (`/cluster/tasks`,
//! `/nodes/{node}/tasks[/{upid}[/status|/log]]`).

use serde_json::{Value, json};

use crate::sim::cluster::{Cluster, Task, TaskState};
use crate::sim::server::{lock, now};

use super::{ApiError, Ctx, Reply, check_node, ok, split_list};

type Run = Box<dyn FnOnce(&mut Cluster, &mut Vec<String>) -> Result<(), String> + Send>;
type Undo = Box<dyn FnOnce(&mut Cluster) + Send>;

/// Starts a worker task; returns its UPID. The work runs after the configured task duration
/// (immediately when it is zero). Errors end the task with `TASK ERROR: <msg>`.
pub(super) fn start_task(
    ctx: &Ctx,
    cl: &mut Cluster,
    node: &str,
    task_type: &str,
    id: &str,
    run: Run,
    undo: Option<Undo>,
) -> String {
    let pid = cl.next_pid;
    cl.next_pid = cl.next_pid.wrapping_add(1).max(1000);
    let starttime = now();
    let boot = cl.node(node).map(|n| n.boot_time).unwrap_or(starttime);
    let pstart = starttime.saturating_sub(boot) * 100 + u64::from(pid % 97);
    let user = ctx.caller.user.clone();
    let upid =
        format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{id}:{user}:");
    cl.tasks.push(Task {
        upid: upid.clone(),
        node: node.to_string(),
        pid,
        pstart,
        starttime,
        kind: task_type.to_string(),
        id: id.to_string(),
        user,
        state: TaskState::Running,
        log: Vec::new(),
    });
    let idx = cl.tasks.len() - 1;
    cl.task_index.insert(upid.clone(), idx);
    let (duration, fail_rate) = {
        let f = lock(&ctx.shared.faults);
        (f.task_duration, f.task_failure_rate)
    };
    let fail = lock(&ctx.shared.rng).chance(fail_rate);
    if duration.is_zero() {
        finish_task(cl, &upid, run, undo, fail);
    } else {
        let shared = ctx.shared.clone();
        let upid2 = upid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            {
                let mut cl = lock(&shared.cluster);
                finish_task(&mut cl, &upid2, run, undo, fail);
            }
            shared.persist();
        });
    }
    upid
}

fn finish_task(cl: &mut Cluster, upid: &str, run: Run, undo: Option<Undo>, fail: bool) {
    if cl.task(upid).is_some_and(|t| t.state != TaskState::Running) {
        // stopped by DELETE .../tasks/{upid}: its work never happens
        if let Some(undo) = undo {
            undo(cl);
        }
        return;
    }
    let mut lines = Vec::new();
    let result = if fail {
        Err("simulated task failure (fault injection)".to_string())
    } else {
        run(cl, &mut lines)
    };
    if result.is_err()
        && let Some(undo) = undo
    {
        undo(cl);
    }
    let exitstatus = match &result {
        Ok(()) => "OK".to_string(),
        Err(e) => e.clone(),
    };
    lines.push(match &result {
        Ok(()) => "TASK OK".to_string(),
        Err(e) => format!("TASK ERROR: {e}"),
    });
    if let Some(task) = cl.task_mut(upid) {
        task.log.extend(lines);
        task.state = TaskState::Stopped {
            exitstatus,
            endtime: now(),
        };
    }
}

fn task_json(t: &Task, with_status: bool) -> Value {
    let mut o = json!({
        "upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
        "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user,
    });
    match &t.state {
        TaskState::Running => {
            if with_status {
                o["status"] = json!("running");
            }
        }
        TaskState::Stopped {
            exitstatus,
            endtime,
        } => {
            o["endtime"] = json!(endtime);
            if with_status {
                o["status"] = json!("stopped");
                o["exitstatus"] = json!(exitstatus);
            } else {
                o["status"] = json!(exitstatus);
            }
        }
    }
    o
}

fn parse_upid(upid: &str) -> Option<(String, u32)> {
    static UPID_RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = UPID_RE.get_or_init(|| regex::Regex::new(
        r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$",
    )
    .ok());
    let caps = re.as_ref()?.captures(upid)?;
    Some((
        caps.get(1)?.as_str().to_string(),
        u32::from_str_radix(caps.get(3)?.as_str(), 16).ok()?,
    ))
}

fn find_task<'a>(cl: &'a Cluster, ctx: &Ctx) -> Result<&'a Task, ApiError> {
    let upid = ctx.p("upid").unwrap_or("");
    if parse_upid(upid).is_none() {
        return Err(ApiError::param("upid", "unable to parse worker upid"));
    }
    cl.task(upid)
        .filter(|t| t.node == ctx.node())
        .ok_or_else(|| ApiError::param("upid", "no such task"))
}

pub(super) fn task_status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = find_task(&cl, ctx)?;
    let mut o = task_json(t, true);
    if let Some(obj) = o.as_object_mut() {
        obj.remove("endtime");
    }
    ok(o)
}

pub(super) fn task_log(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let t = find_task(&cl, ctx)?;
    let start: usize = ctx.p("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = ctx.p("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    let mut lines = vec![format!("starting task {}", t.upid)];
    lines.extend(t.log.iter().cloned());
    let total = lines.len() as u64;
    let out: Vec<Value> = lines
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Reply {
        data: Value::Array(out),
        total: Some(total),
        wait_for: None,
    })
}

pub(super) fn task_stop(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let upid = find_task(&cl, ctx)?.upid.clone();
    if let Some(task) = cl.task_mut(&upid)
        && task.state == TaskState::Running
    {
        task.log.push("received interrupt".to_string());
        task.log
            .push("TASK ERROR: interrupted by signal".to_string());
        task.state = TaskState::Stopped {
            exitstatus: "interrupted by signal".to_string(),
            endtime: now(),
        };
    }
    ok(Value::Null)
}

pub(super) fn node_tasks(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let start: usize = ctx.p("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = ctx.p("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    let source = ctx.p("source").unwrap_or("archive");
    let vmid = ctx.p("vmid");
    let errors_only = ctx.flag("errors");
    let statusfilter: Option<Vec<String>> = ctx.p("statusfilter").map(split_list);
    let matching: Vec<&Task> = cl
        .tasks
        .iter()
        .rev()
        .filter(|t| t.node == ctx.node())
        .filter(|t| match (source, &t.state) {
            ("active", TaskState::Running) => true,
            ("active", _) => false,
            ("archive", TaskState::Running) => false,
            _ => true,
        })
        .filter(|t| vmid.is_none_or(|v| t.id == v))
        .filter(|t| ctx.p("typefilter").is_none_or(|f| t.kind == f))
        .filter(|t| ctx.p("userfilter").is_none_or(|f| t.user.contains(f)))
        .filter(|t| {
            ctx.p("since")
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| t.starttime >= s)
        })
        .filter(|t| {
            ctx.p("until")
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| t.starttime <= s)
        })
        .filter(|t| {
            let class = match &t.state {
                TaskState::Running => "unknown",
                TaskState::Stopped { exitstatus, .. } if exitstatus == "OK" => "ok",
                TaskState::Stopped { exitstatus, .. } if exitstatus.starts_with("WARNINGS") => {
                    "warning"
                }
                TaskState::Stopped { .. } => "error",
            };
            (!errors_only || class == "error")
                && statusfilter
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|s| s == class))
        })
        .collect();
    let total = matching.len() as u64;
    let out: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|t| task_json(t, false))
        .collect();
    Ok(Reply {
        data: Value::Array(out),
        total: Some(total),
        wait_for: None,
    })
}

pub(super) fn cluster_tasks(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let out: Vec<Value> = cl
        .tasks
        .iter()
        .rev()
        .take(2000)
        .map(|t| task_json(t, false))
        .collect();
    ok(Value::Array(out))
}
