//! Table tests of the pure diff and of how a plan is shown.

use std::collections::BTreeSet;

use proxmox_mpc::model::{ClusterSnapshot, Guest, GuestKind, Pool};
use proxmox_mpc::plan::render::{render_text, render_unified, summary_line, to_json};
use proxmox_mpc::plan::{Action, DiffInput, FieldChange, ResourceKind, diff};

use super::common::guest;

fn web(pairs: &[(&str, &str)]) -> Guest {
    let mut base: Vec<(&str, &str)> = vec![
        ("name", "web"),
        ("cores", "2"),
        ("memory", "2048"),
        ("scsihw", "virtio-scsi-single"),
        ("scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G"),
        ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"),
        ("vmgenid", "9b3e2c4d-0000-4000-8000-000000000001"),
    ];
    for (k, v) in pairs {
        base.retain(|(bk, _)| bk != k);
        if !v.is_empty() {
            base.push((k, v));
        }
    }
    guest(100, "pve1", GuestKind::Qemu, true, &base)
}

fn cluster(guests: Vec<Guest>) -> ClusterSnapshot {
    ClusterSnapshot {
        guests,
        ..ClusterSnapshot::default()
    }
}

fn fields(change: &proxmox_mpc::plan::Change) -> Vec<(String, Option<String>, Option<String>)> {
    change
        .fields
        .iter()
        .map(|FieldChange { key, old, new }| (key.clone(), old.clone(), new.clone()))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn field_level_updates_touch_only_what_changed() {
    let observed = cluster(vec![web(&[])]);
    let managed = BTreeSet::from([100]);
    // (what the file changes, expected fields)
    type Row = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Vec<(&'static str, Option<String>, Option<String>)>,
    );
    let table: Vec<Row> = vec![
        ("nothing", vec![], vec![]),
        (
            "memory",
            vec![("memory", "4096")],
            vec![("memory", s("2048"), s("4096"))],
        ),
        (
            "a second NIC without a MAC leaves net0 alone",
            vec![("net1", "virtio,bridge=vmbr1")],
            vec![("net1", None, s("virtio,bridge=vmbr1"))],
        ),
        (
            "net0 without its MAC is the same NIC",
            vec![("net0", "virtio,bridge=vmbr0,firewall=1")],
            vec![],
        ),
        (
            "a new disk is allocated in its own slot",
            vec![("scsi1", "local-lvm:8")],
            vec![("scsi1", None, s("local-lvm:8"))],
        ),
        (
            "removing a disk deletes only its key",
            vec![("scsi0", "")],
            vec![(
                "scsi0",
                s("local-lvm:vm-100-disk-0,iothread=1,size=32G"),
                None,
            )],
        ),
        (
            "vmgenid is the server's choice when the file does not set it",
            vec![("vmgenid", "")],
            vec![],
        ),
        // Each of what a config is made of besides the modelled settings, changed alone: an
        // unchanged guest skips formatting its config, so each must still show.
        (
            "a key the model keeps verbatim",
            vec![("hookscript", "local:snippets/hook.sh")],
            vec![("hookscript", None, s("local:snippets/hook.sh"))],
        ),
        (
            "tags",
            vec![("tags", "db;prod")],
            vec![("tags", None, s("db;prod"))],
        ),
        (
            "description",
            vec![("description", "the web server")],
            vec![("description", None, s("the web server"))],
        ),
        (
            "onboot",
            vec![("onboot", "1")],
            vec![("onboot", None, s("1"))],
        ),
        (
            "name",
            vec![("name", "web-new")],
            vec![("name", s("web"), s("web-new"))],
        ),
    ];
    for (what, change, expected) in table {
        let desired = vec![web(&change)];
        let plan = diff(DiffInput {
            desired: &desired,
            desired_pools: &[],
            observed: &observed,
            managed: &managed,
        });
        let got = fields(&plan.changes[0]);
        let want: Vec<(String, Option<String>, Option<String>)> = expected
            .into_iter()
            .map(|(k, o, n)| (k.to_string(), o, n))
            .collect();
        assert_eq!(got, want, "{what}");
        let action = if want.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        };
        assert_eq!(plan.changes[0].action, action, "{what}");
    }
}

#[test]
fn disks_grow_by_resize_and_never_shrink() {
    let observed = cluster(vec![web(&[])]);
    let managed = BTreeSet::from([100]);
    let run = |value: &str| {
        let desired = vec![web(&[("scsi0", value)])];
        diff(DiffInput {
            desired: &desired,
            desired_pools: &[],
            observed: &observed,
            managed: &managed,
        })
    };
    let grow = run("local-lvm:vm-100-disk-0,iothread=1,size=40G");
    let c = &grow.changes[0];
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.resizes.len(), 1);
    assert_eq!(c.resizes[0].slot, "scsi0");
    assert_eq!(c.resizes[0].to_bytes, 40 << 30);
    assert_eq!(
        fields(c),
        vec![("scsi0 size".to_string(), s("32G"), s("40G"))]
    );
    assert!(grow.refusals().is_empty());

    let alloc = run("local-lvm:48,iothread=1");
    assert_eq!(alloc.changes[0].resizes[0].to_bytes, 48 << 30);

    let shrink = run("local-lvm:vm-100-disk-0,iothread=1,size=16G");
    let refusals = shrink.refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].contains("scsi0 would shrink from 32G to 16G"),
        "{}",
        refusals[0]
    );
    assert!(refusals[0].contains("PVE cannot shrink a disk"));
    assert!(render_text(&shrink).contains("! refused: scsi0 would shrink"));

    let moved = run("nas:32,iothread=1");
    assert!(moved.refusals()[0].contains("moving a disk to another storage"));
}

#[test]
fn only_managed_guests_are_deleted_and_unmanaged_are_never_planned() {
    let a = web(&[]);
    let mut b = web(&[("name", "other")]);
    b.vmid = 101;
    let mut c = web(&[("name", "stranger")]);
    c.vmid = 102;
    let observed = cluster(vec![a.clone(), b, c]);
    let managed = BTreeSet::from([100, 101]);
    let desired = vec![a];
    let plan = diff(DiffInput {
        desired: &desired,
        desired_pools: &[],
        observed: &observed,
        managed: &managed,
    });
    let actionable: Vec<_> = plan.actionable().collect();
    assert_eq!(actionable.len(), 1);
    assert_eq!(actionable[0].action, Action::Delete);
    assert_eq!(actionable[0].vmid, Some(101));
    assert!(plan.changes.iter().all(|ch| ch.vmid != Some(102)));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("1 guests on the server are not managed"))
    );
    assert_eq!(
        summary_line(&plan),
        "Plan: 0 to add, 0 to change, 1 to destroy."
    );
}

#[test]
fn pools_come_before_their_members_and_creates_count_as_adds() {
    let observed = ClusterSnapshot {
        pools: vec![Pool {
            id: "existing".into(),
            comment: None,
            guests: vec![],
            storages: vec![],
        }],
        ..ClusterSnapshot::default()
    };
    let mut new = guest(
        0,
        "pve2",
        GuestKind::Qemu,
        false,
        &[("name", "fresh"), ("memory", "512")],
    );
    new.pool = Some("team".into());
    let mut other = guest(0, "pve2", GuestKind::Qemu, false, &[("name", "other")]);
    other.pool = Some("existing".into());
    let desired = vec![new, other];
    let plan = diff(DiffInput {
        desired: &desired,
        desired_pools: &[],
        observed: &observed,
        managed: &BTreeSet::new(),
    });
    assert_eq!(plan.changes[0].resource, ResourceKind::Pool);
    assert_eq!(plan.changes[0].name, "team");
    let fresh = plan.changes.iter().find(|c| c.name == "fresh").unwrap();
    assert_eq!(fresh.action, Action::Create);
    assert_eq!(fresh.depends_on, vec![0]);
    let other = plan.changes.iter().find(|c| c.name == "other").unwrap();
    assert!(other.depends_on.is_empty());
    assert_eq!(
        summary_line(&plan),
        "Plan: 3 to add, 0 to change, 0 to destroy."
    );
}

#[test]
fn replace_only_where_pve_cannot_change_in_place() {
    let ct = guest(
        200,
        "pve1",
        GuestKind::Lxc,
        true,
        &[
            ("hostname", "dns"),
            ("unprivileged", "1"),
            ("memory", "512"),
        ],
    );
    let observed = cluster(vec![ct.clone()]);
    let managed = BTreeSet::from([200]);
    let mut privileged = ct.clone();
    if let proxmox_mpc::model::GuestConfig::Container(c) = &mut privileged.config {
        c.unprivileged = Some(false);
    }
    let mut as_vm = web(&[("name", "dns")]);
    as_vm.vmid = 200;
    for (what, desired, reason) in [
        ("unprivileged", privileged, "unprivileged"),
        ("kind", as_vm, "cannot turn one into the other"),
    ] {
        let desired = vec![desired];
        let plan = diff(DiffInput {
            desired: &desired,
            desired_pools: &[],
            observed: &observed,
            managed: &managed,
        });
        let c = &plan.changes[0];
        assert_eq!(c.action, Action::Replace, "{what}");
        assert!(
            c.reason.as_deref().unwrap_or("").contains(reason),
            "{what}: {:?}",
            c.reason
        );
        assert_eq!(
            summary_line(&plan),
            "Plan: 1 to add, 0 to change, 1 to destroy."
        );
        assert!(render_text(&plan).contains("-/+ "), "{what}");
    }
    // Memory is changed in place.
    let mut more = ct.clone();
    if let proxmox_mpc::model::GuestConfig::Container(c) = &mut more.config {
        c.memory_mib = Some(1024);
    }
    let desired = vec![more];
    let plan = diff(DiffInput {
        desired: &desired,
        desired_pools: &[],
        observed: &observed,
        managed: &managed,
    });
    assert_eq!(plan.changes[0].action, Action::Update);
}

#[test]
fn renders_like_terraform_as_json_and_as_a_unified_diff() {
    let observed = cluster(vec![web(&[])]);
    let managed = BTreeSet::from([100]);
    let desired = vec![
        web(&[("memory", "4096")]),
        guest(
            0,
            "pve2",
            GuestKind::Qemu,
            false,
            &[("name", "new-one"), ("memory", "512")],
        ),
    ];
    let plan = diff(DiffInput {
        desired: &desired,
        desired_pools: &[],
        observed: &observed,
        managed: &managed,
    });
    let text = render_text(&plan);
    assert!(
        text.contains("  # vm \"web\" (100 on pve1) will be updated in-place\n"),
        "{text}"
    );
    assert!(text.contains("  ~ vm \"web\" {\n"), "{text}");
    assert!(text.contains("~ memory = \"2048\" -> \"4096\""), "{text}");
    assert!(text.contains("  + vm \"new-one\" {\n"), "{text}");
    assert!(
        text.ends_with("Plan: 1 to add, 1 to change, 0 to destroy.\n"),
        "{text}"
    );

    let json = to_json(&plan);
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["summary"]["add"], 1);
    assert_eq!(json["summary"]["change"], 1);
    assert_eq!(json["summary"]["destroy"], 0);
    let update = &json["changes"][0];
    assert_eq!(update["action"], "update");
    assert_eq!(update["vmid"], 100);
    assert_eq!(update["fields"][0]["key"], "memory");
    assert_eq!(update["fields"][0]["old"], "2048");
    assert_eq!(update["fields"][0]["new"], "4096");

    let unified = render_unified(&plan);
    assert!(
        unified.contains("--- a/vm/100.conf\n+++ b/vm/100.conf\n"),
        "{unified}"
    );
    assert!(
        unified.contains("\n-memory: 2048\n+memory: 4096\n"),
        "{unified}"
    );
    assert!(
        unified.contains("--- /dev/null\n+++ b/vm/new-one.conf\n"),
        "{unified}"
    );

    let same = vec![web(&[])];
    let none = diff(DiffInput {
        desired: &same,
        desired_pools: &[],
        observed: &observed,
        managed: &managed,
    });
    assert!(none.is_empty());
    assert!(render_text(&none).starts_with("No changes."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_snapshot_reads_back_for_offline_plans() {
    let sim = super::common::homelab(proxmox_mpc::sim::Faults::none()).await;
    let observed = super::common::observe(&super::common::client(&sim)).await;
    let json = serde_json::to_string(&observed).unwrap();
    let back: ClusterSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, observed);
}
