//! A sync of a generated cluster costs one request per guest plus a few per node (the
//! discovery budget plus one `GET /storage`), and a second sync of it writes nothing. Size from
//! PMPC_SYNC_SCALE_GUESTS (default 1000). Timing is printed for the notes, never asserted.

use std::time::Instant;

use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::sim::{Sim, SimConfig};

use super::common::{Workspace, client};

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::print_stdout)] // the measured numbers, for the notes
async fn a_generated_cluster_syncs_with_one_request_per_guest() {
    let guests: usize = std::env::var("PMPC_SYNC_SCALE_GUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let nodes = (guests / 100).clamp(3, 30);
    let sim = Sim::start(SimConfig::generated(nodes, guests, 7))
        .await
        .unwrap();
    let control = sim.control();
    let client = client(&sim);
    let ws = Workspace::new().await;

    let before = control.request_count();
    let started = Instant::now();
    let run = ws.sync(&client, SyncOptions::default()).await;
    let first = started.elapsed();
    let requests = control.request_count() - before;
    assert_eq!(run.snapshot.guests.len(), guests);
    let online = run.snapshot.nodes.len() as u64;
    // guests + 2 per online node + /cluster/resources, /cluster/status, /version, /pools,
    // /storage and /cluster/backup (the backup jobs).
    assert_eq!(
        requests,
        guests as u64 + 2 * online + 6,
        "{:?}",
        control.route_counts()
    );
    assert_eq!(run.report.counts().get("new").copied(), Some(guests));

    let before = control.request_count();
    let started = Instant::now();
    let second = ws.sync(&client, SyncOptions::default()).await;
    let again = started.elapsed();
    assert!(
        second.report.changed_nothing(),
        "{:?}",
        &second.report.written[..second.report.written.len().min(5)]
    );
    assert_eq!(control.request_count() - before, requests);
    // Numbers for the notes (run with --nocapture); never asserted.
    println!(
        "sync of {guests} guests on {nodes} nodes: {requests} requests; first sync {first:.2?}, second sync (nothing changed) {again:.2?}"
    );
}
