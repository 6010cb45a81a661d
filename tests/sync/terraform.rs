//! Real Terraform is the judge: the root module `/sync` writes (the homelab seed plus every
//! fixture guest) is loaded by Terraform 1.11 itself, with a test provider plugin that serves
//! the checked-in bpg/proxmox schema over Terraform's plugin protocol (`tests/tfplugin/`), wired
//! in through `dev_overrides` (no download). Terraform validates every file against the schema,
//! finds every import block in the root module, and plans: each guest's imported state comes
//! from the model of bpg's import (`src/iac/bpg`), and Terraform's own planning (schema
//! defaults, `ignore_changes`) must find no guest to change, create or replace. Pools, node
//! networks and storages are imported as their files say, without the provider's defaults for
//! their timeouts, so only their loading and import is asserted here (their read-back is the
//! audit's P/N/S rows).

use std::path::Path;
use std::process::Command;

use proxmox_mpc::iac::fidelity::{predicted_state, storage_types};
use proxmox_mpc::iac::sync::SyncOptions;
use serde_json::Value;

use super::common::{Workspace, client, homelab, venv_bin};

fn state_name(id: &str) -> String {
    id.replace(['/', ':'], "_")
}

fn write_state(dir: &Path, rtype: &str, id: &str, state: &Value) {
    let path = dir.join(rtype).join(format!("{}.json", state_name(id)));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(state).unwrap()).unwrap();
}

/// States of the non-guest resources: what their files say.
fn file_states(root: &Path, dir: &Path) {
    for name in ["pools.tf", "networks.tf", "storages.tf"] {
        let text = std::fs::read_to_string(root.join("terraform").join(name)).unwrap();
        let body: Value = hcl::from_str(&text).unwrap();
        let Some(resources) = body.get("resource").and_then(Value::as_object) else {
            continue;
        };
        for (rtype, by_name) in resources {
            for attrs in by_name.as_object().unwrap().values() {
                let mut state = attrs.clone();
                let map = state.as_object_mut().unwrap();
                map.remove("lifecycle");
                let id = match rtype.as_str() {
                    "proxmox_virtual_environment_pool" => {
                        map["pool_id"].as_str().unwrap().to_string()
                    }
                    t if t.starts_with("proxmox_network_linux") => format!(
                        "{}:{}",
                        map["node_name"].as_str().unwrap(),
                        map["name"].as_str().unwrap()
                    ),
                    _ => map["id"].as_str().unwrap().to_string(),
                };
                write_state(dir, rtype, &id, &state);
            }
        }
    }
}

/// `terraform fmt -check -recursive` in `dir`: every generated file is already canonical.
fn fmt_check(dir: &Path) {
    let out = Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-list=true"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "terraform fmt would change: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs tests/tfplugin/check.py on a root module with the states in `states`.
fn check(root_module: &Path, states: &Path) -> Value {
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tfplugin/check.py");
    let python = venv_bin("python");
    let out = Command::new(&python)
        .arg(&checker)
        .arg(root_module)
        .arg("--states")
        .arg(states)
        .arg("--json")
        .env("PMPC_VENV", python.parent().unwrap().parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

/// True when Terraform can judge here; says so loudly when it cannot (and fails under CI).
#[allow(clippy::print_stderr)] // the run's output says loudly when Terraform did not judge
fn terraform_present() -> bool {
    if Command::new("terraform").arg("version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "terraform is not on the PATH; CI must run this test"
    );
    eprintln!(
        "\n!!! SKIPPED: terraform is not on the PATH, so real Terraform did not judge the files !!!\n"
    );
    false
}

fn is_guest(address: &str) -> bool {
    address.starts_with("proxmox_virtual_environment_vm.")
        || address.starts_with("proxmox_virtual_environment_container.")
}

/// The guests' predicted states (the import model) and the other resources' states.
fn states_for(snapshot: &proxmox_mpc::model::ClusterSnapshot, root: &Path) -> tempfile::TempDir {
    let states = tempfile::tempdir().unwrap();
    let types = storage_types(snapshot);
    for g in &snapshot.guests {
        write_state(
            states.path(),
            proxmox_mpc::iac::bpg::resource_type(g.kind),
            &format!("{}/{}", g.node, g.vmid),
            &predicted_state(g, &types),
        );
    }
    file_states(root, states.path());
    states
}

/// Asserts Terraform planned imports only: no guest changed or replaced, nothing created or
/// destroyed, every guest imported. Returns the number of imports.
fn assert_only_imports(summary: &Value, guests: usize) -> usize {
    assert_eq!(summary["valid"], true, "{summary:#}");
    assert_eq!(summary["plan_ok"], true, "{summary:#}");
    for key in ["create", "update", "replace", "delete"] {
        let listed: Vec<&Value> = summary[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                key == "create"
                    || key == "delete"
                    || is_guest(e["address"].as_str().unwrap_or_default())
            })
            .collect();
        assert!(listed.is_empty(), "{key}: {listed:#?}\n{summary:#}");
    }
    let imported: Vec<&str> = summary["import"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let guest_imports = imported.iter().filter(|a| is_guest(a)).count();
    assert_eq!(
        guest_imports, guests,
        "every guest file is in the root module: {summary:#}"
    );
    imported.len()
}

/// The committed example, from the folder the README names, as a user would run it: canonical,
/// loads with every guest's import block, and plans imports only.
#[tokio::test]
async fn the_example_workspace_loads_from_the_readme_folder() {
    if !terraform_present() {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    fmt_check(&example);
    let sim = homelab().await;
    let snapshot = client(&sim).discover(|_, _| {}).await.unwrap();
    let states = states_for(&snapshot, &example);
    let summary = check(&example.join("terraform"), states.path());
    assert_only_imports(&summary, snapshot.guests.len());
}

#[tokio::test]
#[allow(clippy::print_stderr)] // the count goes to the test log for the issue note
async fn terraform_loads_the_root_module_and_plans_only_imports() {
    if !terraform_present() {
        return;
    }
    let sim = homelab().await;
    super::fidelity::load_fixtures(&sim);
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    fmt_check(ws.root());
    let states = states_for(&run.snapshot, ws.root());
    let summary = check(&ws.path("terraform"), states.path());
    let imports = assert_only_imports(&summary, run.snapshot.guests.len());
    eprintln!(
        "terraform: {imports} imports ({} guests), no guest changed or replaced, nothing created or destroyed",
        run.snapshot.guests.len()
    );
}
