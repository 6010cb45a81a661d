//! `/doctor --privileges`: the minimal Proxmox VE privileges the workspace's operations need,
//! each with the ACL path it is checked on and the operations that use it, and the
//! `pveum role add` line that makes them a role. The names and paths follow PVE's own checks of
//! the endpoints the client calls (the simulator's route table mirrors them,
//! `src/sim/api/routes.rs`; `../shared/pve-api/` for the endpoints).

use crate::ui::{Item, Table};

/// (privilege, ACL path, what uses it): the least that lets every operation work. A token
/// that only reads needs the first four.
pub const PRIVILEGES: &[(&str, &str, &str)] = &[
    (
        "Sys.Audit",
        "/",
        "/status --live, /sync, /doctor: nodes, cluster status, tasks",
    ),
    (
        "VM.Audit",
        "/vms",
        "/sync, /drift, show, snapshots: guest configs and status",
    ),
    (
        "Datastore.Audit",
        "/storage",
        "/sync, /backups: storages and their contents",
    ),
    ("Pool.Audit", "/pool", "/sync: pools and their members"),
    (
        "VM.Allocate",
        "/vms",
        "/apply: create and destroy guests; restore; migrate --to-env",
    ),
    ("VM.Clone", "/vms", "clone: a VM from a template"),
    ("VM.Config.CPU", "/vms", "/apply: cores, sockets, cpu type"),
    ("VM.Config.Memory", "/vms", "/apply: memory, balloon"),
    ("VM.Config.Disk", "/vms", "/apply: disks, resize"),
    ("VM.Config.Network", "/vms", "/apply: network devices"),
    (
        "VM.Config.Options",
        "/vms",
        "/apply: name, tags, description, boot order, other options",
    ),
    (
        "VM.Config.HWType",
        "/vms",
        "/apply: machine, bios, scsi controller",
    ),
    ("VM.Config.Cloudinit", "/vms", "/apply: cloud-init settings"),
    (
        "VM.Config.CDROM",
        "/vms",
        "/apply: ISO images in a CD drive",
    ),
    (
        "VM.PowerMgmt",
        "/vms",
        "start, stop, shutdown, reboot; /apply of a guest's state",
    ),
    (
        "VM.Snapshot",
        "/vms",
        "snapshot: take and remove guest snapshots",
    ),
    (
        "VM.Snapshot.Rollback",
        "/vms",
        "snapshot-rollback: roll a guest back",
    ),
    (
        "VM.Migrate",
        "/vms",
        "migrate: move a guest to another node",
    ),
    ("VM.Backup", "/vms", "backup: vzdump a guest"),
    (
        "Datastore.AllocateSpace",
        "/storage",
        "/apply: new disks; backup, restore: volumes",
    ),
    (
        "Pool.Allocate",
        "/pool",
        "/apply: create, change and remove pools",
    ),
];

/// The role's name in the printed line.
pub const ROLE_NAME: &str = "ProxmoxMPC";

/// The `pveum role add` line of [`PRIVILEGES`].
pub fn pveum_line() -> String {
    let mut names: Vec<&str> = PRIVILEGES.iter().map(|p| p.0).collect();
    names.sort_unstable();
    names.dedup();
    format!("pveum role add {ROLE_NAME} -privs \"{}\"", names.join(" "))
}

/// The report of `/doctor --privileges`: the table, the line, and how to grant it.
pub fn report() -> Vec<Item> {
    let mut table = Table::new(&["privilege", "path", "used by"]);
    for (privilege, path, used) in PRIVILEGES {
        table.row(vec![
            privilege.to_string(),
            path.to_string(),
            used.to_string(),
        ]);
    }
    let line = pveum_line();
    let value = serde_json::json!({
        "role": ROLE_NAME,
        "privileges": PRIVILEGES
            .iter()
            .map(|(p, path, used)| serde_json::json!({ "privilege": p, "path": path, "used_by": used }))
            .collect::<Vec<_>>(),
        "pveum": line,
    });
    vec![
        Item::Data { value, table },
        Item::Text(line),
        Item::Hint(format!(
            "then grant it to the token on /: pveum acl modify / --tokens 'USER@REALM!NAME' --roles {ROLE_NAME} \
             (sync --agent-ips also needs VM.GuestAgent.Audit on PVE 9, VM.Monitor on PVE 8)"
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_each_privilege_once_and_only_pve_privileges() {
        let line = pveum_line();
        assert!(
            line.starts_with("pveum role add ProxmoxMPC -privs \""),
            "{line}"
        );
        for (privilege, path, _) in PRIVILEGES {
            assert_eq!(
                line.matches(&format!(" {privilege} ")).count()
                    + line.matches(&format!("\"{privilege} ")).count()
                    + line.matches(&format!(" {privilege}\"")).count(),
                1,
                "{privilege} in {line}"
            );
            assert!(path.starts_with('/'));
        }
    }
}
