//! The generated specs on a synced homelab: all pass; changing the simulator makes exactly the
//! changed checks fail, with expected vs actual; --filter and --tag select.

use std::collections::BTreeSet;

use proxmox_mpc::infratest::{RunOptions, Status, report};

use super::common::{Lab, failures, result, with_status};

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(g, n)| (g.to_string(), n.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_homelab_passes_and_exactly_the_changed_checks_fail() {
    let lab = Lab::synced().await;
    let run = lab.run().await;
    assert!(run.ok(), "a fresh sync should pass:\n{}", failures(&run));
    let (passed, failed, _) = run.counts();
    // 29 guests of the homelab, each with its spec; plus the workspace checks.
    let groups: BTreeSet<&str> = run.results.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups.len(), 30, "{groups:?}");
    assert!(passed > 300, "{passed}");
    assert_eq!(failed, 0);
    assert_eq!(with_status(&run, Status::Skipped), set(&[]));
    assert_eq!(report::summary(&run), format!("{passed} passed, 0 failed"));
    let lines = report::lines(&run);
    assert_eq!(lines.len(), 30);
    assert!(
        lines.iter().any(|l| l == "ok      web-01 (100)  13 passed"),
        "{lines:#?}"
    );

    // Stop web-01 and give db-01 twice the memory, behind the code's back.
    let control = lab.sim.control();
    control.set_guest_status(100, false).unwrap();
    control.set_guest_config(102, "memory", "16384").unwrap();
    let run = lab.run().await;
    assert_eq!(
        with_status(&run, Status::Failed),
        set(&[("web-01 (100)", "state"), ("db-01 (102)", "memory_mib")]),
        "{}",
        failures(&run)
    );
    let state = result(&run, "web-01 (100)", "state");
    assert_eq!(state.expected.as_deref(), Some("running"));
    assert_eq!(state.actual.as_deref(), Some("stopped"));
    assert!(
        state.source.starts_with("tests/web_01.yml:"),
        "{}",
        state.source
    );
    let memory = result(&run, "db-01 (102)", "memory_mib");
    assert_eq!(memory.expected.as_deref(), Some("8192"));
    assert_eq!(memory.actual.as_deref(), Some("16384"));
    let (passed_after, failed, _) = run.counts();
    assert_eq!((passed_after, failed), (passed - 2, 2));
    assert_eq!(
        report::summary(&run),
        format!("{} passed, 2 failed", passed - 2)
    );
    let lines = report::lines(&run);
    let db = lines
        .iter()
        .find(|l| l.starts_with("FAILED  db-01 (102)"))
        .expect("a FAILED line for db-01");
    assert!(
        db.contains("memory_mib: expected 8192, actual 16384"),
        "{db}"
    );
    assert!(lines.iter().any(|l| l.starts_with("ok      web-02 (101)")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resized_disk_and_a_moved_nic_fail_field_by_field() {
    let lab = Lab::synced().await;
    let control = lab.sim.control();
    control
        .set_guest_config(101, "scsi0", "local-lvm:vm-101-disk-0,iothread=1,size=64G")
        .unwrap();
    control
        .set_guest_config(200, "net0", "name=eth0,bridge=vmbr1,firewall=1,hwaddr=BC:24:11:00:00:C8,ip=127.10.0.200/8,tag=30,type=veth")
        .unwrap();
    let run = lab.run().await;
    let failed = with_status(&run, Status::Failed);
    assert_eq!(
        failed,
        set(&[
            ("web-02 (101)", "disk scsi0 size_gib"),
            // The spec of an untagged NIC states no VLAN, so only the bridge is checked.
            ("dns-01 (200)", "nic net0 bridge"),
        ]),
        "{}",
        failures(&run)
    );
    let size = result(&run, "web-02 (101)", "disk scsi0 size_gib");
    assert_eq!(size.actual.as_deref(), Some("64"));
    let bridge = result(&run, "dns-01 (200)", "nic net0 bridge");
    assert_eq!(bridge.expected.as_deref(), Some("vmbr0"));
    assert_eq!(bridge.actual.as_deref(), Some("vmbr1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_tag_select_checks() {
    let lab = Lab::synced().await;
    let run = lab
        .run_with(&RunOptions {
            filter: Some("db-01".into()),
            ..RunOptions::default()
        })
        .await;
    let groups: BTreeSet<&str> = run.results.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, BTreeSet::from(["db-01 (102)"]));
    let run = lab
        .run_with(&RunOptions {
            tag: Some("web".into()),
            ..RunOptions::default()
        })
        .await;
    let groups: BTreeSet<&str> = run.results.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, BTreeSet::from(["web-01 (100)", "web-02 (101)"]));
    assert!(run.ok());
    let run = lab
        .run_with(&RunOptions {
            filter: Some("workspace".into()),
            ..RunOptions::default()
        })
        .await;
    let groups: BTreeSet<&str> = run.results.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, BTreeSet::from(["workspace"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gone_from_the_cluster_fails_exists_and_skips_the_rest() {
    let lab = Lab::synced().await;
    let before = lab.run().await;
    lab.client
        .call(reqwest::Method::DELETE, "/nodes/pve3/qemu/115", Vec::new())
        .await
        .ok();
    // lab-06 (115) is stopped, so the simulator lets it be destroyed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lab.sim.control().guest_running(115).is_some() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        lab.sim.control().guest_running(115).is_none(),
        "guest 115 should be destroyed"
    );
    let run = lab.run().await;
    assert_eq!(
        with_status(&run, Status::Failed),
        set(&[("lab-06 (115)", "exists")]),
        "{}",
        failures(&run)
    );
    let exists = result(&run, "lab-06 (115)", "exists");
    assert_eq!(exists.expected.as_deref(), Some("exists"));
    assert_eq!(exists.actual.as_deref(), Some("absent"));
    let skipped = run
        .results
        .iter()
        .filter(|r| r.group == "lab-06 (115)" && r.status == Status::Skipped)
        .count();
    let total = before
        .results
        .iter()
        .filter(|r| r.group == "lab-06 (115)")
        .count();
    assert_eq!(skipped, total - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_expectation_checks_the_cloud_init_address() {
    let lab = Lab::synced().await;
    let spec = lab.spec_of(100);
    let text = lab
        .read(&spec)
        .replace("expect:\n", "expect:\n  ip: \"127.10.0.100\"\n");
    lab.write(&spec, &text);
    let run = lab.run().await;
    assert_eq!(
        result(&run, "web-01 (100)", "ip").status,
        Status::Passed,
        "{}",
        failures(&run)
    );
    lab.sim
        .control()
        .set_guest_config(100, "ipconfig0", "gw=127.0.0.1,ip=127.10.0.150/8")
        .unwrap();
    let run = lab.run().await;
    let ip = result(&run, "web-01 (100)", "ip");
    assert_eq!(ip.status, Status::Failed);
    assert_eq!(ip.expected.as_deref(), Some("127.10.0.100"));
    assert_eq!(ip.actual.as_deref(), Some("127.10.0.150"));
}
