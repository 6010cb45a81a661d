//! Criterion benches for the in-process parts (issue 9): PVE config parsing into the model,
//! HCL rendering of a guest file and reading it back, and plan diffing. The guests come from
//! the simulator's generated cluster (1,000 guests on 10 nodes), read once through the real
//! client over HTTPS on 127.0.0.1 during setup; nothing is timed over the network.
//!
//! `cargo bench --bench inprocess` (add `-- --quick` for a short run).

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proxmox_mpc::iac::Templates;
use proxmox_mpc::iac::desired::read_texts;
use proxmox_mpc::iac::terraform::render_guest;
use proxmox_mpc::model::{ClusterSnapshot, Guest, guest_from_config};
use proxmox_mpc::plan::{DiffInput, diff};
use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Sim, SimConfig};

const GUESTS: usize = 1000;

/// The generated cluster as our client reads it, and each guest's raw PVE config.
struct Fixture {
    snapshot: ClusterSnapshot,
    raw: Vec<BTreeMap<String, String>>,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let sim = Sim::start(SimConfig::generated(10, GUESTS, 1))
            .await
            .expect("simulator starts");
        let client = Client::new(ClientConfig::new(
            sim.url(),
            Auth::Token {
                id: sim.token_id(),
                secret: Secret::new(sim.token_secret()),
            },
            TlsMode::Pinned(sim.fingerprint().expect("HTTPS has a fingerprint")),
        ))
        .expect("client");
        let snapshot = client.discover(|_, _| {}).await.expect("discovery");
        let control = sim.control();
        let raw = snapshot
            .guests
            .iter()
            .map(|g| control.guest_config(g.vmid).expect("guest exists"))
            .collect();
        sim.shutdown().await;
        Fixture { snapshot, raw }
    })
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    assert_eq!(fx.snapshot.guests.len(), GUESTS);
    let templates = Templates::builtin().expect("built-in templates");
    let no_pools = BTreeMap::new();

    let mut group = c.benchmark_group("per 1,000 guests");
    group.throughput(Throughput::Elements(GUESTS as u64));
    group.sample_size(20);

    group.bench_function("config parsing (PVE keys -> model)", |b| {
        b.iter(|| {
            for (g, raw) in fx.snapshot.guests.iter().zip(&fx.raw) {
                black_box(guest_from_config(
                    g.vmid,
                    &g.node,
                    g.kind,
                    g.status,
                    g.pool.clone(),
                    raw,
                ));
            }
        })
    });

    group.bench_function("HCL rendering (guest .tf files)", |b| {
        b.iter(|| {
            for g in &fx.snapshot.guests {
                let ident = format!("g{}", g.vmid);
                black_box(render_guest(&templates, g, &ident, &no_pools).expect("renders"));
            }
        })
    });

    let files: Vec<(String, String)> = fx
        .snapshot
        .guests
        .iter()
        .map(|g| {
            let ident = format!("g{}", g.vmid);
            let text = render_guest(&templates, g, &ident, &no_pools)
                .expect("renders")
                .text;
            (format!("terraform/{ident}.tf"), text)
        })
        .collect();
    group.bench_function("HCL parsing (guest .tf files -> model)", |b| {
        b.iter(|| {
            for (path, text) in &files {
                black_box(read_one(path, text));
            }
        })
    });

    let desired: Vec<Guest> = files
        .iter()
        .map(|(path, text)| read_one(path, text))
        .collect();
    let managed: BTreeSet<u32> = desired.iter().map(|g| g.vmid).collect();
    group.bench_function("plan diffing (files vs cluster)", |b| {
        b.iter(|| {
            black_box(diff(DiffInput {
                desired: &desired,
                desired_pools: &[],
                observed: &fx.snapshot,
                managed: &managed,
            }))
        })
    });
    group.finish();
}

criterion_group!(inprocess, benches);
criterion_main!(inprocess);

/// Reads one guest file on its own, as the workspace reader does.
fn read_one(path: &str, text: &str) -> Guest {
    let read = read_texts(vec![(path.into(), text.to_string())]);
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    read.state.files.into_iter().next().expect("a guest").guest
}
