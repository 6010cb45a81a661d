//! Checks of the workspace files themselves, run with every unfiltered `/test`:
//!
//! - every `.tf` under `terraform/` parses, and every guest file maps to the model through the
//!   workspace's one reader (an expression it cannot evaluate is reported, not guessed);
//! - a `terraform plan` right after `terraform import` would change nothing: each imported
//!   guest's file against the model of bpg v0.111.1's import ([`crate::iac::fidelity`]),
//!   naming guest, attribute, both values and what applying would do;
//! - the provider version is pinned (`= X.Y.Z`, `X.Y.Z` or `~> X.Y.Z`);
//! - `ansible/inventory.yml` is valid YAML and names only guests the code describes;
//! - no file contains anything that looks like an API token secret (the workspace's own secret,
//!   `PVEAPIToken=…`, `user@realm!name=…`, or a UUID after `secret`/`token`/`password`); the
//!   report names the file and line, never the value;
//! - files on disk match what the console last wrote (SHA-256 in `state.db`, see
//!   [`crate::state::written`]): a file edited by hand since is reported (informational: hand
//!   edits are allowed), a file the console wrote that is gone fails the check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::probe::ProbeContext;
use super::spec::{CheckKind, Subject};
use super::{Check, CheckResult};

/// Which workspace check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceCheck {
    TerraformMaps,
    TerraformNoChanges,
    ProviderPinned,
    InventoryValid,
    NoSecrets,
    FilesAsWritten,
}

impl WorkspaceCheck {
    const ALL: [WorkspaceCheck; 6] = [
        WorkspaceCheck::TerraformMaps,
        WorkspaceCheck::TerraformNoChanges,
        WorkspaceCheck::ProviderPinned,
        WorkspaceCheck::InventoryValid,
        WorkspaceCheck::NoSecrets,
        WorkspaceCheck::FilesAsWritten,
    ];

    fn name(self) -> &'static str {
        match self {
            WorkspaceCheck::TerraformMaps => "terraform parses and maps to the model",
            WorkspaceCheck::TerraformNoChanges => "terraform would plan no changes",
            WorkspaceCheck::ProviderPinned => "provider version is pinned",
            WorkspaceCheck::InventoryValid => "inventory names only existing guests",
            WorkspaceCheck::NoSecrets => "no token secret in any file",
            WorkspaceCheck::FilesAsWritten => "files match what the console wrote",
        }
    }

    fn source(self) -> &'static str {
        match self {
            WorkspaceCheck::TerraformMaps | WorkspaceCheck::TerraformNoChanges => "terraform/",
            WorkspaceCheck::ProviderPinned => "terraform/provider.tf",
            WorkspaceCheck::InventoryValid => "ansible/inventory.yml",
            WorkspaceCheck::NoSecrets | WorkspaceCheck::FilesAsWritten => ".",
        }
    }
}

/// The workspace checks, in report order.
pub fn checks() -> Vec<Check> {
    WorkspaceCheck::ALL
        .iter()
        .map(|w| Check {
            subject: Subject::Workspace,
            name: w.name().to_string(),
            source: w.source().to_string(),
            tags: Vec::new(),
            kind: CheckKind::Workspace(*w),
        })
        .collect()
}

/// Evaluates one workspace check against the files and the cluster as discovered.
pub fn evaluate(
    check: &Check,
    kind: WorkspaceCheck,
    ctx: &ProbeContext<'_>,
    snapshot: &crate::model::ClusterSnapshot,
) -> CheckResult {
    match kind {
        WorkspaceCheck::TerraformMaps => terraform_maps(check, ctx),
        WorkspaceCheck::TerraformNoChanges => terraform_no_changes(check, ctx, snapshot),
        WorkspaceCheck::ProviderPinned => provider_pinned(check, ctx.root),
        WorkspaceCheck::InventoryValid => inventory_valid(check, ctx),
        WorkspaceCheck::NoSecrets => no_secrets(check, ctx.root, ctx.known_secrets),
        WorkspaceCheck::FilesAsWritten => files_as_written(check, ctx),
    }
}

/// Reads what the console last wrote from the workspace's `state.db` (every command records
/// its writes there when it ends, so the rows are current when `/test` starts).
pub async fn load_written(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = root
        .join(crate::workspace::DOT_DIR)
        .join(crate::workspace::STATE_DB);
    let db = crate::state::StateDb::open_existing(&path)
        .await
        .map_err(|e| format!("cannot read the hashes of the written files: {e}"))?;
    let written = db
        .written_files()
        .await
        .map_err(|e| format!("cannot read the hashes of the written files: {e}"));
    db.close().await;
    written
}

fn files_as_written(check: &Check, ctx: &ProbeContext<'_>) -> CheckResult {
    let written = match &ctx.written {
        Ok(w) => w,
        Err(reason) => return CheckResult::skipped(check, format!("not checked: {reason}")),
    };
    if written.is_empty() {
        return CheckResult::skipped(
            check,
            "not checked: state.db records no file the console wrote yet; run /sync",
        );
    }
    let mut edited = Vec::new();
    let mut missing = Vec::new();
    for (rel_path, hash) in written {
        match std::fs::read(ctx.root.join(rel_path)) {
            Ok(bytes) if crate::state::written::sha256_hex(&bytes) == *hash => {}
            Ok(_) => edited.push(rel_path.as_str()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(rel_path.clone()),
            Err(e) => missing.push(format!("{rel_path} (unreadable: {e})")),
        }
    }
    let same = written.len() - edited.len() - missing.len();
    let mut notes = vec![format!(
        "{same} of {} files are as the console wrote them",
        written.len()
    )];
    if !edited.is_empty() {
        notes.push(format!(
            "edited by hand since the console wrote it: {}",
            edited.join(", ")
        ));
    }
    if !missing.is_empty() {
        let mut result = CheckResult::mismatch(
            check,
            "every file the console wrote is on disk",
            format!("missing: {}", missing.join(", ")),
        );
        notes.push(
            "restore a missing file from version control, or run /sync to write the generated ones again"
                .into(),
        );
        result.message = Some(notes.join("; "));
        return result;
    }
    CheckResult::passed(check).with_message(notes.join("; "))
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn terraform_maps(check: &Check, ctx: &ProbeContext<'_>) -> CheckResult {
    let prefix = format!("{}/", ctx.root.display());
    let problems: Vec<String> = ctx
        .code
        .problems
        .iter()
        .map(|e| e.to_string().replace(&prefix, ""))
        .collect();
    let guest_files: BTreeSet<&str> = ctx
        .code
        .state
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let all = crate::iac::desired::tf_files(&ctx.root.join(crate::iac::desired::ROOT_MODULE));
    let others = all
        .iter()
        .filter(|p| !guest_files.contains(rel(ctx.root, p).as_str()))
        .count();
    if !problems.is_empty() {
        return CheckResult::mismatch(
            check,
            "every .tf parses and maps to the model",
            problems.join("\n"),
        );
    }
    if guest_files.is_empty() && all.is_empty() {
        return CheckResult::failed(
            check,
            "no Terraform files under terraform/; run /sync to import the cluster",
        );
    }
    CheckResult::passed(check).with_message(format!(
        "{} guest files map to the model; {others} other files parse",
        guest_files.len()
    ))
}

/// Holds every imported guest's file to the model of bpg's import: a `terraform plan` right
/// after `terraform import` must change nothing. Names the guest, the attribute, the file's and
/// the imported value, and what applying would do.
fn terraform_no_changes(
    check: &Check,
    ctx: &ProbeContext<'_>,
    snapshot: &crate::model::ClusterSnapshot,
) -> CheckResult {
    let imported = ctx
        .code
        .state
        .files
        .iter()
        .filter(|f| f.import_id.is_some())
        .filter(|f| snapshot.guest(f.guest.vmid).is_some())
        .count();
    if imported == 0 {
        return CheckResult::skipped(
            check,
            "not checked: no guest file imports a guest on the server; run /sync",
        );
    }
    // Server-side drift in a file the console wrote is what the guest checks report; such a
    // guest is left to them. Every other file (in step with the server, or edited by hand since
    // the console wrote it) is judged against the live guest: that is what Terraform would do.
    let written = ctx.written.as_ref().ok();
    let types = crate::iac::fidelity::storage_types(snapshot);
    let plans: Vec<crate::iac::fidelity::GuestPlan> = ctx
        .code
        .state
        .files
        .iter()
        .filter(|f| f.import_id.is_some())
        .filter_map(|f| {
            let live = snapshot.guest(f.guest.vmid)?;
            let as_written = written.and_then(|w| w.get(&f.path)).is_some_and(|hash| {
                std::fs::read(ctx.root.join(&f.path))
                    .is_ok_and(|b| crate::state::written::sha256_hex(&b) == *hash)
            });
            if as_written && !crate::iac::sync::guest_drift(&f.guest, live).is_empty() {
                return None;
            }
            Some(crate::iac::fidelity::plan_for(f, live, &types))
        })
        .filter(|p| !p.findings.is_empty())
        .collect();
    if plans.is_empty() {
        return CheckResult::passed(check).with_message(format!(
            "{imported} imported guests: bpg v0.111.1 would read back exactly what the files say"
        ));
    }
    let lines: Vec<String> = plans
        .iter()
        .flat_map(|p| {
            p.lines()
                .into_iter()
                .map(move |l| format!("{} ({}, {}): {l}", p.name, p.vmid, p.file))
        })
        .collect();
    let mut result =
        CheckResult::mismatch(check, "no change after terraform import", lines.join("\n"));
    result.message = Some(format!(
        "{} of {imported} guests would change; edit the file back, or /sync --adopt to take the server's values",
        plans.len()
    ));
    result
}

/// Finds every `required_providers` object in HCL turned into JSON.
fn required_providers<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "required_providers" {
                    match child {
                        Value::Object(m) => out.push(m),
                        Value::Array(items) => {
                            out.extend(items.iter().filter_map(Value::as_object))
                        }
                        _ => {}
                    }
                } else {
                    required_providers(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| required_providers(i, out)),
        _ => {}
    }
}

static PINNED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(=|~>)?\s*\d+\.\d+\.\d+\s*$").expect("valid regex"));

fn provider_pinned(check: &Check, root: &Path) -> CheckResult {
    let mut seen = Vec::new();
    for path in crate::iac::desired::tf_files(&root.join("terraform")) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(json) = hcl::from_str::<Value>(&text) else {
            continue;
        };
        let mut found = Vec::new();
        required_providers(&json, &mut found);
        for providers in found {
            for (name, p) in providers {
                let source = p.get("source").and_then(Value::as_str).unwrap_or(name);
                if !source.ends_with("proxmox") {
                    continue;
                }
                let version = p.get("version").and_then(Value::as_str);
                seen.push((
                    rel(root, &path),
                    source.to_string(),
                    version.map(str::to_string),
                ));
            }
        }
    }
    if seen.is_empty() {
        return CheckResult::mismatch(
            check,
            "a required_providers entry for bpg/proxmox with a pinned version",
            "no required_providers entry for proxmox under terraform/",
        );
    }
    let loose: Vec<String> = seen
        .iter()
        .filter(|(_, _, v)| !v.as_deref().is_some_and(|v| PINNED.is_match(v)))
        .map(|(file, source, v)| {
            format!(
                "{file}: {source} version {}",
                v.as_deref().unwrap_or("(not set)")
            )
        })
        .collect();
    if loose.is_empty() {
        let (_, source, version) = &seen[0];
        CheckResult::passed(check).with_message(format!(
            "{source} {}",
            version.as_deref().unwrap_or_default()
        ))
    } else {
        CheckResult::mismatch(check, "= X.Y.Z or ~> X.Y.Z", loose.join("; "))
    }
}

/// Collects host names under every `hosts:` mapping of an inventory.
fn inventory_hosts(v: &yaml_serde::Value, out: &mut BTreeSet<String>) {
    if let yaml_serde::Value::Mapping(map) = v {
        for (k, child) in map {
            if k.as_str() == Some("hosts") {
                if let yaml_serde::Value::Mapping(hosts) = child {
                    out.extend(hosts.keys().filter_map(|h| h.as_str().map(str::to_string)));
                }
            } else if k.as_str() != Some("vars") {
                inventory_hosts(child, out);
            }
        }
    }
}

fn inventory_valid(check: &Check, ctx: &ProbeContext<'_>) -> CheckResult {
    let path = ctx.root.join("ansible/inventory.yml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return CheckResult::failed(
                check,
                format!("cannot read ansible/inventory.yml ({e}); run /sync to write it"),
            );
        }
    };
    let value: yaml_serde::Value = match yaml_serde::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let line = e
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            return CheckResult::failed(
                check,
                format!("ansible/inventory.yml{line} is not valid YAML: {e}"),
            );
        }
    };
    let mut hosts = BTreeSet::new();
    inventory_hosts(&value, &mut hosts);
    let known: BTreeSet<&str> = ctx
        .code
        .state
        .files
        .iter()
        .map(|f| f.ident.as_str())
        .collect();
    let unknown: Vec<&String> = hosts
        .iter()
        .filter(|h| !known.contains(h.as_str()))
        .collect();
    if unknown.is_empty() {
        CheckResult::passed(check).with_message(format!("{} hosts, all in the code", hosts.len()))
    } else {
        CheckResult::mismatch(
            check,
            "only hosts that terraform/*.tf describes",
            format!(
                "unknown hosts: {}",
                unknown
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

static SECRET_PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"PVEAPIToken=[^\s'\x22=]+=[A-Za-z0-9-]{8,}",
            "a PVEAPIToken header",
        ),
        (
            r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+=[A-Za-z0-9-]{8,}",
            "a full API token (user@realm!name=secret)",
        ),
        (
            r"(?i)(secret|token|password)[A-Za-z_]*[\x22']?\s*[:=]\s*[\x22']?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "a token secret (UUID)",
        ),
    ]
    .into_iter()
    .map(|(p, what)| (Regex::new(p).expect("valid regex"), what))
    .collect()
});

const SKIP_DIRS: [&str; 5] = [".git", ".terraform", "target", "node_modules", ".venv"];
const MAX_SCAN_BYTES: u64 = 4 << 20;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().to_string();
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(&path, out);
            }
        } else if kind.is_file() && !name.contains(".db") {
            out.push(path);
        }
    }
}

/// Returns `file:line (what)` for every line of `text` that looks like it holds a secret.
pub fn secret_findings(file: &str, text: &str, known: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let what = if known
            .iter()
            .any(|s| s.len() >= 8 && line.contains(s.as_str()))
        {
            Some("this workspace's token secret")
        } else {
            SECRET_PATTERNS
                .iter()
                .find(|(re, _)| re.is_match(line))
                .map(|(_, what)| *what)
        };
        if let Some(what) = what {
            out.push(format!("{file}:{} ({what})", i + 1));
        }
    }
    out
}

fn no_secrets(check: &Check, root: &Path, known: &[String]) -> CheckResult {
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    let mut findings = Vec::new();
    let mut scanned = 0usize;
    for path in files {
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_SCAN_BYTES) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        scanned += 1;
        let text = String::from_utf8_lossy(&bytes);
        findings.extend(secret_findings(&rel(root, &path), &text, known));
    }
    if findings.is_empty() {
        CheckResult::passed(check).with_message(format!("{scanned} files scanned"))
    } else {
        CheckResult::mismatch(check, "no secret in any file", findings.join("\n")).with_message(
            "remove the secret from these files (and rotate the token if they were shared)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_shape_and_value_never_shown() {
        let text = "a = 1\napi_token = \"root@pam!mpc=0b7c3a52-3c1d-4f0e-9d3b-2a1f1e0c9b8a\"\n# export TF_VAR_proxmox_api_token='user@realm!tokenid=secret'\n";
        let found = secret_findings("x.tf", text, &[]);
        assert_eq!(
            found,
            vec!["x.tf:2 (a full API token (user@realm!name=secret))"]
        );
        let found = secret_findings(
            "y",
            "token_secret: 0b7c3a52-3c1d-4f0e-9d3b-2a1f1e0c9b8a",
            &[],
        );
        assert_eq!(found.len(), 1);
        let found = secret_findings(
            "z",
            "note sim-abcdef0123456789",
            &["sim-abcdef0123456789".into()],
        );
        assert_eq!(found, vec!["z:1 (this workspace's token secret)"]);
        // A VM's smbios UUID is not a secret.
        assert!(
            secret_findings(
                "w",
                "smbios1: uuid=0b7c3a52-3c1d-4f0e-9d3b-2a1f1e0c9b8a",
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn pinned_versions() {
        for ok in ["0.111.1", "= 0.111.1", "~> 0.111.1"] {
            assert!(PINNED.is_match(ok), "{ok}");
        }
        for loose in [">= 0.100", "~> 0.111", "", ">= 0.1.0"] {
            assert!(!PINNED.is_match(loose), "{loose}");
        }
    }
}
