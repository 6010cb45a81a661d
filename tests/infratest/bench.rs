//! Speed: 100 guests checked against the simulator with 2 ms added to every request. The time is
//! printed, not asserted (speed goals live in the notes); the test asserts that every guest was
//! checked. Measure with a release build:
//! `cargo test --release --test infratest hundred_guests -- --nocapture`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proxmox_mpc::infratest::{RunOptions, run_suite};
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Faults, SimConfig};

use super::common::{Lab, failures};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the benchmark's report
async fn hundred_guests_with_2ms_latency() {
    let faults = Faults {
        latency: Duration::from_millis(2),
        ..Faults::none()
    };
    let lab = Lab::synced_with(SimConfig::generated(3, 100, 7).with_faults(faults)).await;
    let mut checks = String::from("version: 1\nchecks:\n");
    for vmid in lab.sim.control().guest_ids() {
        checks.push_str(&format!("  - guest: {vmid}\n    cpu_below: 95%\n"));
    }
    // The client `/test` builds: default concurrency and retries.
    let client = Client::new(ClientConfig::new(
        lab.sim.url(),
        Auth::Token {
            id: lab.sim.token_id(),
            secret: Secret::new(lab.sim.token_secret()),
        },
        TlsMode::Pinned(lab.sim.fingerprint().unwrap()),
    ))
    .unwrap();
    let options = RunOptions::default();

    let started = Instant::now();
    let specs_only = run_suite(&client, lab.root(), &options).await.unwrap();
    let specs_elapsed = started.elapsed();
    assert!(specs_only.ok(), "{}", failures(&specs_only));
    let guests: BTreeSet<u32> = specs_only.results.iter().filter_map(|r| r.vmid).collect();
    assert_eq!(guests.len(), 100);

    lab.write("tests/checks/perf.yml", &checks);
    let started = Instant::now();
    let with_rrd = run_suite(&client, lab.root(), &options).await.unwrap();
    let rrd_elapsed = started.elapsed();
    assert!(with_rrd.ok(), "{}", failures(&with_rrd));
    assert_eq!(with_rrd.results.len(), specs_only.results.len() + 100);

    eprintln!(
        "bench: 100 guests, 2 ms latency: {} checks in {:.0} ms (specs + workspace); {} checks in {:.0} ms (+ one RRD read per guest)",
        specs_only.results.len(),
        specs_elapsed.as_secs_f64() * 1000.0,
        with_rrd.results.len(),
        rrd_elapsed.as_secs_f64() * 1000.0
    );
}
