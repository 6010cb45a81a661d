//! Applies against the simulator: the homelab scenario, failures that converge on re-run,
//! parallel creates under lock contention, and resume after a crash at journal points.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proxmox_mpc::model::{Guest, GuestConfig, GuestStatus, Nic};
use proxmox_mpc::plan::apply::{ApplyOptions, StepOutcome, apply, stale_reasons};
use proxmox_mpc::plan::{Action, Plan};
use proxmox_mpc::sim::Faults;
use proxmox_mpc::state::PlanStatus;

use super::common::*;

fn names_count(snapshot: &proxmox_mpc::model::ClusterSnapshot) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for g in &snapshot.guests {
        *out.entry(g.name.clone()).or_insert(0) += 1;
    }
    out
}

/// The vmid a request path names (`/nodes/pve1/qemu/102/config` -> 102).
fn path_vmid(path: &str) -> Option<u32> {
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .windows(2)
        .find(|w| w[0] == "qemu" || w[0] == "lxc")
        .and_then(|w| w[1].parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homelab_scenario_applies_exactly_the_plan_and_converges() {
    let sim = homelab(Faults::none()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    let observed = observe(&client).await;
    // The workspace manages everything it imported, except one guest created after the sync.
    let stranger = 9001;
    let managed: BTreeSet<u32> = observed
        .guests
        .iter()
        .map(|g| g.vmid)
        .filter(|v| *v != stranger)
        .collect();
    let mut desired: Vec<Guest> = observed
        .guests
        .iter()
        .filter(|g| g.vmid != stranger)
        .map(as_file)
        .collect();
    // Change memory, add a disk and a NIC on db-01 (102).
    let db01 = desired.iter_mut().find(|g| g.vmid == 102).unwrap();
    let GuestConfig::Vm(vm) = &mut db01.config else {
        panic!("db-01 is a VM")
    };
    vm.memory_mib = Some(12288);
    vm.disks
        .insert("scsi1".into(), proxmox_mpc::model::Disk::new("local-lvm:8"));
    vm.nics.insert(
        1,
        Nic {
            model: "virtio".into(),
            mac: None,
            bridge: Some("vmbr1".into()),
            vlan_tag: None,
            firewall: None,
            extra: BTreeMap::new(),
        },
    );
    // Delete lab-06 (115) by removing its block.
    desired.retain(|g| g.vmid != 115);
    // Create 3 VMs and 2 containers.
    desired.push(new_vm("app-01", "pve1", true));
    desired.push(new_vm("app-02", "pve2", false));
    desired.push(new_vm("app-03", "pve3", true));
    desired.push(new_ct("cache-01", "pve1"));
    desired.push(new_ct("cache-02", "pve2"));

    let plan = plan_of(&desired, &observed, &managed);
    let counts = plan.counts();
    assert_eq!(
        (counts.add, counts.change, counts.destroy),
        (5, 1, 1),
        "{}",
        proxmox_mpc::plan::render::render_text(&plan)
    );
    let update = plan
        .actionable()
        .find(|c| c.action == Action::Update)
        .unwrap();
    assert_eq!(update.vmid, Some(102));
    let keys: Vec<&str> = update.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, vec!["memory", "net1", "scsi1"]);
    let delete = plan
        .actionable()
        .find(|c| c.action == Action::Delete)
        .unwrap();
    assert_eq!(delete.vmid, Some(115));
    assert!(stale_reasons(&client, &plan).await.unwrap().is_empty());

    sim.control().clear_log();
    let (_, summary) = run_apply(&client, &db, &plan, fast_opts(4)).await;
    assert!(summary.succeeded(), "{:#?}", summary.lines());
    let log = sim.control().request_log();

    let after = observe(&client).await;
    let created = summary.created();
    assert_eq!(created.len(), 5, "{created:?}");
    // No call touched a guest the plan did not name.
    let mut allowed: BTreeSet<u32> = created.values().copied().collect();
    allowed.extend([102, 115]);
    for entry in &log {
        if let Some(vmid) = path_vmid(&entry.path) {
            assert!(
                allowed.contains(&vmid),
                "{} {} touched an unrelated guest",
                entry.method,
                entry.path
            );
        }
    }
    assert!(after.guest_by_name("lab-06").is_none());
    let db01 = after.guest(102).unwrap();
    let GuestConfig::Vm(vm) = &db01.config else {
        panic!()
    };
    assert_eq!(vm.memory_mib, Some(12288));
    assert!(vm.disks.contains_key("scsi1"));
    assert_eq!(vm.nics[&1].bridge.as_deref(), Some("vmbr1"));
    assert_eq!(
        after.guest_by_name("app-01").unwrap().status,
        GuestStatus::Running
    );
    assert_eq!(
        after.guest_by_name("app-02").unwrap().status,
        GuestStatus::Stopped
    );
    assert!(names_count(&after).values().all(|n| *n == 1));

    // The next plan (with the server's vmids written back) says "No changes.".
    write_back(&mut desired, &after);
    let managed = db
        .managed_vmids()
        .await
        .unwrap()
        .union(&managed)
        .copied()
        .filter(|v| *v != 115)
        .collect();
    let again = plan_of(&desired, &after, &managed);
    assert!(
        again.is_empty(),
        "{}",
        proxmox_mpc::plan::render::render_text(&again)
    );
    assert!(proxmox_mpc::plan::render::render_text(&again).starts_with("No changes."));
    // The journal has a row before and after every step.
    let stored = db
        .latest_plan_with(&[PlanStatus::Applied])
        .await
        .unwrap()
        .unwrap();
    let rows = db.journal(stored.id).await.unwrap();
    for step in plan.actionable() {
        let mine: Vec<&str> = rows
            .iter()
            .filter(|r| r.step == step.id as i64)
            .map(|r| r.status.as_str())
            .collect();
        assert_eq!(mine, vec!["started", "done"], "step {}", step.address());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_end_in_a_clear_summary_and_rerunning_converges() {
    let sim = homelab(Faults {
        seed: 7,
        task_failure_rate: 0.25,
        error_rate_5xx: 0.05,
        ..Faults::none()
    })
    .await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    // 16 creates (8 also started) at 25% task failure: the chance that round 0 fails nothing is
    // about 0.1%, and that a guest still fails after 8 rounds about 0.04%
    let mut desired: Vec<Guest> = (0..16)
        .map(|i| {
            new_vm(
                &format!("batch-{i:02}"),
                ["pve1", "pve2", "pve3"][i % 3],
                i % 2 == 0,
            )
        })
        .collect();
    let mut observed = observe(&client).await;
    let mut managed = BTreeSet::new();
    let mut first_failures = None;
    for round in 0..8 {
        let plan = plan_of(&desired, &observed, &managed);
        if plan.is_empty() {
            break;
        }
        let (_, summary) = run_apply(&client, &db, &plan, fast_opts(4)).await;
        let (done, failed, not_attempted) = summary.counts();
        assert_eq!(done + failed + not_attempted, plan.actionable().count());
        for s in &summary.steps {
            if let StepOutcome::Failed { error } = &s.outcome {
                // a task that failed says so; a refused request names what PVE answered to
                // which call (which of the two happens first depends on request interleaving)
                assert!(
                    error.contains("failed") || error.contains("PVE answered 500 to "),
                    "round {round}: unclear error {error}"
                );
                assert!(
                    summary
                        .lines()
                        .iter()
                        .any(|l| l.starts_with("failed: ") && l.contains(&s.name))
                );
            }
        }
        if first_failures.is_none() {
            first_failures = Some(failed);
        }
        observed = observe(&client).await;
        write_back(&mut desired, &observed);
        managed = db.managed_vmids().await.unwrap();
    }
    assert!(
        first_failures.unwrap_or(0) > 0,
        "the fault rate should have failed something in the first round"
    );
    sim.control().set_faults(Faults::none());
    let last = plan_of(&desired, &observed, &managed);
    assert!(
        last.is_empty(),
        "{}",
        proxmox_mpc::plan::render::render_text(&last)
    );
    let counts = names_count(&observed);
    for g in &desired {
        assert_eq!(
            counts.get(&g.name),
            Some(&1),
            "{} exists exactly once",
            g.name
        );
    }
}

async fn create_many(parallelism: usize) -> Duration {
    let sim = homelab(Faults {
        seed: 11,
        lock_contention_rate: 0.3,
        task_duration: Duration::from_millis(30),
        ..Faults::none()
    })
    .await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    let desired: Vec<Guest> = (0..50)
        .map(|i| {
            new_vm(
                &format!("fleet-{i:02}"),
                ["pve1", "pve2", "pve3"][i % 3],
                true,
            )
        })
        .collect();
    let observed = observe(&client).await;
    let plan = plan_of(&desired, &observed, &BTreeSet::new());
    let mut opts = fast_opts(parallelism);
    opts.per_node = parallelism.div_ceil(2).max(1);
    let started = Instant::now();
    let (_, summary) = run_apply(&client, &db, &plan, opts).await;
    let took = started.elapsed();
    assert!(summary.succeeded(), "{:#?}", summary.lines());
    let after = observe(&client).await;
    for g in &desired {
        let live = after.guest_by_name(&g.name).expect("created once");
        assert_eq!(live.status, GuestStatus::Running);
    }
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the timing goes to the test log for the issue note
async fn fifty_creates_with_parallelism_under_lock_contention_all_succeed() {
    let parallel = create_many(8).await;
    let serial = create_many(1).await;
    eprintln!(
        "50 creates+starts under 30% lock contention: parallelism 8: {parallel:?}, parallelism 1: {serial:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash_at_each_journal_point_repeats_nothing() {
    for point in ["before-request", "after-request", "after-step"] {
        let sim = homelab(Faults {
            task_duration: Duration::from_millis(20),
            ..Faults::none()
        })
        .await;
        let client = client(&sim);
        let dir = tempfile::tempdir().unwrap();
        let db = state(&dir).await;
        let desired: Vec<Guest> = (0..20)
            .map(|i| new_vm(&format!("r-{i:02}"), ["pve1", "pve2", "pve3"][i % 3], false))
            .collect();
        let observed = observe(&client).await;
        let plan: Plan = plan_of(&desired, &observed, &BTreeSet::new());
        let data = serde_json::to_string(&plan).unwrap();
        let plan_id = db.save_plan("default", None, "{}", &data).await.unwrap();
        let target = format!("{point}:7");
        let fired = Arc::new(AtomicBool::new(false));
        let hook_fired = fired.clone();
        let mut opts = fast_opts(4);
        opts.crash_hook = Some(Arc::new(move |p: &str| {
            p == target && !hook_fired.swap(true, Ordering::SeqCst)
        }));
        let first = apply(&client, &db, plan_id, &plan, opts, |_| {})
            .await
            .unwrap();
        assert!(
            fired.load(Ordering::SeqCst),
            "{point}: the crash point was reached"
        );
        assert!(first.interrupted, "{point}");
        let rows_before = db.journal(plan_id).await.unwrap();

        // The next apply of the same plan resumes from the journal.
        let stored: Plan =
            serde_json::from_str(&db.plan(plan_id).await.unwrap().unwrap().data).unwrap();
        let second = apply(
            &client,
            &db,
            plan_id,
            &stored,
            ApplyOptions {
                crash_hook: None,
                ..fast_opts(4)
            },
            |_| {},
        )
        .await
        .unwrap();
        assert!(second.succeeded(), "{point}: {:#?}", second.lines());
        let rows_after = db.journal(plan_id).await.unwrap();
        assert!(
            rows_after.starts_with(&rows_before),
            "{point}: no journal row lost"
        );
        let after = observe(&client).await;
        let counts = names_count(&after);
        for g in &desired {
            assert_eq!(
                counts.get(&g.name),
                Some(&1),
                "{point}: {} exists exactly once",
                g.name
            );
        }
        // Steps done before the crash were not repeated.
        for row in rows_before.iter().filter(|r| r.status == "done") {
            let done_again = rows_after
                .iter()
                .filter(|r| r.step == row.step && r.status == "done")
                .count();
            assert_eq!(done_again, 1, "{point}: step {} ran twice", row.step);
        }
        assert!(db.integrity_problems().await.unwrap().is_empty());
        let mut desired = desired;
        write_back(&mut desired, &after);
        let managed = db.managed_vmids().await.unwrap();
        assert_eq!(managed.len(), 20, "{point}");
        assert!(plan_of(&desired, &after, &managed).is_empty(), "{point}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_changed_meanwhile_stops_its_step_and_says_so() {
    let sim = homelab(Faults::none()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    let observed = observe(&client).await;
    let managed: BTreeSet<u32> = observed.guests.iter().map(|g| g.vmid).collect();
    let mut desired: Vec<Guest> = observed.guests.iter().map(as_file).collect();
    for g in desired
        .iter_mut()
        .filter(|g| g.vmid == 110 || g.vmid == 111)
    {
        if let GuestConfig::Vm(vm) = &mut g.config {
            vm.cores = Some(3);
        }
    }
    let plan = plan_of(&desired, &observed, &managed);
    assert_eq!(plan.counts().change, 2);
    // Someone edits lab-01 in the GUI after the plan was made.
    sim.control()
        .set_guest_config(110, "description", "edited by hand")
        .unwrap();
    let reasons = stale_reasons(&client, &plan).await.unwrap();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains("110") && reasons[0].contains("changed since the plan"),
        "{reasons:?}"
    );
    let (_, summary) = run_apply(&client, &db, &plan, fast_opts(2)).await;
    let failed: Vec<&str> = summary
        .steps
        .iter()
        .filter_map(|s| match &s.outcome {
            StepOutcome::Failed { error } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", summary.lines());
    assert!(
        failed[0].contains("changed by someone else"),
        "{}",
        failed[0]
    );
    assert_eq!(summary.counts(), (1, 1, 0));
    assert_eq!(
        sim.control()
            .guest_config(110)
            .unwrap()
            .get("cores")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        sim.control()
            .guest_config(111)
            .unwrap()
            .get("cores")
            .map(String::as_str),
        Some("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_privilege_is_told_before_anything_changes() {
    use proxmox_mpc::plan::apply::missing_privileges;
    use proxmox_mpc::pve::{Auth, ClientConfig, Secret, TlsMode};
    use proxmox_mpc::sim::TokenKind;
    let sim = homelab(Faults::none()).await;
    let (id, secret) = sim.token(TokenKind::NoAllocate);
    let limited = proxmox_mpc::pve::Client::new(ClientConfig::new(
        sim.url(),
        Auth::Token {
            id,
            secret: Secret::new(secret),
        },
        TlsMode::Pinned(sim.fingerprint().unwrap()),
    ))
    .unwrap();
    let observed = observe(&limited).await;
    let managed: BTreeSet<u32> = observed.guests.iter().map(|g| g.vmid).collect();
    let mut desired: Vec<Guest> = observed.guests.iter().map(as_file).collect();
    desired.push(new_vm("needs-allocate", "pve1", false));
    for g in desired.iter_mut().filter(|g| g.vmid == 110) {
        if let GuestConfig::Vm(vm) = &mut g.config {
            vm.memory_mib = Some(2048);
        }
    }
    let plan = plan_of(&desired, &observed, &managed);
    let missing = missing_privileges(&limited, &plan).await.unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].starts_with("VM.Allocate on /vms (to create vm \"needs-allocate\""),
        "{missing:?}"
    );
    // The full token may.
    assert!(
        missing_privileges(&client(&sim), &plan)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(sim.control().write_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_destroys_then_creates_under_the_same_vmid() {
    let sim = homelab(Faults::none()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    let observed = observe(&client).await;
    let managed: BTreeSet<u32> = observed.guests.iter().map(|g| g.vmid).collect();
    let mut desired: Vec<Guest> = observed
        .guests
        .iter()
        .filter(|g| g.vmid != 201)
        .map(as_file)
        .collect();
    // vmid 201 is a container on the server; the file now wants a VM there.
    let mut vm = new_vm("proxy", "pve2", false);
    vm.vmid = 201;
    desired.push(vm);
    let plan = plan_of(&desired, &observed, &managed);
    let replace: Vec<_> = plan.actionable().collect();
    assert_eq!(replace.len(), 1);
    assert_eq!(replace[0].action, Action::Replace);
    assert!(plan.refusals().is_empty(), "{:?}", plan.refusals());
    let (_, summary) = run_apply(&client, &db, &plan, fast_opts(2)).await;
    assert!(summary.succeeded(), "{:#?}", summary.lines());
    let after = observe(&client).await;
    let g = after.guest(201).unwrap();
    assert_eq!(g.kind, proxmox_mpc::model::GuestKind::Qemu);
    assert_eq!(g.name, "proxy");
    assert!(plan_of(&desired, &after, &managed).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_are_created_before_members_and_a_failed_pool_skips_only_its_members() {
    let sim = homelab(Faults::none()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = state(&dir).await;
    let observed = observe(&client).await;
    let mut member = new_vm("in-team", "pve1", false);
    member.pool = Some("team".into());
    let mut orphan = new_vm("in-bad-pool", "pve2", false);
    orphan.pool = Some("bad pool!".into());
    let loner = new_vm("loner", "pve3", false);
    let desired = vec![member, orphan, loner];
    let plan = plan_of(&desired, &observed, &BTreeSet::new());
    assert_eq!(plan.counts().add, 5);
    let (_, summary) = run_apply(&client, &db, &plan, fast_opts(4)).await;
    let by_name: BTreeMap<&str, &StepOutcome> = summary
        .steps
        .iter()
        .map(|s| (s.name.as_str(), &s.outcome))
        .collect();
    assert!(matches!(by_name["team"], StepOutcome::Done { .. }));
    assert!(matches!(by_name["in-team"], StepOutcome::Done { .. }));
    assert!(matches!(by_name["loner"], StepOutcome::Done { .. }));
    assert!(
        matches!(by_name["bad pool!"], StepOutcome::Failed { .. }),
        "{:?}",
        by_name["bad pool!"]
    );
    match by_name["in-bad-pool"] {
        StepOutcome::Skipped { because } => {
            assert!(because.contains("pool \"bad pool!\""), "{because}")
        }
        other => panic!("expected skipped, got {other:?}"),
    }
    assert_eq!(summary.counts(), (3, 1, 1));
    assert!(
        summary
            .lines()
            .iter()
            .any(|l| l.starts_with("not attempted: vm \"in-bad-pool\""))
    );
    let after = observe(&client).await;
    assert_eq!(
        after.guest_by_name("in-team").unwrap().pool.as_deref(),
        Some("team")
    );
    assert!(after.guest_by_name("in-bad-pool").is_none());
}
