//! `--state FILE`: the cluster and the certificate survive a restart; a large generated cluster
//! starts and lists every guest.

use proxmox_mpc::sim::{Sim, SimConfig, TokenKind};

use super::common::{Api, install_crypto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_keeps_cluster_and_fingerprint_but_no_secret() {
    install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim-state.json");
    let sim = Sim::start(SimConfig::homelab().with_state_file(path.clone()))
        .await
        .expect("start");
    let fingerprint = sim.fingerprint();
    let secret = sim.token_secret();
    let api = Api::new(&sim, TokenKind::Full);
    let exit = api
        .run_task(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "555"), ("name", "kept")],
        )
        .await;
    assert_eq!(exit, "OK");
    sim.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("state written");
    assert!(
        !text.contains(&secret),
        "the token secret must not land in the state file"
    );

    let again = Sim::start(SimConfig::homelab().with_state_file(path.clone()))
        .await
        .expect("restart");
    assert_eq!(again.fingerprint(), fingerprint);
    assert_eq!(
        again.token_secret(),
        secret,
        "the token is deterministic per seed"
    );
    let api = Api::new(&again, TokenKind::Full);
    let cfg = api.get("/nodes/pve1/qemu/555/config").await;
    assert_eq!(cfg.data()["name"], "kept");

    std::fs::write(&path, "not json").expect("write");
    let err = Sim::start(SimConfig::homelab().with_state_file(path))
        .await
        .expect_err("bad state");
    assert!(
        err.to_string().contains("not a simulator state file"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_cluster_with_ten_thousand_guests_lists_them_all() {
    install_crypto();
    let sim = Sim::start(SimConfig::generated(20, 10_000, 42).http())
        .await
        .expect("start");
    assert_eq!(sim.control().guest_count(), 10_000);
    let api = Api::new(&sim, TokenKind::Full);
    let r = api
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await;
    let list = r.data().as_array().expect("list");
    assert_eq!(list.len(), 10_000);
    for g in list.iter().take(200) {
        let node = g["node"].as_str().expect("node");
        assert!(node.starts_with("node"));
    }
    let nodes = api.get("/nodes").await;
    assert_eq!(nodes.data().as_array().expect("list").len(), 20);
    // deterministic: the same seed gives the same cluster
    let again = Sim::start(SimConfig::generated(20, 10_000, 42).http())
        .await
        .expect("start");
    assert_eq!(
        again.control().guest_config(5_000),
        sim.control().guest_config(5_000)
    );
    assert_eq!(
        again.control().guest_node(5_000),
        sim.control().guest_node(5_000)
    );
    assert_eq!(again.token_secret(), sim.token_secret());
}
