//! `/export --env prod --to DIR`: a bundle whose `.tf` files parse with hcl-rs and python-hcl2
//! and pass `terraform fmt -check`, with no secret, no state and no absolute path; the same
//! bundle as tar.gz; and `/init --from-bundle` on a third cluster (whose VMIDs collide with the
//! bundle's) that plans exactly the bundle's guests.

use std::collections::BTreeSet;
use std::process::Command;

use crate::env::common::{Clusters, PROD_VAR, THIRD_VAR, generated, json_out, tf_files};
use crate::support::cmd::{ok, pmpc, text};
use crate::support::files::{Unreadable, relative_files};
use crate::support::venv::Venv;

#[test]
fn an_exported_bundle_is_plain_terraform_and_plans_its_guests_on_another_cluster() {
    let c = Clusters::start();
    c.add_prod();
    c.ok(&["--env", "prod", "sync"], "prod sync");
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("prod-bundle");
    c.ok(
        &["export", "--env", "prod", "--to", bundle.to_str().unwrap()],
        "export",
    );

    let files = relative_files(&bundle, Unreadable::Panic);
    let names: BTreeSet<String> = files.keys().map(|p| p.display().to_string()).collect();
    for wanted in [
        "README.md",
        "bundle.json",
        "terraform/provider.tf",
        "terraform/prod.tfvars",
        "ansible/inventory.yml",
        "docs/inventory.md",
    ] {
        assert!(names.contains(wanted), "{wanted} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".proxmox") || n.contains("state")),
        "{names:?}"
    );
    assert!(
        !names.contains("terraform/networks.tf"),
        "the cluster's own networks stay home"
    );
    let home_path = c.path().display().to_string();
    for (path, bytes) in &files {
        let body = String::from_utf8_lossy(bytes);
        for secret in [c.home.secret(), c.prod.secret()] {
            assert!(!body.contains(&secret), "{} holds a secret", path.display());
        }
        assert!(
            !body.contains(&home_path),
            "{} holds an absolute path",
            path.display()
        );
    }

    // Every .tf parses with hcl-rs and python-hcl2 and is in terraform fmt's layout.
    let tf = tf_files(&bundle.join("terraform"));
    assert_eq!(
        tf.keys().filter(|p| p.starts_with("guest_")).count(),
        4,
        "{:?}",
        tf.keys()
    );
    for (path, body) in &tf {
        hcl::parse(body).unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
        assert!(
            !body.contains("import {"),
            "{path}: the bundle's guests are new ones"
        );
    }
    let python = Venv::find().bin("python");
    let parsed = Command::new(python)
        .arg("-c")
        .arg(
            "import sys, pathlib, hcl2\n\
             for p in sorted(pathlib.Path(sys.argv[1]).glob('*.tf')):\n\
             \x20   hcl2.loads(p.read_text())\n\
             print('ok')",
        )
        .arg(bundle.join("terraform"))
        .output()
        .unwrap();
    assert!(parsed.status.success(), "python-hcl2: {}", text(&parsed));
    let fmt = Command::new("terraform")
        .args(["fmt", "-check", "-recursive"])
        .arg(bundle.join("terraform"))
        .output()
        .expect("terraform is on PATH");
    assert!(fmt.status.success(), "terraform fmt -check: {}", text(&fmt));

    // The global flag says the same as export's own.
    let again = out.path().join("again");
    c.ok(
        &["--env", "prod", "export", "--to", again.to_str().unwrap()],
        "--env prod export",
    );
    assert_eq!(relative_files(&again, Unreadable::Panic), files);

    // The same bundle as one archive.
    let archive = out.path().join("prod.tar.gz");
    c.ok(
        &[
            "export",
            "--env",
            "prod",
            "--to",
            archive.to_str().unwrap(),
            "--format",
            "tar.gz",
        ],
        "export tar.gz",
    );
    let unpacked = out.path().join("unpacked");
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg({
            std::fs::create_dir_all(&unpacked).unwrap();
            &unpacked
        })
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", text(&untar));
    assert_eq!(relative_files(&unpacked, Unreadable::Panic), files);

    // A third cluster: generated with another seed, its VMIDs 100.. taken like the bundle's.
    let third = generated(2, 3, 99);
    let site = tempfile::tempdir().unwrap();
    let init = pmpc(site.path())
        .env(THIRD_VAR, third.full_token())
        .args([
            "init",
            "--from-bundle",
            bundle.to_str().unwrap(),
            "--endpoint",
            &third.url(),
            "--token-id",
            &third.token_id(),
            "--secret-env",
            THIRD_VAR,
            "--fingerprint",
            &third.fingerprint(),
        ])
        .output()
        .unwrap();
    let init = ok(init, "init --from-bundle");
    assert!(
        String::from_utf8_lossy(&init.stderr).contains("is taken on this cluster"),
        "{}",
        text(&init)
    );
    let planned = pmpc(site.path())
        .env(THIRD_VAR, third.full_token())
        .env(PROD_VAR, "unused")
        .args(["plan", "--json"])
        .output()
        .unwrap();
    let plan = json_out(&ok(planned, "plan on the third cluster"));
    let changes = plan["changes"].as_array().expect("changes");
    let creates: BTreeSet<&str> = changes
        .iter()
        .filter(|ch| ch["action"] == "create")
        .map(|ch| ch["name"].as_str().unwrap())
        .collect();
    let wanted: BTreeSet<&str> = ["guest-100", "guest-101", "guest-102", "guest-103"].into();
    assert_eq!(creates, wanted, "{plan:#}");
    assert_eq!(changes.len(), 4, "only the bundle's guests: {plan:#}");
    let vmids: BTreeSet<u64> = changes.iter().filter_map(|c| c["vmid"].as_u64()).collect();
    assert!(
        vmids.iter().all(|v| *v >= 103),
        "free VMIDs on the third cluster: {vmids:?}"
    );
}
