//! `/explain`: the last failed console command with its own hints and the commands they name,
//! kept across sessions in state.db without a secret; the last plan in words; with a model,
//! its short explanation too.

use super::common::*;
use super::double::{Double, words};

#[test]
fn the_last_error_is_explained_with_its_hints_and_the_commands_to_try() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let out = console(&sim, dir.path(), &["/explain"]);
    assert!(all(&out).contains("Nothing to explain"), "{}", text(&out));

    let out = console(&sim, dir.path(), &["show vm no-such-guest"]);
    assert!(!out.status.success());
    let failed = all(&out);

    // Another session: the failure was kept in state.db.
    let out = console(&sim, dir.path(), &["/explain"]);
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        said.contains("`show vm no-such-guest` failed"),
        "{said}\n--- failure:\n{failed}"
    );
    assert!(said.contains("no-such-guest"), "{said}");
    assert!(!said.contains(&sim.secret()));

    // A plan in words.
    let out = console(
        &sim,
        dir.path(),
        &[
            "create vm --name app-01 --memory 2G",
            "/plan --offline",
            "/explain plan",
        ],
    );
    let said = all(&out);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        said.contains("1 to add, 0 to change, 0 to destroy"),
        "{said}"
    );
    assert!(said.contains("app-01 is created"), "{said}");
    assert!(said.contains("Next: /apply carries it out"), "{said}");
}

#[test]
fn with_a_model_the_explanation_adds_its_words_and_sends_no_secret() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let model = Double::start(vec![words(
        "The guest name is not in the workspace. List the guests with `list vms`.",
    )]);
    use_model(dir.path(), &model.endpoint());
    let out = console(&sim, dir.path(), &["show vm no-such-guest", "/explain"]);
    let said = all(&out);
    assert!(said.contains("The model's explanation:"), "{said}");
    assert!(said.contains("List the guests with `list vms`"), "{said}");
    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].body.contains("no-such-guest"));
    assert!(!requests[0].body.contains(&sim.secret()));
    assert!(!requests[0].body.contains(AI_KEY));
}

#[test]
fn a_failed_test_run_is_explained_with_what_failed() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    // The server moves away from the files: web-01's memory check fails.
    sim.control()
        .set_guest_config(100, "memory", "4096")
        .expect("the server takes the change");
    let out = console(&sim, dir.path(), &["/test", "/explain"]);
    let said = all(&out);
    assert!(said.contains("`/test` failed"), "{said}");
    assert!(said.contains("What failed:"), "{said}");
    assert!(said.contains("web-01"), "{said}");
    assert!(
        said.contains("/sync --adopt"),
        "the test's own hint names the next command:\n{said}"
    );
}
