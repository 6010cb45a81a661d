//! Property tests: canonical property strings and configs survive parse -> format unchanged,
//! and arbitrary text never makes the model or the UPID parser panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proxmox_mpc::model::propstring::{PropertyString, format_size, parse_size};
use proxmox_mpc::model::{GuestKind, format_guest_config, parse_guest_config};
use proxmox_mpc::pve::Upid;

fn option_key() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn option_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_./:;+-]{1,12}"
}

proptest! {
    #[test]
    fn canonical_property_strings_round_trip(
        bare in proptest::option::of("[a-z0-9-]{1,8}:[a-z0-9/._-]{1,16}"),
        options in proptest::collection::btree_map(option_key(), option_value(), 0..6),
    ) {
        let ps = PropertyString { bare, options };
        let text = ps.format();
        let parsed = PropertyString::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &ps);
        prop_assert_eq!(parsed.format(), text);
    }

    #[test]
    fn sizes_round_trip(bytes in 0u64..(1u64 << 50)) {
        prop_assert_eq!(parse_size(&format_size(bytes)), Some(bytes));
    }

    #[test]
    fn vm_disks_and_nics_round_trip(
        slot in prop_oneof!["scsi[0-9]", "virtio[0-9]", "sata[0-5]", "ide[0-3]"],
        gib in 1u64..4096,
        extra in proptest::collection::btree_map("(cache|discard|iothread|ssd|backup)", "[a-z0-9]{1,6}", 0..3),
        mac in "[0-9A-F]{2}(:[0-9A-F]{2}){5}",
        tag in proptest::option::of(1u16..4095),
    ) {
        let mut disk = String::from("local-lvm:vm-100-disk-0");
        for (k, v) in &extra {
            disk.push_str(&format!(",{k}={v}"));
        }
        // size sorts after cache/discard/iothread and before ssd: rebuild in PVE order.
        let mut ps = PropertyString::parse(&disk).unwrap();
        // PVE writes sizes in the largest exact unit (3072 GiB is `3T`).
        ps.options.insert("size".into(), format_size(gib << 30));
        let disk = ps.format();
        let mut net = format!("virtio={mac},bridge=vmbr0");
        if let Some(tag) = tag {
            net.push_str(&format!(",tag={tag}"));
        }
        let raw: BTreeMap<String, String> =
            [(slot, disk), ("net0".to_string(), net)].into_iter().collect();
        let (config, unmodelled, warnings) = parse_guest_config(GuestKind::Qemu, &raw);
        prop_assert!(warnings.is_empty(), "{:?}", warnings);
        prop_assert!(unmodelled.is_empty());
        prop_assert_eq!(format_guest_config(&config, &unmodelled), raw);
    }

    #[test]
    fn arbitrary_config_text_never_panics_and_is_never_lost(
        raw in proptest::collection::btree_map(
            prop_oneof!["(scsi|net|ipconfig|mp|virtio)[0-9]", "(cores|memory|boot|agent|cpu|rootfs|features|sshkeys|tags)"],
            "\\PC{0,40}",
            0..8,
        ),
        lxc in any::<bool>(),
    ) {
        let kind = if lxc { GuestKind::Lxc } else { GuestKind::Qemu };
        let (config, unmodelled, _) = parse_guest_config(kind, &raw);
        let back = format_guest_config(&config, &unmodelled);
        // Every key survives; values the model could not read come back verbatim.
        for key in raw.keys().filter(|k| *k != "tags") {
            prop_assert!(back.contains_key(key) || raw[key].is_empty() || raw[key].chars().all(|c| c == ','),
                "{} lost: {:?} -> {:?}", key, raw, back);
        }
        for (key, value) in &unmodelled {
            prop_assert_eq!(&back[key], value);
        }
    }

    #[test]
    fn arbitrary_upid_text_never_panics(text in "\\PC{0,80}") {
        let _ = text.parse::<Upid>();
        let prefixed = format!("UPID:{text}");
        let _ = prefixed.parse::<Upid>();
    }
}
