//! The workspace under git and `/history`, through the operations layer on the simulator (real
//! HTTPS on 127.0.0.1, real SQLite, the system `git`): every change the console makes to the
//! files is one commit of exactly the files it wrote, with a message saying what and why;
//! nothing local or secret is committed; a person's own uncommitted work stays as it was; and
//! `/history` joins the commits with state.db into one timeline. The binary runs twice more:
//! without a git identity (the fallback author) and without git at all (a warning, files
//! written).

use serde_json::json;

use crate::support::cmd::{ok, pmpc, stderr};
use crate::support::ops::{OpsWorkspace, data, lines};
use crate::support::sim::{TOKEN_VAR, TestSim};

/// The entries of a `/history --json` report.
fn entries(report: &proxmox_mpc::commands::Report) -> Vec<serde_json::Value> {
    data(report)["entries"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no entries: {report:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_sync_create_apply_is_one_commit_each_and_history_joins_them() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    // A person's own work in progress: a staged new file, an unstaged edit of a committed
    // file, an untracked check. None of it may end up in a console commit.
    std::fs::write(ws.root().join("notes.md"), "my notes\n").unwrap();
    ws.git(&["add", "notes.md"]);
    let provider = ws.root().join("terraform/provider.tf");
    let mut text = std::fs::read_to_string(&provider).unwrap();
    text.push_str("# my edit\n");
    std::fs::write(&provider, &text).unwrap();
    std::fs::create_dir_all(ws.root().join("tests/checks")).unwrap();
    std::fs::write(ws.root().join("tests/checks/mine.yml"), "checks: []\n").unwrap();

    let created = ws
        .run(
            "create",
            json!({
                "kind": "vm",
                "flags": { "name": "ops-01", "memory": "1G", "cores": "1", "disk": "4G", "node": "pve2" },
            }),
        )
        .await;
    assert!(
        lines(&created).contains("Committed "),
        "the report says what was committed: {created:?}"
    );
    ws.run("plan", json!({})).await;
    let applied = ws.run("apply", json!({ "yes": true })).await;
    assert!(lines(&applied).contains("Committed "), "{applied:?}");
    assert!(ws.sim_guest("ops-01").is_some(), "ops-01 was created");

    // One commit per change, each saying what changed; /plan wrote no file and made none.
    let subjects = ws.subjects();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert!(
        subjects[0].starts_with("apply plan ") && subjects[0].ends_with(": 1 added (ops-01)"),
        "{subjects:?}"
    );
    assert_eq!(subjects[1], "create vm ops-01");
    assert!(
        subjects[2].starts_with("sync: ") && subjects[2].contains(" new"),
        "{subjects:?}"
    );
    assert!(
        subjects[3].starts_with("init: workspace for https://127.0.0.1:"),
        "{subjects:?}"
    );

    // The create commit holds the console's files and nothing of the person's.
    let create_files = ws.git(&["show", "--name-only", "--format=", "HEAD~1"]);
    assert!(
        create_files.contains("terraform/ops_01.tf"),
        "{create_files}"
    );
    for theirs in ["notes.md", "terraform/provider.tf", "tests/checks/mine.yml"] {
        assert!(
            !create_files.contains(theirs),
            "{theirs} swept in: {create_files}"
        );
    }
    // ... and their work is exactly as they left it: staged, unstaged, untracked.
    let status = ws.git(&["status", "--porcelain=v1", "--untracked-files=all"]);
    let mut status: Vec<&str> = status.lines().collect();
    status.sort();
    assert_eq!(
        status,
        vec![
            " M terraform/provider.tf",
            "?? tests/checks/mine.yml",
            "A  notes.md"
        ]
    );

    // Nothing local or secret is in git, ever.
    let tracked = ws.git(&["log", "--all", "--name-only", "--format="]);
    assert!(tracked.contains(".proxmox/config.yml"), "{tracked}");
    assert!(tracked.contains("ansible/inventory.yml"), "{tracked}");
    for private in ["state.db", ".proxmox/history", ".log", "apply.lock"] {
        assert!(!tracked.contains(private), "{private} committed: {tracked}");
    }
    let patches = ws.git(&["log", "--all", "-p"]);
    assert!(
        !patches.contains(&ws.sim.token_secret()),
        "the token secret is in the git history"
    );

    // /history lists the sync, the create and the apply (with the guest), each with its
    // actor and origin.
    let history = ws.run("history", json!({ "json": true })).await;
    let entries = entries(&history);
    let find = |kind: &str| {
        entries
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} entry: {entries:#?}"))
            .clone()
    };
    let sync = find("sync");
    assert!(sync["snapshot"].as_i64().is_some(), "{sync}");
    let create = find("create");
    assert_eq!(create["what"], "create vm ops-01");
    assert_eq!(create["origin"], "cli");
    assert!(!create["actor"].as_str().unwrap_or_default().is_empty());
    let apply = find("apply");
    assert!(
        apply["guests"]
            .as_array()
            .unwrap()
            .contains(&json!("ops-01")),
        "{apply}"
    );
    assert!(apply["plan"].as_i64().is_some(), "{apply}");
    assert!(apply["commit"].as_str().is_some(), "{apply}");
    // Newest first: the apply before the create before the sync.
    let position = |kind: &str| entries.iter().position(|e| e["kind"] == kind).unwrap();
    assert!(position("apply") < position("create") && position("create") < position("sync"));
    // The apply's audit entry and the sync's snapshot are part of their commits, not repeated.
    assert_eq!(entries.iter().filter(|e| e["kind"] == "apply").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_by_guest_and_time_and_shows_one_change() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    let mut console = ws.ctx();
    console.origin = "console".into();
    ws.try_run_in(
        &mut console,
        "create",
        json!({ "kind": "vm", "flags": { "name": "ops-02", "memory": "1G", "disk": "4G" } }),
    )
    .await
    .unwrap_or_else(|e| panic!("create: {}", e.message));
    ws.run("plan", json!({})).await;

    let about = entries(
        &ws.run("history", json!({ "guest": "ops-02", "json": true }))
            .await,
    );
    let kinds: Vec<&str> = about.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"create") && kinds.contains(&"plan"),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"sync") && !kinds.contains(&"init"),
        "{kinds:?}"
    );
    let create = about.iter().find(|e| e["kind"] == "create").unwrap();
    assert_eq!(create["origin"], "console");

    // show: the commit as a diff, the plan as its text.
    let id = create["id"].as_str().unwrap();
    let shown = data(&ws.run("history", json!({ "show": id, "json": true })).await);
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("create vm ops-02"), "{text}");
    assert!(text.contains("+++ b/terraform/ops_02.tf"), "{text}");
    let plan = about.iter().find(|e| e["kind"] == "plan").unwrap();
    let plan_id = plan["id"].as_str().unwrap();
    let shown = data(
        &ws.run("history", json!({ "show": plan_id, "json": true }))
            .await,
    );
    assert!(
        shown["text"].as_str().unwrap().contains("will be created"),
        "{shown}"
    );

    // --since: everything is from the last hour, nothing from the future.
    let recent = entries(
        &ws.run("history", json!({ "since": "1h", "json": true }))
            .await,
    );
    assert!(recent.len() >= 4, "{recent:#?}");
    let future = entries(
        &ws.run("history", json!({ "since": "2999-01-01", "json": true }))
            .await,
    );
    assert!(future.is_empty(), "{future:#?}");

    // Bad input names what was wrong and the next step.
    let e = ws
        .try_run("history", json!({ "since": "yesterday" }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("`yesterday` is not a time"),
        "{}",
        e.message
    );
    let e = ws
        .try_run("history", json!({ "show": "nope-1" }))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no history entry `nope-1`"),
        "{}",
        e.message
    );
    assert!(
        e.hints.iter().any(|h| h.contains("/history")),
        "{:?}",
        e.hints
    );

    // /config set is a change of the files like any other; git.auto_commit false stops the
    // commits (that change itself included) and nothing else.
    ws.run(
        "config",
        json!({ "action": "set", "key": "defaults.node", "value": "pve3" }),
    )
    .await;
    assert_eq!(ws.subjects()[0], "config set defaults.node pve3");
    let commits = ws.subjects().len();
    ws.run(
        "config",
        json!({ "action": "set", "key": "git.auto_commit", "value": "false" }),
    )
    .await;
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": "ops-09", "memory": "1G", "disk": "4G" } }),
    )
    .await;
    assert!(ws.root().join("terraform/ops_09.tf").is_file());
    assert_eq!(ws.subjects().len(), commits, "{:?}", ws.subjects());
    let status = ws.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(status.contains("?? terraform/ops_09.tf"), "{status}");
    assert!(status.contains(" M .proxmox/config.yml"), "{status}");
}

/// The `proxmox-mpc init` arguments for `sim`, the token in [`TOKEN_VAR`].
fn init_args(sim: &TestSim) -> Vec<String> {
    vec![
        "init".into(),
        "--endpoint".into(),
        sim.url(),
        "--token-id".into(),
        sim.token_id(),
        "--secret-env".into(),
        TOKEN_VAR.into(),
        "--fingerprint".into(),
        sim.fingerprint(),
    ]
}

/// As on CI: HOME in the test folder, so git has no identity of its own; the console's
/// commits carry the fallback author. Without git at all, every operation still succeeds and
/// says why nothing was committed.
#[test]
fn commits_work_without_a_git_identity_and_files_are_written_without_git() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[String]| {
        let mut cmd = pmpc(dir.path());
        cmd.env(TOKEN_VAR, sim.full_token()).args(args);
        ok(cmd.output().unwrap(), &args.join(" "))
    };
    run(&init_args(&sim));
    run(&["sync".to_string()]);
    let log = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["log", "--format=%an <%ae>|%cn <%ce>|%s"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        assert!(
            line.starts_with(
                "proxmox-mpc <proxmox-mpc@localhost>|proxmox-mpc <proxmox-mpc@localhost>|"
            ),
            "{log}"
        );
    }

    // No git on PATH: init and sync succeed, the files are there, a warning says why they are
    // not committed.
    let bare = tempfile::tempdir().unwrap();
    let run_bare = |args: &[String]| {
        let mut cmd = pmpc(bare.path());
        cmd.env(TOKEN_VAR, sim.full_token())
            .env("PATH", bare.path().join("no-such-bin"))
            .args(args);
        ok(cmd.output().unwrap(), &args.join(" "))
    };
    let out = run_bare(&init_args(&sim));
    assert!(stderr(&out).contains("install git"), "{}", stderr(&out));
    let out = run_bare(&["sync".to_string()]);
    let err = stderr(&out);
    assert!(
        err.contains("were written but not committed") && err.contains("git is not installed"),
        "{err}"
    );
    assert!(bare.path().join("terraform/web_01.tf").is_file());
    assert!(!bare.path().join(".git").exists());
}

/// `/init` in a folder inside an existing repository joins it: the console commits only the
/// workspace's files there, `/history` shows only the workspace's commits, and a rollback
/// works from the subfolder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_inside_a_repository_commits_there_and_rolls_back_from_its_folder() {
    let top = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(top.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q"]);
    std::fs::write(top.path().join("README.md"), "the team's repository\n").unwrap();
    git(&["add", "README.md"]);
    git(&["commit", "-q", "-m", "the team's first commit"]);

    let ws = OpsWorkspace::init_in(top, "infra/cluster").await;
    assert!(!ws.root().join(".git").exists(), "no second repository");
    ws.run("sync", json!({})).await;
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": "ops-03", "memory": "1G", "disk": "4G" } }),
    )
    .await;
    ws.run("apply", json!({ "yes": true })).await;
    let files = ws.git(&["show", "--name-only", "--format=", "HEAD~1"]);
    assert!(
        files.contains("infra/cluster/terraform/ops_03.tf"),
        "{files}"
    );
    assert!(
        files.lines().all(|f| f.starts_with("infra/cluster/")),
        "{files}"
    );

    let history = entries(&ws.run("history", json!({ "json": true })).await);
    assert!(
        history
            .iter()
            .all(|e| e["what"] != "the team's first commit"),
        "{history:#?}"
    );
    assert!(
        history.iter().any(|e| e["kind"] == "create"),
        "{history:#?}"
    );

    ws.run("rollback", json!({ "yes": true })).await;
    assert!(!ws.root().join("terraform/ops_03.tf").exists());
    let subjects = ws.subjects();
    assert!(subjects[0].starts_with("rollback to "), "{subjects:?}");
    assert_eq!(subjects.last().unwrap(), "the team's first commit");
}
