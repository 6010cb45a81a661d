//! What CI sees: JUnit XML parsed by junitparser (one testcase per check), and the one-shot
//! `proxmox-mpc test` in a workspace made by piped `/init` + `/sync`: summary line, exit code,
//! `--junit`, `--json`.

use std::path::Path;
use std::process::Output;

use proxmox_mpc::infratest::report;
use proxmox_mpc::sim::Sim;

use super::common::{Lab, venv_python};
use crate::support::sim::{TOKEN_VAR, TestSim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_parses_with_one_testcase_per_check() {
    let lab = Lab::synced().await;
    lab.sim.control().set_guest_status(100, false).unwrap();
    let run = lab.run().await;
    let xml = lab.path("junit.xml");
    std::fs::write(&xml, report::junit(&run)).unwrap();
    let script = r#"
import sys
from junitparser import JUnitXml, Failure, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
cases = failures = skipped = 0
names = []
for suite in xml:
    for case in suite:
        cases += 1
        for r in case.result:
            if isinstance(r, Failure):
                failures += 1
                names.append(suite.name + " / " + case.name + " / " + (r.message or ""))
            elif isinstance(r, Skipped):
                skipped += 1
print(cases, failures, skipped)
for n in names:
    print(n)
"#;
    let out = std::process::Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(&xml)
        .output()
        .expect("python of the venv runs (scripts/test makes the venv)");
    assert!(
        out.status.success(),
        "junitparser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (passed, failed, skipped) = run.counts();
    assert_eq!(
        lines.next(),
        Some(format!("{} {failed} {skipped}", passed + failed + skipped).as_str())
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        vec!["web-01 (100) / state / state: expected running, actual stopped"]
    );
}

/// The hermetic binary in `dir` with the token in [`TOKEN_VAR`], `args`, and `stdin` if any.
fn pmpc(sim: &Sim, dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = assert_cmd::Command::from(crate::support::cmd::pmpc(dir));
    cmd.env(
        TOKEN_VAR,
        format!("{}={}", sim.token_id(), sim.token_secret()),
    )
    .args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input.to_string());
    }
    cmd.output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn one_shot_test_prints_one_line_per_guest_and_exits_non_zero_on_failure() {
    let bg = TestSim::homelab();
    let sim = bg.sim();
    let dir = tempfile::tempdir().unwrap();
    let init = format!(
        "/init --endpoint {} --token-id '{}' --secret-env {TOKEN_VAR} --fingerprint {}\n/sync\n",
        sim.url(),
        sim.token_id(),
        sim.fingerprint().unwrap()
    );
    let out = pmpc(sim, dir.path(), &[], Some(&init));
    assert!(out.status.success(), "init + sync: {}", text(&out.stderr));

    let out = pmpc(sim, dir.path(), &["test"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    let summary = regex::Regex::new(r"^\d+ passed, 0 failed$").unwrap();
    assert!(summary.is_match(lines.last().unwrap()), "{stdout}");
    assert!(
        lines.contains(&"ok      web-01 (100)  13 passed"),
        "{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("ok      ")).count(),
        30
    );

    sim.control().set_guest_status(100, false).unwrap();
    sim.control()
        .set_guest_config(102, "memory", "16384")
        .unwrap();
    let out = pmpc(
        sim,
        dir.path(),
        &["test", "--junit", "reports/junit.xml"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("FAILED  web-01 (100)  1 of 13 failed\n    state: expected running, actual stopped  [tests/web_01.yml:"), "{stdout}");
    assert!(
        stdout.contains(
            "FAILED  db-01 (102)  1 of 13 failed\n    memory_mib: expected 8192, actual 16384"
        ),
        "{stdout}"
    );
    let summary = regex::Regex::new(r"(?m)^\d+ passed, 2 failed$").unwrap();
    assert!(summary.is_match(&stdout), "{stdout}");
    assert!(stderr.contains("2 of "), "{stderr}");
    assert!(dir.path().join("reports/junit.xml").is_file());
    assert!(!stdout.contains(&sim.token_secret()) && !stderr.contains(&sim.token_secret()));

    let out = pmpc(
        sim,
        dir.path(),
        &["test", "--json", "--filter", "db-01"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["ok"], false);
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["group"], "db-01 (102)");
    let failed: Vec<&serde_json::Value> = groups[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "memory_mib");
    assert_eq!(failed[0]["expected"], "8192");
    assert_eq!(failed[0]["actual"], "16384");
}

#[test]
fn the_console_runs_test_in_piped_mode() {
    let bg = TestSim::homelab();
    let sim = bg.sim();
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "/init --endpoint {} --token-id '{}' --secret-env {TOKEN_VAR} --fingerprint {}\n/sync\n/test --tag web\n",
        sim.url(),
        sim.token_id(),
        sim.fingerprint().unwrap()
    );
    let out = pmpc(sim, dir.path(), &[], Some(&input));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "ok      web-01 (100)  13 passed\nok      web-02 (101)  13 passed\n26 passed, 0 failed"
        ),
        "{stdout}"
    );
}
