//! `proxmox-mpc sync` as a user runs it: `init` against the simulator, then `sync` twice, and a
//! template override from `.proxmox/templates/`.

use super::common::homelab;
use crate::support::cmd::pmpc_with_secret as mpc;

#[tokio::test(flavor = "multi_thread")]
async fn init_then_sync_writes_the_workspace_and_a_second_sync_says_nothing_changed() {
    let sim = homelab().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = sim.token_secret();
    let out = mpc(dir.path(), &secret)
        .args([
            "init",
            "--endpoint",
            &sim.url(),
            "--token-id",
            &sim.token_id(),
        ])
        .args(["--secret-env", "PMPC_TEST_SECRET", "--fingerprint"])
        .arg(sim.fingerprint().unwrap())
        .arg("--yes")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A user template override: the provider file gets the user's header.
    let custom = dir.path().join(".proxmox/templates/terraform");
    std::fs::create_dir_all(&custom).unwrap();
    let builtin = include_str!("../../templates/terraform/provider.tf.tera");
    std::fs::write(
        custom.join("provider.tf.tera"),
        format!("# our team's header\n{builtin}"),
    )
    .unwrap();

    let out = mpc(dir.path(), &secret).arg("sync").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync: {stderr}");
    assert!(stderr.contains("29 new"), "{stderr}");
    let provider = std::fs::read_to_string(dir.path().join("terraform/provider.tf")).unwrap();
    assert!(provider.starts_with("# our team's header\n"), "{provider}");
    assert!(dir.path().join("terraform/web_01.tf").is_file());

    let out = mpc(dir.path(), &secret)
        .args(["sync", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync: {stderr}");
    assert!(stderr.contains("Nothing changed"), "{stderr}");
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["serial"], 2);
    assert_eq!(data["counts"]["unchanged"], 29);
    assert_eq!(data["written"].as_array().unwrap().len(), 0);

    // --agent-ips asks the running VMs' agents and says so; wiki (no static address) gets its
    // agent's address in the inventory, which is the only file that changes.
    let out = mpc(dir.path(), &secret)
        .args(["sync", "--agent-ips", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync --agent-ips: {stderr}");
    assert!(stderr.contains("guest agents for addresses"), "{stderr}");
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["agents"]["addresses"]["106"], "127.10.0.106");
    assert_eq!(
        data["written"],
        serde_json::json!(["ansible/inventory.yml"])
    );
    let inventory = std::fs::read_to_string(dir.path().join("ansible/inventory.yml")).unwrap();
    assert!(
        inventory.contains("proxmox_name: \"wiki\"\n      proxmox_type: \"qemu\"\n      ansible_host: \"127.10.0.106\""),
        "{inventory}"
    );

    // The secret went nowhere: not in the files, not in the state database.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&secret),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
