//! Bad input: an unknown environment (`--env`, `env use`, `env show`), removing the active
//! one, an environment whose server is down, a promote whose storage has no mapping, another
//! guest of the same name in the target. Each says what is wrong and what to do, and leaves
//! config.yml and the files as they were.

use crate::env::common::{Clusters, PROD_VAR};
use crate::support::cmd::{stderr, text};
use crate::support::files::{Unreadable, relative_files};

fn config(c: &Clusters) -> String {
    std::fs::read_to_string(c.path().join(".proxmox/config.yml")).unwrap()
}

/// Runs and asserts a failure whose stderr says each of `words`.
fn refused(c: &Clusters, args: &[&str], words: &[&str]) {
    let out = c.run(args);
    assert!(!out.status.success(), "{args:?} succeeded:\n{}", text(&out));
    let err = stderr(&out);
    for w in words {
        assert!(
            err.contains(w),
            "{args:?}: `{w}` not in the message:\n{}",
            text(&out)
        );
    }
    assert!(!err.contains("panicked"), "{}", text(&out));
}

#[test]
fn bad_environment_input_is_refused_with_the_reason_and_nothing_written() {
    let mut c = Clusters::start();
    let before = config(&c);

    // Unknown environments.
    refused(&c, &["--env", "nope", "status"], &["`nope`", "default"]);
    refused(
        &c,
        &["env", "use", "nope"],
        &["no environment `nope`", "/env add"],
    );
    refused(&c, &["env", "show", "nope"], &["no environment `nope`"]);
    refused(
        &c,
        &["env", "add", "../up", "--endpoint", "https://127.0.0.1:1"],
        &["not an environment name"],
    );

    // The active environment cannot be removed.
    refused(
        &c,
        &["env", "remove", "default", "--yes"],
        &["active environment", "/env use"],
    );

    // A server that is down: nothing is written, not even the folder.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = format!("https://127.0.0.1:{port}");
    refused(
        &c,
        &[
            "env",
            "add",
            "prod",
            "--endpoint",
            &down,
            "--token-id",
            "root@pam!mpc",
            "--secret-env",
            PROD_VAR,
            "--yes",
        ],
        &["did not answer", &down, "nothing was written"],
    );
    assert_eq!(config(&c), before, "config.yml untouched");
    assert!(
        !c.path().join("environments").exists(),
        "no half-made environment"
    );

    // A certificate that is not pinned and not accepted.
    refused(
        &c,
        &[
            "env",
            "add",
            "prod",
            "--endpoint",
            &c.prod.url(),
            "--token-id",
            &c.prod.token_id(),
            "--secret-env",
            PROD_VAR,
        ],
        &["not trusted yet", "--fingerprint"],
    );
    assert_eq!(config(&c), before);
    assert!(!c.path().join("environments").exists());

    // A promote whose storage has no mapping: `small` exists on the homelab only.
    c.add_prod();
    c.map_prod_nodes();
    c.ok(&["--env", "prod", "sync"], "prod sync");
    c.ok(
        &[
            "create", "vm", "--name", "tiny-01", "--node", "pve3", "--memory", "512M", "--disk",
            "small:2G",
        ],
        "create on small",
    );
    let prod_before = relative_files(&c.path().join("environments/prod"), Unreadable::Panic)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".proxmox"))
        .collect::<std::collections::BTreeMap<_, _>>();
    refused(
        &c,
        &["promote", "tiny-01", "--to", "prod"],
        &[
            "storage `small`",
            "environments.prod.map",
            "nothing was written",
        ],
    );
    // No node mapping for pve3 either: both are named.
    refused(
        &c,
        &["promote", "tiny-01", "--to", "prod"],
        &["node `pve3`"],
    );
    // A guest of that name in prod that is not the same one.
    std::fs::write(
        c.path().join("environments/prod/terraform/other.tf"),
        "resource \"proxmox_virtual_environment_vm\" \"other\" {\n  node_name = \"node2\"\n  vm_id     = 950\n  name      = \"db-01\"\n}\n",
    )
    .unwrap();
    refused(
        &c,
        &["promote", "db-01", "--to", "prod"],
        &[
            "already has a different guest named db-01",
            "nothing was written",
        ],
    );
    std::fs::remove_file(c.path().join("environments/prod/terraform/other.tf")).unwrap();
    let prod_after = relative_files(&c.path().join("environments/prod"), Unreadable::Panic)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".proxmox"))
        .collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(prod_before, prod_after, "nothing half-written in prod");

    // An unknown environment for promote and export.
    refused(
        &c,
        &["promote", "web-01", "--to", "staging"],
        &["no environment `staging`"],
    );
    refused(
        &c,
        &["export", "--env", "staging", "--to", "out"],
        &["environment `staging`"],
    );
    assert!(!c.path().join("out").exists());
    // prod's server goes down: its commands say which server did not answer; default works on.
    let prod_url = c.prod.url();
    drop(std::mem::replace(
        &mut c.prod,
        crate::env::common::generated(1, 1, 3),
    ));
    let files = c.default_files();
    refused(
        &c,
        &["--env", "prod", "sync"],
        &[prod_url.trim_end_matches('/')],
    );
    refused(
        &c,
        &["promote", "db-01", "--to", "prod"],
        &["environment `prod`", "nothing was written"],
    );
    c.ok(&["plan"], "default plans while prod is down");
    assert_eq!(c.default_files(), files);

    // Removing prod while it is the one --env chose is refused; from default it works.
    refused(
        &c,
        &["--env", "prod", "env", "remove", "prod", "--yes"],
        &["cannot remove it"],
    );
    c.ok(&["env", "remove", "prod", "--yes"], "env remove prod");
    assert!(!c.path().join("environments").exists());
    assert!(!config(&c).contains("prod"));
}

#[test]
fn config_set_under_env_changes_that_environment_and_keeps_the_active_one() {
    let c = Clusters::start();
    c.add_prod();
    let before = config(&c);
    assert!(
        before.contains("active: \"default\"") || before.contains("active: default"),
        "{before}"
    );
    let out = c.run(&["--env", "prod", "config", "set", "defaults.node", "node2"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = config(&c);
    assert_eq!(
        after.lines().find(|l| l.starts_with("active:")),
        before.lines().find(|l| l.starts_with("active:")),
        "--env chose prod for one command; config.yml's active stays:\n{after}"
    );
    let shown = c.run(&["--env", "prod", "config"]);
    assert!(text(&shown).contains("node2"), "{}", text(&shown));
    let default = c.run(&["config"]);
    assert!(
        !text(&default).contains("node2"),
        "the default environment did not change: {}",
        text(&default)
    );
}
