//! `/sync` imports the cluster's scheduled backup jobs as bpg `proxmox_backup_job` resources
//! (bpg v0.111.1, `fwprovider/cluster/backup/resource.go`) with import blocks in
//! `terraform/backup_jobs.tf`: the file is what `terraform fmt` writes, python-hcl2 and hcl-rs
//! read it, PVE settings bpg cannot hold are named in a comment, `/plan` still has nothing to
//! do, and the file goes when the last job goes.

use std::process::Command;

use proxmox_mpc::pve::{Params, params};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::ops::OpsWorkspace;
use crate::support::sim::client;
use crate::support::venv::venv_python;

const FILE: &str = "terraform/backup_jobs.tf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_writes_backup_jobs_as_bpg_resources_the_tools_accept() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    assert!(!ws.root().join(FILE).exists(), "no job, no file");

    let api = client(&ws.sim);
    api.write(
        Method::POST,
        "/cluster/backup",
        params([
            ("id", "nightly"),
            ("schedule", "*-*-* 02:00"),
            ("storage", "nas"),
            ("vmid", "100,101,102"),
            ("mode", "snapshot"),
            ("compress", "zstd"),
            ("notes-template", "{{guestname}} \"nightly\""),
            ("prune-backups", "keep-last=3,keep-weekly=2"),
            ("comment", "the nightly one"),
        ]),
    )
    .await
    .expect("job");
    api.write(
        Method::POST,
        "/cluster/backup",
        params([
            ("id", "weekly_all"),
            ("schedule", "sun 03:00"),
            ("storage", "local"),
            ("all", "1"),
            ("exclude", "9000,9001"),
            ("enabled", "0"),
        ]),
    )
    .await
    .expect("job");
    ws.run("sync", json!({})).await;
    let tf = std::fs::read_to_string(ws.root().join(FILE)).expect("backup_jobs.tf");
    for needle in [
        "import {\n  to = proxmox_backup_job.nightly\n  id = \"nightly\"\n}",
        "resource \"proxmox_backup_job\" \"nightly\" {",
        "vmid           = [\"100\", \"101\", \"102\"]",
        "notes_template = \"{{guestname}} \\\"nightly\\\"\"",
        "prune_backups  = { \"keep-last\" = \"3\", \"keep-weekly\" = \"2\" }",
        "enabled  = false",
        "all      = true",
        "# PVE's `exclude` (\"9000,9001\") has no proxmox_backup_job attribute",
        "# PVE's `comment` (\"the nightly one\")",
    ] {
        assert!(tf.contains(needle), "missing {needle:?} in:\n{tf}");
    }

    // terraform fmt leaves it as it is
    let out = Command::new("terraform")
        .args(["fmt", "-check", "-list=true", FILE])
        .current_dir(ws.root())
        .output()
        .expect("terraform runs");
    assert!(
        out.status.success(),
        "terraform fmt would change it: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // python-hcl2 reads two resources with their ids; hcl-rs parses it
    let script = "import sys, json, hcl2\n\
                  d = hcl2.load(open(sys.argv[1]))\n\
                  q = lambda s: s.strip('\"') if isinstance(s, str) else s\n\
                  ids = []\n\
                  for r in d['resource']:\n\
                  \x20   for t, named in r.items():\n\
                  \x20       assert q(t) == 'proxmox_backup_job', t\n\
                  \x20       ids += [q(b['id']) for b in named.values()]\n\
                  print(json.dumps(ids))\n";
    let out = Command::new(venv_python())
        .args(["-c", script, FILE])
        .current_dir(ws.root())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(ids, json!(["nightly", "weekly_all"]));
    let body: hcl::Body = hcl::from_str(&tf).expect("hcl-rs parses it");
    assert_eq!(
        body.blocks()
            .filter(|b| b.identifier() == "resource")
            .count(),
        2
    );

    // nothing for /plan to do, and a second sync changes nothing
    let plan = ws.run("plan", json!({"json": true})).await;
    let changes = crate::support::ops::data(&plan)["changes"].clone();
    assert!(
        changes
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["action"] == "noop")),
        "{changes}"
    );
    let before = std::fs::read(ws.root().join(FILE)).expect("file");
    ws.run("sync", json!({})).await;
    assert_eq!(std::fs::read(ws.root().join(FILE)).expect("file"), before);

    // the last job gone: the file goes
    for id in ["nightly", "weekly_all"] {
        api.write(
            Method::DELETE,
            &format!("/cluster/backup/{id}"),
            Params::new(),
        )
        .await
        .expect("delete job");
    }
    ws.run("sync", json!({})).await;
    assert!(!ws.root().join(FILE).exists(), "removed with the last job");
}
