//! Whole-cluster discovery of the homelab seed, its request budget (the simulator's counters
//! prove it), and that every discovered guest maps back to exactly the config PVE holds.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proxmox_mpc::model::{GuestConfig, GuestKind, GuestStatus, NodeStatus, format_guest};

use crate::support::sim::{client, homelab};

#[tokio::test]
async fn homelab_discovery_is_complete_and_within_the_request_budget() {
    let sim = homelab().await;
    let control = sim.control();
    let progress = Mutex::new(Vec::new());
    let snapshot = client(&sim)
        .discover(|done, total| progress.lock().unwrap().push((done, total)))
        .await
        .expect("discovery");

    let guests = control.guest_count();
    let nodes = snapshot.nodes.len();
    let requests = control.request_count() as usize;
    assert_eq!(nodes, 3);
    assert_eq!(snapshot.guests.len(), guests);
    assert!(
        requests <= guests + 3 * nodes + 5,
        "{requests} requests for {guests} guests on {nodes} nodes: {:?}",
        control.route_counts()
    );
    let counts = control.route_counts();
    assert_eq!(counts.get("GET /cluster/resources"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GET /cluster/status"), Some(&1), "{counts:?}");

    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.first(), Some(&(0, guests)));
    assert_eq!(progress.last(), Some(&(guests, guests)));

    assert_eq!(snapshot.cluster_name.as_deref(), Some("homelab"));
    assert!(snapshot.version.is_some());
    assert!(
        snapshot
            .nodes
            .iter()
            .all(|n| n.status == NodeStatus::Online)
    );
    assert!(snapshot.nodes.iter().all(|n| n.ip.is_some()));
    assert!(!snapshot.storages.is_empty());
    assert!(snapshot.networks.iter().any(|n| n.iface == "vmbr0"));

    let web = snapshot.guest(100).expect("web-01");
    assert_eq!(web.name, "web-01");
    assert_eq!(web.node, "pve1");
    assert_eq!(web.kind, GuestKind::Qemu);
    assert_eq!(web.status, GuestStatus::Running);
    assert_eq!(web.pool.as_deref(), Some("prod"));
    assert!(web.tags.contains(&"web".to_string()));
    let GuestConfig::Vm(vm) = &web.config else {
        panic!("100 is a VM")
    };
    assert!(!vm.disks.is_empty() && !vm.nics.is_empty());
    assert!(vm.cloud_init.is_some());
    assert_eq!(snapshot.guest(105).unwrap().lock.as_deref(), Some("backup"));
    assert!(snapshot.guest(9000).unwrap().template);
    let ct = snapshot.guest(200).unwrap();
    assert_eq!(ct.kind, GuestKind::Lxc);
    assert_eq!(ct.name, "dns-01");

    let prod = snapshot.pools.iter().find(|p| p.id == "prod").unwrap();
    assert_eq!(prod.guests, vec![100, 101, 102, 105, 208]);
    assert_eq!(prod.comment.as_deref(), Some("Production services"));
}

#[tokio::test]
async fn every_discovered_guest_formats_back_to_its_pve_config() {
    let sim = homelab().await;
    let snapshot = client(&sim).discover(|_, _| {}).await.expect("discovery");
    for guest in &snapshot.guests {
        let mut expected: BTreeMap<String, String> = sim
            .control()
            .guest_config(guest.vmid)
            .expect("guest exists");
        expected.remove("digest");
        assert_eq!(
            format_guest(guest),
            expected,
            "guest {} does not round-trip",
            guest.vmid
        );
        assert!(guest.digest.is_some(), "guest {} has no digest", guest.vmid);
    }
}

#[tokio::test]
async fn generated_cluster_discovery_stays_within_budget() {
    let sim = proxmox_mpc::sim::Sim::start(proxmox_mpc::sim::SimConfig::generated(6, 400, 42))
        .await
        .expect("simulator starts");
    let snapshot = client(&sim).discover(|_, _| {}).await.expect("discovery");
    let control = sim.control();
    let guests = control.guest_count();
    let nodes = snapshot.nodes.len();
    assert_eq!(nodes, 6);
    assert_eq!(snapshot.guests.len(), guests);
    let requests = control.request_count() as usize;
    assert!(
        requests <= guests + 3 * nodes + 5,
        "{requests} requests for {guests} guests on {nodes} nodes"
    );
}
