//! `terraform/backup_jobs.tf`: the cluster's scheduled backup jobs (`GET /cluster/backup`) as
//! bpg's `proxmox_backup_job` resources with import blocks, written by `/sync` when the
//! cluster has jobs (and removed when it has none any more).
//!
//! The resource and its attributes are bpg/proxmox v0.111.1's (`fwprovider/cluster/backup/
//! resource.go` at tag v0.111.1, commit b22fe91; `docs/resources/backup_job.md`): `id`,
//! `schedule` and `storage` are required; `vmid`, `mailto` and `exclude_path` are lists,
//! `prune_backups` a map of strings; the import id is the job id. PVE settings bpg has no
//! attribute for (`exclude`, `comment`, `fleecing`, `performance`, `notes-template` is
//! `notes_template`) are named in a comment instead of being dropped silently. Like
//! `storages.tf`, the file is imported and documented only: the console never plans jobs.

use std::path::Path;

use serde_json::Value;

use super::filters::hcl_string;
use super::hclfmt::canonical;
use super::names::assign_idents;
use super::sync::{SyncReport, write_atomic};

/// The file, relative to the workspace.
pub const FILE: &str = "terraform/backup_jobs.tf";

/// How one PVE key maps to bpg: the attribute and its HCL shape.
enum Shape {
    Text,
    Bool,
    Number,
    List,
    Map,
}

/// PVE key -> (bpg attribute, shape), in the order the file lists them.
const ATTRIBUTES: &[(&str, &str, Shape)] = &[
    ("schedule", "schedule", Shape::Text),
    ("storage", "storage", Shape::Text),
    ("enabled", "enabled", Shape::Bool),
    ("node", "node", Shape::Text),
    ("all", "all", Shape::Bool),
    ("vmid", "vmid", Shape::List),
    ("pool", "pool", Shape::Text),
    ("mode", "mode", Shape::Text),
    ("compress", "compress", Shape::Text),
    ("notes-template", "notes_template", Shape::Text),
    ("mailnotification", "mailnotification", Shape::Text),
    ("mailto", "mailto", Shape::List),
    ("bwlimit", "bwlimit", Shape::Number),
    ("ionice", "ionice", Shape::Number),
    ("lockwait", "lockwait", Shape::Number),
    ("stopwait", "stopwait", Shape::Number),
    ("pigz", "pigz", Shape::Number),
    ("zstd", "zstd", Shape::Number),
    ("protected", "protected", Shape::Bool),
    ("remove", "remove", Shape::Bool),
    ("repeat-missed", "repeat_missed", Shape::Bool),
    ("stdexcludes", "stdexcludes", Shape::Bool),
    ("exclude-path", "exclude_path", Shape::List),
    ("prune-backups", "prune_backups", Shape::Map),
];

/// Keys of a job that are no setting (or that bpg computes).
const NOT_SETTINGS: &[&str] = &["id", "type", "next-run", "digest"];

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

fn list_of(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(text_of).collect(),
        other => text_of(other)
            .map(|t| {
                t.split([',', ';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `{ "keep-last" = "3" }` from an object or a `keep-last=3,keep-daily=7` property string.
fn map_of(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(o) => o
            .iter()
            .filter_map(|(k, v)| text_of(v).map(|t| (k.clone(), t)))
            .collect(),
        other => text_of(other)
            .map(|t| {
                t.split(',')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn attribute(name: &str, shape: &Shape, v: &Value) -> Option<String> {
    let value = match shape {
        Shape::Text => hcl_string(&text_of(v)?),
        Shape::Bool => match text_of(v)?.as_str() {
            "1" | "true" => "true".to_string(),
            _ => "false".to_string(),
        },
        Shape::Number => {
            let t = text_of(v)?;
            t.parse::<i64>().ok()?.to_string()
        }
        Shape::List => {
            let items: Vec<String> = list_of(v).iter().map(|s| hcl_string(s)).collect();
            format!("[{}]", items.join(", "))
        }
        Shape::Map => {
            let pairs: Vec<String> = map_of(v)
                .iter()
                .map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_string(v)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    };
    Some(format!("  {name} = {value}"))
}

/// Renders the file for `jobs` (as `GET /cluster/backup` answers them).
pub fn render(jobs: &[Value]) -> String {
    let ids: Vec<String> = jobs
        .iter()
        .filter_map(|j| j.get("id").and_then(text_of))
        .collect();
    let idents = assign_idents(ids.iter().map(String::as_str));
    let mut out = String::from(
        "# Scheduled backup jobs. Generated by proxmox-mpc /sync.\n\
         # Imported and documented only: the console never plans or changes them.\n",
    );
    for (id, ident) in ids.iter().zip(idents) {
        let Some(job) = jobs
            .iter()
            .find(|j| j.get("id").and_then(text_of).as_deref() == Some(id))
        else {
            continue;
        };
        out.push_str(&format!(
            "\nimport {{\n  to = proxmox_backup_job.{ident}\n  id = {}\n}}\n\n",
            hcl_string(id)
        ));
        let unmapped: Vec<&str> = job
            .as_object()
            .map(|o| {
                o.keys()
                    .map(String::as_str)
                    .filter(|k| {
                        !NOT_SETTINGS.contains(k) && !ATTRIBUTES.iter().any(|(p, _, _)| p == k)
                    })
                    .collect()
            })
            .unwrap_or_default();
        for key in unmapped {
            let value = job.get(key).map(Value::to_string).unwrap_or_default();
            out.push_str(&format!(
                "# PVE's `{key}` ({}) has no proxmox_backup_job attribute in bpg v0.111.1: it is kept on PVE only.\n",
                value.replace(['\n', '\r'], " ")
            ));
        }
        out.push_str(&format!(
            "resource \"proxmox_backup_job\" \"{ident}\" {{\n  id = {}\n",
            hcl_string(id)
        ));
        for (key, name, shape) in ATTRIBUTES {
            if let Some(line) = job.get(*key).and_then(|v| attribute(name, shape, v)) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str("}\n");
    }
    canonical(&out)
}

/// Writes (or removes) `terraform/backup_jobs.tf` for the cluster's `jobs`, noting the file in
/// `report`. Jobs that could not be read (a token without `Sys.Audit`: the error) leave the
/// file alone, with a warning.
pub fn write_jobs(root: &Path, jobs: Result<Vec<Value>, String>, report: &mut SyncReport) {
    let jobs = match jobs {
        Ok(j) => j,
        Err(e) => {
            report.warnings.push(format!(
                "cannot read the backup jobs (GET /cluster/backup: {e}); {FILE} was left as it was"
            ));
            return;
        }
    };
    let path = root.join(FILE);
    if jobs.is_empty() {
        if path.is_file() {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    report.notes.note_removed(&path);
                    report.removed.push(FILE.to_string());
                }
                Err(e) => report.warnings.push(format!(
                    "cannot remove {FILE} (the cluster has no backup job): {e}"
                )),
            }
        }
        return;
    }
    let text = render(&jobs);
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        report.notes.note_written(&path, text.as_bytes());
        report.unchanged_files += 1;
        return;
    }
    match write_atomic(&path, text.as_bytes(), &mut report.notes) {
        Ok(()) => report.written.push(FILE.to_string()),
        Err(e) => report.warnings.push(format!("cannot write {FILE}: {e}")),
    }
}
