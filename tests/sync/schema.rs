//! Every generated `.tf` file holds to the checked-in bpg/proxmox schema extract
//! (`tests/fixtures/bpg-schema/schema.json`): resource types exist, every attribute and block
//! name exists and may be set, required attributes and blocks are present, block counts stay
//! within bounds, and literal values have the schema's type. Also: no ForceNew attribute that
//! PVE cannot report back (`clone`, `file_id`) is ever written for an imported guest.

use hcl::{Body, Expression};
use proxmox_mpc::iac::sync::SyncOptions;
use serde_json::Value;

use super::common::{Workspace, client, files_under, homelab};

fn schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bpg-schema/schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Terraform meta-arguments and blocks every resource accepts.
const META_ATTRS: &[&str] = &["count", "for_each", "provider", "depends_on"];
const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection"];

fn type_ok(ty: &str, expr: &Expression) -> bool {
    match expr {
        // References (pool ids) and templates are resolved by Terraform.
        Expression::Traversal(_) | Expression::Variable(_) | Expression::TemplateExpr(_) => true,
        Expression::String(_) => ty == "string",
        Expression::Number(_) => ty == "number",
        Expression::Bool(_) => ty == "bool",
        Expression::Array(items) => {
            let inner = ty
                .strip_prefix("list(")
                .or_else(|| ty.strip_prefix("set("))
                .and_then(|t| t.strip_suffix(')'));
            inner.is_some_and(|inner| items.iter().all(|i| type_ok(inner, i)))
        }
        _ => false,
    }
}

fn check_block(path: &str, at: &str, body: &Body, schema: &Value, problems: &mut Vec<String>) {
    let attrs = schema["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let blocks = schema["block_types"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for attr in body.attributes() {
        let key = attr.key();
        if at.matches('.').count() == 1 && META_ATTRS.contains(&key) {
            continue;
        }
        match attrs.get(key) {
            None => problems.push(format!("{path}: {at}.{key} is not in the schema")),
            Some(a) => {
                let settable =
                    a["optional"].as_bool() == Some(true) || a["required"].as_bool() == Some(true);
                if !settable {
                    problems.push(format!("{path}: {at}.{key} is computed only"));
                }
                let ty = a["type"].as_str().unwrap_or_default();
                if !type_ok(ty, attr.expr()) {
                    problems.push(format!(
                        "{path}: {at}.{key} is not a {ty}: {:?}",
                        attr.expr()
                    ));
                }
            }
        }
    }
    for (name, a) in &attrs {
        if a["required"].as_bool() == Some(true) && !body.attributes().any(|x| x.key() == name) {
            problems.push(format!("{path}: {at} lacks required {name}"));
        }
    }
    for (name, b) in &blocks {
        let count = body.blocks().filter(|x| x.identifier() == name).count() as u64;
        if let Some(max) = b["max_items"].as_u64()
            && max > 0
            && count > max
        {
            problems.push(format!(
                "{path}: {at} has {count} {name} blocks, at most {max}"
            ));
        }
        if b["x_required"].as_bool() == Some(true) && count == 0 {
            problems.push(format!("{path}: {at} lacks required block {name}"));
        }
    }
    for block in body.blocks() {
        let name = block.identifier();
        if at.matches('.').count() == 1 && META_BLOCKS.contains(&name) {
            continue;
        }
        match blocks.get(name) {
            None => problems.push(format!("{path}: block {at}.{name} is not in the schema")),
            Some(b) => check_block(
                path,
                &format!("{at}.{name}"),
                block.body(),
                &b["block"],
                problems,
            ),
        }
    }
}

#[tokio::test]
async fn every_generated_tf_file_holds_to_the_bpg_schema() {
    let sim = homelab().await;
    let ws = Workspace::new().await;
    ws.sync(&client(&sim), SyncOptions::default()).await;
    let schema = schema();
    let resources = schema["resource_schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    let mut seen_types = std::collections::BTreeSet::new();
    let mut imports = 0;
    let mut resource_count = 0;
    for rel in files_under(ws.root()).iter().filter(|f| f.ends_with(".tf")) {
        let text = ws.read(rel);
        let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
            match block.identifier() {
                "resource" => {
                    resource_count += 1;
                    let ty = labels[0];
                    seen_types.insert(ty.to_string());
                    match resources.get(ty) {
                        None => {
                            problems.push(format!("{rel}: resource type {ty} is not in the schema"))
                        }
                        Some(r) => {
                            if r["block"]["attributes"]
                                .as_object()
                                .is_some_and(|a| a.values().any(|v| v["x_deprecated"].is_string()))
                                && ty.starts_with("proxmox_virtual_environment_storage")
                            {
                                problems.push(format!("{rel}: {ty} is the deprecated long name"));
                            }
                            check_block(
                                rel,
                                &format!("{ty}.{}", labels[1]),
                                block.body(),
                                &r["block"],
                                &mut problems,
                            );
                        }
                    }
                    for forbidden in ["clone"] {
                        if block.body().blocks().any(|b| b.identifier() == forbidden) {
                            problems.push(format!(
                                "{rel}: {forbidden} forces replacement after import"
                            ));
                        }
                    }
                    for disk in block.body().blocks().filter(|b| b.identifier() == "disk") {
                        if disk
                            .body()
                            .attributes()
                            .any(|a| a.key() == "file_id" || a.key() == "import_from")
                        {
                            problems.push(format!(
                                "{rel}: disk with file_id/import_from forces replacement"
                            ));
                        }
                    }
                }
                "import" => {
                    imports += 1;
                    let keys: Vec<&str> = block.body().attributes().map(|a| a.key()).collect();
                    assert!(
                        keys.contains(&"to") && keys.contains(&"id"),
                        "{rel}: import block {keys:?}"
                    );
                }
                "terraform" | "provider" | "variable" => {}
                other => problems.push(format!("{rel}: unexpected top-level block {other}")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        imports, resource_count,
        "every resource has its import block"
    );
    for ty in [
        "proxmox_virtual_environment_vm",
        "proxmox_virtual_environment_container",
        "proxmox_virtual_environment_pool",
        "proxmox_network_linux_bridge",
        "proxmox_network_linux_vlan",
        "proxmox_storage_directory",
        "proxmox_storage_lvmthin",
        "proxmox_storage_nfs",
    ] {
        assert!(seen_types.contains(ty), "no {ty} generated: {seen_types:?}");
    }
    // The provider is pinned to the version the extract comes from, and its block sets no
    // connection attribute: bpg reads PROXMOX_VE_ENDPOINT, PROXMOX_VE_API_TOKEN and
    // PROXMOX_VE_INSECURE only where the attribute is null, and a required variable without a
    // default would make terraform prompt.
    let provider = ws.read("terraform/provider.tf");
    let constraint = schema["required_providers"]["proxmox"]["version"]
        .as_str()
        .unwrap();
    assert!(
        provider.contains(&format!("version = \"{constraint}\"")),
        "{provider}"
    );
    let body = hcl::parse(&provider).unwrap();
    let block = body
        .blocks()
        .find(|b| b.identifier() == "provider")
        .expect("provider block");
    assert_eq!(block.body().iter().count(), 0, "{provider}");
    for rel in files_under(ws.root()).iter().filter(|f| f.ends_with(".tf")) {
        let body = hcl::parse(&ws.read(rel)).unwrap();
        let required: Vec<String> = body
            .blocks()
            .filter(|b| b.identifier() == "variable")
            .filter(|b| !b.body().attributes().any(|a| a.key() == "default"))
            .map(|b| b.labels()[0].as_str().to_string())
            .collect();
        assert!(
            required.is_empty(),
            "{rel} declares required variables {required:?}"
        );
    }
    // No secret anywhere in the workspace files.
    for rel in files_under(ws.root()) {
        assert!(
            !ws.read(&rel).contains(&sim.token_secret()),
            "{rel} holds the token secret"
        );
    }
}

#[test]
fn the_schema_check_catches_wrong_names_types_and_missing_required() {
    let schema = schema();
    let vm = &schema["resource_schemas"]["proxmox_virtual_environment_vm"]["block"];
    let body = hcl::parse(
        r#"
        vm_id = "100"
        colour = "red"
        cpu { cores = 2 }
        cpu { cores = 4 }
        disk { size = 8 }
        "#,
    )
    .unwrap();
    let mut problems = Vec::new();
    check_block(
        "t.tf",
        "proxmox_virtual_environment_vm.x",
        &body,
        vm,
        &mut problems,
    );
    let text = problems.join("\n");
    assert!(text.contains("vm_id is not a number"), "{text}");
    assert!(text.contains("colour is not in the schema"), "{text}");
    assert!(text.contains("lacks required node_name"), "{text}");
    assert!(text.contains("2 cpu blocks, at most 1"), "{text}");
    assert!(text.contains("disk lacks required interface"), "{text}");
}
