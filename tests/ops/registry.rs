//! One registry for every front end: `proxmox-mpc schema` prints it, and the command line's
//! subcommands, the console's `/help` and its completion list exactly its operations.

use std::collections::BTreeSet;
use std::process::Command;

use proxmox_mpc::commands::registry::operations;
use serde_json::Value;

fn schema() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_proxmox-mpc"))
        .arg("schema")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn schema_lists_every_operation_with_its_input_and_whether_it_changes_anything() {
    let doc = schema();
    let ops = doc["operations"].as_array().unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o["name"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "distinct names: {names:?}");
    for want in [
        "sync", "plan", "apply", "test", "status", "create", "delete", "start", "stop",
    ] {
        let op = ops
            .iter()
            .find(|o| o["name"] == want)
            .unwrap_or_else(|| panic!("{want} missing: {names:?}"));
        assert_eq!(op["input_schema"]["type"], "object", "{want}: {op}");
        assert!(
            op["mutating"].is_boolean() && op["confirm"].is_boolean(),
            "{op}"
        );
    }
    let get = |n: &str| ops.iter().find(|o| o["name"] == n).unwrap();
    assert_eq!(get("status")["mutating"], false);
    assert_eq!(get("plan")["mutating"], false);
    assert_eq!(get("apply")["mutating"], true);
    assert_eq!(get("apply")["changes"]["cluster"], true);
    assert_eq!(get("create")["changes"]["files"], true);
    assert_eq!(get("create")["changes"]["cluster"], false);
    assert_eq!(get("stop")["confirm"], true);
    // The input schemas are the typed requests': sync's flags, create's language flags.
    assert_eq!(
        get("sync")["input_schema"]["properties"]["adopt"]["type"],
        "boolean"
    );
    assert!(
        get("create")["input_schema"]["properties"]["flags"]["properties"]["memory"].is_object()
    );
    // A guest-snapshot rollback is its own operation, never the workspace's rollback: one acts
    // on the cluster now, the other rewrites the files (and asks first).
    assert!(names.contains(&"snapshot-rollback"), "{names:?}");
    assert_eq!(get("snapshot-rollback")["changes"]["cluster"], true);
    assert_eq!(get("snapshot-rollback")["changes"]["files"], false);
    assert_eq!(get("rollback")["changes"]["cluster"], false);
    assert_eq!(get("rollback")["changes"]["files"], true);
    assert_eq!(get("rollback")["confirm"], true);
    assert!(
        get("rollback")["summary"]
            .as_str()
            .unwrap()
            .contains("workspace files"),
        "{}",
        get("rollback")
    );
    assert_eq!(get("history")["mutating"], false);
}

#[test]
fn command_line_help_and_completion_list_exactly_the_registry() {
    let ops = operations();
    let on_cli: BTreeSet<String> = ops
        .iter()
        .filter(|o| o.scope != "console")
        .map(|o| o.name.clone())
        .collect();
    let clap: BTreeSet<String> = proxmox_mpc::cli::build()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert_eq!(clap, on_cli);

    // /help: the console's slash commands, then the resource verbs.
    let help = proxmox_mpc::commands::registry::help_list();
    let listed: BTreeSet<String> = help
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        // The console spells a guest-snapshot rollback `rollback`.
        .map(|w| {
            if w == "rollback" {
                "snapshot-rollback"
            } else {
                w
            }
        })
        .filter(|w| w.starts_with('/') || ops.iter().any(|o| o.name == *w && o.scope == "both"))
        .map(|w| w.trim_start_matches('/').to_string())
        .collect();
    let in_console: BTreeSet<String> = ops
        .iter()
        .filter(|o| o.scope != "cli")
        .map(|o| o.name.clone())
        .collect();
    assert_eq!(listed, in_console, "{help}");

    // Completion: `/` + Tab offers the slash commands; an empty line the resource verbs (the
    // console's words for them, aliases included).
    let (_, slash) = proxmox_mpc::console::completion::complete("/", 1, &Default::default());
    let slash: BTreeSet<String> = slash
        .iter()
        .map(|(_, r)| r.trim().trim_start_matches('/').to_string())
        .collect();
    let verbs: BTreeSet<String> = ops
        .iter()
        .filter(|o| o.scope != "cli")
        .filter(|o| proxmox_mpc::commands::registry::operation_verb(&o.name).is_some())
        .map(|o| o.name.clone())
        .collect();
    let slash_ops: BTreeSet<String> = in_console.difference(&verbs).cloned().collect();
    assert_eq!(slash, slash_ops);
    let (_, words) = proxmox_mpc::console::completion::complete("", 0, &Default::default());
    let words: BTreeSet<String> = words.iter().map(|(_, r)| r.trim().to_string()).collect();
    for op in &verbs {
        let spelled = if op == "snapshot-rollback" {
            "rollback"
        } else {
            op.as_str()
        };
        assert!(words.contains(spelled), "{spelled} not offered: {words:?}");
    }
}
