//! Moving a guest to another cluster (`migrate vm NAME --to-env ENV`) with two simulators on
//! 127.0.0.1: the homelab is `default`, a small generated cluster (nodes node1, node2; guests
//! 100 and 101) is `other`. The source simulator's `remote_migrate` task really creates the
//! guest on the target simulator over HTTPS (fingerprint pinned) before it removes the source.
//! Each pre-flight refusal is checked to change nothing: neither cluster, nor either
//! environment's files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use proxmox_mpc::pve::params;
use proxmox_mpc::sim::{Faults, SimConfig};
use reqwest::Method;

use crate::support::cmd::{init_workspace, ok, pmpc, text};
use crate::support::files::{Unreadable, relative_files};
use crate::support::sim::{TOKEN_VAR, TestSim, client};

/// The variable `other`'s token is read from.
const OTHER_VAR: &str = "PMPC_TEST_OTHER_TOKEN";
/// The variable the token without `Sys.Incoming` is read from.
const WEAK_VAR: &str = "PMPC_TEST_WEAK_TOKEN";
/// db-01 in the homelab seed.
const DB01: u32 = 102;

/// db-01's configuration on the homelab, the other cluster's VMIDs, every `.tf` file.
type Unchanged = (
    Option<BTreeMap<String, String>>,
    Vec<u32>,
    BTreeMap<String, String>,
);

struct Two {
    home: TestSim,
    other: Option<TestSim>,
    /// `other`'s token, kept for when its cluster is down
    other_token: String,
    dir: tempfile::TempDir,
    weak: Option<String>,
}

impl Two {
    /// Both clusters, `other` added and synced, `default` synced.
    fn start() -> Two {
        let home = TestSim::homelab();
        let other = TestSim::start_with(SimConfig::generated(2, 2, 7));
        let dir = init_workspace(&home);
        let two = Two {
            home,
            other_token: other.full_token(),
            other: Some(other),
            dir,
            weak: None,
        };
        two.ok(&["sync"], "default sync");
        let other = two.other();
        two.ok(
            &[
                "env",
                "add",
                "other",
                "--endpoint",
                &other.url(),
                "--token-id",
                &other.token_id(),
                "--secret-env",
                OTHER_VAR,
                "--fingerprint",
                &other.fingerprint(),
            ],
            "env add other",
        );
        two.ok(&["--env", "other", "sync"], "other sync");
        two
    }

    fn other(&self) -> &TestSim {
        self.other.as_ref().expect("other runs")
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = pmpc(self.path());
        cmd.env(TOKEN_VAR, self.home.full_token());
        cmd.env(OTHER_VAR, &self.other_token);
        if let Some(weak) = &self.weak {
            cmd.env(WEAK_VAR, weak);
        }
        cmd.args(args).output().expect("the binary runs")
    }

    fn ok(&self, args: &[&str], what: &str) -> Output {
        ok(self.run(args), what)
    }

    /// Every `.tf` file of both environments, path to text.
    fn tf_files(&self) -> BTreeMap<String, String> {
        relative_files(self.path(), Unreadable::Panic)
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "tf"))
            .map(|(p, b)| (p.display().to_string(), String::from_utf8(b).unwrap()))
            .collect()
    }

    /// What must not change after a refusal: db-01 on the homelab, the other cluster's
    /// guests, and every file.
    fn state(&self) -> Unchanged {
        let others = self
            .other
            .as_ref()
            .map(|o| o.control().guest_ids())
            .unwrap_or_default();
        (
            self.home.control().guest_config(DB01),
            others,
            self.tf_files(),
        )
    }

    /// A token on `other` whose role has what creating a guest takes but not `Sys.Incoming`,
    /// added as the environment `weak` (same cluster).
    fn add_weak_env(&mut self) {
        let other = self.other();
        let c = client(other.sim());
        let secret = other.block_on(async {
            c.write(
                Method::POST,
                "/access/roles",
                params([
                    ("roleid", "NoIncoming"),
                    (
                        "privs",
                        "VM.Allocate,VM.Audit,Sys.Audit,Datastore.Audit,Datastore.AllocateSpace,Pool.Audit,SDN.Audit,VM.Config.Disk,VM.Config.CPU,VM.Config.Memory,VM.Config.Network,VM.Config.Options",
                    ),
                ]),
            )
            .await
            .expect("role");
            let made = c
                .write(
                    Method::POST,
                    "/access/users/root@pam/token/mover",
                    params([("privsep", "1")]),
                )
                .await
                .expect("token");
            c.write(
                Method::PUT,
                "/access/acl",
                params([
                    ("path", "/"),
                    ("roles", "NoIncoming"),
                    ("tokens", "root@pam!mover"),
                ]),
            )
            .await
            .expect("acl");
            made["value"].as_str().expect("secret").to_string()
        });
        let (url, fp) = (other.url(), other.fingerprint());
        self.weak = Some(format!("root@pam!mover={secret}"));
        self.ok(
            &[
                "env",
                "add",
                "weak",
                "--endpoint",
                &url,
                "--token-id",
                "root@pam!mover",
                "--secret-env",
                WEAK_VAR,
                "--fingerprint",
                &fp,
            ],
            "env add weak",
        );
    }
}

/// The guest called `name` on `sim`: its vmid and configuration.
fn named(sim: &TestSim, name: &str) -> Option<(u32, BTreeMap<String, String>)> {
    let control = sim.control();
    control.guest_ids().into_iter().find_map(|id| {
        let config = control.guest_config(id)?;
        (config.get("name").map(String::as_str) == Some(name)).then_some((id, config))
    })
}

/// The size part (`size=100G`) of each disk of a configuration, by slot.
fn disk_sizes(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(k, v)| {
            ["scsi", "virtio", "sata", "ide"]
                .iter()
                .any(|p| k.starts_with(p) && k[p.len()..].bytes().all(|b| b.is_ascii_digit()))
                && !v.contains("media=cdrom")
        })
        .map(|(k, v)| {
            let size = v
                .split(',')
                .find(|p| p.starts_with("size="))
                .unwrap_or("no size")
                .to_string();
            (k.clone(), size)
        })
        .collect()
}

#[test]
fn migrate_moves_db01_to_the_other_cluster_with_its_file_and_clean_plans() {
    let two = Two::start();
    let before = two.home.control().guest_config(DB01).expect("db-01");
    let default_file = two
        .tf_files()
        .into_iter()
        .find(|(p, t)| p.starts_with("terraform/") && t.contains("\"db-01\""))
        .map(|(p, _)| p)
        .expect("db-01 has a file in default");

    let out = two.ok(
        &["migrate", "vm", "db-01", "--to-env", "other", "--yes"],
        "migrate --to-env",
    );
    let said = text(&out);
    assert!(
        said.contains("Moved vm db-01 from default to other"),
        "{said}"
    );
    assert!(
        said.contains("Wrote environments/other/terraform/"),
        "{said}"
    );

    // on the other cluster, the same guest; gone from the first
    let (vmid, after) = named(two.other(), "db-01").expect("db-01 is on other");
    assert_eq!(vmid, DB01, "the VMID is kept when it is free on the target");
    for key in ["memory", "cores", "sockets", "tags", "scsihw"] {
        assert_eq!(after.get(key), before.get(key), "{key} is kept");
    }
    assert_eq!(disk_sizes(&after), disk_sizes(&before), "the same disks");
    assert!(!disk_sizes(&after).is_empty());
    assert_eq!(
        two.other().control().guest_running(vmid),
        Some(true),
        "db-01 ran, so it moved live and runs on the target"
    );
    assert_eq!(
        two.home.control().guest_config(DB01),
        None,
        "gone from the first cluster"
    );

    // its file moved to the other environment, with an import block for that cluster
    let files = two.tf_files();
    assert!(
        !files.contains_key(&default_file),
        "{default_file} left default"
    );
    let (path, moved) = files
        .iter()
        .find(|(p, t)| p.starts_with("environments/other/terraform/") && t.contains("\"db-01\""))
        .expect("db-01 has a file in other");
    let node = two.other().control().guest_node(vmid).expect("node");
    assert!(
        moved.contains("import {") && moved.contains(&format!("\"{node}/{vmid}\"")),
        "{path} imports {node}/{vmid}:\n{moved}"
    );

    // a stopped container moves too; kept on the source with --keep-source
    two.ok(
        &[
            "migrate",
            "container",
            "backup-ct",
            "--to-env",
            "other",
            "--keep-source",
            "--yes",
        ],
        "migrate container --keep-source",
    );
    let on_other = two.other().control().guest_ids().into_iter().find(|id| {
        two.other()
            .control()
            .guest_config(*id)
            .is_some_and(|c| c.get("hostname").map(String::as_str) == Some("backup-ct"))
    });
    let ct = on_other.expect("backup-ct is on other");
    assert_eq!(
        two.other()
            .control()
            .guest_config(ct)
            .and_then(|c| c.get("memory").cloned()),
        two.home
            .control()
            .guest_config(203)
            .and_then(|c| c.get("memory").cloned()),
        "same memory"
    );
    assert!(
        two.home.control().guest_config(203).is_some(),
        "--keep-source keeps it"
    );

    // the move is one commit: nothing is left uncommitted in either environment
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(two.path())
        .output()
        .expect("git runs");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.trim().is_empty(),
        "uncommitted after the move:\n{status}"
    );

    // both plans say no changes
    let plan = two.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "default plans nothing:\n{}",
        text(&plan)
    );
    let plan = two.run(&["--env", "other", "plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "other plans nothing:\n{}",
        text(&plan)
    );

    // and back again, run from the other environment: one commit covers both folders
    two.ok(
        &[
            "--env", "other", "migrate", "vm", "db-01", "--to-env", "default", "--yes",
        ],
        "migrate back",
    );
    assert!(named(&two.home, "db-01").is_some(), "db-01 is back home");
    assert!(named(two.other(), "db-01").is_none(), "and gone from other");
    let files = two.tf_files();
    assert!(
        files
            .iter()
            .any(|(p, t)| p.starts_with("terraform/") && t.contains("\"db-01\"")),
        "db-01's file is back in default"
    );
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(two.path())
        .output()
        .expect("git runs");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.trim().is_empty(),
        "uncommitted after the move back:\n{status}"
    );
    let plan = two.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "default plans nothing:\n{}",
        text(&plan)
    );
    let plan = two.run(&["--env", "other", "plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "other plans nothing:\n{}",
        text(&plan)
    );

    // an audit row on each side
    let audit = two.ok(&["audit", "--json"], "audit default");
    assert!(text(&audit).contains("migrate-out"), "{}", text(&audit));
    let audit = two.ok(&["--env", "other", "audit", "--json"], "audit other");
    assert!(text(&audit).contains("migrate-in"), "{}", text(&audit));

    // no secret of either cluster anywhere in the output or the files
    for secret in [two.home.secret(), two.other().secret()] {
        assert!(!said.contains(&secret), "a secret in the output");
        assert!(
            !files.values().any(|t| t.contains(&secret)),
            "a secret in a file"
        );
    }
}

/// Runs a migrate that must be refused with `needle` in its message and change nothing.
fn refused(two: &Two, args: &[&str], needle: &str) {
    let before = two.state();
    let out = two.run(args);
    let said = text(&out);
    assert!(!out.status.success(), "{args:?} must be refused:\n{said}");
    assert!(
        said.contains(needle),
        "{args:?}: expected `{needle}` in:\n{said}"
    );
    assert!(
        said.contains("nothing was changed") || said.contains("unchanged"),
        "{said}"
    );
    assert_eq!(two.state(), before, "{args:?} changed something");
}

/// A refusal that need not say "nothing was changed" (the language refuses the words), but
/// still changes nothing.
fn refused_plain(two: &Two, args: &[&str], needle: &str) {
    let before = two.state();
    let out = two.run(args);
    let said = text(&out);
    assert!(!out.status.success(), "{args:?} must be refused:\n{said}");
    assert!(
        said.contains(needle),
        "{args:?}: expected `{needle}` in:\n{said}"
    );
    assert_eq!(two.state(), before, "{args:?} changed something");
}

#[test]
fn each_preflight_refusal_names_what_is_missing_and_changes_nothing() {
    let mut two = Two::start();
    let base = ["migrate", "vm", "db-01"];
    let with =
        |rest: &[&'static str]| -> Vec<&'static str> { base.iter().chain(rest).copied().collect() };

    // a forced VMID that is taken on the target
    refused(
        &two,
        &with(&["--to-env", "other", "--target-vmid", "100", "--yes"]),
        "vmid 100 (--target-vmid) is taken on other",
    );
    // a mapping to a storage the target does not have
    refused(
        &two,
        &with(&[
            "--to-env",
            "other",
            "--target-storage",
            "local-lvm:nosuch",
            "--yes",
        ]),
        "storage `local-lvm` maps to `nosuch`",
    );
    // a running container: no live move between clusters
    refused(
        &two,
        &[
            "migrate",
            "container",
            "dns-01",
            "--to-env",
            "other",
            "--yes",
        ],
        "cannot move live to another cluster",
    );
    // words the language refuses before anything is read
    for (args, needle) in [
        (
            with(&["--to-env", "other", "--target-vmid", "abc", "--yes"]),
            "--target-vmid 'abc' is not a VMID",
        ),
        (
            with(&["--to", "pve1", "--target-storage", "local-lvm:data"]),
            "--target-storage goes with --to-env ENV",
        ),
        (
            with(&["--to-env", "nowhere", "--yes"]),
            "there is no environment `nowhere`",
        ),
    ] {
        refused_plain(&two, &args, needle);
    }
    // --to and --to-env together
    let out = two.run(&with(&["--to", "pve1", "--to-env", "other", "--yes"]));
    assert!(!out.status.success());
    assert!(text(&out).contains("exclude each other"), "{}", text(&out));

    // a token without Sys.Incoming on the target
    two.add_weak_env();
    refused(
        &two,
        &with(&["--to-env", "weak", "--yes"]),
        "lacks Sys.Incoming",
    );

    // a disk on a storage the target has no mapping for (`small` exists only on the homelab)
    two.home
        .control()
        .set_guest_config(DB01, "scsi1", "small:vm-102-disk-7,size=4G")
        .expect("second disk");
    refused(
        &two,
        &with(&["--to-env", "other", "--yes"]),
        "storage `small` has no mapping",
    );
    two.home
        .control()
        .delete_guest_config(DB01, "scsi1")
        .expect("disk removed");

    // the target fails mid-move (its create task fails): the source stays as it was
    two.other().set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::none()
    });
    let before = two.state();
    let out = two.run(&with(&["--to-env", "other", "--yes"]));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("still in default"), "{said}");
    assert_eq!(two.state().0, before.0, "db-01 unchanged on the homelab");
    assert_eq!(two.state().2, before.2, "no file changed");
    assert!(
        named(two.other(), "db-01").is_none(),
        "no half guest on other"
    );
    two.other().set_faults(Faults::none());

    // the target cluster is down
    two.other = None;
    refused(
        &two,
        &with(&["--to-env", "other", "--yes"]),
        "environment `other`",
    );
}

/// The simulator's `remote_migrate` as a PVE client sees it: PVE's refusals, and a target
/// token without `Sys.Incoming` failing the task with the source guest left as it was and no
/// secret in the task's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_what_pve_refuses_and_keeps_the_source_on_failure() {
    let source = crate::support::sim::start(SimConfig::homelab()).await;
    let target = crate::support::sim::start(SimConfig::generated(2, 2, 7)).await;
    let c = client(&source);
    let port = url::Url::parse(&target.url())
        .ok()
        .and_then(|u| u.port())
        .expect("port");
    let fp = target.fingerprint().expect("https");
    let endpoint = |token: &str, host: &str| {
        format!("apitoken=PVEAPIToken={token},host={host},port={port},fingerprint={fp}")
    };
    let full = format!("{}={}", target.token_id(), target.token_secret());
    let call = |vmid: u32, endpoint: String, extra: &[(&str, &str)]| {
        let mut body = params([
            ("target-endpoint", endpoint),
            ("target-storage", "local-lvm:local-lvm".to_string()),
            ("target-bridge", "vmbr0".to_string()),
        ]);
        body.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let c = c.clone();
        async move {
            c.write(
                Method::POST,
                &format!("/nodes/pve2/qemu/{vmid}/remote_migrate"),
                body,
            )
            .await
        }
    };

    // a running VM moves only with online=1 (QS API2/Qemu.pm remote_migrate_vm)
    let e = call(DB01, endpoint(&full, "127.0.0.1"), &[])
        .await
        .expect_err("running without online");
    assert!(
        e.to_string()
            .contains("can't migrate running VM without --online"),
        "{e}"
    );
    // the simulator talks only to 127.0.0.0/8
    let e = call(DB01, endpoint(&full, "192.0.2.10"), &[("online", "1")])
        .await
        .expect_err("not loopback");
    assert!(e.to_string().contains("127.0.0.0/8"), "{e}");
    // target-bridge is required by the schema
    let e = c
        .write(
            Method::POST,
            &format!("/nodes/pve2/qemu/{DB01}/remote_migrate"),
            params([
                ("target-endpoint", endpoint(&full, "127.0.0.1")),
                ("target-storage", "1".to_string()),
            ]),
        )
        .await
        .expect_err("no target-bridge");
    assert!(e.to_string().contains("target-bridge"), "{e}");

    // a target token without Sys.Incoming: the task fails, the source stays
    let admin = client(&target);
    admin
        .write(
            Method::POST,
            "/access/roles",
            params([
                ("roleid", "NoIncoming"),
                ("privs", "VM.Allocate,VM.Audit,Sys.Audit"),
            ]),
        )
        .await
        .expect("role");
    let made = admin
        .write(
            Method::POST,
            "/access/users/root@pam/token/weak",
            params([("privsep", "1")]),
        )
        .await
        .expect("token");
    admin
        .write(
            Method::PUT,
            "/access/acl",
            params([
                ("path", "/"),
                ("roles", "NoIncoming"),
                ("tokens", "root@pam!weak"),
            ]),
        )
        .await
        .expect("acl");
    let weak_secret = made["value"].as_str().expect("secret").to_string();
    let weak = format!("root@pam!weak={weak_secret}");
    let before = source.control().guest_config(DB01);
    let upid = call(DB01, endpoint(&weak, "127.0.0.1"), &[("online", "1")])
        .await
        .expect("the task starts");
    let upid: proxmox_mpc::pve::Upid = upid.as_str().expect("upid").parse().expect("upid");
    let err = c.wait(&upid).await.expect_err("the task fails");
    let said = err.to_string();
    assert!(said.contains("lacks Sys.Incoming"), "{said}");
    assert!(
        !said.contains(&weak_secret),
        "the secret is not in the task log"
    );
    assert_eq!(
        source.control().guest_config(DB01),
        before,
        "the source is unchanged"
    );
    assert_eq!(source.control().guest_running(DB01), Some(true));
    assert_eq!(
        target.control().guest_ids(),
        vec![100, 101],
        "nothing on the target"
    );

    // with the full token the move completes, and the source is removed only then
    let upid = call(
        DB01,
        endpoint(&full, "127.0.0.1"),
        &[("online", "1"), ("delete", "1")],
    )
    .await
    .expect("the task starts");
    let upid: proxmox_mpc::pve::Upid = upid.as_str().expect("upid").parse().expect("upid");
    let done = c.wait(&upid).await.expect("the move succeeds");
    assert!(
        !done.log.iter().any(|l| l.contains(&target.token_secret())),
        "the secret is not in the task log"
    );
    assert_eq!(source.control().guest_config(DB01), None);
    assert_eq!(target.control().guest_running(DB01), Some(true));
}
