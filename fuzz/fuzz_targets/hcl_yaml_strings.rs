//! Any string written through the HCL and YAML filters reads back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxmox_mpc::iac::filters::{hcl_string, yaml_string};

fuzz_target!(|text: String| {
    let source = format!("v = {}\n", hcl_string(&text));
    let value: serde_json::Value =
        hcl::eval::from_str(&source, &hcl::eval::Context::new()).expect("HCL parses");
    assert_eq!(value["v"].as_str(), Some(text.as_str()));
    let source = format!("v: {}\n", yaml_string(&text));
    let value: yaml_serde::Value = yaml_serde::from_str(&source).expect("YAML parses");
    let v = match &value["v"] {
        yaml_serde::Value::Tagged(t) => t.value.clone(),
        other => other.clone(),
    };
    assert_eq!(v.as_str(), Some(text.as_str()));
});
