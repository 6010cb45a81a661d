//! `proxmox-mpc demo`: a workspace against the built-in simulator, reused on the next run,
//! and never placed inside an existing workspace.

use crate::common::{TestSim, pmpc, snapshot, stderr, stdout, workspace};

#[test]
fn demo_reuses_its_workspace_on_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = pmpc(dir.path())
            .args(["demo", "try"])
            .write_stdin("/status --live\n")
            .output()
            .unwrap();
        let (so, se) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "run {run}: {se}");
        assert!(se.contains("this cluster is simulated"), "{se}");
        assert!(
            so.contains("3 online (pve1, pve2, pve3)"),
            "run {run}: {so}"
        );
        if run == 1 {
            assert!(se.contains("Reusing the demo workspace"), "{se}");
        }
    }
    let config = std::fs::read_to_string(dir.path().join("try/.proxmox/config.yml")).unwrap();
    assert!(config.contains("env:PROXMOX_MPC_DEMO_TOKEN"), "{config}");
}

#[test]
fn demo_inside_a_workspace_goes_elsewhere_and_leaves_it_alone() {
    let sim = TestSim::homelab();
    let ws = workspace(&sim);
    let before = snapshot(ws.path());
    let out = pmpc(ws.path())
        .arg("demo")
        .write_stdin("/status\n")
        .output()
        .unwrap();
    let se = stderr(&out);
    assert!(out.status.success(), "{se}");
    assert!(se.contains("the demo uses"), "{se}");
    assert_eq!(snapshot(ws.path()), before);
    // Remove the temporary demo folder it named.
    let used = se
        .split("the demo uses ")
        .nth(1)
        .and_then(|rest| rest.split(" instead").next())
        .expect("the folder is named");
    assert!(used.contains("proxmox-mpc-demo-"), "{used}");
    std::fs::remove_dir_all(used).unwrap();
}
