//! PVE's own config files (tests/fixtures/pve-config-files, copied from qemu-server and
//! pve-container test suites) load into the simulator and come back from `GET .../config` as
//! PVE returns them: the top section as an object, integer/boolean keys as numbers, every other
//! key as the file's string, plus a SHA-1 `digest`.

use std::path::Path;

use proxmox_mpc::sim::{TokenKind, parse_conf_text};
use serde_json::Value;

use super::common::{Api, homelab};

fn fixture_files(dir: &str) -> Vec<(String, String)> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pve-config-files")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&base)
        .expect("fixture dir exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(&p).expect("fixture readable"),
            )
        })
        .collect();
    out.sort();
    out
}

/// Keys whose JSON type PVE's schema fixes, checked by hand from the 9.1 schema (not via the
/// simulator's own lookup): integers/booleans -> numbers, everything else -> strings.
const NUMBER_KEYS: &[&str] = &[
    "cores",
    "sockets",
    "numa",
    "onboot",
    "template",
    "kvm",
    "acpi",
    "tablet",
    "protection",
    "vcpus",
    "cpuunits",
    "balloon",
    "shares",
    "localtime",
    "freeze",
    "reboot",
    "swap",
    "unprivileged",
    "cpuunits",
    "console",
    "tty",
];
const STRING_KEYS: &[&str] = &[
    "cpulimit",
    "name",
    "net0",
    "scsi0",
    "ide2",
    "ostype",
    "bootdisk",
    "boot",
    "smbios1",
    "vmgenid",
    "hostname",
    "rootfs",
    "arch",
    "description",
    "parent",
    "tags",
    "lock",
];

async fn check_dir(dir: &str, lxc: bool, first_vmid: u32) {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let files = fixture_files(dir);
    assert!(files.len() >= 5, "{dir}: only {} fixtures", files.len());
    let kind = if lxc { "lxc" } else { "qemu" };
    for (i, (name, text)) in files.iter().enumerate() {
        let vmid = first_vmid + i as u32;
        sim.control()
            .load_guest_conf("pve1", vmid, lxc, text)
            .expect("fixture loads");
        let a = api.get(&format!("/nodes/pve1/{kind}/{vmid}/config")).await;
        assert_eq!(a.status, 200, "{name}: {}", a.raw);
        let data = a.data().as_object().expect("config is an object").clone();
        let top = parse_conf_text(text);
        assert!(!top.is_empty(), "{name}: parsed nothing");
        for (key, raw) in &top {
            let got = data
                .get(key)
                .unwrap_or_else(|| panic!("{name}: key {key} missing"));
            // qemu `memory` is a property string; lxc `memory` an integer
            let number = NUMBER_KEYS.contains(&key.as_str()) || (lxc && key == "memory");
            if number {
                let expected: i64 = raw
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {key}: {raw}"));
                assert_eq!(
                    got,
                    &Value::from(expected),
                    "{name}: {key} must be a number"
                );
            } else if STRING_KEYS.contains(&key.as_str()) || key == "memory" {
                assert_eq!(
                    got,
                    &Value::from(raw.clone()),
                    "{name}: {key} must be the file's string"
                );
            } else if let Some(n) = got.as_i64() {
                assert_eq!(n.to_string(), *raw, "{name}: {key}");
            } else {
                assert_eq!(got, &Value::from(raw.clone()), "{name}: {key}");
            }
        }
        // nothing but the file's keys and the digest
        assert_eq!(data.len(), top.len() + 1, "{name}: extra keys in {data:?}");
        let digest = data["digest"].as_str().expect("digest is a string");
        assert_eq!(digest.len(), 40, "{name}: digest is SHA-1 hex");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_fixture_configs_round_trip_like_pve() {
    check_dir("qemu-server", false, 7000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lxc_fixture_configs_round_trip_like_pve() {
    check_dir("lxc", true, 7100).await;
}

#[test]
fn a_known_file_parses_to_pves_json_shape() {
    let text = "bootdisk: scsi0\ncores: 3\nmemory: 768\nname: simple\nnuma: 0\n";
    let map = parse_conf_text(text);
    let json = proxmox_mpc::sim::config_to_json(proxmox_mpc::sim::GuestKind::Qemu, &map);
    assert_eq!(json["cores"], 3);
    assert_eq!(json["numa"], 0);
    assert_eq!(json["memory"], "768");
    assert_eq!(json["name"], "simple");
    assert_eq!(json["bootdisk"], "scsi0");
}
