//! Bad input: a typo'd key, a wrong type, a YAML syntax error, a guest not in the code. Each
//! names the file and line, counts as one failure, and every other check still runs.

use proxmox_mpc::infratest::{Status, report};

use super::common::{Lab, failures};

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_name_file_and_line_and_the_rest_still_runs() {
    let lab = Lab::synced().await;
    let clean = lab.run().await;
    assert!(clean.ok(), "{}", failures(&clean));

    // A typo'd key in a generated spec.
    let web = lab.spec_of(100);
    let text = lab.read(&web).replace("  cores: 2", "  corse: 2");
    lab.write(&web, &text);
    let typo_line = line_of(&text, "corse:");
    // A wrong type in another.
    let db = lab.spec_of(102);
    let text = lab
        .read(&db)
        .replace("memory_mib: 8192", "memory_mib: lots");
    lab.write(&db, &text);
    let type_line = line_of(&text, "memory_mib: lots");
    // A spec for a guest that is not in the code.
    lab.write(
        "tests/old_guest.yml",
        "version: 1\nguest:\n  vmid: 4242\n  kind: \"qemu\"\n  name: \"old\"\nexpect:\n  exists: true\n",
    );
    // A YAML syntax error in a hand-written file.
    lab.write(
        "tests/checks/bad_yaml.yml",
        "version: 1\nchecks:\n  - guest: web-02\n    tcp: {port: 22\n",
    );
    // A hand-written file with one entry naming an unknown guest and one good entry.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    lab.write(
        "tests/checks/mixed.yml",
        &format!(
            "version: 1\nchecks:\n  - guest: web-99\n    tcp: 22\n  - guest: web-02\n    name: good one\n    tcp: {{host: 127.0.0.1, port: {port}}}\n  - guest: web-02\n    cpu_below: lots\n  - guest: web-02\n    name: nothing to check\n"
        ),
    );

    let run = lab.run().await;
    let broken: Vec<_> = run
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    let mut found: Vec<(String, String)> = broken
        .iter()
        .map(|r| (r.source.clone(), r.message.clone().unwrap_or_default()))
        .collect();
    found.sort();
    let expect_contains = [
        (format!("{web}:{typo_line}"), "unknown field `corse`"),
        (format!("{db}:{type_line}"), "memory_mib"),
        ("tests/checks/bad_yaml.yml:".to_string(), ""),
        (
            "tests/checks/mixed.yml:3".to_string(),
            "guest `web-99` is not in the code",
        ),
        (
            "tests/checks/mixed.yml:8".to_string(),
            "cpu_below: `lots` is not a percentage",
        ),
        ("tests/checks/mixed.yml:10".to_string(), "has no check"),
        (
            "tests/old_guest.yml:3".to_string(),
            "guest 4242 is not in the code",
        ),
    ];
    assert_eq!(found.len(), expect_contains.len(), "{}", failures(&run));
    for (source, needle) in &expect_contains {
        assert!(
            found
                .iter()
                .any(|(s, m)| s.starts_with(source.as_str()) && m.contains(needle)),
            "no failure at {source} containing {needle:?}; have {found:#?}"
        );
    }
    // Every broken file or entry is one failure; every other check ran and passed.
    let web_01_checks = run
        .results
        .iter()
        .filter(|r| r.group == "web-01 (100)")
        .count();
    assert_eq!(web_01_checks, 0, "the typo'd spec yields no guest checks");
    assert!(
        run.results.iter().any(|r| r.group == "web-02 (101)"
            && r.name == "good one"
            && r.status == Status::Passed)
    );
    let (passed, failed, _) = run.counts();
    assert_eq!(failed, expect_contains.len());
    let (clean_passed, _, _) = clean.counts();
    // Two specs (web-01: 13 checks, db-01: 13) no longer yield checks; one hand-written passes.
    assert_eq!(passed, clean_passed - 13 - 13 + 1);
    let lines = report::lines(&run);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("FAILED  {web}:{typo_line}"))),
        "{lines:#?}"
    );
    drop(listener);
}
