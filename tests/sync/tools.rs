//! The generated files pass the real tools: python-hcl2 parses every `.tf`;
//! `ansible-inventory --list` lists every non-template guest in the right groups;
//! `ansible-playbook --syntax-check` and `ansible-lint --profile production` pass. The tools
//! come from the venv `scripts/test` installs (PMPC_VENV).

use std::path::Path;
use std::process::Command;

use proxmox_mpc::iac::sync::SyncOptions;
use serde_json::Value;

use super::common::{Workspace, client, files_under, homelab, venv_bin};

/// Runs a venv tool in `dir` with a private HOME, returning stdout; fails with the tool's output.
fn run_tool(dir: &Path, tool: &str, args: &[&str]) -> String {
    let bin = venv_bin(tool);
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/test once to install the Python tools (or set PMPC_VENV)",
        bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(&bin)
        .args(args)
        .current_dir(dir)
        .env("HOME", home.path())
        .env("ANSIBLE_HOME", home.path().join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", home.path().join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn python_hcl2_parses_every_tf_file() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    ws.sync(&client(&sim), SyncOptions::default()).await;
    let tf: Vec<String> = files_under(ws.root())
        .into_iter()
        .filter(|f| f.ends_with(".tf"))
        .collect();
    assert!(tf.len() > 20);
    let script = "import sys, json, hcl2\n\
                  n = 0\n\
                  for p in sys.argv[1:]:\n\
                  \x20   with open(p) as f:\n\
                  \x20       d = hcl2.load(f)\n\
                  \x20   n += len(d.get('resource', []))\n\
                  print(json.dumps({'files': len(sys.argv) - 1, 'resources': n}))\n";
    let mut args = vec!["-c", script];
    args.extend(tf.iter().map(String::as_str));
    let out = run_tool(ws.root(), "python", &args);
    let counts: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(counts["files"], tf.len());
    assert!(counts["resources"].as_u64().unwrap() > 30, "{counts}");
}

#[tokio::test]
async fn ansible_tools_accept_the_inventory_and_playbooks() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;

    let out = run_tool(
        ws.root(),
        "ansible-inventory",
        &["-i", "ansible/inventory.yml", "--list"],
    );
    let inv: Value = serde_json::from_str(&out).expect("ansible-inventory prints JSON");
    let hostvars = inv["_meta"]["hostvars"].as_object().unwrap();
    let group_hosts = |g: &str| -> Vec<String> {
        inv[g]["hosts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let running = group_hosts("running");
    let stopped = group_hosts("stopped");
    let templates = group_hosts("templates");
    for g in &run.snapshot.guests {
        let report = run.report.guests.iter().find(|r| r.vmid == g.vmid).unwrap();
        let ident = Path::new(&report.file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let vars = &hostvars[&ident];
        assert_eq!(vars["vmid"], g.vmid, "{ident}");
        assert_eq!(vars["proxmox_node"], g.node.as_str(), "{ident}");
        if g.template {
            assert!(
                templates.contains(&ident)
                    && !running.contains(&ident)
                    && !stopped.contains(&ident)
            );
        } else {
            assert!(
                running.contains(&ident) ^ stopped.contains(&ident),
                "{ident} in exactly one state group"
            );
            assert!(group_hosts(&format!("node_{}", g.node)).contains(&ident));
            assert!(group_hosts(g.kind.as_str()).contains(&ident));
            for tag in &g.tags {
                assert!(
                    group_hosts(&format!("tag_{}", tag.replace('-', "_"))).contains(&ident),
                    "{ident} tag {tag}"
                );
            }
        }
    }
    // A guest with a static cloud-init address gets it as ansible_host.
    assert_eq!(hostvars["web_01"]["ansible_host"], "127.10.0.100");

    let ansible_dir = ws.path("ansible");
    run_tool(
        &ansible_dir,
        "ansible-playbook",
        &["--syntax-check", "-i", "inventory.yml", "provision.yml"],
    );
    run_tool(
        &ansible_dir,
        "ansible-playbook",
        &["--syntax-check", "-i", "inventory.yml", "site.yml"],
    );
    let lint = run_tool(
        ws.root(),
        "ansible-lint",
        &["--profile", "production", "--nocolor", "ansible/"],
    );
    let _ = lint;
}
