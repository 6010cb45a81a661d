//! The two-cluster flow: `env add prod` (connection tested, certificate pinned), `env list
//! --json`, `--env prod sync` into prod's own files with default's files byte-identical, then
//! `create vm` in default, `promote` to prod, prod's plan and apply creating the guest on the
//! second cluster only, and each environment's plan afterwards.

use crate::env::common::{Clusters, json_out, tf_files, vmid_named};
use crate::support::cmd::{stderr, stdout, text};

#[test]
fn a_second_cluster_is_its_own_environment_and_a_guest_is_promoted_to_it() {
    let c = Clusters::start();
    let before = c.default_files();
    let home_guests = c.home.control().guest_count();

    let added = c.add_prod();
    assert!(
        stderr(&added).contains("Environment prod added"),
        "{}",
        text(&added)
    );
    let listed = json_out(&c.ok(&["env", "list", "--json"], "env list"));
    let names: Vec<&str> = listed["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "prod"], "{listed:#}");
    assert_eq!(listed["active"], "default");
    let prod = &listed["environments"][1];
    assert_eq!(prod["endpoint"], c.prod.url().trim_end_matches('/'));
    assert_eq!(prod["protected"], true);
    assert_eq!(prod["files"], "environments/prod/");

    // --env prod sync imports the second cluster into prod's root module only.
    c.ok(&["--env", "prod", "sync"], "prod sync");
    let prod_tf = tf_files(&c.path().join("environments/prod/terraform"));
    let guest_files: Vec<&String> = prod_tf
        .iter()
        .filter(|(_, t)| t.contains("resource \"proxmox_virtual_environment_"))
        .filter(|(p, _)| p.starts_with("guest_"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(guest_files.len(), 4, "{:?}", prod_tf.keys());
    assert!(
        prod_tf.values().any(|t| t.contains("id = \"node1/100\"")),
        "prod's import blocks name prod's nodes"
    );
    assert!(
        c.path()
            .join("environments/prod/.proxmox/state.db")
            .is_file()
    );
    assert_eq!(
        c.default_files(),
        before,
        "default's files are byte-identical"
    );
    assert!(
        !tf_files(&c.path().join("terraform"))
            .values()
            .any(|t| t.contains("node1")),
        "nothing of prod in default's files"
    );
    // Each environment reads its own: the same command, two clusters.
    let prod_vms = json_out(&c.ok(&["-o", "json", "--env", "prod", "list", "vms"], "prod list"));
    assert!(prod_vms.to_string().contains("guest-101"), "{prod_vms}");
    assert!(!prod_vms.to_string().contains("web-01"), "{prod_vms}");

    // A guest made in default, promoted to prod through prod's node map.
    c.map_prod_nodes();
    c.ok(
        &[
            "create", "vm", "--name", "promo-01", "--node", "pve1", "--memory", "1G", "--cores",
            "1", "--disk", "4G",
        ],
        "create promo-01",
    );
    let promoted = c.ok(
        &["promote", "promo-01", "--from", "default", "--to", "prod"],
        "promote",
    );
    let said = format!("{}{}", stdout(&promoted), stderr(&promoted));
    assert!(said.contains("Promoted promo-01"), "{said}");
    assert!(
        said.contains("promo-01"),
        "the plan of prod is shown: {said}"
    );
    let file = std::fs::read_to_string(c.path().join("environments/prod/terraform/promo_01.tf"))
        .expect("promo-01's file in prod");
    let node_line = file
        .lines()
        .find(|l| l.trim_start().starts_with("node_name"));
    assert!(
        node_line.is_some_and(|l| l.ends_with("\"node1\"")),
        "{file}"
    );
    assert!(
        !file.contains("import {"),
        "a new guest has nothing to import: {file}"
    );

    let planned = c.run(&["--env", "prod", "plan", "--detailed-exitcode"]);
    assert_eq!(planned.status.code(), Some(2), "{}", text(&planned));
    assert!(stdout(&planned).contains("promo-01"), "{}", text(&planned));

    c.ok(&["--env", "prod", "apply", "--yes"], "prod apply");
    let vmid = vmid_named(&c.prod, "promo-01").expect("promo-01 created on prod's cluster");
    assert_eq!(c.prod.control().guest_node(vmid).as_deref(), Some("node1"));
    assert_eq!(
        vmid_named(&c.home, "promo-01"),
        None,
        "not on the first cluster"
    );
    assert_eq!(c.home.control().guest_count(), home_guests);

    let again = c.run(&["--env", "prod", "plan", "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "prod has no changes: {}",
        text(&again)
    );
    let home = c.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(home.status.code(), Some(2), "{}", text(&home));
    assert!(stdout(&home).contains("promo-01"), "{}", text(&home));

    // `env use` switches; the prompt's environment is the active one.
    c.ok(&["env", "use", "prod"], "env use prod");
    let listed = json_out(&c.ok(&["env", "list", "--json"], "env list"));
    assert_eq!(listed["active"], "prod");
    let status = c.ok(&["-o", "json", "list", "vms"], "list in prod");
    assert!(stdout(&status).contains("promo-01"), "{}", text(&status));
    let console = crate::support::cmd::ok(
        {
            let mut cmd = crate::support::cmd::pmpc_utf8(c.path());
            cmd.env(crate::env::common::PROD_VAR, c.prod.full_token());
            assert_cmd::Command::from(cmd)
                .write_stdin("/env show prod\n")
                .output()
                .unwrap()
        },
        "console",
    );
    assert!(stdout(&console).contains("prod"), "{}", text(&console));

    // Every change is a commit, each environment's files included; state stays out of git.
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(c.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let log = git(&["log", "--format=%s"]);
    assert!(log.contains("env: add prod"), "{log}");
    assert!(
        log.contains("promote: promo-01 from default to prod"),
        "{log}"
    );
    let tracked = git(&["ls-files"]);
    assert!(
        tracked.contains("environments/prod/terraform/promo_01.tf"),
        "{tracked}"
    );
    assert!(!tracked.contains("state.db"), "{tracked}");
    assert_eq!(
        git(&["status", "--porcelain"]),
        "",
        "nothing left uncommitted"
    );

    for secret in [c.home.secret(), c.prod.secret()] {
        assert!(!c.all_text().contains(&secret), "no secret in a file");
        assert!(!stdout(&console).contains(&secret));
    }
}
