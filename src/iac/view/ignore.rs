//! The `lifecycle.ignore_changes` entries of a resource: what bpg cannot read back after an
//! import, each with the reason and the provider line that shows it.

use super::{GIB, IgnoredChange};
use crate::model::{Guest, GuestConfig};

/// What a resource must tell Terraform to ignore, because bpg v0.111.1 does not read it back
/// on import (the provider lines are in `docs/bpg-import.md`).
pub(super) fn ignored_changes(guest: &Guest) -> Vec<IgnoredChange> {
    let entry = |path: &str, why: &str| IgnoredChange {
        path: path.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    if let Some(text) = &guest.description {
        // The config side goes through a StateFunc that trims (VM) or trims and ends with one
        // newline (container); the state keeps PVE's text as it is (vm.go:743-758,
        // container.go:374-382). Other text cannot be written so that both agree.
        let normal = text.replace("\r\n", "\n");
        let representable = match guest.kind {
            crate::model::GuestKind::Qemu => normal.trim() == normal,
            crate::model::GuestKind::Lxc => format!("{}\n", normal.trim()) == normal,
        };
        if !representable {
            out.push(entry(
                "description",
                "PVE's text has blanks around it that bpg's StateFunc would trim (vm.go:743, container.go:374)",
            ));
        }
    }
    match &guest.config {
        GuestConfig::Vm(vm) => {
            out.push(entry("clone", "the clone source is never in the state"));
            if vm.memory_mib.is_none() {
                out.push(entry(
                    "memory",
                    "PVE has no memory key; bpg reads 0 MiB, which no file can say (vm.go:5296)",
                ));
            }
            let sizeless = vm.disks.iter().any(|(slot, d)| {
                d.size_bytes.is_none_or(|b| b < GIB)
                    && !d.is_cdrom()
                    && slot != "efidisk0"
                    && slot != "tpmstate0"
                    && d.volume.contains(':')
            });
            if sizeless {
                out.push(entry(
                    "disk",
                    "a disk has no size or is under 1 GiB; bpg reads 0 GiB, which no file can say (disk.go:462)",
                ));
            }
            if vm.scsihw.is_none() {
                out.push(entry(
                    "scsi_hardware",
                    "PVE has no scsihw key (lsi); bpg reads none back (vm.go:5555)",
                ));
            }
            if vm.ostype.is_none() {
                out.push(entry(
                    "operating_system",
                    "PVE has no ostype key; bpg reads it back as \"\", which no file can say (vm.go:5313)",
                ));
            }
        }
        GuestConfig::Container(ct) => {
            if ct
                .rootfs
                .as_ref()
                .is_some_and(|r| r.size_bytes.is_none_or(|b| b < GIB))
            {
                out.push(entry(
                    "disk",
                    "the root disk has no size or is under 1 GiB; bpg reads 0 GiB, which no file can say (container.go:2814)",
                ));
            }
            out.push(entry(
                "operating_system",
                "PVE does not record the template; the placeholder is never applied (container.go:3334)",
            ));
            out.push(entry("clone", "the clone source is never in the state"));
            out.push(entry(
                "pool_id",
                "never read back, and a change forces replacement (container.go:1019)",
            ));
            out.push(entry(
                "vm_id",
                "not read back on import (container.go:2692); the import id holds it",
            ));
            for t in [
                "timeout_create",
                "timeout_clone",
                "timeout_update",
                "timeout_delete",
                "timeout_start",
            ] {
                out.push(entry(
                    t,
                    "provider-side setting, never read back (container.go:1097)",
                ));
            }
        }
    }
    out
}
