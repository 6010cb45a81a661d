//! Resource commands in a synced homelab workspace, through the console session: declarative
//! ones edit exactly the expected files and leave the server alone; imperative ones act on the
//! simulator, follow the task, are audit-logged and keep the guest's file in step.

use proxmox_mpc::iac::desired::read_desired;
use proxmox_mpc::model::{GuestConfig, GuestKind, GuestStatus};
use proxmox_mpc::pve::{Client, params};
use sqlx::Row;

use super::common::{Lab, changed, files};
use crate::support::sim::pinned_client;

/// A client with the full token, pinned, fast retries.
fn client(lab: &Lab) -> Client {
    pinned_client(&lab.sim)
}

async fn audit_rows(lab: &Lab) -> Vec<(String, String)> {
    let url = format!(
        "sqlite://{}?mode=ro",
        lab.root().join(".proxmox/state.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT action, target FROM audit_log ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarative_commands_edit_the_files_and_leave_the_server_alone() {
    let mut lab = Lab::start().await;
    assert_eq!(lab.writes(), 0, "/init and /sync only read");

    // create vm
    let before = files(lab.root());
    let out = lab
        .ok("create vm --name web-03 --cores 2 --memory 2G --node pve1 --tags web")
        .await;
    let after = files(lab.root());
    assert!(
        out.contains("+ vm web-03 (vmid 116) on pve1: 2 cores, 2 GiB, 32 GiB scsi0 on local-lvm, net0 on vmbr0"),
        "{out}"
    );
    assert!(out.contains("run /apply to make it so"), "{out}");
    assert!(out.contains("Chose storage local-lvm"), "{out}");
    assert_eq!(
        changed(&before, &after),
        [
            "ansible/inventory.yml",
            "docs/inventory.md",
            "terraform/web_03.tf",
            "tests/web_03.yml"
        ]
    );
    let tf = lab.read("terraform/web_03.tf");
    assert!(
        !tf.contains("path_in_datastore"),
        "bpg allocates a disk with a size and no path:\n{tf}"
    );
    assert!(
        !tf.contains("import {"),
        "a new guest has nothing to import:\n{tf}"
    );
    assert!(lab.read("ansible/inventory.yml").contains("web_03"));
    let state = read_desired(lab.root()).expect("files read back");
    let web = state
        .files
        .iter()
        .find(|f| f.guest.name == "web-03")
        .unwrap();
    assert_eq!(web.import_id, None);
    let g = &web.guest;
    assert_eq!(
        (g.vmid, g.node.as_str(), g.kind),
        (116, "pve1", GuestKind::Qemu)
    );
    assert_eq!(g.tags, vec!["web".to_string()]);
    assert_eq!(g.status, GuestStatus::Stopped);
    let GuestConfig::Vm(vm) = &g.config else {
        panic!("a VM")
    };
    assert_eq!(
        (vm.cores, vm.sockets, vm.memory_mib),
        (Some(2), Some(1), Some(2048))
    );
    assert_eq!(vm.disks["scsi0"].storage(), Some("local-lvm"));
    assert_eq!(vm.disks["scsi0"].size_bytes, Some(32 << 30));
    assert_eq!(vm.nics[&0].bridge.as_deref(), Some("vmbr0"));

    // set vm on the new guest
    let before = files(lab.root());
    let out = lab
        .ok("set vm web-03 --memory 4G --cores 4 --add-disk nas:100G")
        .await;
    assert!(
        out.contains("~ vm web-03 (vmid 116): cores 2 -> 4, memory 2 GiB -> 4 GiB, + disk 100 GiB scsi1 on nas"),
        "{out}"
    );
    let after = files(lab.root());
    assert_eq!(
        changed(&before, &after),
        [
            "docs/inventory.md",
            "terraform/web_03.tf",
            "tests/web_03.yml"
        ]
    );
    let state = read_desired(lab.root()).unwrap();
    let g = &state
        .files
        .iter()
        .find(|f| f.guest.vmid == 116)
        .unwrap()
        .guest;
    let GuestConfig::Vm(vm) = &g.config else {
        panic!("a VM")
    };
    assert_eq!((vm.cores, vm.memory_mib), (Some(4), Some(4096)));
    assert_eq!(vm.disks["scsi1"].volume, "nas:100");

    // set vm on an imported guest keeps its import block and everything else
    let before_web01 = read_desired(lab.root()).unwrap();
    let old = before_web01
        .files
        .iter()
        .find(|f| f.guest.name == "web-01")
        .unwrap()
        .clone();
    lab.ok("set vm web-01 --memory 3G").await;
    let state = read_desired(lab.root()).unwrap();
    let new = state
        .files
        .iter()
        .find(|f| f.guest.name == "web-01")
        .unwrap();
    assert_eq!(new.import_id, old.import_id);
    let mut expected = old.guest.clone();
    if let GuestConfig::Vm(vm) = &mut expected.config {
        vm.memory_mib = Some(3072);
    }
    assert_eq!(new.guest, expected, "only the memory changed");

    // create container
    let before = files(lab.root());
    let out = lab
        .ok("create ct --name cache-01 --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --rootfs 4G --memory 256 --node pve2")
        .await;
    assert!(out.contains("+ container cache-01"), "{out}");
    let after = files(lab.root());
    assert_eq!(
        changed(&before, &after),
        [
            "ansible/inventory.yml",
            "docs/inventory.md",
            "terraform/cache_01.tf",
            "tests/cache_01.yml"
        ]
    );
    let state = read_desired(lab.root()).unwrap();
    let ct = &state
        .files
        .iter()
        .find(|f| f.guest.name == "cache-01")
        .unwrap()
        .guest;
    assert_eq!((ct.kind, ct.node.as_str()), (GuestKind::Lxc, "pve2"));
    let GuestConfig::Container(c) = &ct.config else {
        panic!("a container")
    };
    assert_eq!(c.memory_mib, Some(256));
    assert_eq!(c.rootfs.as_ref().unwrap().size_bytes, Some(4 << 30));
    assert_eq!(c.nics[&0].bridge.as_deref(), Some("vmbr0"));

    // delete vm
    let before = files(lab.root());
    let out = lab.ok("delete vm web-03").await;
    assert!(
        out.contains("- vm web-03 (vmid 116) on pve1: not on the server"),
        "{out}"
    );
    let after = files(lab.root());
    assert_eq!(
        changed(&before, &after),
        [
            "ansible/inventory.yml",
            "docs/inventory.md",
            "terraform/web_03.tf",
            "tests/web_03.yml"
        ]
    );
    assert!(!lab.root().join("terraform/web_03.tf").exists());

    // clone vm: declarative too
    let out = lab.ok("clone vm web-02 --name web-04").await;
    assert!(
        out.contains("Copied the configuration of vm web-02"),
        "{out}"
    );
    let state = read_desired(lab.root()).unwrap();
    assert!(
        state
            .files
            .iter()
            .any(|f| f.guest.name == "web-04" && f.import_id.is_none())
    );

    // pools
    lab.ok("create pool staging --comment 'Staging \"area\"'")
        .await;
    let state = read_desired(lab.root()).unwrap();
    assert!(state.pools.contains(&"staging".to_string()));
    assert_eq!(state.pool_comments["staging"], "Staging \"area\"");
    lab.ok("set vm web-04 --pool staging").await;
    let state = read_desired(lab.root()).unwrap();
    let web04 = state
        .files
        .iter()
        .find(|f| f.guest.name == "web-04")
        .unwrap();
    assert_eq!(web04.guest.pool.as_deref(), Some("staging"));
    assert!(
        lab.read(&web04.path)
            .contains("proxmox_virtual_environment_pool.staging.pool_id")
    );
    let e = lab.fails("delete pool staging").await;
    assert_eq!(e, "pool staging is used by web-04");

    // bad input changes no file
    let before = files(lab.root());
    for (line, message) in [
        (
            "create vm --name web-01",
            "a vm named 'web-01' already exists (vmid 100)",
        ),
        (
            "create vm --name x1 --node pve4",
            "no node 'pve4'; nodes: pve1, pve2, pve3",
        ),
        (
            // Placed on pve1 so the storages named are that node's (without --node the
            // node with the most free memory is chosen).
            "create vm --name x1 --node pve1 --disk local:10G",
            "storage 'local' cannot hold disks (content: backup, iso, snippets, vztmpl); storages that can: local-lvm, nas",
        ),
        (
            "set vm web-01 --memory lots",
            "bad size 'lots' for --memory: use a number with M, G or T (512M, 2G, 2GiB); a bare number means MiB",
        ),
        (
            "delete vm nothing",
            "no vm 'nothing' in the workspace files",
        ),
    ] {
        assert_eq!(lab.fails(line).await, message);
    }
    assert!(changed(&before, &files(lab.root())).is_empty());

    // Help shows the grammar with examples; completion knows the workspace's names.
    let help = lab.ok("/help create").await;
    assert!(
        help.contains("create vm --name web-01 --cores 2 --memory 2G"),
        "{help}"
    );
    assert!(help.contains("--disk 32G"), "{help}");
    let (_, candidates) = lab.session.complete("start vm web-0", 14);
    let names: Vec<&str> = candidates.iter().map(|(d, _)| d.as_str()).collect();
    assert!(
        names.contains(&"web-01") && names.contains(&"web-02"),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.starts_with("web-0")), "{names:?}");

    assert_eq!(
        lab.writes(),
        0,
        "declarative commands never write to the server"
    );
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_is_read_back_and_shown_as_drift() {
    let mut lab = Lab::start().await;
    let path = "terraform/web_01.tf";
    let text = lab.read(path);
    assert!(text.contains("    cores   = 2\n"), "{text}");
    std::fs::write(
        lab.root().join(path),
        text.replace("    cores   = 2\n", "    cores   = 4\n"),
    )
    .unwrap();
    let state = read_desired(lab.root()).unwrap();
    let web = &state.files.iter().find(|f| f.path == path).unwrap().guest;
    let GuestConfig::Vm(vm) = &web.config else {
        panic!("a VM")
    };
    assert_eq!(vm.cores, Some(4));
    let out = lab.run("show vm web-01").await;
    let shown = super::common::text(&out);
    assert!(
        shown.contains(r#"{"drift":true,"file":"4","key":"cores","live":"2"}"#),
        "{shown}"
    );
    assert!(shown.contains("1 field(s) differ"), "{shown}");
    // set refuses to rewrite a file holding expressions it would flatten.
    std::fs::write(
        lab.root().join(path),
        lab.read(path)
            .replace("    cores   = 4\n", "    cores   = var.web_cores\n"),
    )
    .unwrap();
    std::fs::write(
        lab.root().join("terraform/terraform.tfvars"),
        "web_cores = 6\n",
    )
    .unwrap();
    let e = lab.fails("show vm web-01").await;
    assert!(e.contains("web_01.tf:"), "{e}");
    assert!(e.contains("cannot evaluate `var.web_cores`"), "{e}");
    let mut vars = lab.read("terraform/variables.tf");
    vars.push_str("\nvariable \"web_cores\" {\n  type    = number\n  default = 2\n}\n");
    std::fs::write(lab.root().join("terraform/variables.tf"), vars).unwrap();
    let state = read_desired(lab.root()).unwrap();
    let web = &state.files.iter().find(|f| f.path == path).unwrap().guest;
    let GuestConfig::Vm(vm) = &web.config else {
        panic!("a VM")
    };
    assert_eq!(vm.cores, Some(6), "terraform.tfvars wins over the default");
    let e = lab.fails("set vm web-01 --memory 4G").await;
    assert_eq!(
        e,
        "terraform/web_01.tf uses expressions (var.web_cores); rewriting it would replace them with their values"
    );
    assert_eq!(lab.writes(), 0);
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_commands_act_follow_the_task_and_are_audited() {
    let mut lab = Lab::start().await;
    let api = client(&lab);
    let file = "terraform/db_02.tf";
    assert!(lab.read(file).contains("started       = false"));

    // start
    let out = lab.ok("start vm db-02").await;
    assert!(
        out.contains("vm db-02 (vmid 103) started on pve3 in"),
        "{out}"
    );
    assert!(
        out.contains("Updated terraform/db_02.tf (started = true)"),
        "{out}"
    );
    let status = api
        .guest_status("pve3", GuestKind::Qemu, 103)
        .await
        .unwrap();
    assert_eq!(status.status, "running");
    assert!(lab.read(file).contains("started       = true"));

    // stop needs confirmation in a script
    let e = lab.fails("stop vm db-02").await;
    assert!(
        e.starts_with("not confirmed: Stop vm db-02 (vmid 103) now"),
        "{e}"
    );
    assert_eq!(
        api.guest_status("pve3", GuestKind::Qemu, 103)
            .await
            .unwrap()
            .status,
        "running"
    );
    lab.ok("stop vm db-02 --yes").await;
    assert_eq!(
        api.guest_status("pve3", GuestKind::Qemu, 103)
            .await
            .unwrap()
            .status,
        "stopped"
    );
    assert!(lab.read(file).contains("started       = false"));

    // snapshot, change, rollback
    let out = lab.ok("snapshot vm db-02 --name before_upgrade").await;
    assert!(
        out.contains("Snapshot before_upgrade of vm db-02 (vmid 103) taken"),
        "{out}"
    );
    let out = lab.ok("snapshots vm db-02").await;
    assert!(out.contains("\"name\":\"before_upgrade\""), "{out}");
    api.update_config(
        "pve3",
        GuestKind::Qemu,
        103,
        params([("memory", "12288")]),
        &[],
        None,
    )
    .await
    .unwrap();
    let out = lab.ok("rollback vm db-02 before_upgrade --yes").await;
    assert!(out.contains("rolled back to before_upgrade"), "{out}");
    let config = api
        .guest_config("pve3", GuestKind::Qemu, 103)
        .await
        .unwrap();
    assert_eq!(config["memory"].to_string().trim_matches('"'), "8192");

    // migrate
    let out = lab.ok("migrate vm db-02 --to pve1").await;
    assert!(out.contains("migrated from pve3 to pve1"), "{out}");
    assert!(api.guest_status("pve1", GuestKind::Qemu, 103).await.is_ok());
    let tf = lab.read(file);
    assert!(tf.contains("node_name     = \"pve1\""), "{tf}");
    assert!(tf.contains("id = \"pve1/103\""), "{tf}");

    let mut audit = audit_rows(&lab).await;
    // /init's own entry comes first.
    audit.retain(|(a, _)| a != "init");
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["start", "stop", "snapshot", "rollback", "migrate"]
    );
    assert!(audit.iter().all(|(_, t)| t == "vm 103 db-02"), "{audit:?}");

    // The files now agree with the server: a fresh /sync finds no drift on db-02.
    let out = lab.ok("/sync").await;
    assert!(
        out.contains(r#""name":"db-02","outcome":"unchanged""#),
        "{out}"
    );
    assert!(out.contains("0 drift"), "{out}");
    // The generated files were refreshed with the file: /sync has nothing to rewrite for db-02.
    assert!(!out.contains("tests/db_02.yml"), "{out}");
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_plan_and_apply_makes_it_so() {
    let mut lab = Lab::start().await;
    lab.ok("create vm --name app-01 --cores 1 --memory 1G --disk 8G --node pve2 --start")
        .await;
    let plan = lab.ok("/plan").await;
    assert!(plan.contains("app-01"), "{plan}");
    let out = lab.ok("/apply --yes").await;
    let api = client(&lab);
    let status = api.guest_status("pve2", GuestKind::Qemu, 116).await;
    assert!(status.is_ok(), "apply did not create vmid 116: {out}");
    assert_eq!(status.unwrap().status, "running");
    // The next plan has nothing left to do for it.
    let again = lab.run("/plan").await;
    let text = super::common::text(&again);
    assert!(
        !text.contains("+ vm app-01") && !text.contains("~ vm app-01"),
        "{text}"
    );
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_templates_are_checked_against_the_cluster() {
    let mut lab = Lab::start().await;
    let e = lab
        .fails("create ct --name c9 --template local:vztmpl/centos-7.tar.xz --node pve1")
        .await;
    assert_eq!(
        e,
        "no template 'local:vztmpl/centos-7.tar.xz'; templates: local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz, local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    );
    let out = lab
        .ok("create ct --name c9 --template debian --node pve1")
        .await;
    assert!(
        out.contains("from local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"),
        "{out}"
    );
    assert_eq!(lab.writes(), 0);
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_then_apply_destroys_the_guest() {
    let mut lab = Lab::start().await;
    let out = lab.ok("rm vm lab-02").await;
    assert!(
        out.contains("- vm lab-02 (vmid 111) on pve2: destroyed by /apply"),
        "{out}"
    );
    assert_eq!(
        lab.writes(),
        0,
        "deleting the file changes nothing on the server"
    );
    let plan = lab.ok("/plan").await;
    assert!(plan.contains("lab-02"), "{plan}");
    lab.ok("/apply --yes").await;
    let api = client(&lab);
    assert!(
        api.guest_status("pve2", GuestKind::Qemu, 111)
            .await
            .is_err(),
        "vmid 111 is gone"
    );
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_files_and_server_together() {
    let mut lab = Lab::start().await;
    lab.ok("create vm --name app-02 --node pve3").await;
    let out = lab.run("list vms --node pve3 -o json").await;
    assert_eq!(out.format, Some(proxmox_mpc::ui::OutputFormat::Json));
    let value = out
        .items
        .iter()
        .find_map(|i| match i {
            proxmox_mpc::ui::Item::Data { value, .. } => Some(value.clone()),
            _ => None,
        })
        .expect("data");
    let rows = value.as_array().unwrap();
    assert!(rows.iter().all(|r| r["node"] == "pve3"), "{value}");
    let app = rows
        .iter()
        .find(|r| r["name"] == "app-02")
        .expect("app-02 listed");
    assert_eq!(app["status"], "not created");
    assert_eq!(app["in_files"], true);
    assert_eq!(app["on_server"], false);
    let db02 = rows
        .iter()
        .find(|r| r["name"] == "db-02")
        .expect("db-02 listed");
    assert_eq!(db02["status"], "stopped");
    let out = lab.ok("list nodes").await;
    assert!(out.contains("\"name\":\"pve1\""), "{out}");
    let out = lab.ok("list storages --node pve1").await;
    assert!(out.contains("\"id\":\"local-lvm\""), "{out}");
    let out = lab.ok("list pools").await;
    assert!(
        out.contains(r#""id":"prod","in_files":true,"on_server":true"#),
        "{out}"
    );
    assert_eq!(lab.writes(), 0);
    lab.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_escaped_and_read_back_exactly() {
    let mut lab = Lab::start().await;
    let description = "ends \" here }\n${var.proxmox_api_token} %{ if true }x%{ endif }\n# pve name = \"evil\"\ncafé ☕ \\ back";
    let line = format!(
        "create vm --name esc-01 --node pve1 --description {}",
        shlex::try_quote(description).unwrap()
    );
    lab.ok(&line).await;
    let state = read_desired(lab.root()).expect("the file parses");
    let g = &state
        .files
        .iter()
        .find(|f| f.guest.name == "esc-01")
        .expect("esc-01 read back")
        .guest;
    assert_eq!(g.description.as_deref(), Some(description));
    assert_eq!(
        g.name, "esc-01",
        "a comment line in the text does not rename it"
    );
    assert!(
        state
            .files
            .iter()
            .all(|f| f.expressions.is_empty() || f.guest.name != "esc-01"),
        "the description stays a literal"
    );
    lab.sim.shutdown().await;
}
