//! The torture run: random operations (create, set, delete, power, snapshot, sync, plan,
//! apply) against a simulator with seeded faults, checking after each step that the code, the
//! state database and the cluster agree. `scripts/torture` runs it for minutes
//! (`PMPC_TORTURE_SECS`, `PMPC_TORTURE_SEED`); in the test suite it runs a short round.
//!
//! Invariants after every step: state.db passes `PRAGMA integrity_check`; every guest file
//! reads back; no two guests on the cluster share a name. After every successful apply, with
//! the faults paused, `plan --detailed-exitcode` says the files match the cluster (after a sync
//! the files may still hold edits not yet applied, so only the final check asks that there).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proxmox_mpc::sim::{FaultPoint, Faults};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::common::{TestSim, guest_names, init, integrity, ok, piped, run, text};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn torture_faults(seed: u64) -> Faults {
    Faults {
        seed,
        jitter: Duration::from_millis(20),
        error_rate_5xx: 0.03,
        error_point: FaultPoint::AfterHandler,
        drop_rate: 0.01,
        task_duration: Duration::from_millis(10),
        task_failure_rate: 0.05,
        lock_contention_rate: 0.05,
        ..Faults::none()
    }
}

#[allow(clippy::print_stderr)] // the run's counts are its report
#[test]
fn torture_random_operations_keep_code_database_and_cluster_in_agreement() {
    let seconds = env_number("PMPC_TORTURE_SECS", 12);
    let seed = env_number("PMPC_TORTURE_SEED", 2026);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sim = TestSim::homelab();
    let dir = init(&sim);
    let ws = dir.path();
    ok(run(&sim, ws, &["sync"]), "first sync");
    let faults = torture_faults(seed);
    sim.set_faults(faults.clone());

    let mut ops: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failed_ops = 0u64;
    let mut invariants = 0u64;
    let mut next_name = 0u32;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        // Guests this run made that exist on the server, and files it made.
        let on_server: Vec<String> = guest_names(&sim)
            .into_iter()
            .filter(|n| n.starts_with("t-"))
            .collect();
        let op = match rng.random_range(0..10) {
            0 | 1 => "create",
            2 => "set",
            3 => "delete",
            4 => "power",
            5 => "snapshot",
            6 => "sync",
            7 => "plan",
            _ => "apply",
        };
        let target = (!on_server.is_empty())
            .then(|| on_server[rng.random_range(0..on_server.len())].clone());
        let line = match (op, target) {
            ("create", _) => {
                next_name += 1;
                let node = ["pve1", "pve2", "pve3"][rng.random_range(0..3)];
                format!("create vm --name t-{next_name:03} --cores 1 --memory 512 --node {node}")
            }
            ("set", Some(t)) => {
                let mem = [512, 768, 1024][rng.random_range(0..3)];
                format!("set vm {t} --memory {mem}")
            }
            ("delete", Some(t)) => format!("delete vm {t}"),
            ("power", Some(t)) => {
                if sim.control().guest_ids().into_iter().any(|v| {
                    sim.control()
                        .guest_config(v)
                        .is_some_and(|c| c.get("name") == Some(&t))
                        && sim.control().guest_running(v) == Some(true)
                }) {
                    format!("stop vm {t} --yes")
                } else {
                    format!("start vm {t}")
                }
            }
            ("snapshot", Some(t)) => {
                format!("snapshot vm {t} --name s{}", rng.random_range(0..1000))
            }
            ("sync", _) => "/sync".into(),
            ("plan", _) => "/plan".into(),
            ("apply", _) => "/plan\n/apply --yes".into(),
            _ => "/status".into(),
        };
        let out = piped(&sim, ws, &[], &line.lines().collect::<Vec<_>>());
        *ops.entry(op).or_default() += 1;
        if !out.status.success() {
            failed_ops += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("panicked") && !stderr.contains("internal error"),
                "seed {seed}: `{line}` crashed:\n{}",
                text(&out)
            );
        }

        // Invariants, checked with the faults paused so the checks themselves are exact.
        sim.set_faults(Faults::none());
        let problems = integrity(&sim, ws);
        assert!(
            problems.is_empty(),
            "seed {seed} after `{line}`: {problems:?}"
        );
        let read = proxmox_mpc::iac::desired::read_workspace(ws);
        assert!(
            read.problems.is_empty(),
            "seed {seed} after `{line}`: {:?}",
            read.problems
        );
        let names = guest_names(&sim);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            names.len(),
            unique.len(),
            "seed {seed} after `{line}`: {names:?}"
        );
        invariants += 3;
        if out.status.success() && op == "apply" {
            let plan = run(&sim, ws, &["plan", "--detailed-exitcode"]);
            assert_eq!(
                plan.status.code(),
                Some(0),
                "seed {seed}: files and cluster differ after a successful `{line}`:\n{}\n{}",
                text(&out),
                text(&plan)
            );
            invariants += 1;
        }
        sim.set_faults(faults.clone());
    }

    // The end: faults off, one apply converges everything, and a sync changes nothing.
    sim.set_faults(Faults::none());
    let log = sim.control().request_log();
    let injected_5xx = log.iter().filter(|e| e.status >= 500).count();
    let requests = log.len();
    let out = piped(&sim, ws, &[], &["/plan", "/apply --yes"]);
    assert!(
        out.status.success(),
        "seed {seed}: final apply\n{}",
        text(&out)
    );
    let plan = run(&sim, ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "seed {seed}:\n{}", text(&plan));
    ok(run(&sim, ws, &["sync"]), "final sync");
    let plan = run(&sim, ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "seed {seed}:\n{}", text(&plan));
    invariants += 2;
    let total: u64 = ops.values().sum();
    eprintln!(
        "torture seed {seed}: {total} operations in {:?} {ops:?} ({failed_ops} refused or failed \
         under faults), {requests} requests with {injected_5xx} 5xx answers, {invariants} \
         invariants checked",
        started.elapsed()
    );
    assert!(total >= 5, "the run did something ({total} operations)");
}
