//! Every PVE config file in tests/fixtures/pve-config-files/ parses into the model and formats
//! back to the same key/value set (top section only, as `GET .../config` returns it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proxmox_mpc::model::propstring::PropertyString;
use proxmox_mpc::model::{GuestConfig, GuestKind, GuestStatus, format_guest, guest_from_config};

/// Reads the top section of a PVE `.conf` file the way PVE does: `#` lines form the
/// (URI-escaped) description, `key: value` lines the config, a `[section]` ends it.
fn read_top_section(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut description = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            break;
        }
        if let Some(comment) = line.strip_prefix('#') {
            description.push(
                percent_encoding::percent_decode_str(comment)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("line without ': ' in fixture: {line}"));
        map.insert(key.to_string(), value.to_string());
    }
    if !description.is_empty() {
        map.insert("description".to_string(), description.join("\n"));
    }
    map
}

/// Compares two config key/value sets. A value may differ only in the order of its
/// sub-options: PVE's test-input files were written by hand, some with `name=` sorted among a
/// container NIC's options, while PVE itself prints required keys first (pve-common
/// `JSONSchema.pm` `print_property_string`), which is what the model formats.
fn assert_same_config(
    formatted: &BTreeMap<String, String>,
    original: &BTreeMap<String, String>,
    path: &Path,
) {
    assert_eq!(
        formatted.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>(),
        "{}: key sets differ",
        path.display()
    );
    for (key, value) in original {
        let back = &formatted[key];
        if back == value {
            continue;
        }
        let parsed = PropertyString::parse(back).expect("formatted value parses");
        let expected = PropertyString::parse(value).expect("fixture value parses");
        assert_eq!(
            parsed,
            expected,
            "{}: '{key}' changed from '{value}' to '{back}'",
            path.display()
        );
        assert!(
            key.starts_with("net") && back.starts_with("name="),
            "{}: '{key}' reordered unexpectedly: '{value}' -> '{back}'",
            path.display()
        );
    }
}

fn fixture_files() -> Vec<(GuestKind, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pve-config-files");
    let mut files = Vec::new();
    for (dir, kind) in [("qemu-server", GuestKind::Qemu), ("lxc", GuestKind::Lxc)] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture dir exists") {
            let path = entry.expect("readable dir entry").path();
            if path.extension().is_some_and(|e| e == "conf") {
                files.push((kind, path));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_fixture_config_round_trips_through_the_model() {
    let files = fixture_files();
    assert!(
        files.len() >= 16,
        "expected the 16 copied fixtures, found {}",
        files.len()
    );
    for (kind, path) in files {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        let raw = read_top_section(&text);
        assert!(!raw.is_empty(), "{} has no keys", path.display());
        let (guest, warnings) =
            guest_from_config(100, "pve", kind, GuestStatus::Stopped, None, &raw);
        assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
        assert_eq!(guest.config.kind(), kind);
        assert_same_config(&format_guest(&guest), &raw, &path);
    }
}

#[test]
fn fixtures_map_to_typed_fields_not_just_unmodelled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pve-config-files");
    let text = std::fs::read_to_string(root.join("qemu-server/cfg2cmd__bootorder.conf")).unwrap();
    let raw = read_top_section(&text);
    let (guest, _) = guest_from_config(
        8006,
        "pve",
        GuestKind::Qemu,
        GuestStatus::Stopped,
        None,
        &raw,
    );
    let GuestConfig::Vm(vm) = &guest.config else {
        panic!("bootorder.conf is a VM")
    };
    assert_eq!(guest.name, "simple");
    assert_eq!(vm.cores, Some(3));
    assert_eq!(vm.memory_mib, Some(768));
    assert_eq!(
        vm.boot_order.as_deref(),
        Some(
            &[
                "virtio1".to_string(),
                "net0".into(),
                "scsi4".into(),
                "ide2".into()
            ][..]
        )
    );
    assert_eq!(
        vm.disks.keys().collect::<Vec<_>>(),
        ["ide2", "scsi4", "virtio0", "virtio1"]
    );
    assert_eq!(vm.disks["virtio1"].size_bytes, Some(104858 * 1024));
    assert!(vm.disks["ide2"].is_cdrom());
    assert_eq!(vm.nics[&0].model, "virtio");
    assert_eq!(vm.nics[&0].bridge.as_deref(), Some("vmbr0"));
    assert!(guest.description.as_deref().unwrap().contains("bootorder"));

    let text =
        std::fs::read_to_string(root.join("lxc/snapshot-input__create__lxc__103.conf")).unwrap();
    let raw = read_top_section(&text);
    let (guest, _) =
        guest_from_config(103, "pve", GuestKind::Lxc, GuestStatus::Stopped, None, &raw);
    let GuestConfig::Container(ct) = &guest.config else {
        panic!("103.conf is a container")
    };
    assert_eq!(guest.name, "test");
    assert_eq!(ct.memory_mib, Some(2048));
    assert_eq!(ct.swap_mib, Some(512));
    assert_eq!(ct.mount_points[&1].path.as_deref(), Some("/invalid/mp1"));
    assert_eq!(ct.nics[&0].name, "eth0");
    assert_eq!(ct.nics[&0].hwaddr.as_deref(), Some("12:34:56:78:90:12"));
    assert_eq!(
        guest.unmodelled.get("cpulimit").map(String::as_str),
        Some("1")
    );
}
