//! The typed endpoints end to end against the simulator: clone, configure (with digest),
//! resize, power, snapshots, migrate, destroy; a container created from model values; pools,
//! storage content, permissions, ticket renewal and the guest agent.

use std::collections::BTreeMap;
use std::time::Duration;

use proxmox_mpc::model::{
    ContainerConfig, CtNic, GuestConfig, GuestKind, Mount, format_guest_config,
};
use proxmox_mpc::pve::{Client, Params, PveError, params};
use proxmox_mpc::sim::TokenKind;

use crate::support::sim::{client, homelab, ticket_client, token_config};

fn sim_value(sim: &proxmox_mpc::sim::Sim, vmid: u32, key: &str) -> Option<String> {
    sim.control().guest_config(vmid)?.get(key).cloned()
}

#[tokio::test]
async fn vm_clone_configure_resize_power_snapshot_migrate_destroy() {
    let sim = homelab().await;
    let c = client(&sim);
    let newid = c.next_id().await.unwrap();
    assert!(
        sim.control().guest_config(newid).is_none(),
        "nextid {newid} is taken"
    );

    let upid = c
        .clone_guest(
            "pve1",
            GuestKind::Qemu,
            9000,
            newid,
            params([("name", "web-03"), ("full", "1")]),
        )
        .await
        .unwrap();
    assert_eq!(upid.task_type, "qmclone");
    c.wait(&upid).await.expect("clone finishes");
    assert_eq!(sim_value(&sim, newid, "name").as_deref(), Some("web-03"));

    let config = c
        .guest_config("pve1", GuestKind::Qemu, newid)
        .await
        .unwrap();
    let digest = config["digest"].as_str().unwrap().to_string();
    let task = c
        .update_config(
            "pve1",
            GuestKind::Qemu,
            newid,
            params([("cores", "4"), ("memory", "4096")]),
            &["ciuser".to_string()],
            Some(&digest),
        )
        .await
        .unwrap();
    if let Some(upid) = task {
        c.wait(&upid).await.unwrap();
    }
    assert_eq!(sim_value(&sim, newid, "cores").as_deref(), Some("4"));
    assert_eq!(sim_value(&sim, newid, "memory").as_deref(), Some("4096"));
    assert_eq!(sim_value(&sim, newid, "ciuser"), None);

    if let Some(upid) = c
        .resize("pve1", GuestKind::Qemu, newid, "scsi0", "+2G", None)
        .await
        .unwrap()
    {
        c.wait(&upid).await.unwrap();
    }
    let scsi0 = sim_value(&sim, newid, "scsi0").unwrap();
    assert!(scsi0.contains("size=6G"), "{scsi0}");

    let upid = c.start("pve1", GuestKind::Qemu, newid).await.unwrap();
    c.wait(&upid).await.unwrap();
    let status = c
        .guest_status("pve1", GuestKind::Qemu, newid)
        .await
        .unwrap();
    assert_eq!(status.status, "running");

    let upid = c.shutdown("pve1", GuestKind::Qemu, newid).await.unwrap();
    c.wait(&upid).await.unwrap();
    assert_eq!(sim.control().guest_running(newid), Some(false));

    let upid = c
        .create_snapshot("pve1", GuestKind::Qemu, newid, "before", Some("pre-change"))
        .await
        .unwrap();
    c.wait(&upid).await.unwrap();
    let snaps = c.snapshots("pve1", GuestKind::Qemu, newid).await.unwrap();
    assert!(snaps.iter().any(|s| s.name == "before"), "{snaps:?}");
    assert!(snaps.iter().any(|s| s.name == "current"));
    let upid = c
        .rollback_snapshot("pve1", GuestKind::Qemu, newid, "before")
        .await
        .unwrap();
    c.wait(&upid).await.unwrap();
    let upid = c
        .delete_snapshot("pve1", GuestKind::Qemu, newid, "before")
        .await
        .unwrap();
    c.wait(&upid).await.unwrap();
    let snaps = c.snapshots("pve1", GuestKind::Qemu, newid).await.unwrap();
    assert!(!snaps.iter().any(|s| s.name == "before"));

    let upid = c
        .migrate("pve1", GuestKind::Qemu, newid, "pve2", false)
        .await
        .unwrap();
    c.wait(&upid).await.unwrap();
    assert_eq!(sim.control().guest_node(newid).as_deref(), Some("pve2"));

    let upid = c.destroy("pve2", GuestKind::Qemu, newid).await.unwrap();
    c.wait(&upid).await.unwrap();
    assert!(sim.control().guest_config(newid).is_none());
}

#[tokio::test]
async fn container_created_from_model_values() {
    let sim = homelab().await;
    let c = client(&sim);
    let vmid = c.next_id().await.unwrap();
    let mut nics = BTreeMap::new();
    nics.insert(
        0,
        CtNic {
            name: "eth0".into(),
            bridge: Some("vmbr0".into()),
            ip: Some("dhcp".into()),
            firewall: Some(true),
            ..CtNic::default()
        },
    );
    let config = GuestConfig::Container(ContainerConfig {
        hostname: Some("from-model".into()),
        cores: Some(2),
        memory_mib: Some(1024),
        swap_mib: Some(256),
        rootfs: Some(Mount {
            volume: "local-lvm:8".into(),
            path: None,
            size_bytes: None,
            extra: BTreeMap::new(),
        }),
        nics,
        unprivileged: Some(true),
        ostemplate: Some("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into()),
        ..ContainerConfig::default()
    });
    let mut body: Params = params([("vmid", vmid.to_string())]);
    body.extend(format_guest_config(&config, &BTreeMap::new()));
    let upid = c.create_guest("pve2", GuestKind::Lxc, body).await.unwrap();
    assert_eq!(upid.task_type, "vzcreate");
    c.wait(&upid).await.unwrap();

    let snapshot = c.discover(|_, _| {}).await.unwrap();
    let guest = snapshot.guest(vmid).expect("new container discovered");
    assert_eq!(guest.name, "from-model");
    assert_eq!(guest.node, "pve2");
    let GuestConfig::Container(read) = &guest.config else {
        panic!("a container")
    };
    assert_eq!(read.cores, Some(2));
    assert_eq!(read.memory_mib, Some(1024));
    assert_eq!(read.ostemplate, None, "PVE does not report ostemplate back");
    assert_eq!(read.rootfs.as_ref().unwrap().size_bytes, Some(8 << 30));
    assert_eq!(read.nics[&0].bridge.as_deref(), Some("vmbr0"));
    assert!(read.nics[&0].hwaddr.is_some(), "PVE assigns a MAC");
}

#[tokio::test]
async fn pools_storage_permissions_and_resources() {
    let sim = homelab().await;
    let c = client(&sim);
    c.create_pool("team", Some("Team pool")).await.unwrap();
    let err = c.create_pool("prod", None).await.unwrap_err();
    assert!(matches!(err, PveError::AlreadyExists { .. }), "{err}");
    c.update_pool("team", None, &[103], false).await.unwrap();
    let team = c.pool("team").await.unwrap();
    assert_eq!(team.comment.as_deref(), Some("Team pool"));
    assert!(team.members.iter().any(|m| m.vmid == Some(103)), "{team:?}");
    c.update_pool("team", None, &[103], true).await.unwrap();
    assert!(c.pool("team").await.unwrap().members.is_empty());
    c.delete_pool("team").await.unwrap();
    let err = c.pool("team").await.unwrap_err();
    assert_eq!(err.kind(), "not-found", "{err}");

    let content = c.storage_content("pve1", "local-lvm", None).await.unwrap();
    assert!(content.iter().any(|v| v.vmid == Some(100)), "{content:?}");

    let permissions = c.permissions().await.unwrap();
    assert!(permissions.contains_key("/"), "{permissions:?}");

    let vms = c.cluster_resources(Some("vm")).await.unwrap();
    assert!(!vms.is_empty());
    assert!(vms.iter().all(|r| r.kind == "qemu" || r.kind == "lxc"));
}

#[tokio::test]
async fn ticket_is_renewed_when_due_and_reused_otherwise() {
    let sim = homelab().await;
    let reused = ticket_client(&sim);
    for _ in 0..3 {
        reused.version().await.unwrap();
    }
    let logins = |sim: &proxmox_mpc::sim::Sim| {
        sim.control()
            .route_counts()
            .get("POST /access/ticket")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(logins(&sim), 1);

    let (username, password) = sim.password();
    let mut config = token_config(&sim, TokenKind::Full);
    config.auth = proxmox_mpc::pve::Auth::Password {
        username,
        password: proxmox_mpc::pve::Secret::new(password),
    };
    config.ticket_renew_after = Duration::ZERO;
    let renewing = Client::new(config).unwrap();
    for _ in 0..3 {
        renewing.version().await.unwrap();
    }
    assert_eq!(
        logins(&sim),
        1 + 3,
        "one login, then a renewal before each call"
    );
}

#[tokio::test]
async fn guest_agent_answers_or_fails_fast_without_retries() {
    let sim = homelab().await;
    let c = client(&sim);
    let ifaces = c
        .agent_network("pve1", 100)
        .await
        .expect("agent of web-01 answers");
    assert!(ifaces.get("result").is_some(), "{ifaces}");
    // 104 is stopped: no agent.
    let before = sim.control().request_count();
    let err = c.agent_network("pve3", 104).await.unwrap_err();
    assert!(err.to_string().contains("104"), "{err}");
    assert_eq!(
        sim.control().request_count(),
        before + 1,
        "agent call was retried"
    );
}
