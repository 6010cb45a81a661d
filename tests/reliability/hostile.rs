//! Hostile input: property tests for the HCL and YAML string filters (arbitrary strings come
//! back exactly) and for config.yml loading (any text is an answer, never a panic; a valid
//! config survives render and parse). The resource-command and property-string parsers have
//! their property tests in tests/resources and tests/client. And a guest name and description
//! crafted *by the server* cannot inject HCL, YAML, Jinja, shell or SQL: the generated files
//! parse back to exactly the server's text, the database stays whole, no command ran.

use std::path::Path;

use proptest::prelude::*;
use proxmox_mpc::iac::filters::{hcl_string, yaml_string};
use proxmox_mpc::workspace::config::Config;

use super::common::{TestSim, all_files, init, integrity, ok, run};

/// Strings that favour the characters generators get wrong.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("${".to_string()),
                Just("%{".to_string()),
                Just("$${".to_string()),
                Just("{{".to_string()),
                Just("}}".to_string()),
                Just("{%".to_string()),
                Just("\"".to_string()),
                Just("'".to_string()),
                Just("\\".to_string()),
                Just("\n".to_string()),
                Just("\r\n".to_string()),
                Just("\t".to_string()),
                Just(": ".to_string()),
                Just("# ".to_string()),
                Just("- ".to_string()),
                Just("!unsafe ".to_string()),
                Just("&a *a".to_string()),
                Just("'; DROP TABLE plans; --".to_string()),
                Just("$(touch pwned)".to_string()),
                Just("`id`".to_string()),
                Just("\u{feff}\u{202e}🚀".to_string()),
                "[a-z ]{0,4}",
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_string_round_trips_through_hcl(text in nasty_string()) {
        let source = format!("v = {}\n", hcl_string(&text));
        let value: serde_json::Value = hcl::eval::from_str(&source, &hcl::eval::Context::new())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{source}")))?;
        prop_assert_eq!(value["v"].as_str(), Some(text.as_str()), "{}", source);
    }

    #[test]
    fn any_string_round_trips_through_yaml(text in nasty_string()) {
        let source = format!("v: {}\nw: after\n", yaml_string(&text));
        let value: yaml_serde::Value = yaml_serde::from_str(&source)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{source}")))?;
        let v = match &value["v"] {
            yaml_serde::Value::Tagged(t) => t.value.clone(),
            other => other.clone(),
        };
        prop_assert_eq!(v.as_str(), Some(text.as_str()), "{}", source);
        prop_assert_eq!(value["w"].as_str(), Some("after"), "{}", source);
    }

    #[test]
    fn any_text_as_config_yml_is_an_answer_not_a_panic(text in nasty_string()) {
        let _ = Config::parse(&text, Path::new(".proxmox/config.yml"));
    }

    #[test]
    fn a_config_with_any_values_renders_and_parses_back(
        endpoint_host in "[a-z][a-z0-9-]{0,15}(\\.[a-z][a-z0-9-]{0,10}){0,2}",
        port in 1u16..,
        fingerprint in proptest::collection::vec(any::<u8>(), 32),
        junk in nasty_string(),
    ) {
        let pin = fingerprint.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
        let text = format!(
            "version: 1\nactive: default\nenvironments:\n  default:\n    endpoint: \"https://{endpoint_host}:{port}\"\n    token_id: \"root@pam!mpc\"\n    secret: \"env:PMPC_TOKEN\"\n    tls:\n      fingerprint: \"{pin}\"\n"
        );
        let config = Config::parse(&text, Path::new("config.yml"))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        {
            let again = Config::parse(&config.render(), Path::new("config.yml"))
                .map_err(|e| TestCaseError::fail(format!("{e}\n{}", config.render())))?;
            prop_assert_eq!(again, config);
        }
        // Junk appended after a valid config is refused or read, never a panic.
        let _ = Config::parse(&format!("{text}{junk}"), Path::new("config.yml"));
    }
}

#[test]
fn names_and_descriptions_from_the_server_cannot_inject_anything() {
    let sim = TestSim::homelab();
    let dir = init(&sim);
    let ws = dir.path();
    let marker = ws.join("pwned");
    let description = format!(
        "'); DROP TABLE snapshots; --\n\"; DELETE FROM plans; --\n$(touch {0}) `touch {0}` ; touch {0}\n\
         ${{file(\"/etc/passwd\")}} %{{ for x in y }}{{{{ lookup('pipe', 'touch {0}') }}}}\n\
         ---\nkey: !!python/object/apply:os.system ['touch {0}']\n# pve: name = evil\n}}\nresource \"x\" \"y\" {{",
        marker.display()
    );
    let name = "web'; DROP TABLE plans;--{{ x }}${y}";
    sim.control()
        .set_guest_config(100, "description", &description)
        .unwrap();
    sim.control().set_guest_config(101, "name", name).unwrap();
    ok(run(&sim, ws, &["sync"]), "sync of hostile names");
    ok(
        run(&sim, ws, &["plan", "--detailed-exitcode"]),
        "plan reads the files back",
    );

    let read = proxmox_mpc::iac::desired::read_workspace(ws);
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let g100 = read
        .state
        .files
        .iter()
        .find(|f| f.guest.vmid == 100)
        .unwrap();
    assert_eq!(
        g100.guest.description.as_deref(),
        Some(description.as_str())
    );
    let g101 = read
        .state
        .files
        .iter()
        .find(|f| f.guest.vmid == 101)
        .unwrap();
    assert_eq!(g101.guest.name, name);
    // Every YAML file parses, and the inventory holds the name exactly.
    for (path, bytes) in all_files(ws) {
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = String::from_utf8_lossy(&bytes);
            let _: yaml_serde::Value = yaml_serde::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
        }
    }
    let inventory = std::fs::read_to_string(ws.join("ansible/inventory.yml")).unwrap();
    assert!(
        inventory.contains("!unsafe"),
        "server text is marked unsafe for Jinja:\n{inventory}"
    );
    assert!(!marker.exists(), "a shell command from the server ran");
    assert_eq!(integrity(&sim, ws), Vec::<String>::new());
    // The tables the SQL tried to drop are all there and the sync was recorded.
    let out = ok(run(&sim, ws, &["status"]), "status");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("last sync"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!marker.exists());
}
