//! No model configured: the built-in parser turns each phrasing of the table into exactly the
//! expected commands, against the homelab's names (web-01 and web-02 exist, lab-01/03/05 run,
//! db-01 has 4 cores); an unknown phrasing proposes nothing and points at /help. One-shot `ask`
//! changes nothing; `? TEXT` in the console runs a read-only answer at once.

use super::common::*;

#[test]
fn each_phrasing_gives_exactly_the_expected_commands() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let before = files(dir.path());
    let table: &[(&str, &[&str])] = &[
        (
            "create three web servers with 4 GB each on pve2",
            &[
                "create vm --name web-03 --memory 4G --node pve2",
                "create vm --name web-04 --memory 4G --node pve2",
                "create vm --name web-05 --memory 4G --node pve2",
            ],
        ),
        (
            "stop all lab vms",
            &["stop vm lab-01", "stop vm lab-03", "stop vm lab-05"],
        ),
        ("give db-01 two more cores", &["set vm db-01 --cores 6"]),
        (
            "snapshot every prod guest before the upgrade",
            &[
                "snapshot vm web-01 --name before_upgrade",
                "snapshot vm web-02 --name before_upgrade",
                "snapshot vm db-01 --name before_upgrade",
                "snapshot vm backup-target --name before_upgrade",
                "snapshot container home-assistant --name before_upgrade",
            ],
        ),
        ("which vms are stopped?", &["list vms --status stopped"]),
        ("make me an app server", &["create vm --name app-01"]),
        ("give web-01 2 more GB", &["set vm web-01 --memory 4G"]),
        ("move web-01 to pve3", &["migrate vm web-01 --to pve3"]),
        (
            "which containers are on pve1",
            &["list containers --node pve1"],
        ),
        ("is there drift", &["/drift"]),
    ];
    for (phrase, want) in table {
        let out = one_shot(&sim, dir.path(), &["ask", phrase]);
        let said = all(&out);
        assert!(out.status.success(), "{phrase}: {}", text(&out));
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(proposed(&said), want, "{phrase}:\n{said}");
    }
    assert_eq!(
        files(dir.path()),
        before,
        "one-shot ask without --yes changed nothing"
    );
    assert_eq!(
        sim.control().guest_running(110),
        Some(true),
        "lab-01 still runs"
    );
}

#[test]
fn an_unknown_phrasing_proposes_nothing_and_points_at_help() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let out = one_shot(&sim, dir.path(), &["ask", "make", "me", "a", "sandwich"]);
    let said = all(&out);
    assert!(!out.status.success(), "{said}");
    assert!(proposed(&said).is_empty(), "{said}");
    assert!(
        said.contains("ask does not understand `make me a sandwich`"),
        "{said}"
    );
    assert!(said.contains("/help"), "{said}");
}

#[test]
fn in_the_console_a_read_runs_at_once_and_yes_runs_a_change() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let out = console(
        &sim,
        dir.path(),
        &[
            "? which vms are stopped",
            "? give db-01 two more cores",
            "edit set vm db-01 --cores 8",
            "yes",
            // `/ask ... --yes` runs what it proposes without a question.
            "/ask give web-01 2 more GB --yes",
        ],
    );
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert!(said.contains("gpu-box"), "{said}");
    // The edited line replaced the proposal and was previewed before the yes.
    assert!(said.contains("Run `set vm db-01 --cores 6`?"), "{said}");
    assert!(
        said.contains("~ vm db-01 (vmid 102): cores 4 -> 8"),
        "{said}"
    );
    let tf = std::fs::read_to_string(dir.path().join("terraform/db_01.tf")).unwrap();
    assert!(tf.contains("cores") && tf.contains("= 8"), "{tf}");
    assert!(
        said.contains("Running `set vm web-01 --memory 4G`:"),
        "{said}"
    );
    let tf = std::fs::read_to_string(dir.path().join("terraform/web_01.tf")).unwrap();
    assert!(tf.contains("4096"), "{tf}");
}
