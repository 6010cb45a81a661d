//! Scheduled backup jobs: `/cluster/backup[/{id}]` (PVE's `jobs.cfg` vzdump entries) and
//! `/cluster/backup-info/not-backed-up`, the guests no job covers.
//!
//! As PVE (PM = pve-manager @ 14a22df): a job needs `schedule` or `starttime` (not both)
//! (`PVE/API2/Backup.pm` L110-113), `enabled` defaults to 1 (L329), a taken id is refused with
//! "Job 'ID' already exists" (L340), an unknown id is a parameter error "No such job 'ID'"
//! (L406, L755); `not-backed-up` counts every job, enabled or not, and every guest, templates
//! included (`PVE/API2/Cluster/BackupInfo.pm` get_included_vmids).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::sim::server::lock;

use super::backup::selected_guests;
use super::{ApiError, Ctx, Reply, ok, split_list};

/// Parameters that are no part of a stored job.
const NOT_STORED: &[&str] = &["id", "delete", "digest"];

/// A stored value as the schema types it: numbers and booleans as JSON numbers, lists as
/// arrays, property strings (`prune-backups`, `fleecing`, `performance`) as objects.
fn typed(key: &str, value: &str) -> Value {
    let schema = crate::sim::schema::route("GET /cluster/backup/{id}")
        .and_then(|r| r.pointer(&format!("/returns/properties/{key}")).cloned())
        .unwrap_or(Value::Null);
    let number = |v: &str| {
        v.parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(v))
    };
    match schema.get("type").and_then(Value::as_str) {
        Some("integer" | "boolean") => number(value),
        Some("array") => json!(split_list(value)),
        Some("object") => {
            let mut obj = Map::new();
            for part in value.split(',').filter(|p| !p.is_empty()) {
                match part.split_once('=') {
                    Some((k, v)) => obj.insert(k.to_string(), number(v)),
                    // the default key (`fleecing: 1` is `enabled=1`)
                    None => obj.insert("enabled".to_string(), number(part)),
                };
            }
            Value::Object(obj)
        }
        _ => json!(value),
    }
}

fn job_json(id: &str, job: &BTreeMap<String, String>) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), json!(id));
    obj.insert("type".into(), json!("vzdump"));
    for (k, v) in job {
        obj.insert(k.clone(), typed(k, v));
    }
    Value::Object(obj)
}

fn no_such_job(id: &str) -> ApiError {
    ApiError::param("id", &format!("No such job '{id}'"))
}

/// `schedule` or `starttime` (with `dow`), never both; `starttime` becomes a schedule.
fn settle_schedule(job: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    match (job.contains_key("schedule"), job.remove("starttime")) {
        (true, Some(_)) => Err(ApiError::param(
            "starttime",
            "'starttime' and 'schedule' cannot both be set",
        )),
        (false, None) => Err(ApiError::param(
            "schedule",
            "neither 'starttime' nor 'schedule' were set",
        )),
        (false, Some(start)) => {
            let schedule = match job.remove("dow") {
                Some(dow) => format!("{dow} {start}"),
                None => start,
            };
            job.insert("schedule".into(), schedule);
            Ok(())
        }
        (true, None) => Ok(()),
    }
}

/// A job selects guests by `vmid`, `all` or `pool`; `all` and `vmid` exclude each other.
fn check_selection(job: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let all = job.get("all").is_some_and(|v| v == "1");
    if all && job.contains_key("vmid") {
        return Err(ApiError::param(
            "all",
            "option conflicts with option 'vmid'",
        ));
    }
    if !(all || job.contains_key("vmid") || job.contains_key("pool")) {
        return Err(ApiError::param("vmid", "property is missing"));
    }
    Ok(())
}

/// `GET /cluster/backup`.
pub(super) fn jobs_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let out: Vec<Value> = cl
        .backup_jobs
        .iter()
        .map(|(id, job)| job_json(id, job))
        .collect();
    ok(Value::Array(out))
}

/// `POST /cluster/backup`.
pub(super) fn job_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let mut job: BTreeMap<String, String> = ctx
        .params
        .iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    settle_schedule(&mut job)?;
    job.entry("enabled".into()).or_insert_with(|| "1".into());
    let id = match ctx.p("id") {
        Some(id) => id.to_string(),
        None => {
            // PVE names an unnamed job with a fresh UUID
            let n = cl.backup_jobs.len() as u64 + ctx.shared.seed_number;
            let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            format!("backup-{:08x}-{:04x}", h >> 32, (h >> 16) & 0xffff)
        }
    };
    if cl.backup_jobs.contains_key(&id) {
        return Err(ApiError::internal(format!("Job '{id}' already exists")));
    }
    check_selection(&job)?;
    cl.backup_jobs.insert(id, job);
    ok(Value::Null)
}

/// `GET /cluster/backup/{id}`.
pub(super) fn job_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let id = ctx.p("id").unwrap_or("");
    let job = cl.backup_jobs.get(id).ok_or_else(|| no_such_job(id))?;
    ok(job_json(id, job))
}

/// `PUT /cluster/backup/{id}`.
pub(super) fn job_update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("id").unwrap_or("").to_string();
    let deletes = ctx.p("delete").map(split_list).unwrap_or_default();
    let changes: BTreeMap<String, String> = ctx
        .params
        .iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changes.is_empty() && deletes.is_empty() {
        return Err(ApiError::internal("no options specified"));
    }
    let Some(old) = cl.backup_jobs.get(&id) else {
        return Err(ApiError::internal("no such vzdump job"));
    };
    let mut job = old.clone();
    for k in &deletes {
        if job.remove(k).is_none() && !changes.contains_key(k) {
            return Err(ApiError::param("delete", &format!("unknown option '{k}'")));
        }
    }
    if changes.contains_key("starttime") {
        job.remove("schedule");
    }
    job.extend(changes);
    settle_schedule(&mut job)?;
    check_selection(&job)?;
    cl.backup_jobs.insert(id, job);
    ok(Value::Null)
}

/// `DELETE /cluster/backup/{id}`.
pub(super) fn job_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("id").unwrap_or("");
    cl.backup_jobs.remove(id).ok_or_else(|| no_such_job(id))?;
    ok(Value::Null)
}

/// `GET /cluster/backup-info/not-backed-up`.
pub(super) fn not_backed_up(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let covered: BTreeSet<u32> = cl
        .backup_jobs
        .values()
        .flat_map(|job| selected_guests(&cl, job, job.get("node").map(String::as_str)))
        .collect();
    let out: Vec<Value> = cl
        .guests
        .values()
        .filter(|g| !covered.contains(&g.vmid))
        .map(|g| json!({"vmid": g.vmid, "type": g.kind.as_str(), "name": g.name()}))
        .collect();
    ok(Value::Array(out))
}
