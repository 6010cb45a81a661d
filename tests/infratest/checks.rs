//! Hand-written checks in tests/checks/: TCP from this host against real sockets, connectivity
//! through the guest agent, utilisation from RRD data, and survival across regeneration.

use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::infratest::Status;

use super::common::{Lab, failures, result, with_status};

/// Returns a loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_checks_probe_real_sockets_and_refuse_non_loopback_targets() {
    let lab = Lab::synced().await;
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    // web-01's static address from its cloud-init config; the whole of 127/8 is loopback.
    let guest_listener = tokio::net::TcpListener::bind("127.10.0.100:0")
        .await
        .unwrap();
    let guest_port = guest_listener.local_addr().unwrap().port();
    let closed = closed_port();
    lab.write(
        "tests/checks/network.yml",
        &format!(
            "# hand-written\nversion: 1\nchecks:\n  - guest: web-01\n    name: app port\n    tcp: {{host: 127.0.0.1, port: {open_port}, timeout_ms: 1000}}\n  - guest: web-01\n    name: closed port\n    tcp: {{host: 127.0.0.1, port: {closed}, timeout_ms: 1000}}\n  - guest: 100\n    name: guest address\n    tcp: {guest_port}\n  - guest: web-01\n    name: off this machine\n    tcp: {{host: 192.0.2.10, port: 22}}\n  - guest: db-02\n    name: no address\n    tags: [smoke]\n    tcp: 22\n"
        ),
    );
    let run = lab.run().await;
    let g = "web-01 (100)";
    assert_eq!(
        result(&run, g, "app port").status,
        Status::Passed,
        "{}",
        failures(&run)
    );
    assert_eq!(
        result(&run, g, "guest address").status,
        Status::Passed,
        "{}",
        failures(&run)
    );
    let closed_result = result(&run, g, "closed port");
    assert_eq!(closed_result.status, Status::Failed);
    assert_eq!(
        closed_result.expected.as_deref(),
        Some(format!("127.0.0.1:{closed} open").as_str())
    );
    assert!(
        closed_result
            .actual
            .as_deref()
            .unwrap_or("")
            .contains("refused"),
        "{closed_result:?}"
    );
    assert_eq!(closed_result.source, "tests/checks/network.yml:7");
    let off = result(&run, g, "off this machine");
    assert_eq!(off.status, Status::Failed);
    assert!(
        off.message
            .as_deref()
            .unwrap_or("")
            .contains("refused to probe 192.0.2.10"),
        "{off:?}"
    );
    // db-02 has a cloud-init address in the code, so its probe runs (and fails: nothing listens).
    let db = result(&run, "db-02 (103)", "no address");
    assert_eq!(db.status, Status::Failed);
    assert!(
        db.expected
            .as_deref()
            .unwrap_or("")
            .starts_with("127.10.0.103:22"),
        "{db:?}"
    );
    assert_eq!(
        with_status(&run, Status::Failed).len(),
        3,
        "{}",
        failures(&run)
    );
    drop(open);
    drop(guest_listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaches_runs_through_the_guest_agent_or_is_skipped_with_the_reason() {
    let lab = Lab::synced().await;
    lab.write(
        "tests/checks/reach.yml",
        "version: 1\nchecks:\n  - guest: web-01\n    reaches: {guest: db-01, port: 5432}\n  - guest: vlan30-a\n    reaches: {guest: vlan40-a, port: 22, host: 127.10.0.109}\n  - guest: web-01\n    reaches: {guest: db-02, port: 5432}\n  - guest: dns-01\n    reaches: {guest: db-01, port: 5432}\n  - guest: backup-target\n    reaches: {guest: db-01, port: 5432}\n  - guest: vlan30-a\n    reaches: {guest: vlan30-b, port: 22}\n",
    );
    let run = lab.run().await;
    let ok = result(&run, "web-01 (100)", "reaches db-01:5432");
    assert_eq!(ok.status, Status::Passed, "{}", failures(&run));
    assert!(
        ok.message
            .as_deref()
            .unwrap_or("")
            .contains("answered ping"),
        "{ok:?}"
    );
    assert_eq!(
        result(&run, "vlan30-a (107)", "reaches vlan30-b:22").status,
        Status::Passed
    );
    // Another VLAN: the simulator's network model does not connect them. (vlan40-a has no
    // static address in the code, so the check names one.)
    let other_vlan = result(&run, "vlan30-a (107)", "reaches vlan40-a:22");
    assert_eq!(other_vlan.status, Status::Failed, "{other_vlan:?}");
    assert_eq!(
        other_vlan.expected.as_deref(),
        Some("127.10.0.109:22 reachable from vlan30-a")
    );
    // db-02 is stopped.
    let stopped_target = result(&run, "web-01 (100)", "reaches db-02:5432");
    assert_eq!(stopped_target.status, Status::Failed, "{stopped_target:?}");
    let ct = result(&run, "dns-01 (200)", "reaches db-01:5432");
    assert_eq!(ct.status, Status::Skipped);
    assert!(
        ct.message.as_deref().unwrap().contains("container"),
        "{ct:?}"
    );
    let no_agent = result(&run, "backup-target (105)", "reaches db-01:5432");
    assert_eq!(no_agent.status, Status::Skipped);
    assert!(
        no_agent
            .message
            .as_deref()
            .unwrap()
            .contains("no QEMU guest agent"),
        "{no_agent:?}"
    );
    // Stopping the source makes its check fail with the reason.
    lab.sim.control().set_guest_status(100, false).unwrap();
    let run = lab.run().await;
    let stopped = result(&run, "web-01 (100)", "reaches db-01:5432");
    assert_eq!(stopped.status, Status::Failed);
    assert_eq!(stopped.actual.as_deref(), Some("web-01 is not running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utilisation_is_read_from_rrd_data() {
    let lab = Lab::synced().await;
    lab.write(
        "tests/checks/perf.yml",
        "version: 1\nchecks:\n  - guest: db-01\n    name: db headroom\n    cpu_below: 80%\n    memory_headroom: 20%\n  - guest: db-01\n    cpu_below: 1%\n  - guest: db-01\n    memory_headroom: 90\n    window: day\n",
    );
    let run = lab.run().await;
    let g = "db-01 (102)";
    assert_eq!(
        result(&run, g, "db headroom: cpu_below 80% (hour)").status,
        Status::Passed,
        "{}",
        failures(&run)
    );
    let mem = result(&run, g, "db headroom: memory_headroom 20% (hour)");
    assert_eq!(mem.status, Status::Passed);
    // The simulator's guests use a third of their memory.
    assert!(
        mem.message.as_deref().unwrap().starts_with("66.7% free"),
        "{mem:?}"
    );
    let cpu = result(&run, g, "cpu_below 1% (hour)");
    assert_eq!(cpu.status, Status::Failed);
    assert_eq!(cpu.expected.as_deref(), Some("below 1%"));
    assert!(
        cpu.actual
            .as_deref()
            .unwrap()
            .ends_with("% average over the last hour")
    );
    let mem = result(&run, g, "memory_headroom 90% (day)");
    assert_eq!(mem.status, Status::Failed);
    assert_eq!(mem.expected.as_deref(), Some("at least 90% free"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_after_a_change_updates_the_specs_and_keeps_hand_written_checks() {
    let lab = Lab::synced().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let checks = format!(
        "# my checks\nversion: 1\nchecks:\n  - guest: web-01\n    tcp: {{host: 127.0.0.1, port: {port}}}\n"
    );
    lab.write("tests/checks/mine.yml", &checks);
    let spec = lab.spec_of(100);
    assert!(lab.read(&spec).contains("memory_mib: 2048"));

    // The guest changes (as `set vm web-01 memory=4096` then /apply would do) ...
    lab.sim
        .control()
        .set_guest_config(100, "memory", "4096")
        .unwrap();
    let run = lab.run().await;
    assert_eq!(
        with_status(&run, Status::Failed)
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("web-01 (100)".to_string(), "memory_mib".to_string())]
    );
    // ... and the workspace is regenerated from the cluster.
    lab.sync(SyncOptions {
        adopt: true,
        prune: false,
        agent_ips: false,
    })
    .await;
    assert!(
        lab.read(&spec).contains("memory_mib: 4096"),
        "{}",
        lab.read(&spec)
    );
    assert_eq!(lab.read("tests/checks/mine.yml"), checks);
    let run = lab.run().await;
    assert!(run.ok(), "{}", failures(&run));
    assert_eq!(
        result(&run, "web-01 (100)", &format!("tcp 127.0.0.1:{port}")).status,
        Status::Passed
    );
    drop(listener);
}
