//! `/sync --agent-ips`: `ansible_host` from the guest agents of running VMs, one request per
//! agent; without the flag no agent is asked.

use proxmox_mpc::iac::sync::SyncOptions;

use super::common::{Workspace, client, homelab};

const AGENT_ROUTE: &str = "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces";

/// The `ansible_host` of `host` in the inventory at `text`, if any.
fn ansible_host(text: &str, host: &str) -> Option<String> {
    let doc: yaml_serde::Value = yaml_serde::from_str(text).expect("inventory is YAML");
    doc["all"]["hosts"][host]["ansible_host"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn without_the_flag_no_agent_is_asked_and_only_static_addresses_are_used() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    assert!(run.agents.is_none());
    let routes = sim.control().route_counts();
    assert_eq!(
        routes.get(AGENT_ROUTE).copied().unwrap_or(0),
        0,
        "{routes:?}"
    );
    let inventory = ws.read("ansible/inventory.yml");
    // wiki (106) has an agent but no cloud-init address: no ansible_host without the flag.
    assert_eq!(ansible_host(&inventory, "wiki"), None, "{inventory}");
    // web-01 (100) has a cloud-init address.
    assert_eq!(
        ansible_host(&inventory, "web_01").as_deref(),
        Some("127.10.0.100"),
        "{inventory}"
    );
}

#[tokio::test]
async fn with_the_flag_hosts_with_an_agent_get_the_agent_address() {
    let sim = homelab().await;
    let control = sim.control();
    // backup-target (105) runs with `agent: 1` set but no agent process answering: it must not
    // block the sync, is reported, and keeps its (absent) static address.
    control
        .set_guest_config(105, "agent", "1")
        .expect("guest 105 exists");
    let ws = Workspace::new().await;
    let options = SyncOptions {
        agent_ips: true,
        ..SyncOptions::default()
    };
    let run = ws.sync(&client(&sim), options).await;
    let agents = run.agents.as_ref().expect("agents were asked");
    // Running, non-template VMs with agent: 1 in the homelab seed.
    let expected: Vec<u32> = proxmox_mpc::commands::sync::agent_candidates(&run.snapshot)
        .into_iter()
        .map(|(_, vmid)| vmid)
        .collect();
    for vmid in [100, 101, 102, 105, 106, 107, 108, 109] {
        assert!(expected.contains(&vmid), "{vmid} not asked: {expected:?}");
    }
    assert!(!expected.contains(&110), "lab-01 has no agent");
    assert!(!expected.contains(&9000), "templates are not asked");
    assert!(!expected.contains(&103), "stopped VMs are not asked");
    assert_eq!(agents.asked, expected.len());
    let routes = control.route_counts();
    assert_eq!(
        routes.get(AGENT_ROUTE).copied().unwrap_or(0),
        expected.len() as u64,
        "one request per agent: {routes:?}"
    );
    let inventory = ws.read("ansible/inventory.yml");
    let wiki = ansible_host(&inventory, "wiki").expect("wiki has an agent address");
    let ip: std::net::Ipv4Addr = wiki.parse().expect("an IPv4 address");
    assert!(
        ip.is_loopback() && ip != std::net::Ipv4Addr::LOCALHOST,
        "{wiki}"
    );
    assert_eq!(agents.addresses.get(&106), Some(&wiki));
    assert_eq!(
        ansible_host(&inventory, "backup_target"),
        None,
        "{inventory}"
    );
    assert!(!agents.addresses.contains_key(&105));
    assert!(
        run.discovery_warnings
            .iter()
            .any(|w| w.contains("105") && w.contains("keep their static address")),
        "{:?}",
        run.discovery_warnings
    );
    // A cloud-init guest keeps the address its agent also reports.
    assert_eq!(
        ansible_host(&inventory, "web_01").as_deref(),
        Some("127.10.0.100")
    );
}
