//! Two consoles on one workspace: reads work in both at once; while one applies, a second
//! `apply` or `sync` is refused naming the process that holds the lock; a lock left by a
//! killed process is detected and cleared by the next apply.

use std::time::{Duration, Instant};

use proxmox_mpc::sim::Faults;

use super::common::{TestSim, guest_names, init, ok, piped, pmpc, run, text};

#[test]
fn two_consoles_read_together_and_a_second_writer_is_refused_with_the_holder() {
    let sim = TestSim::homelab();
    let dir = init(&sim);
    let ws = dir.path();
    ok(run(&sim, ws, &["sync"]), "sync");

    // Reads in two consoles at the same time.
    let reads = ["/status", "show vm lab-01", "/plan", "/status"];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| piped(&sim, ws, &[], &reads));
        let b = s.spawn(|| piped(&sim, ws, &[], &reads));
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [&a, &b] {
        assert!(out.status.success(), "a reading console:\n{}", text(out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("lab-01"),
            "{}",
            text(out)
        );
    }

    // A slow apply holds the lock.
    ok(
        piped(
            &sim,
            ws,
            &[],
            &[
                "create vm --name conc-01 --cores 1 --memory 512 --node pve1",
                "/plan",
            ],
        ),
        "create",
    );
    sim.set_faults(Faults {
        task_duration: Duration::from_millis(2500),
        ..Faults::none()
    });
    let mut first = pmpc(&sim, ws)
        .args(["apply", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = ws.join(".proxmox/apply.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock.exists() {
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let holder = format!("{}@", first.id());
    for (args, what) in [(&["apply", "--yes"][..], "apply"), (&["sync"][..], "sync")] {
        if first.try_wait().unwrap().is_some() {
            let out = first.wait_with_output().unwrap();
            panic!(
                "the first apply ended before the {what} test:\n{}",
                text(&out)
            );
        }
        let second = run(&sim, ws, args);
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            !second.status.success(),
            "a second {what} ran:\n{}",
            text(&second)
        );
        assert!(
            stderr.contains(&holder) && stderr.contains("in progress"),
            "the refusal of {what} names the holder {holder}:\n{stderr}"
        );
    }
    // Reads still work while the apply runs.
    ok(run(&sim, ws, &["status"]), "status during apply");
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "first apply:\n{}", text(&out));
    assert!(!lock.exists(), "the lock is released");
    let names = guest_names(&sim);
    assert_eq!(
        names.iter().filter(|n| *n == "conc-01").count(),
        1,
        "{names:?}"
    );

    // A killed apply leaves its lock behind; the next apply clears it and says so.
    ok(
        piped(
            &sim,
            ws,
            &[],
            &[
                "create vm --name conc-02 --cores 1 --memory 512 --node pve2",
                "/plan",
            ],
        ),
        "create",
    );
    let mut killed = pmpc(&sim, ws)
        .args(["apply", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !lock.exists() {
        assert!(
            Instant::now() < deadline + Duration::from_secs(20),
            "no lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let dead_pid = killed.id();
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(lock.exists(), "SIGKILL leaves the lock file");
    sim.set_faults(Faults::none());
    let out = run(&sim, ws, &["apply", "--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr.contains(&format!("stale apply lock left by process {dead_pid}")),
        "{stderr}"
    );
    assert!(!lock.exists());
    let names = guest_names(&sim);
    assert_eq!(
        names.iter().filter(|n| *n == "conc-02").count(),
        1,
        "{names:?}"
    );
    let plan = run(&sim, ws, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}
