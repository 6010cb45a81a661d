//! `/tour` in `proxmox-mpc demo`: walked to its end in a real terminal (tmux), leaving a
//! workspace whose files are committed and match the cluster; `q` leaves it early; outside the
//! demo it explains that it needs the demo.

use crate::common::{TestSim, pmpc, stderr, stdout, workspace};
use crate::pty::Tmux;

/// Each step, and what its output shows once it ran.
const STEPS: &[(&str, &str)] = &[
    ("", "Synced 29 guests"),
    ("", "Files written: terraform/tour_01.tf"),
    ("", "Plan: 1 to add, 0 to change, 0 to destroy."),
    ("", "Apply complete: 1 added"),
    ("skip", "Skipped step 5: /test"),
    (
        "",
        "Changed tour-01's memory on the simulated server from 1024 to 2048 MiB",
    ),
    ("", "1 adopted"),
    ("", "Tour finished."),
];

#[test]
fn a_person_walks_the_tour_to_its_end_and_keeps_a_normal_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start_args(dir.path(), &[], &["demo", "walk"]);
    let screen = tmux.wait_for("proxmox-mpc[default]> ");
    assert!(
        screen.contains("Type /tour for a guided walk"),
        "the demo offers the tour:\n{screen}"
    );
    tmux.type_line("/tour");
    let screen = tmux.wait_for("tour 1/8> ");
    assert!(screen.contains("Step 1/8: /sync"), "{screen}");
    assert!(screen.contains("Press Enter to run it"), "{screen}");
    for (n, (answer, shown)) in STEPS.iter().enumerate() {
        tmux.wait_for(&format!("tour {}/8> ", n + 1));
        tmux.type_line(answer);
        tmux.wait_for(shown);
    }
    // The drift step found the change on the server; the last step's plan had nothing to do.
    let screen = tmux.wait_for("No changes. The cluster matches the files.");
    assert!(
        screen.contains("memory: file 1024 -> live 2048"),
        "the drift is reported:\n{screen}"
    );
    // The tour is over: the prompt is the ordinary one and lines run as usual.
    tmux.type_line("/plan");
    tmux.wait_for_n("No changes. The cluster matches the files.", 2);
    tmux.type_line("/exit");
    tmux.wait_gone();

    let ws = dir.path().join("walk");
    let file = std::fs::read_to_string(ws.join("terraform/tour_01.tf")).unwrap();
    assert!(
        file.contains("2048"),
        "the adopted memory is in the file:\n{file}"
    );
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(
        stdout(&status).trim().is_empty(),
        "every change the tour made is committed:\n{}",
        stdout(&status)
    );
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&ws)
        .output()
        .unwrap();
    let log = stdout(&log);
    for subject in ["create vm tour-01", "apply plan", "drift adopted"] {
        assert!(
            log.contains(subject),
            "{subject} not in the history:\n{log}"
        );
    }
}

#[test]
fn q_leaves_the_tour_and_outside_the_demo_it_says_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let out = pmpc(dir.path())
        .args(["demo", "d"])
        .write_stdin("/tour\nq\n\n/status\n")
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{se}");
    assert!(se.contains("Type /tour"), "{se}");
    assert!(so.contains("Step 1/8: /sync"), "{so}");
    assert!(se.contains("Left the tour"), "{se}");
    // After q an empty line is only an empty line: the sync of step 1 never ran.
    assert!(!se.contains("Synced"), "{se}");
    assert!(!dir.path().join("d/terraform/web_01.tf").exists());

    let sim = TestSim::homelab();
    let ws = workspace(&sim);
    let out = crate::common::piped(&sim, ws.path(), &["/tour"]);
    let se = stderr(&out);
    assert!(!out.status.success());
    assert!(se.contains("/tour runs only in `proxmox-mpc demo`"), "{se}");
    assert!(se.contains("run `proxmox-mpc demo`"), "{se}");
}
