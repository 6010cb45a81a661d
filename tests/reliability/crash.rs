//! SIGKILL at many moments of `sync` (reading the cluster, writing files) and of `apply`
//! (between and inside steps): every generated file is either its old or its new version,
//! never half written; `state.db` passes `PRAGMA integrity_check`; the next run exits 0 and
//! leaves exactly the files of an uninterrupted run, with no duplicate guest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proxmox_mpc::sim::{Faults, SimConfig};

use super::common::{
    TestSim, differences, generated, guest_names, init, integrity, masking_server_choices, ok,
    piped, pmpc, run, text,
};

/// Copies the folder `from` (files and folders) into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `args` in `dir` and SIGKILLs it after `delay`; returns whether it had already ended.
fn run_and_kill(sim: &TestSim, dir: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child = pmpc(sim, dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
    child.wait().unwrap();
    false
}

/// Each file is byte-equal to its old or its new version; returns (old, new) counts.
fn old_or_new(
    got: &BTreeMap<PathBuf, Vec<u8>>,
    old: &BTreeMap<PathBuf, Vec<u8>>,
    new: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) -> (usize, usize) {
    let (mut olds, mut news) = (0, 0);
    for (path, bytes) in got {
        // A writer killed between its temp file and the rename leaves `.NAME.tmp-PID` (never
        // a `.tf`/`.yml` a tool reads); the next sync removes it (checked by the callers).
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") {
            continue;
        }
        if new.get(path) == Some(bytes) {
            news += 1;
        } else if old.get(path) == Some(bytes) {
            olds += 1;
        } else {
            panic!(
                "{what}: {} is neither its old nor its new version:\n{}",
                path.display(),
                String::from_utf8_lossy(bytes)
            );
        }
    }
    (olds, news)
}

#[allow(clippy::print_stderr)] // crash points tried go to the test log for the issue note
#[test]
fn sigkill_during_sync_leaves_old_or_new_files_and_the_next_sync_finishes() {
    let sim = TestSim::start_with(SimConfig::generated(3, 120, 7));
    let old_ws = init(&sim);
    ok(run(&sim, old_ws.path(), &["sync"]), "first sync");
    let old = generated(old_ws.path());
    // The cluster changes: every guest gets a new description, so every guest file is rewritten.
    for vmid in sim.control().guest_ids() {
        sim.control()
            .set_guest_config(vmid, "description", "changed by the crash test")
            .unwrap();
    }
    let reference = tempfile::tempdir().unwrap();
    copy_tree(old_ws.path(), reference.path());
    let started = Instant::now();
    ok(
        run(&sim, reference.path(), &["sync", "--adopt"]),
        "uninterrupted sync",
    );
    let full = started.elapsed();
    let new = generated(reference.path());
    assert!(
        !differences(&old, &new).is_empty(),
        "the change shows in the files"
    );

    let mut tried = 0;
    let mut mixed = 0;
    // Timing varies with the machine's load: spread the kills over the whole run and a bit
    // more, and require only that several landed inside it.
    // Extra kills near the end aim at the file-writing phase and the snapshot save after it.
    let fractions = (1..=12)
        .map(|t| f64::from(t) / 10.0)
        .chain([0.9, 0.95, 0.99]);
    for fraction in fractions {
        let delay = full.mul_f64(fraction);
        let ws = tempfile::tempdir().unwrap();
        copy_tree(old_ws.path(), ws.path());
        let finished = run_and_kill(&sim, ws.path(), &["sync", "--adopt"], delay);
        let what = format!("kill after {delay:?}");
        let (olds, news) = old_or_new(&generated(ws.path()), &old, &new, &what);
        if !finished {
            tried += 1;
            if olds > 0 && news > 0 && !differences(&old, &generated(ws.path())).is_empty() {
                mixed += 1;
            }
        }
        assert_eq!(integrity(&sim, ws.path()), Vec::<String>::new(), "{what}");
        ok(
            run(&sim, ws.path(), &["sync", "--adopt"]),
            &format!("sync after {what}"),
        );
        let diff = differences(&new, &generated(ws.path()));
        assert!(diff.is_empty(), "{what}: {diff:#?}");
    }
    eprintln!("sync crash points: {tried} kills during a {full:?} sync, {mixed} of them mid-write");
    assert!(tried >= 3, "several kills landed inside the sync ({tried})");
}

#[allow(clippy::print_stderr)]
#[test]
fn sigkill_during_apply_resumes_to_the_files_of_an_uninterrupted_run() {
    let edits = [
        "/sync",
        "create vm --name crash-01 --cores 1 --memory 512 --node pve1",
        "create vm --name crash-02 --cores 1 --memory 512 --node pve2",
        "create vm --name crash-03 --cores 1 --memory 512 --node pve3",
        "create vm --name crash-04 --cores 1 --memory 512 --node pve1",
        "set vm lab-01 --memory 3G",
    ];
    let slow_tasks = Faults {
        task_duration: Duration::from_millis(150),
        ..Faults::none()
    };
    // The uninterrupted run on its own simulator.
    let reference_sim = TestSim::homelab();
    reference_sim.set_faults(slow_tasks.clone());
    let reference = init(&reference_sim);
    ok(
        piped(&reference_sim, reference.path(), &[], &edits),
        "edits",
    );
    let old = generated(reference.path());
    let started = Instant::now();
    ok(
        run(
            &reference_sim,
            reference.path(),
            &["apply", "--yes", "--parallelism", "2"],
        ),
        "uninterrupted apply",
    );
    let full = started.elapsed();
    // The server chooses MAC addresses and creation stamps anew on each simulator.
    let new = masking_server_choices(&generated(reference.path()));
    let reference_names: BTreeSet<String> = guest_names(&reference_sim).into_iter().collect();

    let mut tried = 0;
    // Kills while steps run and in the last moments (after the journal marked the plan
    // applied, before the import blocks were written back).
    for fifth in 1..=4 {
        let delay = full.mul_f64(f64::from(fifth) / 5.0);
        let sim = TestSim::homelab();
        sim.set_faults(slow_tasks.clone());
        let dir = init(&sim);
        let ws = dir.path();
        ok(piped(&sim, ws, &[], &edits), "edits");
        assert!(differences(&old, &generated(ws)).is_empty());
        let what = format!("kill after {delay:?}");
        if !run_and_kill(&sim, ws, &["apply", "--yes", "--parallelism", "2"], delay) {
            tried += 1;
        }
        old_or_new(
            &masking_server_choices(&generated(ws)),
            &masking_server_choices(&old),
            &new,
            &what,
        );
        assert_eq!(integrity(&sim, ws), Vec::<String>::new(), "{what}");
        let out = run(&sim, ws, &["apply", "--yes", "--parallelism", "2"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: resumed apply\n{}",
            text(&out)
        );
        let names = guest_names(&sim);
        let unique: BTreeSet<String> = names.iter().cloned().collect();
        assert_eq!(names.len(), unique.len(), "{what}: duplicates {names:?}");
        assert_eq!(unique, reference_names, "{what}");
        let got = masking_server_choices(&generated(ws));
        let diff = differences(&new, &got);
        let first = diff.first().and_then(|d| d.split_once(": ")).map(|(_, p)| {
            let p = std::path::PathBuf::from(p);
            format!(
                "expected:\n{}\ngot:\n{}",
                String::from_utf8_lossy(new.get(&p).map(Vec::as_slice).unwrap_or_default()),
                String::from_utf8_lossy(got.get(&p).map(Vec::as_slice).unwrap_or_default())
            )
        });
        assert!(
            diff.is_empty(),
            "{what}: {diff:#?}\n{}\n{}",
            first.unwrap_or_default(),
            text(&out)
        );
        let plan = run(&sim, ws, &["plan", "--detailed-exitcode"]);
        assert_eq!(plan.status.code(), Some(0), "{what}:\n{}", text(&plan));
    }
    eprintln!("apply crash points: {tried} kills during a {full:?} apply");
    assert!(tried >= 3, "most kills landed inside the apply ({tried})");
}

#[test]
fn a_write_back_lost_to_a_late_kill_is_repaired_by_the_next_apply() {
    let sim = TestSim::homelab();
    let dir = init(&sim);
    let ws = dir.path();
    ok(
        piped(
            &sim,
            ws,
            &[],
            &[
                "/sync",
                "create vm --name late-01 --cores 1 --memory 512 --node pve2",
                "/plan",
            ],
        ),
        "edits",
    );
    let file = ws.join("terraform/late_01.tf");
    let before = std::fs::read(&file).unwrap();
    ok(run(&sim, ws, &["apply", "--yes"]), "apply");
    let after = std::fs::read(&file).unwrap();
    assert_ne!(before, after, "the write-back changed the file");
    // What a SIGKILL between the journal's last row and the write-back leaves behind.
    std::fs::write(&file, &before).unwrap();
    let out = ok(
        run(&sim, ws, &["apply", "--yes"]),
        "apply after the lost write-back",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Added the import blocks") && stderr.contains("late_01.tf"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&file).unwrap()),
        String::from_utf8_lossy(&after)
    );
    let names = guest_names(&sim);
    assert_eq!(names.iter().filter(|n| *n == "late-01").count(), 1);
}

#[allow(clippy::print_stderr)]
#[test]
fn a_sync_killed_between_file_writes_leaves_old_or_new_files() {
    let sim = TestSim::start_with(SimConfig::generated(3, 40, 9));
    let old_ws = init(&sim);
    ok(run(&sim, old_ws.path(), &["sync"]), "first sync");
    let old = generated(old_ws.path());
    for vmid in sim.control().guest_ids() {
        sim.control()
            .set_guest_config(vmid, "description", "rewritten by the crash test")
            .unwrap();
    }
    // A plain sync reports drift and keeps the files; --adopt rewrites every guest file.
    let reference = tempfile::tempdir().unwrap();
    copy_tree(old_ws.path(), reference.path());
    ok(
        run(&sim, reference.path(), &["sync", "--adopt"]),
        "uninterrupted sync",
    );
    let new = generated(reference.path());
    let changed = differences(&old, &new).len();
    assert!(changed > 40, "every guest file changes ({changed})");

    for after in [0, 1, changed / 2, changed - 1] {
        let ws = tempfile::tempdir().unwrap();
        copy_tree(old_ws.path(), ws.path());
        let out = pmpc(&sim, ws.path())
            .args(["sync", "--adopt"])
            .env("PMPC_CRASH_AT", format!("sync-write:{after}"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "the sync died after {after} files");
        let what = format!("killed after {after} of {changed} files");
        let (olds, news) = old_or_new(&generated(ws.path()), &old, &new, &what);
        let now_new = differences(&old, &generated(ws.path())).len();
        assert_eq!(now_new, after, "{what}: {olds} old, {news} new");
        assert_eq!(integrity(&sim, ws.path()), Vec::<String>::new(), "{what}");
        // What a kill between a temp file and its rename leaves (a pid that cannot be alive):
        // the next sync removes it.
        let guests = ws.path().join("terraform");
        std::fs::write(guests.join(".stale.tf.tmp-2147483000"), "half").unwrap();
        ok(
            run(&sim, ws.path(), &["sync", "--adopt"]),
            &format!("sync after {what}"),
        );
        let diff = differences(&new, &generated(ws.path()));
        assert!(diff.is_empty(), "{what}: {diff:#?}");
    }
    eprintln!(
        "sync write crash points: 4 (after 0, 1, {}, {} of {changed} files)",
        changed / 2,
        changed - 1
    );
}
