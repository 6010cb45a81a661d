//! The simulator's backup routes and the PVE gaps closed with them, checked through the
//! project's own PVE client over HTTPS. Citations (pve-api/NOTES.md keys): PM = pve-manager @
//! 14a22df, QS = qemu-server @ e6352be, AC = pve-access-control @ 5ccd07d, ST = pve-storage
//! @ 0c56bad.

use proxmox_mpc::pve::{Client, Params, Upid, params};
use reqwest::Method;
use serde_json::Value;

use crate::support::sim::{client, homelab};

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Runs a write that answers a task, waits for it; returns its exit status and log.
async fn task(c: &Client, method: Method, path: &str, body: Params) -> (String, Vec<String>) {
    let v = c
        .write(method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let upid: Upid = v.as_str().expect("a UPID").parse().expect("UPID");
    match c.wait(&upid).await {
        Ok(o) => (o.exitstatus, o.log),
        Err(proxmox_mpc::pve::PveError::TaskFailed {
            exitstatus,
            log_tail,
            ..
        }) => (exitstatus, log_tail),
        Err(e) => panic!("{path}: {e}"),
    }
}

async fn backups_of(c: &Client, node: &str, storage: &str, vmid: u32) -> Vec<Value> {
    c.get(
        &format!("/nodes/{node}/storage/{storage}/content"),
        params([
            ("content", "backup".to_string()),
            ("vmid", vmid.to_string()),
        ]),
    )
    .await
    .expect("content")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vzdump_writes_a_volume_named_as_pve_names_it_with_notes_and_protection() {
    let sim = homelab().await;
    let c = client(&sim);
    let body = params([
        ("vmid", "200"),
        ("storage", "local"),
        ("compress", "gzip"),
        ("mode", "stop"),
        ("protected", "1"),
        (
            "notes-template",
            "{{guestname}} ({{vmid}}) on {{node}}\nsecond line",
        ),
    ]);
    let (status, log) = task(&c, Method::POST, "/nodes/pve1/vzdump", body).await;
    assert_eq!(status, "OK", "{log:?}");
    let list = backups_of(&c, "pve1", "local", 200).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let b = &list[0];
    let volid = b["volid"].as_str().expect("volid");
    let re = regex::Regex::new(
        r"^local:backup/vzdump-lxc-200-\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}\.tar\.gz$",
    )
    .expect("re");
    assert!(re.is_match(volid), "{volid}");
    assert_eq!(b["format"], "tar.gz");
    assert_eq!(b["subtype"], "lxc");
    assert_eq!(b["vmid"], 200);
    // the list shows the first line of the notes (ST Content.pm index)
    assert_eq!(b["notes"], "dns-01 (200) on pve1");
    assert_eq!(b["protected"], 1);
    let one: Value = c
        .get(
            &format!("/nodes/pve1/storage/local/content/{}", encode(volid)),
            Params::new(),
        )
        .await
        .expect("volume");
    assert_eq!(one["notes"], "dns-01 (200) on pve1\nsecond line");
    assert!(
        one["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/var/lib/vz/dump/vzdump-lxc-200-"))
    );

    // a protected volume is not removed (ST src/PVE/Storage/Plugin.pm L1124)
    let path = format!("/nodes/pve1/storage/local/content/{}", encode(volid));
    let (status, _) = task(&c, Method::DELETE, &path, Params::new()).await;
    let name = volid.trim_start_matches("local:");
    assert_eq!(
        status,
        format!("cannot remove protected volume '{name}' on 'local'")
    );
    c.write(Method::PUT, &path, params([("protected", "0")]))
        .await
        .expect("unprotect");
    let (status, _) = task(&c, Method::DELETE, &path, Params::new()).await;
    assert_eq!(status, "OK");
    assert!(backups_of(&c, "pve1", "local", 200).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vzdump_refuses_a_storage_without_backup_content_and_fails_on_a_locked_guest() {
    let sim = homelab().await;
    let c = client(&sim);
    // PM PVE/VZDump.pm L202
    let e = c
        .write(
            Method::POST,
            "/nodes/pve1/vzdump",
            params([("vmid", "100"), ("storage", "local-lvm")]),
        )
        .await
        .expect_err("local-lvm takes no backups");
    assert!(
        e.to_string()
            .contains("can't use storage 'local-lvm' for backups - wrong content type"),
        "{e}"
    );
    // vmid or all or pool (PM PVE/VZDump.pm verify_vzdump_parameters)
    let e = c
        .write(
            Method::POST,
            "/nodes/pve1/vzdump",
            params([("storage", "nas")]),
        )
        .await
        .expect_err("nothing selected");
    assert!(e.to_string().contains("vmid"), "{e}");
    // a read-only token may not write to a storage (PM PVE/API2/VZDump.pm permissions)
    let auditor = crate::support::sim::client_as(&sim, proxmox_mpc::sim::TokenKind::ReadOnly);
    let e = auditor
        .write(
            Method::POST,
            "/nodes/pve1/vzdump",
            params([("vmid", "100"), ("storage", "nas")]),
        )
        .await
        .expect_err("auditor");
    assert!(e.to_string().contains("Datastore.AllocateSpace"), "{e}");
    // 105 holds a `backup` lock: the task logs the guest's failure and ends with job errors
    let (status, log) = task(
        &c,
        Method::POST,
        "/nodes/pve1/vzdump",
        params([("vmid", "105"), ("storage", "nas")]),
    )
    .await;
    assert_eq!(status, "job errors");
    assert!(
        log.iter()
            .any(|l| l == "ERROR: Backup of VM 105 failed - VM is locked (backup)"),
        "{log:?}"
    );
    assert!(backups_of(&c, "pve1", "nas", 105).await.is_empty());
    assert_eq!(
        sim.control()
            .guest_config(105)
            .and_then(|c| c.get("lock").cloned())
            .as_deref(),
        Some("backup")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_makes_a_new_guest_from_an_archive_and_refuses_what_pve_refuses() {
    let sim = homelab().await;
    let c = client(&sim);
    let archive = "nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst";
    // drive options conflict with the archive (QS src/PVE/API2/Qemu.pm L1326)
    let e = c
        .write(
            Method::POST,
            "/nodes/pve1/qemu",
            params([
                ("vmid", "180"),
                ("archive", archive),
                ("scsi0", "local-lvm:4"),
            ]),
        )
        .await
        .expect_err("scsi0 with archive");
    assert!(
        e.to_string()
            .contains("option conflicts with option 'archive'"),
        "{e}"
    );
    // an existing vmid without force (QS L1372: "unable to restore VM N -")
    let e = c
        .write(
            Method::POST,
            "/nodes/pve1/qemu",
            params([("vmid", "100"), ("archive", archive)]),
        )
        .await
        .expect_err("100 exists");
    assert!(
        e.to_string()
            .contains("unable to restore VM 100 - VM 100 already exists on node 'pve1'"),
        "{e}"
    );
    let e = c
        .write(
            Method::POST,
            "/nodes/pve1/qemu",
            params([
                ("vmid", "180"),
                (
                    "archive",
                    "nas:backup/vzdump-qemu-102-2020_01_01-00_00_00.vma.zst",
                ),
            ]),
        )
        .await
        .expect_err("no such volume");
    assert!(e.to_string().contains("does not exist"), "{e}");

    let (status, log) = task(
        &c,
        Method::POST,
        "/nodes/pve1/qemu",
        params([
            ("vmid", "180"),
            ("archive", archive),
            ("unique", "1"),
            ("storage", "local-lvm"),
            ("name", "db-01-copy"),
        ]),
    )
    .await;
    assert_eq!(status, "OK", "{log:?}");
    let original = sim.control().guest_config(102).expect("db-01");
    let copy = sim.control().guest_config(180).expect("restored");
    assert_eq!(copy["name"], "db-01-copy");
    for key in ["memory", "cores", "tags", "agent"] {
        assert_eq!(copy.get(key), original.get(key), "{key}");
    }
    assert!(
        copy["scsi0"].starts_with("local-lvm:vm-180-disk-"),
        "{}",
        copy["scsi0"]
    );
    assert!(copy["scsi0"].contains("size=100G"), "{}", copy["scsi0"]);
    assert_ne!(copy["net0"], original["net0"], "unique=1 gives a new MAC");
    assert!(!copy.contains_key("lock"));

    // a container from its backup, with ostemplate and restore=1
    let ct = "nas:backup/vzdump-lxc-201-2026_01_02-03_00_00.tar.zst";
    let (status, log) = task(
        &c,
        Method::POST,
        "/nodes/pve2/lxc",
        params([
            ("vmid", "280"),
            ("ostemplate", ct),
            ("restore", "1"),
            ("hostname", "proxy-copy"),
        ]),
    )
    .await;
    assert_eq!(status, "OK", "{log:?}");
    let copy = sim.control().guest_config(280).expect("restored ct");
    assert_eq!(copy["hostname"], "proxy-copy");
    assert!(
        copy["rootfs"].contains("vm-280-disk-"),
        "{}",
        copy["rootfs"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_jobs_are_kept_and_decide_which_guests_are_not_backed_up() {
    let sim = homelab().await;
    let c = client(&sim);
    let not_backed_up = || async {
        let list: Vec<Value> = c
            .get("/cluster/backup-info/not-backed-up", Params::new())
            .await
            .expect("not-backed-up");
        list.iter()
            .filter_map(|g| g["vmid"].as_u64())
            .collect::<Vec<u64>>()
    };
    let all = not_backed_up().await;
    assert!(
        all.contains(&100) && all.contains(&8000),
        "no job yet: every guest, templates too"
    );

    // neither schedule nor starttime, then both (PM PVE/API2/Backup.pm L110-113)
    let e = c
        .write(
            Method::POST,
            "/cluster/backup",
            params([("storage", "nas"), ("vmid", "100")]),
        )
        .await
        .expect_err("no schedule");
    assert!(
        e.to_string()
            .contains("neither 'starttime' nor 'schedule' were set"),
        "{e}"
    );
    c.write(
        Method::POST,
        "/cluster/backup",
        params([
            ("id", "nightly"),
            ("schedule", "02:00"),
            ("storage", "nas"),
            ("vmid", "100,101"),
        ]),
    )
    .await
    .expect("create");
    // a taken id (L340)
    let e = c
        .write(
            Method::POST,
            "/cluster/backup",
            params([
                ("id", "nightly"),
                ("schedule", "03:00"),
                ("storage", "nas"),
                ("all", "1"),
            ]),
        )
        .await
        .expect_err("taken id");
    assert!(
        e.to_string().contains("Job 'nightly' already exists"),
        "{e}"
    );
    let job: Value = c
        .get("/cluster/backup/nightly", Params::new())
        .await
        .expect("job");
    assert_eq!(job["enabled"], 1, "enabled by default (L329)");
    assert_eq!(job["vmid"], "100,101");
    let left = not_backed_up().await;
    assert!(
        !left.contains(&100) && !left.contains(&101) && left.contains(&102),
        "{left:?}"
    );

    // a disabled job still counts (PM PVE/API2/Cluster/BackupInfo.pm get_included_vmids)
    c.write(
        Method::PUT,
        "/cluster/backup/nightly",
        params([("enabled", "0"), ("vmid", "100,101,102")]),
    )
    .await
    .expect("update");
    assert!(!not_backed_up().await.contains(&102));
    c.write(Method::DELETE, "/cluster/backup/nightly", Params::new())
        .await
        .expect("delete");
    let e = c
        .get::<Value>("/cluster/backup/nightly", Params::new())
        .await
        .expect_err("gone");
    assert!(e.to_string().contains("No such job 'nightly'"), "{e}");
    assert!(not_backed_up().await.contains(&100));
}

/// Gaps a widely used automation suite (community.proxmox) trips over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_groups_and_both_default_realms_are_served() {
    let sim = homelab().await;
    let c = client(&sim);
    // PVE always has `pam` and `pve` (AC src/PVE/Auth/Plugin.pm L272-279)
    let realms: Vec<Value> = c
        .get("/access/domains", Params::new())
        .await
        .expect("realms");
    let names: Vec<&str> = realms.iter().filter_map(|r| r["realm"].as_str()).collect();
    assert!(
        names.contains(&"pam") && names.contains(&"pve"),
        "{names:?}"
    );
    let users: Vec<Value> = c
        .get("/access/users", params([("full", "1")]))
        .await
        .expect("users");
    let root = users
        .iter()
        .find(|u| u["userid"] == "root@pam")
        .expect("root@pam");
    assert!(
        root["tokens"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["tokenid"] == "mpc")),
        "{root}"
    );
    let one: Value = c
        .get("/access/users/auditor@pve", Params::new())
        .await
        .expect("user");
    assert_eq!(one["enable"], 1);
    assert!(one["tokens"]["ro"].is_object(), "{one}");
    // an unknown user (AC src/PVE/AccessControl.pm L678)
    let e = c
        .get::<Value>("/access/users/nobody@pve", Params::new())
        .await
        .expect_err("unknown user");
    assert!(e.to_string().contains("no such user ('nobody@pve')"), "{e}");
    let groups: Vec<Value> = c
        .get("/access/groups", Params::new())
        .await
        .expect("groups");
    assert!(groups.is_empty(), "a fresh PVE has no groups: {groups:?}");
}

/// A disk attached through the config API reads back with `size=` (QS src/PVE/API2/Qemu.pm
/// L712-714: the size is read from the storage), and detaching it without `force` keeps the
/// volume as `unusedN` (QS src/PVE/QemuServer.pm L1583, L4969), from where it can be attached
/// again with its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_keeps_its_size_and_a_detached_one_becomes_unused() {
    let sim = homelab().await;
    let c = client(&sim);
    // db-02 (103) is a stopped VM on pve3
    let put = |body: Params| put_config(&c, body);
    put(params([("scsi1", "local-lvm:2")])).await;
    let conf = sim.control().guest_config(103).expect("103");
    let volid = conf["scsi1"].split(',').next().expect("volid").to_string();
    assert!(conf["scsi1"].contains("size=2G"), "{}", conf["scsi1"]);

    // proxmox_disk updates a disk by sending its volume without the size
    put(params([("scsi1", format!("{volid},ssd=1"))])).await;
    let conf = sim.control().guest_config(103).expect("103");
    assert!(
        conf["scsi1"].contains("size=2G"),
        "size read back: {}",
        conf["scsi1"]
    );
    assert!(conf["scsi1"].contains("ssd=1"), "{}", conf["scsi1"]);

    // detach: the volume stays as unused0
    put(params([("delete", "scsi1")])).await;
    let conf = sim.control().guest_config(103).expect("103");
    assert!(!conf.contains_key("scsi1"));
    assert_eq!(conf.get("unused0"), Some(&volid), "{conf:?}");

    // attach it again: it is no longer unused, and has its size
    put(params([("scsi2", volid.clone())])).await;
    let conf = sim.control().guest_config(103).expect("103");
    assert!(!conf.contains_key("unused0"), "{conf:?}");
    assert!(
        conf["scsi2"].starts_with(&volid) && conf["scsi2"].contains("size=2G"),
        "{}",
        conf["scsi2"]
    );

    // with force the volume is destroyed, not kept
    put(params([("delete", "scsi2"), ("force", "1")])).await;
    let conf = sim.control().guest_config(103).expect("103");
    assert!(
        !conf.keys().any(|k| k.starts_with("unused") || k == "scsi2"),
        "{conf:?}"
    );
}

async fn put_config(c: &Client, body: Params) {
    c.write(Method::PUT, "/nodes/pve3/qemu/103/config", body)
        .await
        .expect("config update");
}
