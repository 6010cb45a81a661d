//! The flags each verb takes, with an example value and a line of help for each: one table
//! serves parsing (which flags exist, which take a value), messages and `/help`.

use super::words::{Kind, Verb};

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    Value,
    Switch,
}

/// A flag a resource verb accepts (`--memory 2G` on `create vm`), with an example value for
/// messages. The slash commands' flags are `commands::registry::CommandFlag`.
#[derive(Debug, Clone, Copy)]
pub struct ResourceFlag {
    pub name: &'static str,
    pub(super) takes: Takes,
    pub example: &'static str,
    pub help: &'static str,
}

impl ResourceFlag {
    /// True for a switch (`--start`), false for a flag that takes a value (`--memory 2G`).
    pub fn is_switch(&self) -> bool {
        self.takes == Takes::Switch
    }
}

const fn v(name: &'static str, example: &'static str, help: &'static str) -> ResourceFlag {
    ResourceFlag {
        name,
        takes: Takes::Value,
        example,
        help,
    }
}

const fn s(name: &'static str, help: &'static str) -> ResourceFlag {
    ResourceFlag {
        name,
        takes: Takes::Switch,
        example: "",
        help,
    }
}

const CREATE_VM: &[ResourceFlag] = &[
    v("name", "web-01", "guest name (a DNS name)"),
    v("node", "pve1", "node to create it on"),
    v(
        "vmid",
        "120",
        "vmid (100-999999999); default: the lowest free",
    ),
    v("cores", "2", "CPU cores"),
    v("sockets", "1", "CPU sockets"),
    v("memory", "2G", "memory (512M, 2G); a bare number is MiB"),
    v(
        "disk",
        "32G",
        "disk: SIZE, STORAGE:SIZE or SLOT=STORAGE:SIZE (repeatable)",
    ),
    v(
        "net",
        "vmbr0,tag=20",
        "NIC: BRIDGE[,tag=N][,firewall=1][,model=M] (repeatable)",
    ),
    v(
        "clone",
        "debian-12-cloudinit",
        "copy the configuration of this template (name or vmid)",
    ),
    v(
        "ip",
        "10.0.0.5/24",
        "cloud-init address of net0 (CIDR or dhcp)",
    ),
    v("gw", "10.0.0.1", "cloud-init gateway"),
    v("dns", "1.1.1.1,9.9.9.9", "cloud-init DNS servers"),
    v(
        "ssh-key",
        "~/.ssh/id_ed25519.pub",
        "public key file for cloud-init",
    ),
    v("user", "debian", "cloud-init user"),
    v("tags", "web,prod", "tags"),
    v("pool", "prod", "resource pool"),
    s("start", "start it after /apply creates it"),
    v("description", "Web server", "description"),
];

const CREATE_CT: &[ResourceFlag] = &[
    v("name", "dns-02", "hostname (a DNS name)"),
    v("node", "pve1", "node to create it on"),
    v(
        "vmid",
        "220",
        "vmid (100-999999999); default: the lowest free",
    ),
    v("cores", "1", "CPU cores"),
    v("memory", "512M", "memory; a bare number is MiB"),
    v("swap", "512M", "swap; a bare number is MiB"),
    v(
        "template",
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "OS template (required)",
    ),
    v("rootfs", "8G", "root disk: SIZE or STORAGE:SIZE"),
    v(
        "mount",
        "local-lvm:10G,/srv",
        "mount point: STORAGE:SIZE,PATH (repeatable)",
    ),
    v(
        "net",
        "vmbr0,tag=20",
        "NIC: BRIDGE[,tag=N][,firewall=1] (repeatable)",
    ),
    v("ip", "10.0.0.6/24", "address of eth0 (CIDR or dhcp)"),
    v("gw", "10.0.0.1", "gateway of eth0"),
    v("dns", "1.1.1.1", "DNS servers"),
    s("unprivileged", "unprivileged container (the default)"),
    s("privileged", "privileged container"),
    v("features", "nesting=1,keyctl=1", "container features"),
    v("tags", "infra", "tags"),
    v("pool", "prod", "resource pool"),
    s("start", "start it after /apply creates it"),
    v("description", "DNS resolver", "description"),
];

const CREATE_POOL: &[ResourceFlag] = &[
    v("name", "prod", "pool id"),
    v("comment", "Production", "comment"),
];

const SET_VM: &[ResourceFlag] = &[
    v("cores", "4", "CPU cores"),
    v("sockets", "1", "CPU sockets"),
    v("memory", "4G", "memory; a bare number is MiB"),
    v(
        "add-disk",
        "scsi1=local-lvm:100G",
        "add a disk: SIZE, STORAGE:SIZE or SLOT=STORAGE:SIZE (repeatable)",
    ),
    v(
        "add-net",
        "vmbr1,tag=30",
        "add a NIC: BRIDGE[,tag=N][,firewall=1] (repeatable)",
    ),
    v("tags", "web,prod", "replace the tags"),
    v("pool", "prod", "move to this pool (\"\" for none)"),
    v("description", "Web server", "replace the description"),
    s("start", "keep it running"),
    s("stopped", "keep it stopped"),
];

const SET_CT: &[ResourceFlag] = &[
    v("cores", "2", "CPU cores"),
    v("memory", "1G", "memory; a bare number is MiB"),
    v("swap", "512M", "swap; a bare number is MiB"),
    v(
        "add-mount",
        "local-lvm:10G,/srv",
        "add a mount point (repeatable)",
    ),
    v("add-net", "vmbr1,tag=30", "add a NIC (repeatable)"),
    v("tags", "infra", "replace the tags"),
    v("pool", "prod", "move to this pool (\"\" for none)"),
    v("description", "DNS resolver", "replace the description"),
    s("start", "keep it running"),
    s("stopped", "keep it stopped"),
];

const CLONE: &[ResourceFlag] = &[
    v("name", "web-02", "name of the copy"),
    v("node", "pve2", "node of the copy"),
    v("vmid", "121", "vmid of the copy"),
    v("pool", "prod", "resource pool"),
    s("start", "start it after /apply creates it"),
];

const LIST: &[ResourceFlag] = &[
    v("node", "pve1", "only on this node"),
    v("tag", "web", "only with this tag"),
    v("status", "running", "only in this state"),
    v("pool", "prod", "only in this pool"),
    v("o", "table", "output: table, json or yaml"),
    v("output", "table", "output: table, json or yaml"),
];

const YES: &[ResourceFlag] = &[s("yes", "do not ask for confirmation")];
const SNAPSHOT: &[ResourceFlag] = &[
    v("name", "before_upgrade", "snapshot name"),
    v("description", "before the upgrade", "snapshot description"),
];
const MIGRATE: &[ResourceFlag] = &[
    v("to", "pve2", "target node"),
    v(
        "to-env",
        "prod",
        "move to this environment's cluster instead (not with --to)",
    ),
    v(
        "target-storage",
        "local-lvm:data",
        "--to-env: storage map SOURCE:TARGET,... (or one storage for all)",
    ),
    v(
        "target-bridge",
        "vmbr0:vmbr1",
        "--to-env: bridge map SOURCE:TARGET,... (or one bridge for all)",
    ),
    v(
        "target-vmid",
        "150",
        "--to-env: this VMID on the target (refused if taken)",
    ),
    s("keep-source", "--to-env: keep the source guest, stopped"),
    s("yes", "do not ask for confirmation"),
];
const NONE: &[ResourceFlag] = &[];

/// Returns the flags `verb` takes for `kind`.
pub fn flags_for(verb: Verb, kind: Option<Kind>) -> &'static [ResourceFlag] {
    match (verb, kind) {
        (Verb::Create, Some(Kind::Vm)) => CREATE_VM,
        (Verb::Create, Some(Kind::Container)) => CREATE_CT,
        (Verb::Create, Some(Kind::Pool)) => CREATE_POOL,
        (Verb::Set, Some(Kind::Vm)) => SET_VM,
        (Verb::Set, Some(Kind::Container)) => SET_CT,
        (Verb::Clone, _) => CLONE,
        (Verb::List, _) => LIST,
        (Verb::Stop | Verb::Shutdown | Verb::Reboot | Verb::Rollback, _) => YES,
        (Verb::Snapshot, _) => SNAPSHOT,
        (Verb::Migrate, _) => MIGRATE,
        _ => NONE,
    }
}
