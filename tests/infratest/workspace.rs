//! Workspace checks: Terraform maps to the model and would plan no changes after import, the
//! provider is pinned, the inventory names only existing guests, no file holds a token secret
//! (and the report never repeats it).

use proxmox_mpc::infratest::{Status, report};

use super::common::{Lab, failures, result};

const G: &str = "workspace";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_checks_pass_on_a_synced_workspace_and_catch_each_problem() {
    let lab = Lab::synced().await;
    let run = lab.run().await;
    for name in [
        "terraform parses and maps to the model",
        "provider version is pinned",
        "inventory names only existing guests",
        "no token secret in any file",
    ] {
        assert_eq!(
            result(&run, G, name).status,
            Status::Passed,
            "{name}: {}",
            failures(&run)
        );
    }
    let as_written = result(&run, G, "files match what the console wrote");
    assert_eq!(as_written.status, Status::Passed, "{as_written:?}");
    let message = as_written.message.as_deref().unwrap();
    assert!(!message.contains("edited by hand"), "{message}");

    // Break each one.
    let secret = lab.sim.token_secret();
    lab.write(
        "notes/deploy.sh",
        &format!(
            "#!/bin/sh\n# deploy\nexport TF_VAR_proxmox_api_token='{}={secret}'\n",
            lab.sim.token_id()
        ),
    );
    lab.write(
        "terraform/extra.tf",
        "resource \"null_resource\" \"x\" {\n  triggers = {\n",
    );
    let provider = lab
        .read("terraform/provider.tf")
        .replace("~> 0.111.1", ">= 0.100");
    lab.write("terraform/provider.tf", &provider);
    let inventory = lab.read("ansible/inventory.yml").replacen(
        "  hosts:\n",
        "  hosts:\n    ghost_host:\n      vmid: 999\n",
        1,
    );
    lab.write("ansible/inventory.yml", &inventory);

    let run = lab.run().await;
    // provider.tf and inventory.yml were written by the console and edited since: reported,
    // not a failure; notes/ and extra.tf the console never wrote.
    let as_written = result(&run, G, "files match what the console wrote");
    assert_eq!(as_written.status, Status::Passed, "{as_written:?}");
    assert!(
        as_written.message.as_deref().unwrap().contains(
            "edited by hand since the console wrote it: ansible/inventory.yml, terraform/provider.tf"
        ),
        "{as_written:?}"
    );
    let secrets = result(&run, G, "no token secret in any file");
    assert_eq!(secrets.status, Status::Failed);
    assert_eq!(
        secrets.actual.as_deref(),
        Some("notes/deploy.sh:3 (this workspace's token secret)")
    );
    let tf = result(&run, G, "terraform parses and maps to the model");
    assert_eq!(tf.status, Status::Failed);
    assert!(
        tf.actual
            .as_deref()
            .unwrap()
            .starts_with("terraform/extra.tf:"),
        "{tf:?}"
    );
    let pinned = result(&run, G, "provider version is pinned");
    assert_eq!(pinned.status, Status::Failed);
    assert_eq!(
        pinned.actual.as_deref(),
        Some("terraform/provider.tf: bpg/proxmox version >= 0.100")
    );
    let inv = result(&run, G, "inventory names only existing guests");
    assert_eq!(inv.status, Status::Failed);
    assert_eq!(inv.actual.as_deref(), Some("unknown hosts: ghost_host"));

    // The secret is never repeated by any output.
    let json = report::json(&run).to_string();
    let junit = report::junit(&run);
    let lines = report::lines(&run).join("\n");
    for text in [&json, &junit, &lines] {
        assert!(!text.contains(&secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_file_the_reader_cannot_map_is_reported() {
    let lab = Lab::synced().await;
    let path = "terraform/web_01.tf";
    let text = lab.read(path);
    let broken = text.replacen("cores", "cores = var.cores_for_web\n  # was", 1);
    assert_ne!(broken, text);
    lab.write(path, &broken);
    let run = lab.run().await;
    let tf = result(&run, G, "terraform parses and maps to the model");
    assert_eq!(tf.status, Status::Failed, "{}", failures(&run));
    let actual = tf.actual.as_deref().unwrap();
    assert!(actual.starts_with("terraform/web_01.tf:"), "{tf:?}");
    assert!(actual.contains("var.cores_for_web"), "{tf:?}");
}

/// The check: right after /sync, `terraform plan` would change nothing (as judged by the
/// model of bpg's import); stopping a running guest in its file is reported with the guest, the
/// attribute and what applying would do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_would_plan_no_changes_until_a_file_says_otherwise() {
    let lab = Lab::synced().await;
    let run = lab.run().await;
    let check = result(&run, G, "terraform would plan no changes");
    assert_eq!(check.status, Status::Passed, "{check:?}");
    assert!(
        check
            .message
            .as_deref()
            .is_some_and(|m| m.contains("imported guests")),
        "{check:?}"
    );

    let path = "terraform/web_01.tf";
    let text = lab.read(path);
    let edited = text.replacen("started       = true", "started       = false", 1);
    assert_ne!(edited, text, "web-01 runs in the homelab");
    lab.write(path, &edited);
    let run = lab.run().await;
    let check = result(&run, G, "terraform would plan no changes");
    assert_eq!(check.status, Status::Failed, "{check:?}");
    let actual = check.actual.as_deref().unwrap();
    assert!(actual.contains("web-01"), "{actual}");
    assert!(actual.contains("terraform/web_01.tf"), "{actual}");
    assert!(
        actual.contains("started: file false, after import true (update)"),
        "{actual}"
    );
    assert_eq!(actual.lines().count(), 1, "only that attribute: {actual}");
}
