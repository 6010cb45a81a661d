//! What `terraform plan` would show right after the workspace's guests are imported, judged by
//! the model of bpg's import ([`super::bpg`]): for each guest file with an import block whose
//! guest is on the server, the attributes Terraform would change and what that does (update,
//! reboot, replace).
//!
//! Owns the join of the three inputs: the file as Terraform's config sees it (from the one
//! reader, [`super::desired`]), the live guest's PVE config (from the snapshot) and the storage
//! types bpg looks file formats up in. `/sync` uses it to name what a `terraform apply` would
//! still change, `/test` to fail a workspace that would not import cleanly.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::bpg::{self, Consequence, Finding, PveGuest};
use super::desired::DesiredFile;
use super::view::raw_config;
use crate::model::{ClusterSnapshot, Guest, GuestStatus};

/// The plan Terraform would make for one imported guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestPlan {
    pub vmid: u32,
    pub name: String,
    /// The file, relative to the workspace.
    pub file: String,
    pub findings: Vec<Finding>,
}

impl GuestPlan {
    /// The worst thing applying this plan would do, if anything.
    pub fn worst(&self) -> Option<Consequence> {
        self.findings.iter().map(|f| f.consequence).max()
    }

    /// One line per finding: `memory[0].dedicated: file 2048, after import 4096 (reboot)`.
    pub fn lines(&self) -> Vec<String> {
        self.findings
            .iter()
            .map(|f| {
                format!(
                    "{}: file {}, after import {} ({})",
                    f.attribute,
                    short(&f.file),
                    short(&f.predicted),
                    consequence_word(f.consequence)
                )
            })
            .collect()
    }
}

/// How a consequence reads in a report.
pub fn consequence_word(c: Consequence) -> &'static str {
    match c {
        Consequence::Update => "update",
        Consequence::Reboot => "update with a reboot",
        Consequence::Replace => "REPLACE: destroy and re-create",
    }
}

fn short(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Null => "(not set)".to_string(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Storage id -> PVE storage type, as bpg looks them up for file formats.
pub fn storage_types(snapshot: &ClusterSnapshot) -> BTreeMap<String, String> {
    snapshot
        .storages
        .iter()
        .map(|s| (s.id.clone(), s.kind.clone()))
        .collect()
}

/// The state bpg would hold for `live` right after an import.
pub fn predicted_state(
    live: &Guest,
    storage_types: &BTreeMap<String, String>,
) -> serde_json::Value {
    let config = raw_config(live);
    bpg::predict_state(&PveGuest {
        kind: live.kind,
        vmid: live.vmid,
        node: &live.node,
        running: live.status == GuestStatus::Running,
        pool: live.pool.as_deref(),
        config: &config,
        storage_types,
    })
}

/// What Terraform would change for the file of `live` right after importing it.
pub fn plan_for(
    file: &DesiredFile,
    live: &Guest,
    storage_types: &BTreeMap<String, String>,
) -> GuestPlan {
    let predicted = predicted_state(live, storage_types);
    let findings = bpg::compare(
        bpg::resource_type(live.kind),
        &file.body,
        &file.ignore_changes,
        &predicted,
    );
    GuestPlan {
        vmid: live.vmid,
        name: live.name.clone(),
        file: file.path.clone(),
        findings,
    }
}

/// The plans of every guest file that imports a guest the snapshot holds; guests that would
/// import with no change are left out.
pub fn workspace_plans(files: &[DesiredFile], snapshot: &ClusterSnapshot) -> Vec<GuestPlan> {
    let types = storage_types(snapshot);
    let live: BTreeMap<u32, &Guest> = snapshot.guests.iter().map(|g| (g.vmid, g)).collect();
    // Each file is judged on its own: on every core (results in file order).
    files
        .par_iter()
        .filter(|f| f.import_id.is_some())
        .filter_map(|f| live.get(&f.guest.vmid).map(|g| plan_for(f, g, &types)))
        .filter(|p| !p.findings.is_empty())
        .collect()
}
