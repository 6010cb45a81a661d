//! `/ci`: the generated pipelines pass the platforms' published schemas (check-jsonschema's
//! bundled `vendor.github-workflows` / `vendor.gitlab-ci`), and the GitHub jobs' own `run:`
//! scripts, read from the generated YAML and run with `bash -e` in the workspace against the
//! simulator, do what the pipeline promises: the review job plans (exit 2) and writes a comment
//! under the size limit, the merge job applies the reviewed plan and refuses a stale one, the
//! drift job exits 0 then 2 with the drift named. No secret reaches a file or an artifact.
//!
//! How the jobs are run: `uses:` steps (checkout, code scanning and artifact uploads, the
//! sticky comment) are the platform's own actions and are skipped; the workspace is already
//! checked out and the artifact folder stays on disk. `gh` (the only network call in the
//! `run:` scripts) is a stub that answers from the review job's artifact folder and logs its
//! arguments, so the merge job's fetch step and the drift job's issue step run as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::ops::{OpsWorkspace, SECRET_VAR};
use crate::support::venv::Venv;

const WORKFLOW: &str = ".github/workflows/proxmox-mpc.yml";
const DRIFT: &str = ".github/workflows/proxmox-mpc-drift.yml";

/// A job's step as the runner sees it.
struct Step {
    id: Option<String>,
    run: Option<String>,
    env: BTreeMap<String, String>,
}

/// The outcome of running a job's `run:` steps.
struct JobRun {
    /// The exit code of the first failing step, else 0.
    code: i32,
    /// Each step's `GITHUB_OUTPUT`, by step id.
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    log: String,
}

/// The simulated runner: a bin folder with the `gh` stub and the job's scratch space.
struct Runner {
    dir: tempfile::TempDir,
    /// Where the review job's artifact folder is kept for the stub's `run download`.
    artifacts: PathBuf,
}

const GH_STUB: &str = r#"#!/bin/bash
# gh stub: logs its arguments and answers the few calls the pipelines make.
echo "gh $*" >> "$GH_STUB_DIR/log"
case "$1 $2" in
  "api repos/"*) echo "0123456789abcdef0123456789abcdef01234567" ;;
  "run list") echo 4242 ;;
  "run download")
    shift 2
    dest=.
    while [ $# -gt 0 ]; do case "$1" in -D) dest="$2"; shift 2 ;; *) shift ;; esac; done
    mkdir -p "$dest" && cp -r "$GH_STUB_DIR/artifact/." "$dest/" ;;
  "issue list") cat "$GH_STUB_DIR/open-issue" 2>/dev/null || true ;;
  "issue create") echo 7 > "$GH_STUB_DIR/open-issue" ;;
  "issue close") rm -f "$GH_STUB_DIR/open-issue" ;;
  *) ;;
esac
"#;

impl Runner {
    fn new() -> Runner {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let gh = dir.path().join("bin/gh");
        std::fs::write(&gh, GH_STUB).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let artifacts = dir.path().join("artifact");
        Runner { dir, artifacts }
    }

    fn gh_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

fn yaml(path: &Path) -> yaml_serde::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn string_map(v: Option<&yaml_serde::Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(map) = v.and_then(|v| v.as_mapping()) {
        for (k, v) in map {
            let value = match v {
                yaml_serde::Value::String(s) => s.clone(),
                other => yaml_serde::to_string(other).unwrap().trim().to_string(),
            };
            out.insert(k.as_str().unwrap().to_string(), value);
        }
    }
    out
}

/// The job's env and its steps; `uses:` steps have no `run`.
fn job(doc: &yaml_serde::Value, name: &str) -> (BTreeMap<String, String>, Vec<Step>) {
    let job = &doc["jobs"][name];
    assert!(job.is_mapping(), "no job {name}");
    let steps = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| Step {
            id: s["id"].as_str().map(str::to_string),
            run: s["run"].as_str().map(str::to_string),
            env: string_map(s.get("env")),
        })
        .collect();
    (string_map(job.get("env")), steps)
}

/// Evaluates the `${{ }}` expressions the workflows use in env values: secrets, the token and
/// earlier steps' outputs. Any other expression fails the test (the harness would be lying).
fn expand(
    value: &str,
    secrets: &BTreeMap<&str, String>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut out = value.to_string();
    while let Some(start) = out.find("${{") {
        let end = out[start..].find("}}").expect("closed expression") + start;
        let expr = out[start + 3..end].trim();
        let v = if let Some(name) = expr.strip_prefix("secrets.") {
            secrets.get(name).cloned().unwrap_or_default()
        } else if expr == "github.token" {
            "stub-github-token".to_string()
        } else if let Some(rest) = expr.strip_prefix("steps.") {
            let (id, key) = rest.split_once(".outputs.").expect("steps.ID.outputs.KEY");
            outputs
                .get(id)
                .and_then(|o| o.get(key))
                .cloned()
                .unwrap_or_default()
        } else {
            panic!("the test runner cannot evaluate ${{{{ {expr} }}}}")
        };
        out.replace_range(start..end + 2, &v);
    }
    out
}

/// Runs `job`'s `run:` steps of the workflow at `file` in the workspace with `bash -e`, as a
/// runner would: the job's and step's env (expressions evaluated), the GITHUB_* variables, the
/// token secret from the "secret store", PATH with the built binary and the `gh` stub. Stops
/// at the first failing step (no step of these jobs runs after a failure but `if: always()`
/// uploads, which are `uses:` steps).
fn run_job(ws: &OpsWorkspace, runner: &Runner, file: &str, name: &str) -> JobRun {
    let doc = yaml(&ws.root().join(file));
    let (job_env, steps) = job(&doc, name);
    let secrets: BTreeMap<&str, String> = [(SECRET_VAR, ws.sim.token_secret())].into();
    let exe_dir = PathBuf::from(env!("CARGO_BIN_EXE_proxmox-mpc"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        exe_dir.display(),
        runner.dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut log = String::new();
    for (n, step) in steps.iter().enumerate() {
        let Some(script) = &step.run else { continue };
        let output_file = runner.dir.path().join(format!("{name}-output-{n}"));
        std::fs::write(&output_file, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-e")
            .arg("-c")
            .arg(script)
            .current_dir(ws.root())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", runner.dir.path())
            .env("NO_COLOR", "1")
            .env("GH_STUB_DIR", runner.dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", runner.dir.path().join("github-path"))
            .env("GITHUB_REPOSITORY", "lab/infra")
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98");
        for (k, v) in job_env.iter().chain(step.env.iter()) {
            cmd.env(k, expand(v, &secrets, &outputs));
        }
        let out = cmd.output().expect("bash runs");
        log.push_str(&format!(
            "--- step {n} (exit {:?})\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        let written = std::fs::read_to_string(&output_file).unwrap();
        if let Some(id) = &step.id {
            let map = written
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            outputs.insert(id.clone(), map);
        }
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            return JobRun { code, outputs, log };
        }
    }
    JobRun {
        code: 0,
        outputs,
        log,
    }
}

/// Keeps the review job's artifact folder where the `gh` stub serves it from, as the
/// platform keeps an uploaded artifact.
fn keep_artifact(ws: &OpsWorkspace, runner: &Runner) {
    let _ = std::fs::remove_dir_all(&runner.artifacts);
    std::fs::create_dir_all(&runner.artifacts).unwrap();
    for entry in std::fs::read_dir(ws.root().join("proxmox-mpc-plan")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), runner.artifacts.join(entry.file_name())).unwrap();
    }
    // The runner of the merge job checks out the merged files afresh.
    std::fs::remove_dir_all(ws.root().join("proxmox-mpc-plan")).unwrap();
}

fn check_schema(ws: &OpsWorkspace, schema: &str, files: &[&str]) {
    let tool = Venv::find().bin("check-jsonschema");
    let out = Command::new(tool)
        .arg("--builtin-schema")
        .arg(schema)
        .args(files.iter().map(|f| ws.root().join(f)))
        .output()
        .expect("check-jsonschema runs");
    assert!(
        out.status.success(),
        "{schema}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` (but .git), for the secret check.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn assert_no_secret(ws: &OpsWorkspace, dirs: &[&Path]) {
    let secret = ws.sim.token_secret();
    let mut files = Vec::new();
    for dir in dirs {
        all_files(dir, &mut files);
    }
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&secret),
            "{} holds the token secret",
            file.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_pipelines_pass_the_platform_schemas_and_are_kept_or_updated() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run("ci", json!({ "action": "github" })).await;
    ws.run(
        "ci",
        json!({ "action": "gitlab", "runner": ["pve-lab", "linux"] }),
    )
    .await;
    check_schema(&ws, "vendor.github-workflows", &[WORKFLOW, DRIFT]);
    check_schema(&ws, "vendor.gitlab-ci", &[".gitlab-ci.yml"]);
    let workflow = std::fs::read_to_string(ws.root().join(WORKFLOW)).unwrap();
    assert!(workflow.contains("runs-on: [self-hosted]"), "{workflow}");
    assert!(
        workflow.contains(&format!("{SECRET_VAR}: ${{{{ secrets.{SECRET_VAR} }}}}")),
        "{workflow}"
    );
    let gitlab = std::fs::read_to_string(ws.root().join(".gitlab-ci.yml")).unwrap();
    assert!(gitlab.contains("tags: [pve-lab, linux]"), "{gitlab}");
    // The files are committed like every other console write.
    let committed = ws.git(&["ls-files"]);
    assert!(committed.contains(WORKFLOW), "{committed}");
    assert!(committed.contains(".gitlab-ci.yml"), "{committed}");

    // Ours is updated; someone's own pipeline is kept unless --force.
    ws.run("ci", json!({ "action": "github", "runner": ["pve"] }))
        .await;
    let updated = std::fs::read_to_string(ws.root().join(WORKFLOW)).unwrap();
    assert!(updated.contains("runs-on: [pve]"), "{updated}");
    std::fs::write(ws.root().join(".gitlab-ci.yml"), "stages: [mine]\n").unwrap();
    let err = ws
        .try_run("ci", json!({ "action": "gitlab" }))
        .await
        .unwrap_err();
    assert!(err.message.contains(".gitlab-ci.yml"), "{}", err.message);
    assert!(
        err.hints.iter().any(|h| h.contains("--force")),
        "{:?}",
        err.hints
    );
    assert_eq!(
        std::fs::read_to_string(ws.root().join(".gitlab-ci.yml")).unwrap(),
        "stages: [mine]\n"
    );
    ws.run("ci", json!({ "action": "gitlab", "force": true }))
        .await;
    check_schema(&ws, "vendor.gitlab-ci", &[".gitlab-ci.yml"]);

    // Unknown platforms and bad labels are refused with the valid choices.
    let err = ws
        .try_run("ci", json!({ "action": "jenkins" }))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("github") && err.message.contains("gitlab"),
        "{}",
        err.message
    );
    let err = ws
        .try_run("ci", json!({ "action": "github", "runner": ["a b"] }))
        .await
        .unwrap_err();
    assert!(err.message.contains("a b"), "{}", err.message);
    assert_no_secret(&ws, &[ws.root()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_jobs_plan_on_review_apply_the_reviewed_plan_and_report_drift() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run("ci", json!({ "action": "github" })).await;
    let runner = Runner::new();

    // Review: a new guest in the files.
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": "ci-web-01", "memory": "1G", "cores": "1", "disk": "4G", "node": "pve2" } }),
    )
    .await;
    let review = run_job(&ws, &runner, WORKFLOW, "plan-default");
    assert_eq!(review.code, 0, "{}", review.log);
    assert_eq!(review.outputs["plan"]["exitcode"], "2", "{}", review.log);
    let comment = std::fs::read_to_string(ws.root().join("proxmox-mpc-plan/comment.md")).unwrap();
    assert!(comment.len() < 65_536, "{} characters", comment.len());
    assert!(comment.contains("ci-web-01"), "{comment}");
    assert!(comment.contains("1 to add"), "{comment}");
    assert!(
        ws.root().join("proxmox-mpc-policy.sarif").is_file(),
        "{}",
        review.log
    );
    keep_artifact(&ws, &runner);
    assert_eq!(
        ws.sim_guest("ci-web-01"),
        None,
        "review changed the cluster"
    );

    // Merge: a fresh runner (no state.db) applies the reviewed plan.
    std::fs::remove_file(ws.root().join(".proxmox/state.db")).unwrap();
    let merge = run_job(&ws, &runner, WORKFLOW, "apply-default");
    assert_eq!(merge.code, 0, "{}", merge.log);
    assert!(
        runner.gh_log().contains("run download 4242"),
        "{}",
        runner.gh_log()
    );
    let vmid = ws
        .sim_guest("ci-web-01")
        .expect("the merge job created the guest");

    // The server's choices for the new guest (MAC, disk volume, uuids) come back into the
    // files with /sync --adopt (the merge job's state.db had no sync base for it); the pipeline
    // does not push that commit (a person merges it), so the test does it before the drift job.
    ws.run("sync", json!({ "adopt": true })).await;
    // Drift: none, then a change on the server is found and named.
    let quiet = run_job(&ws, &runner, DRIFT, "drift-default");
    assert_eq!(quiet.code, 0, "{}", quiet.log);
    assert!(
        !runner.gh_log().contains("issue create"),
        "{}",
        runner.gh_log()
    );
    ws.set_on_server(vmid, "memory", "3072").await;
    let drifted = run_job(&ws, &runner, DRIFT, "drift-default");
    assert_eq!(drifted.code, 2, "{}", drifted.log);
    let report = std::fs::read_to_string(ws.root().join("proxmox-mpc-drift.txt")).unwrap();
    assert!(
        report.contains("ci-web-01") && report.contains("memory"),
        "{report}"
    );
    assert!(
        runner.gh_log().contains("issue create"),
        "{}",
        runner.gh_log()
    );

    assert_no_secret(&ws, &[ws.root(), &runner.artifacts]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_job_refuses_a_plan_the_cluster_moved_away_from() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run("ci", json!({ "action": "github" })).await;
    let runner = Runner::new();
    let vmid = ws.sim_guest("web-01").expect("homelab has web-01");
    ws.run(
        "set",
        json!({ "kind": "vm", "name": "web-01", "flags": { "memory": "3G" } }),
    )
    .await;
    let review = run_job(&ws, &runner, WORKFLOW, "plan-default");
    assert_eq!(review.outputs["plan"]["exitcode"], "2", "{}", review.log);
    keep_artifact(&ws, &runner);
    // Someone changes the guest on the cluster after the review.
    ws.set_on_server(vmid, "cores", "3").await;
    let before = ws.sim.control().guest_config(vmid).unwrap();
    let merge = run_job(&ws, &runner, WORKFLOW, "apply-default");
    assert_eq!(merge.code, 1, "{}", merge.log);
    assert!(merge.log.contains("stale"), "{}", merge.log);
    assert!(merge.log.contains("web-01"), "{}", merge.log);
    assert_eq!(
        ws.sim.control().guest_config(vmid).unwrap(),
        before,
        "a stale plan changed the guest"
    );
}
