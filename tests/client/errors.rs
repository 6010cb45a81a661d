//! Each error kind a user can act on, produced by the simulator the way PVE produces it.

use std::time::Duration;

use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{Client, PveError, params};
use proxmox_mpc::sim::{Faults, TokenKind};

use crate::support::sim::{client, client_as, homelab, token_config};

#[tokio::test]
async fn missing_guest_is_not_found_with_node_and_vmid() {
    let sim = homelab().await;
    let err = client(&sim)
        .guest_config("pve1", GuestKind::Qemu, 999)
        .await
        .unwrap_err();
    assert!(matches!(err, PveError::NotFound { .. }), "{err}");
    let request = err.request().unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/nodes/pve1/qemu/999/config");
    assert_eq!(request.target.vmid, Some(999));
    assert!(err.to_string().contains("guest 999 on node pve1"), "{err}");
}

#[tokio::test]
async fn read_only_token_gets_a_permission_error_naming_the_privilege() {
    let sim = homelab().await;
    let err = client_as(&sim, TokenKind::ReadOnly)
        .start("pve3", GuestKind::Qemu, 104)
        .await
        .unwrap_err();
    match &err {
        PveError::Permission { privilege, .. } => {
            assert_eq!(privilege.as_deref(), Some("VM.PowerMgmt"), "{err}");
        }
        other => panic!("expected permission error, got {other}"),
    }
    assert_eq!(sim.control().guest_running(104), Some(false));
}

#[tokio::test]
async fn locked_container_is_a_locked_error() {
    let sim = homelab().await;
    sim.control().set_guest_lock(200, Some("backup")).unwrap();
    let err = client(&sim)
        .update_config(
            "pve1",
            GuestKind::Lxc,
            200,
            params([("cores", "2")]),
            &[],
            None,
        )
        .await
        .unwrap_err();
    match &err {
        PveError::Locked { lock, .. } => assert_eq!(lock.as_deref(), Some("backup")),
        other => panic!("expected locked, got {other}"),
    }
    assert!(err.to_string().contains("pct unlock"));
}

#[tokio::test]
async fn stale_digest_is_a_conflict_and_changes_nothing() {
    let sim = homelab().await;
    let client = client(&sim);
    let config = client
        .guest_config("pve1", GuestKind::Lxc, 209)
        .await
        .unwrap();
    let digest = config["digest"].as_str().unwrap().to_string();
    // Someone edits the guest in the PVE GUI meanwhile.
    sim.control()
        .set_guest_config(209, "memory", "1024")
        .unwrap();
    let err = client
        .update_config(
            "pve1",
            GuestKind::Lxc,
            209,
            params([("cores", "4")]),
            &[],
            Some(&digest),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PveError::Conflict { .. }), "{err}");
    let now = sim.control().guest_config(209).unwrap();
    assert_eq!(now.get("cores").map(String::as_str), Some("1"));
    // With the fresh digest the change goes through.
    let fresh = client
        .guest_config("pve1", GuestKind::Lxc, 209)
        .await
        .unwrap();
    client
        .update_config(
            "pve1",
            GuestKind::Lxc,
            209,
            params([("cores", "4")]),
            &[],
            fresh["digest"].as_str(),
        )
        .await
        .expect("update with current digest");
    assert_eq!(
        sim.control()
            .guest_config(209)
            .unwrap()
            .get("cores")
            .map(String::as_str),
        Some("4")
    );
}

#[tokio::test]
async fn bad_value_is_an_invalid_parameter_naming_the_field() {
    let sim = homelab().await;
    let err = client(&sim)
        .create_guest(
            "pve1",
            GuestKind::Qemu,
            params([("vmid", "300"), ("cores", "many")]),
        )
        .await
        .unwrap_err();
    match &err {
        PveError::InvalidParameter { errors, .. } => {
            assert!(errors.contains_key("cores"), "{errors:?}");
        }
        other => panic!("expected invalid parameter, got {other}"),
    }
    assert!(err.to_string().contains("cores"));
    assert_eq!(sim.control().guest_config(300), None);
}

#[tokio::test]
async fn taken_vmid_is_already_exists() {
    let sim = homelab().await;
    let err = client(&sim)
        .create_guest(
            "pve1",
            GuestKind::Qemu,
            params([("vmid", "100"), ("name", "dup")]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PveError::AlreadyExists { .. }), "{err}");
}

#[tokio::test]
async fn slow_server_is_a_timeout_naming_the_request() {
    let sim = homelab().await;
    let mut faults = Faults::none();
    faults.latency = Duration::from_millis(1500);
    sim.control().set_faults(faults);
    let mut config = token_config(&sim, TokenKind::Full);
    config.request_timeout = Duration::from_millis(200);
    let err = Client::new(config).unwrap().version().await.unwrap_err();
    assert!(matches!(err, PveError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("GET /version"));
}
