//! Hostile strings in names, descriptions, tags, pools and unmapped keys come back exactly:
//! through the generated HCL (hcl-rs), through the generated YAML (yaml_serde and the real
//! `ansible-inventory`), and end to end from the simulator.

use std::collections::BTreeMap;

use proxmox_mpc::iac::Templates;
use proxmox_mpc::iac::ansible::render_inventory;
use proxmox_mpc::iac::desired::{read_texts, read_workspace};
use proxmox_mpc::iac::filters::{hcl_string, yaml_string};
use proxmox_mpc::iac::spec::render_spec;
use proxmox_mpc::iac::sync::SyncOptions;
use proxmox_mpc::iac::terraform::{pool_idents, render_guest, render_pools};
use proxmox_mpc::iac::view::file_view;
use proxmox_mpc::model::{
    CloudInit, ClusterSnapshot, ContainerConfig, Guest, GuestConfig, GuestKind, GuestStatus, Pool,
    VmConfig,
};

use super::common::{Workspace, client, homelab, venv_bin};

/// Strings that break naive HCL, YAML, Jinja or Markdown generation.
pub const HOSTILE: &[&str] = &[
    r#"say "hi" to C:\temp\ and \\server"#,
    "line one\nline two\r\n\ttabbed",
    "${var.proxmox_api_token} and %{ if true }x%{ endif }",
    "$${already} %%{doubled} $ % { }",
    "{{ lookup('env', 'HOME') }} {% raw %} {# c #}",
    ": starts with colon",
    "# looks like a comment",
    "- looks like a list item",
    "key: value # tail",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "~",
    "0x1F",
    "1e3",
    "@at `tick` | pipe * star [link](x) <b>html</b> &amp;",
    "🚀 rocket 👩‍👩‍👧 family",
    "مرحبا שלום \u{202e}reversed\u{202c} end",
    "trailing backslash \\",
    "control \u{1} bell \u{7} del \u{7f} nbsp\u{a0}ls\u{2028}ps\u{2029}bom\u{feff}",
    "",
    " leading and trailing spaces ",
];

fn hostile_vm(vmid: u32, text: &str) -> Guest {
    let mut unmodelled = BTreeMap::new();
    unmodelled.insert("args".to_string(), text.to_string());
    Guest {
        vmid,
        name: text.to_string(),
        node: "pve1".into(),
        kind: GuestKind::Qemu,
        status: GuestStatus::Running,
        template: false,
        // PVE tags cannot hold separators (`;`, `,`, spaces); hostile tags are checked on
        // their own below.
        tags: vec!["web".into()],
        pool: Some(text.to_string()),
        description: Some(text.to_string()),
        on_boot: true,
        lock: None,
        config: GuestConfig::Vm(VmConfig {
            cores: Some(2),
            memory_mib: Some(1024),
            cloud_init: Some(CloudInit {
                user: Some(text.to_string()),
                search: Some(text.to_string()),
                ..CloudInit::default()
            }),
            ..VmConfig::default()
        }),
        unmodelled,
        digest: None,
    }
}

fn hostile_ct(vmid: u32, text: &str) -> Guest {
    Guest {
        vmid,
        name: text.to_string(),
        node: "pve2".into(),
        kind: GuestKind::Lxc,
        status: GuestStatus::Stopped,
        template: false,
        tags: Vec::new(),
        pool: None,
        description: Some(text.to_string()),
        on_boot: false,
        lock: None,
        config: GuestConfig::Container(ContainerConfig {
            hostname: Some(text.to_string()),
            cores: Some(1),
            unprivileged: Some(true),
            ..ContainerConfig::default()
        }),
        unmodelled: BTreeMap::new(),
        digest: None,
    }
}

/// Strips YAML tags (`!unsafe`) so values compare as plain strings.
fn untag(value: yaml_serde::Value) -> yaml_serde::Value {
    match value {
        yaml_serde::Value::Tagged(t) => {
            assert_eq!(t.tag.to_string(), "!unsafe");
            untag(t.value)
        }
        other => other,
    }
}

#[test]
fn hostile_strings_round_trip_through_hcl() {
    let templates = Templates::builtin().unwrap();
    for (i, text) in HOSTILE.iter().enumerate() {
        // The filter alone: hcl-rs reads back the original.
        let body = hcl::parse(&format!("v = {}\n", hcl_string(text))).unwrap();
        let expr = body.attributes().next().unwrap().expr().clone();
        let value: hcl::Value = hcl::eval::Evaluate::evaluate(&expr, &hcl::eval::Context::new())
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(value.as_str(), Some(*text), "hcl_string of {text:?}");

        for guest in [
            hostile_vm(100 + i as u32, text),
            hostile_ct(200 + i as u32, text),
        ] {
            let pool_list = [Pool {
                id: text.to_string(),
                comment: None,
                guests: vec![],
                storages: vec![],
            }];
            let pools = pool_idents(&pool_list);
            let rendered = render_guest(&templates, &guest, "g", &pools).unwrap();
            let pools_tf = render_pools(&templates, &pool_list).unwrap();
            let read = read_texts(vec![
                ("pools.tf".into(), pools_tf),
                ("g.tf".into(), rendered.text.clone()),
            ]);
            assert!(
                read.problems.is_empty(),
                "{text:?}: {:?}\n{}",
                read.problems,
                rendered.text
            );
            let read = read.state.files.into_iter().next().expect("the guest");
            assert_eq!(read.guest, file_view(&guest), "{text:?}\n{}", rendered.text);
        }
    }
}

#[test]
fn hostile_tags_survive_the_hcl_list_and_the_yaml_spec() {
    let templates = Templates::builtin().unwrap();
    let mut guest = hostile_vm(100, "plain");
    guest.tags = HOSTILE.iter().map(|t| t.to_string()).collect();
    let rendered = render_guest(&templates, &guest, "g", &BTreeMap::new()).unwrap();
    let body = hcl::parse(&rendered.text).unwrap();
    let resource = body
        .blocks()
        .find(|b| b.identifier() == "resource")
        .unwrap();
    let tags = resource
        .body()
        .attributes()
        .find(|a| a.key() == "tags")
        .unwrap();
    let value = hcl::eval::Evaluate::evaluate(tags.expr(), &hcl::eval::Context::new()).unwrap();
    let read: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut expected = guest.tags.clone();
    expected.sort();
    assert_eq!(read, expected);

    let spec = render_spec(&templates, &guest).unwrap();
    let doc: yaml_serde::Value =
        yaml_serde::from_str(&spec).unwrap_or_else(|e| panic!("{e}\n{spec}"));
    let read: Vec<String> = doc["expect"]["tags"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(read, expected);
}

#[test]
fn hostile_strings_round_trip_through_yaml() {
    let templates = Templates::builtin().unwrap();
    for text in HOSTILE {
        let parsed: yaml_serde::Value =
            yaml_serde::from_str(&format!("v: {}\n", yaml_string(text))).unwrap();
        assert_eq!(parsed["v"].as_str(), Some(*text), "yaml_string of {text:?}");
    }
    let guests: Vec<Guest> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, t)| hostile_vm(100 + i as u32, t))
        .collect();
    let snapshot = ClusterSnapshot {
        guests: guests.clone(),
        ..ClusterSnapshot::default()
    };
    let idents: BTreeMap<u32, String> = guests
        .iter()
        .map(|g| (g.vmid, format!("h{}", g.vmid)))
        .collect();
    let text = render_inventory(&templates, &snapshot, &idents).unwrap();
    let inv: yaml_serde::Value =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for g in &guests {
        let vars = &inv["all"]["hosts"][format!("h{}", g.vmid).as_str()];
        assert_eq!(
            untag(vars["proxmox_name"].clone()).as_str(),
            Some(g.name.as_str()),
            "{text}"
        );
    }
    for g in &guests {
        let spec = render_spec(&templates, g).unwrap();
        let doc: yaml_serde::Value =
            yaml_serde::from_str(&spec).unwrap_or_else(|e| panic!("{e}\n{spec}"));
        assert_eq!(doc["guest"]["name"].as_str(), Some(g.name.as_str()));
        assert_eq!(doc["expect"]["pool"].as_str(), g.pool.as_deref());
    }
}

#[tokio::test]
async fn hostile_descriptions_and_names_round_trip_from_the_simulator() {
    let sim = homelab().await;
    let control = sim.control();
    // PVE keeps descriptions as comment lines, so a description is text without NULs; names
    // are what the API gave back, whatever a hand-edited config holds.
    let text = "He said \"${x}\" %{y} {{ z }} \\ : # - yes 🚀 مرحبا\nsecond line";
    control.set_guest_config(100, "description", text).unwrap();
    control
        .set_guest_config(101, "name", "{{ web }} \"quoted\" ${x}")
        .unwrap();
    let ws = Workspace::new().await;
    let run = ws.sync(&client(&sim), SyncOptions::default()).await;
    let live = run.snapshot.guest(100).unwrap();
    assert_eq!(
        live.description.as_deref(),
        Some(text),
        "the simulator gave the text back"
    );
    let read = read_workspace(ws.root());
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let g100 = read
        .state
        .files
        .iter()
        .find(|f| f.guest.vmid == 100)
        .unwrap();
    assert_eq!(g100.guest.description.as_deref(), Some(text));
    let g101 = read
        .state
        .files
        .iter()
        .find(|f| f.guest.vmid == 101)
        .unwrap();
    assert_eq!(g101.guest.name, "{{ web }} \"quoted\" ${x}");
    let inv: yaml_serde::Value = yaml_serde::from_str(&ws.read("ansible/inventory.yml")).unwrap();
    let host = &inv["all"]["hosts"][g101.ident.as_str()];
    assert_eq!(
        untag(host["proxmox_name"].clone()).as_str(),
        Some("{{ web }} \"quoted\" ${x}")
    );
    assert!(
        ws.read("ansible/inventory.yml").contains("!unsafe"),
        "Jinja is marked unsafe"
    );

    // The real ansible-inventory reads the same string back, marked unsafe (never templated).
    let bin = venv_bin("ansible-inventory");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/test once",
        bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&bin)
        .args(["-i", "ansible/inventory.yml", "--list"])
        .current_dir(ws.root())
        .env("HOME", home.path())
        .env("ANSIBLE_HOME", home.path().join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", home.path().join("tmp"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vars = &inv["_meta"]["hostvars"][g101.ident.as_str()];
    assert_eq!(
        vars["proxmox_name"]["__ansible_unsafe"].as_str(),
        Some("{{ web }} \"quoted\" ${x}"),
        "{vars}"
    );
}
