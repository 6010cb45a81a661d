//! The resource-command grammar: `<verb> <kind> [name] [--flags]`, parsed in two pure steps.
//!
//! 1. [`parse_syntax`] turns a line into [`Syntax`] (verb, kind, name, positional words and
//!    flags) and checks only what the words alone can tell: known verb and kind, flags this verb
//!    takes, values present where needed.
//! 2. [`validate`] checks the syntax against a [`World`] (the workspace's desired guests, the
//!    last observed snapshot and config.yml's defaults) and returns an [`Intent`]: for `create`
//!    and `clone` the complete model guest to write, for `set` the changed guest, for the other
//!    verbs the resolved target.
//!
//! Neither step reads a file or the network, so both are table-tested. Every refusal is a
//! [`GrammarError`] whose message names what is wrong and the valid choices or the closest one
//! ("no node 'pve4'; nodes: pve1, pve2, pve3").

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    Agent, CloudInit, ClusterSnapshot, ContainerConfig, CtNic, Disk, Guest, GuestConfig, GuestKind,
    GuestStatus, IpConfig, Mount, Nic, VmConfig,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// PVE accepts vmids from 100 to 999999999.
pub const VMID_MIN: u32 = 100;
pub const VMID_MAX: u32 = 999_999_999;

/// A refused line: what is wrong, and optionally what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    pub message: String,
    pub hint: Option<String>,
}

impl GrammarError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for GrammarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GrammarError {}

/// The verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Set,
    Delete,
    List,
    Show,
    Start,
    Stop,
    Shutdown,
    Reboot,
    Snapshot,
    Snapshots,
    Rollback,
    Migrate,
    Clone,
}

/// Every verb word (aliases included) with its verb.
pub const VERBS: &[(&str, Verb)] = &[
    ("create", Verb::Create),
    ("set", Verb::Set),
    ("delete", Verb::Delete),
    ("rm", Verb::Delete),
    ("list", Verb::List),
    ("show", Verb::Show),
    ("start", Verb::Start),
    ("stop", Verb::Stop),
    ("shutdown", Verb::Shutdown),
    ("reboot", Verb::Reboot),
    ("snapshot", Verb::Snapshot),
    ("snapshots", Verb::Snapshots),
    ("rollback", Verb::Rollback),
    ("migrate", Verb::Migrate),
    ("clone", Verb::Clone),
];

impl Verb {
    pub fn as_str(self) -> &'static str {
        VERBS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(w, _)| w)
    }

    /// Returns true for verbs that act on the server at once.
    pub fn is_imperative(self) -> bool {
        matches!(
            self,
            Verb::Start
                | Verb::Stop
                | Verb::Shutdown
                | Verb::Reboot
                | Verb::Snapshot
                | Verb::Snapshots
                | Verb::Rollback
                | Verb::Migrate
        )
    }
}

/// What a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vm,
    Container,
    Pool,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vm => "vm",
            Kind::Container => "container",
            Kind::Pool => "pool",
        }
    }

    fn guest_kind(self) -> Option<GuestKind> {
        match self {
            Kind::Vm => Some(GuestKind::Qemu),
            Kind::Container => Some(GuestKind::Lxc),
            Kind::Pool => None,
        }
    }
}

/// Kind words (aliases included).
pub const KINDS: &[(&str, Kind)] = &[
    ("vm", Kind::Vm),
    ("container", Kind::Container),
    ("ct", Kind::Container),
    ("lxc", Kind::Container),
    ("pool", Kind::Pool),
];

/// What `list` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListWhat {
    Vms,
    Containers,
    Nodes,
    Storages,
    Networks,
    Pools,
}

/// `list` words (singular forms accepted too).
pub const LIST_WORDS: &[(&str, ListWhat)] = &[
    ("vms", ListWhat::Vms),
    ("vm", ListWhat::Vms),
    ("containers", ListWhat::Containers),
    ("container", ListWhat::Containers),
    ("cts", ListWhat::Containers),
    ("ct", ListWhat::Containers),
    ("lxc", ListWhat::Containers),
    ("nodes", ListWhat::Nodes),
    ("node", ListWhat::Nodes),
    ("storages", ListWhat::Storages),
    ("storage", ListWhat::Storages),
    ("networks", ListWhat::Networks),
    ("network", ListWhat::Networks),
    ("bridges", ListWhat::Networks),
    ("pools", ListWhat::Pools),
    ("pool", ListWhat::Pools),
];

/// One flag as typed: `--name value`, `--name=value` or a bare switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// What the words of a line say, before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syntax {
    pub verb: Verb,
    /// `None` only for `list`.
    pub kind: Option<Kind>,
    pub list: Option<ListWhat>,
    /// The guest or pool named after the kind.
    pub name: Option<String>,
    /// Further positional words (`rollback vm web-01 <snapshot>`).
    pub rest: Vec<String>,
    pub flags: Vec<Flag>,
}

impl Syntax {
    fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|f| f.name == name)
            .filter_map(|f| f.value.as_deref())
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name)
    }
}

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Value,
    Switch,
}

/// A flag a verb accepts, with an example value for messages.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    takes: Takes,
    pub example: &'static str,
    pub help: &'static str,
}

const fn v(name: &'static str, example: &'static str, help: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        takes: Takes::Value,
        example,
        help,
    }
}

const fn s(name: &'static str, help: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        takes: Takes::Switch,
        example: "",
        help,
    }
}

const CREATE_VM: &[FlagSpec] = &[
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

const CREATE_CT: &[FlagSpec] = &[
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

const CREATE_POOL: &[FlagSpec] = &[
    v("name", "prod", "pool id"),
    v("comment", "Production", "comment"),
];

const SET_VM: &[FlagSpec] = &[
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

const SET_CT: &[FlagSpec] = &[
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

const CLONE: &[FlagSpec] = &[
    v("name", "web-02", "name of the copy"),
    v("node", "pve2", "node of the copy"),
    v("vmid", "121", "vmid of the copy"),
    v("pool", "prod", "resource pool"),
    s("start", "start it after /apply creates it"),
];

const LIST: &[FlagSpec] = &[
    v("node", "pve1", "only on this node"),
    v("tag", "web", "only with this tag"),
    v("status", "running", "only in this state"),
    v("pool", "prod", "only in this pool"),
    v("o", "table", "output: table, json or yaml"),
    v("output", "table", "output: table, json or yaml"),
];

const YES: &[FlagSpec] = &[s("yes", "do not ask for confirmation")];
const SNAPSHOT: &[FlagSpec] = &[
    v("name", "before_upgrade", "snapshot name"),
    v("description", "before the upgrade", "snapshot description"),
];
const MIGRATE: &[FlagSpec] = &[
    v("to", "pve2", "target node"),
    s("yes", "do not ask for confirmation"),
];
const NONE: &[FlagSpec] = &[];

/// Returns the flags `verb` takes for `kind`.
pub fn flags_for(verb: Verb, kind: Option<Kind>) -> &'static [FlagSpec] {
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

/// Returns the closest of `candidates` to `word`, if it is close enough to suggest.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        // Ties go to the first in order (pve1 before pve3).
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// Quotes user text for a message: at most 40 characters, control characters escaped.
fn q(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    format!("'{out}'")
}

fn list_of(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    if items.len() > 12 {
        let mut head: Vec<String> = items[..12].to_vec();
        head.push(format!("… ({} in all)", items.len()));
        return head.join(", ");
    }
    items.join(", ")
}

/// Step 1: the words of a line, checked on their own.
pub fn parse_syntax(line: &str) -> Result<Syntax, GrammarError> {
    let words = shlex::split(line).ok_or_else(|| {
        GrammarError::new("the line has an unclosed quote").hint("close the quote and try again")
    })?;
    let mut words = words.into_iter();
    let Some(verb_word) = words.next() else {
        return Err(
            GrammarError::new("empty command").hint("try `list vms` or `create vm --name web-01`")
        );
    };
    let lower = verb_word.to_ascii_lowercase();
    let Some(verb) = VERBS.iter().find(|(w, _)| *w == lower).map(|(_, v)| *v) else {
        let words: Vec<&str> = VERBS.iter().map(|(w, _)| *w).collect();
        let mut err = GrammarError::new(format!("unknown verb {}", q(&verb_word)));
        err = match closest(&lower, words.iter().copied()) {
            Some(best) => err.hint(format!("did you mean {best}?")),
            None => err.hint(format!("verbs: {}", words.join(", "))),
        };
        return Err(err);
    };
    let mut positional = Vec::new();
    let mut flags: Vec<Flag> = Vec::new();
    let rest: Vec<String> = words.collect();
    let mut i = 0;
    let mut kind_word: Option<String> = None;
    // The kind comes first; flags are checked once the kind is known.
    let mut raw_flags: Vec<(String, Option<String>, bool)> = Vec::new();
    while i < rest.len() {
        let word = &rest[i];
        if let Some(body) = word.strip_prefix("--").or_else(|| {
            word.strip_prefix('-')
                .filter(|b| b.len() == 1 && b.chars().all(|c| c.is_ascii_alphabetic()))
        }) {
            if body.is_empty() {
                return Err(GrammarError::new("`--` alone is not a flag")
                    .hint("flags look like --name web-01"));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, val)) => (n.to_string(), Some(val.to_string())),
                None => (body.to_string(), None),
            };
            raw_flags.push((name, inline.clone(), inline.is_some()));
            i += 1;
            // The next word may be this flag's value; decided below with the flag's spec.
            if inline.is_none()
                && let Some(next) = rest.get(i)
                && !(next.starts_with("--")
                    || (next.len() == 2
                        && next.starts_with('-')
                        && next[1..].chars().all(|c| c.is_ascii_alphabetic())))
            {
                raw_flags.last_mut().expect("just pushed").1 = Some(next.clone());
                i += 1;
            }
            continue;
        }
        if kind_word.is_none() && raw_flags.is_empty() {
            kind_word = Some(word.clone());
        } else {
            positional.push(word.clone());
        }
        i += 1;
    }
    let (kind, list) = match (verb, kind_word) {
        (_, None) => {
            let expected = if verb == Verb::List {
                "vms, containers, nodes, storages, networks or pools"
            } else {
                "vm, container or pool"
            };
            return Err(GrammarError::new(format!(
                "`{}` needs what to act on: {expected}",
                verb.as_str()
            ))
            .hint(example_for(verb)));
        }
        (Verb::List, Some(word)) => {
            let lower = word.to_ascii_lowercase();
            match LIST_WORDS.iter().find(|(w, _)| *w == lower) {
                Some((_, what)) => (None, Some(*what)),
                None => {
                    let names = [
                        "vms",
                        "containers",
                        "nodes",
                        "storages",
                        "networks",
                        "pools",
                    ];
                    let mut err = GrammarError::new(format!(
                        "cannot list {}; lists: {}",
                        q(&word),
                        names.join(", ")
                    ));
                    if let Some(best) = closest(&lower, names) {
                        err = err.hint(format!("did you mean list {best}?"));
                    }
                    return Err(err);
                }
            }
        }
        (_, Some(word)) => {
            let lower = word.to_ascii_lowercase();
            let plural = lower.strip_suffix('s').unwrap_or(&lower);
            match KINDS
                .iter()
                .find(|(w, _)| *w == lower || *w == plural)
                .map(|(_, k)| *k)
            {
                Some(k) => (Some(k), None),
                None => {
                    let mut err = GrammarError::new(format!(
                        "unknown kind {}; kinds: vm, container (ct, lxc), pool",
                        q(&word)
                    ));
                    if let Some(best) = closest(&lower, KINDS.iter().map(|(w, _)| *w)) {
                        err = err.hint(format!("did you mean {} {best}?", verb.as_str()));
                    }
                    return Err(err);
                }
            }
        }
    };
    let allowed_kinds: &[Kind] = match verb {
        Verb::Create | Verb::Delete | Verb::Show | Verb::List => {
            &[Kind::Vm, Kind::Container, Kind::Pool]
        }
        Verb::Migrate | Verb::Set | Verb::Start | Verb::Stop | Verb::Shutdown | Verb::Reboot => {
            &[Kind::Vm, Kind::Container]
        }
        Verb::Snapshot | Verb::Snapshots | Verb::Rollback => &[Kind::Vm, Kind::Container],
        Verb::Clone => &[Kind::Vm],
    };
    if let Some(k) = kind
        && !allowed_kinds.contains(&k)
    {
        let names: Vec<&str> = allowed_kinds.iter().map(|k| k.as_str()).collect();
        return Err(GrammarError::new(format!(
            "`{}` does not apply to a {}; it works on: {}",
            verb.as_str(),
            k.as_str(),
            names.join(", ")
        )));
    }
    let specs = flags_for(verb, kind);
    for (name, value, inline) in raw_flags {
        let Some(spec) = specs.iter().find(|f| f.name == name) else {
            let what = match kind {
                Some(k) => format!("{} {}", verb.as_str(), k.as_str()),
                None => verb.as_str().to_string(),
            };
            let mut err = GrammarError::new(format!("unknown flag --{} for {what}", q_flag(&name)));
            err = match closest(&name, specs.iter().map(|f| f.name)) {
                Some(best) => err.hint(format!("did you mean --{best}?")),
                None if specs.is_empty() => err.hint(format!("{what} takes no flags")),
                None => {
                    let names: Vec<String> =
                        specs.iter().map(|f| format!("--{}", f.name)).collect();
                    err.hint(format!("flags: {}", names.join(" ")))
                }
            };
            return Err(err);
        };
        match (spec.takes, value) {
            (Takes::Value, None) => {
                return Err(GrammarError::new(format!(
                    "--{name} needs a value, e.g. --{name} {}",
                    spec.example
                )));
            }
            (Takes::Value, Some(value)) => flags.push(Flag {
                name,
                value: Some(value),
            }),
            (Takes::Switch, Some(value)) if inline => {
                return Err(GrammarError::new(format!(
                    "--{name} is a switch and takes no value (got {})",
                    q(&value)
                )));
            }
            (Takes::Switch, Some(value)) => {
                // The word after a switch was not its value: it is positional.
                flags.push(Flag { name, value: None });
                positional.push(value);
            }
            (Takes::Switch, None) => flags.push(Flag { name, value: None }),
        }
    }
    let mut positional = positional.into_iter();
    let name = positional.next();
    let rest: Vec<String> = positional.collect();
    Ok(Syntax {
        verb,
        kind,
        list,
        name,
        rest,
        flags,
    })
}

fn q_flag(name: &str) -> String {
    let text: String = name.chars().take(40).flat_map(char::escape_debug).collect();
    text
}

fn example_for(verb: Verb) -> String {
    match verb {
        Verb::Create => "e.g. create vm --name web-01 --memory 2G".into(),
        Verb::List => "e.g. list vms --node pve1".into(),
        Verb::Migrate => "e.g. migrate vm web-01 --to pve2".into(),
        Verb::Rollback => "e.g. rollback vm web-01 before_upgrade".into(),
        Verb::Clone => "e.g. clone vm web-01 --name web-02".into(),
        Verb::Set => "e.g. set vm web-01 --memory 4G".into(),
        other => format!("e.g. {} vm web-01", other.as_str()),
    }
}

/// Defaults from config.yml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    pub node: Option<String>,
    pub storage: Option<String>,
    pub bridge: Option<String>,
}

/// What validation checks against: the workspace's desired guests and pools (from the files),
/// the last observed snapshot, and config.yml's defaults.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    pub desired: &'a [Guest],
    pub desired_pools: &'a [String],
    pub snapshot: &'a ClusterSnapshot,
    pub defaults: &'a Defaults,
    /// OS templates known to exist (`local:vztmpl/...`), when they were read.
    pub ct_templates: Option<&'a [String]>,
}

/// A guest as a command names it, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub kind: GuestKind,
}

/// A new guest for the files, with what was chosen for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGuest {
    pub guest: Guest,
    /// Defaults picked by the console, said out loud ("node pve2 (most free memory)").
    pub chosen: Vec<String>,
    /// `--ssh-key` file to read into cloud-init (read by the command, not here).
    pub ssh_key_file: Option<String>,
    /// The guest whose configuration was copied (`clone`, `--clone`).
    pub copied_from: Option<Target>,
}

/// Filters of `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub node: Option<String>,
    pub tag: Option<String>,
    pub status: Option<String>,
    pub pool: Option<String>,
    pub output: Option<String>,
}

/// Power operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Start,
    Stop,
    Shutdown,
    Reboot,
}

/// What a valid line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Create(Box<NewGuest>),
    CreatePool {
        id: String,
        comment: Option<String>,
    },
    Clone(Box<NewGuest>),
    Set {
        target: Target,
        /// The guest as the file will describe it.
        guest: Box<Guest>,
        /// Short descriptions of each change (`memory 2048 -> 4096 MiB`).
        changes: Vec<String>,
    },
    Delete(Target),
    DeletePool(String),
    List(ListWhat, ListQuery),
    Show(Target),
    ShowPool(String),
    Power {
        action: Power,
        target: Target,
        yes: bool,
    },
    Snapshot {
        target: Target,
        name: String,
        description: Option<String>,
    },
    Snapshots(Target),
    Rollback {
        target: Target,
        snapshot: String,
        yes: bool,
    },
    Migrate {
        target: Target,
        to: String,
        yes: bool,
    },
}

/// Parses and validates one line.
pub fn parse(line: &str, world: &World<'_>) -> Result<Intent, GrammarError> {
    validate(&parse_syntax(line)?, world)
}

/// Parses a size. `default_unit` is the multiplier of a bare number (MiB or GiB).
pub fn parse_size(text: &str, default_unit: u64) -> Option<u64> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let unit_bytes = match unit.to_ascii_lowercase().as_str() {
        "" => default_unit,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    if let Some((int, frac)) = number.split_once('.') {
        let int: u64 = int.parse().ok()?;
        if frac.is_empty() || frac.len() > 3 {
            return None;
        }
        let frac_val: u64 = frac.parse().ok()?;
        let scale = 10u64.pow(frac.len() as u32);
        let whole = int.checked_mul(unit_bytes)?;
        let part = unit_bytes.checked_mul(frac_val)? / scale;
        whole.checked_add(part)
    } else {
        number.parse::<u64>().ok()?.checked_mul(unit_bytes)
    }
}

/// Formats bytes as PVE-style text: `512 MiB`, `2 GiB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

fn memory_mib(flag: &str, text: &str) -> Result<u64, GrammarError> {
    let bytes = parse_size(text, MIB).ok_or_else(|| bad_size(flag, text, "MiB"))?;
    if bytes % MIB != 0 {
        return Err(GrammarError::new(format!(
            "--{flag} {} is not a whole number of MiB",
            q(text)
        )));
    }
    let mib = bytes / MIB;
    if flag == "memory" && !(16..=4 * 1024 * 1024).contains(&mib) {
        return Err(GrammarError::new(format!(
            "--memory {} is out of range: PVE accepts 16 MiB to 4 TiB",
            q(text)
        )));
    }
    Ok(mib)
}

fn bad_size(flag: &str, text: &str, bare: &str) -> GrammarError {
    GrammarError::new(format!(
        "bad size {} for --{flag}: use a number with M, G or T (512M, 2G, 2GiB); a bare number means {bare}",
        q(text)
    ))
}

fn disk_gib(flag: &str, text: &str) -> Result<u64, GrammarError> {
    let bytes = parse_size(text, GIB).ok_or_else(|| bad_size(flag, text, "GiB"))?;
    if bytes == 0 || bytes % GIB != 0 {
        return Err(GrammarError::new(format!(
            "--{flag} size {} is not a whole number of GiB (bpg/proxmox sizes disks in GiB)",
            q(text)
        )));
    }
    Ok(bytes / GIB)
}

fn count(flag: &str, text: &str, max: u32) -> Result<u32, GrammarError> {
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(GrammarError::new(format!(
            "--{flag} must be a whole number from 1 to {max} (got {})",
            q(text)
        ))),
    }
}

/// Returns whether PVE would accept `name` as a VM name or container hostname (a DNS name).
pub fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_name(kind: Kind, name: &str) -> Result<(), GrammarError> {
    if valid_dns_name(name) {
        return Ok(());
    }
    let what = if kind == Kind::Container {
        "hostname"
    } else {
        "name"
    };
    Err(GrammarError::new(format!(
        "{} is not a valid {what}: PVE accepts letters, digits and '-' in dot-separated parts (a DNS name), e.g. web-01",
        q(name)
    )))
}

/// Pool ids: PVE's `pve-poolid` (letters, digits, `-`, `_`).
fn check_pool_id(id: &str) -> Result<(), GrammarError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "{} is not a valid pool id: use letters, digits, '-' and '_'",
            q(id)
        )))
    }
}

fn parse_tags(text: &str) -> Result<Vec<String>, GrammarError> {
    let mut out = Vec::new();
    for tag in text.split([',', ';', ' ']).filter(|t| !t.is_empty()) {
        let lower = tag.to_ascii_lowercase();
        let ok = lower
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.'));
        if !ok {
            return Err(GrammarError::new(format!(
                "{} is not a valid tag: PVE tags use letters, digits, '_', '-', '+' and '.'",
                q(tag)
            )));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out.sort();
    Ok(out)
}

impl World<'_> {
    fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.snapshot.nodes.iter().map(|n| n.name.clone()).collect();
        names.sort();
        names
    }

    fn check_node(&self, node: &str) -> Result<(), GrammarError> {
        let names = self.node_names();
        if names.iter().any(|n| n == node) {
            return Ok(());
        }
        if names.is_empty() {
            return Err(GrammarError::new(format!(
                "no node {}: the workspace has no snapshot of the cluster yet",
                q(node)
            ))
            .hint("run /sync first"));
        }
        let mut err = GrammarError::new(format!("no node {}; nodes: {}", q(node), list_of(&names)));
        if let Some(best) = closest(node, names.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    /// The node with the most free memory among the online ones.
    fn roomiest_node(&self) -> Option<String> {
        self.snapshot
            .nodes
            .iter()
            .filter(|n| n.status == crate::model::NodeStatus::Online)
            .max_by_key(|n| {
                (
                    n.memory_bytes
                        .unwrap_or(0)
                        .saturating_sub(n.memory_used_bytes.unwrap_or(0)),
                    std::cmp::Reverse(n.name.clone()),
                )
            })
            .map(|n| n.name.clone())
    }

    fn storages_on(&self, node: &str, content: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .snapshot
            .storages
            .iter()
            .filter(|s| s.node == node && s.content.iter().any(|c| c == content))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn check_storage(&self, node: &str, id: &str, content: &str) -> Result<(), GrammarError> {
        let holders = self.storages_on(node, content);
        let what = if content == "images" {
            "disks"
        } else {
            "container volumes"
        };
        if holders.iter().any(|h| h == id) {
            return Ok(());
        }
        if let Some(st) = self
            .snapshot
            .storages
            .iter()
            .find(|s| s.node == node && s.id == id)
        {
            return Err(GrammarError::new(format!(
                "storage {} cannot hold {what} (content: {}); storages that can: {}",
                q(id),
                st.content.join(", "),
                list_of(&holders)
            )));
        }
        let mut err = GrammarError::new(format!(
            "no storage {} on {node}; storages that hold {what}: {}",
            q(id),
            list_of(&holders)
        ));
        if let Some(best) = closest(id, holders.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    fn bridges_on(&self, node: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot
            .networks
            .iter()
            .filter(|n| n.node == node && (n.kind == "bridge" || n.kind == "OVSBridge"))
            .map(|n| n.iface.clone())
            .collect();
        names.sort();
        names
    }

    fn check_bridge(&self, node: &str, bridge: &str) -> Result<(), GrammarError> {
        let names = self.bridges_on(node);
        if names.iter().any(|b| b == bridge) {
            return Ok(());
        }
        let mut err = GrammarError::new(format!(
            "no bridge {} on {node}; bridges: {}",
            q(bridge),
            list_of(&names)
        ));
        if let Some(best) = closest(bridge, names.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        Err(err)
    }

    fn pool_ids(&self) -> Vec<String> {
        let mut ids: BTreeSet<String> = self.desired_pools.iter().cloned().collect();
        ids.extend(self.snapshot.pools.iter().map(|p| p.id.clone()));
        ids.into_iter().collect()
    }

    fn check_pool(&self, id: &str) -> Result<(), GrammarError> {
        let ids = self.pool_ids();
        if ids.iter().any(|p| p == id) {
            return Ok(());
        }
        let mut err = GrammarError::new(format!("no pool {}; pools: {}", q(id), list_of(&ids)));
        err = match closest(id, ids.iter().map(String::as_str)) {
            Some(best) => err.hint(format!("did you mean {best}?")),
            None => err.hint(format!("create it first: create pool {id}")),
        };
        Err(err)
    }

    /// Every guest known: files first, then the live ones not in the files.
    fn all_guests(&self) -> Vec<&Guest> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for g in self.desired.iter().chain(self.snapshot.guests.iter()) {
            if seen.insert(g.vmid) {
                out.push(g);
            }
        }
        out
    }

    /// Finds a guest of `kind` by name or vmid in `pool` of guests.
    fn find_in<'g>(
        &self,
        guests: &[&'g Guest],
        kind: Kind,
        word: &str,
        place: &str,
    ) -> Result<&'g Guest, GrammarError> {
        let gk = kind.guest_kind();
        let of_kind: Vec<&Guest> = guests
            .iter()
            .copied()
            .filter(|g| Some(g.kind) == gk)
            .collect();
        if let Ok(vmid) = word.parse::<u32>()
            && let Some(g) = of_kind.iter().find(|g| g.vmid == vmid)
        {
            return Ok(g);
        }
        let named: Vec<&&Guest> = of_kind.iter().filter(|g| g.name == word).collect();
        match named.as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => {
                let ids: Vec<String> = many.iter().map(|g| g.vmid.to_string()).collect();
                return Err(GrammarError::new(format!(
                    "{} {} is ambiguous: vmids {}",
                    kind.as_str(),
                    q(word),
                    ids.join(", ")
                ))
                .hint("name it by vmid"));
            }
        }
        if let Some(other) = guests
            .iter()
            .find(|g| g.name == word || g.vmid.to_string() == word)
        {
            let other_kind = if other.kind == GuestKind::Qemu {
                "vm"
            } else {
                "container"
            };
            return Err(GrammarError::new(format!(
                "{} is a {other_kind}, not a {}",
                q(word),
                kind.as_str()
            ))
            .hint(format!("use `{other_kind}` instead of `{}`", kind.as_str())));
        }
        let names: Vec<String> = of_kind.iter().map(|g| g.name.clone()).collect();
        let mut err = GrammarError::new(format!("no {} {}{place}", kind.as_str(), q(word)));
        err = match closest(word, names.iter().map(String::as_str)) {
            Some(best) => err.hint(format!("did you mean {best}?")),
            None if names.is_empty() => err.hint("run /sync to import the cluster's guests"),
            None => err.hint(format!("{}s: {}", kind.as_str(), list_of(&names))),
        };
        Err(err)
    }

    /// A guest in the workspace files (for declarative verbs).
    fn desired_guest(&self, kind: Kind, word: &str) -> Result<&Guest, GrammarError> {
        let files: Vec<&Guest> = self.desired.iter().collect();
        self.find_in(&files, kind, word, " in the workspace files")
            .map_err(|e| {
                if e.message.starts_with("no ")
                    && self
                        .snapshot
                        .guests
                        .iter()
                        .any(|g| g.name == word || g.vmid.to_string() == word)
                {
                    GrammarError::new(format!(
                        "{} {} is on the server but not in the workspace files",
                        kind.as_str(),
                        q(word)
                    ))
                    .hint("run /sync to import it first")
                } else {
                    e
                }
            })
    }

    /// A guest on the server, as last observed (for imperative verbs).
    fn live_guest(&self, kind: Kind, word: &str) -> Result<&Guest, GrammarError> {
        let live: Vec<&Guest> = self.snapshot.guests.iter().collect();
        self.find_in(&live, kind, word, " on the server")
            .map_err(|e| {
                if e.message.starts_with("no ") && self.desired.iter().any(|g| g.name == word) {
                    GrammarError::new(format!(
                        "{} {} is in the files but not on the server yet",
                        kind.as_str(),
                        q(word)
                    ))
                    .hint("run /apply to create it, then /sync")
                } else {
                    e
                }
            })
    }

    fn vmid_owner(&self, vmid: u32) -> Option<&Guest> {
        self.all_guests().into_iter().find(|g| g.vmid == vmid)
    }

    fn free_vmid(&self) -> Option<u32> {
        let used: BTreeSet<u32> = self.all_guests().iter().map(|g| g.vmid).collect();
        (VMID_MIN..=VMID_MAX).find(|id| !used.contains(id))
    }
}

fn target_of(g: &Guest) -> Target {
    Target {
        vmid: g.vmid,
        name: g.name.clone(),
        node: g.node.clone(),
        kind: g.kind,
    }
}

fn require_name(syntax: &Syntax, kind: Kind) -> Result<String, GrammarError> {
    syntax.name.clone().ok_or_else(|| {
        GrammarError::new(format!(
            "`{} {}` needs the name or vmid of the {}",
            syntax.verb.as_str(),
            kind.as_str(),
            kind.as_str()
        ))
        .hint(example_for(syntax.verb))
    })
}

fn no_extra_words(syntax: &Syntax, allowed: usize) -> Result<(), GrammarError> {
    let mut extra: Vec<&String> = syntax.rest.iter().skip(allowed).collect();
    if syntax.verb == Verb::Create
        && let Some(name) = &syntax.name
        && syntax.get("name").is_some()
    {
        extra.insert(0, name);
    }
    match extra.first() {
        None => Ok(()),
        Some(word) => Err(GrammarError::new(format!(
            "unexpected word {} after `{}`",
            q(word),
            syntax.verb.as_str()
        ))
        .hint("values go after their flag, e.g. --memory 2G; quote text with spaces")),
    }
}

/// Step 2: checks the syntax against the world and returns what to do.
pub fn validate(syntax: &Syntax, world: &World<'_>) -> Result<Intent, GrammarError> {
    match (syntax.verb, syntax.kind) {
        (Verb::List, _) => {
            no_extra_words(syntax, 0)?;
            if let Some(word) = &syntax.name {
                return Err(
                    GrammarError::new(format!("unexpected word {} after `list`", q(word)))
                        .hint("filter with --node, --tag, --status or --pool"),
                );
            }
            let query = ListQuery {
                node: syntax.get("node").map(str::to_string),
                tag: syntax.get("tag").map(str::to_ascii_lowercase),
                status: syntax.get("status").map(str::to_ascii_lowercase),
                pool: syntax.get("pool").map(str::to_string),
                output: syntax
                    .get("output")
                    .or_else(|| syntax.get("o"))
                    .map(str::to_string),
            };
            if let Some(node) = &query.node {
                world.check_node(node)?;
            }
            if let Some(status) = &query.status
                && !["running", "stopped", "paused", "template"].contains(&status.as_str())
            {
                return Err(GrammarError::new(format!(
                    "unknown status {}; statuses: running, stopped, paused, template",
                    q(status)
                )));
            }
            if let Some(out) = &query.output
                && !["table", "json", "yaml"].contains(&out.as_str())
            {
                return Err(GrammarError::new(format!(
                    "unknown output {}; outputs: table, json, yaml",
                    q(out)
                )));
            }
            Ok(Intent::List(syntax.list.unwrap_or(ListWhat::Vms), query))
        }
        (Verb::Create, Some(Kind::Pool)) => {
            no_extra_words(syntax, 0)?;
            let id = syntax
                .get("name")
                .map(str::to_string)
                .or_else(|| syntax.name.clone())
                .ok_or_else(|| {
                    GrammarError::new("`create pool` needs the pool id")
                        .hint("e.g. create pool prod --comment Production")
                })?;
            check_pool_id(&id)?;
            if world.pool_ids().contains(&id) {
                return Err(GrammarError::new(format!("pool {} already exists", q(&id))));
            }
            Ok(Intent::CreatePool {
                id,
                comment: syntax.get("comment").map(str::to_string),
            })
        }
        (Verb::Create, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            create(syntax, world, kind).map(|g| Intent::Create(Box::new(g)))
        }
        (Verb::Clone, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let source = require_name(syntax, kind)?;
            let source = world.desired_guest(kind, &source)?.clone();
            clone(syntax, world, kind, &source).map(|g| Intent::Clone(Box::new(g)))
        }
        (Verb::Set, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            let current = world.desired_guest(kind, &word)?;
            set(syntax, world, current)
        }
        (Verb::Delete, Some(Kind::Pool)) | (Verb::Show, Some(Kind::Pool)) => {
            no_extra_words(syntax, 0)?;
            let id = require_name(syntax, Kind::Pool)?;
            world.check_pool(&id)?;
            Ok(if syntax.verb == Verb::Delete {
                Intent::DeletePool(id)
            } else {
                Intent::ShowPool(id)
            })
        }
        (Verb::Delete, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            Ok(Intent::Delete(target_of(world.desired_guest(kind, &word)?)))
        }
        (Verb::Show, Some(kind)) => {
            no_extra_words(syntax, 0)?;
            let word = require_name(syntax, kind)?;
            let all = world.all_guests();
            Ok(Intent::Show(target_of(
                world.find_in(&all, kind, &word, "")?,
            )))
        }
        (
            verb @ (Verb::Start
            | Verb::Stop
            | Verb::Shutdown
            | Verb::Reboot
            | Verb::Snapshots
            | Verb::Snapshot
            | Verb::Rollback
            | Verb::Migrate),
            Some(kind),
        ) => {
            let allowed = usize::from(verb == Verb::Rollback);
            no_extra_words(syntax, allowed)?;
            let word = require_name(syntax, kind)?;
            let g = world.live_guest(kind, &word)?;
            let target = target_of(g);
            let yes = syntax.has("yes");
            let power = |action| Intent::Power {
                action,
                target: target.clone(),
                yes,
            };
            Ok(match verb {
                Verb::Start => power(Power::Start),
                Verb::Stop => power(Power::Stop),
                Verb::Shutdown => power(Power::Shutdown),
                Verb::Reboot => power(Power::Reboot),
                Verb::Snapshots => Intent::Snapshots(target),
                Verb::Snapshot => {
                    let name = syntax
                        .get("name")
                        .map(str::to_string)
                        .unwrap_or_else(default_snapshot_name);
                    check_snapshot_name(&name)?;
                    Intent::Snapshot {
                        target,
                        name,
                        description: syntax.get("description").map(str::to_string),
                    }
                }
                Verb::Rollback => {
                    let snapshot = syntax.rest.first().cloned().ok_or_else(|| {
                        GrammarError::new(format!(
                            "`rollback {} {word}` needs the snapshot name",
                            kind.as_str()
                        ))
                        .hint(format!(
                            "list them with: snapshots {} {word}",
                            kind.as_str()
                        ))
                    })?;
                    check_snapshot_name(&snapshot)?;
                    Intent::Rollback {
                        target,
                        snapshot,
                        yes,
                    }
                }
                _ => {
                    let to = syntax.get("to").ok_or_else(|| {
                        GrammarError::new(format!(
                            "`migrate {} {word}` needs --to NODE",
                            kind.as_str()
                        ))
                        .hint(format!("nodes: {}", list_of(&world.node_names())))
                    })?;
                    world.check_node(to)?;
                    if to == target.node {
                        return Err(GrammarError::new(format!(
                            "{} {} is already on {to}",
                            kind.as_str(),
                            q(&target.name)
                        )));
                    }
                    Intent::Migrate {
                        target,
                        to: to.to_string(),
                        yes,
                    }
                }
            })
        }
        (verb, None) => Err(GrammarError::new(format!(
            "`{}` needs a kind: vm, container or pool",
            verb.as_str()
        ))),
    }
}

fn default_snapshot_name() -> String {
    format!("snap_{}", chrono::Utc::now().format("%Y%m%d_%H%M%S"))
}

/// PVE snapshot names (`pve-configid`): a letter first, then letters, digits and `_`; 2 to 40.
fn check_snapshot_name(name: &str) -> Result<(), GrammarError> {
    let ok = (2..=40).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "{} is not a valid snapshot name: a letter first, then letters, digits or '_' (2 to 40; PVE allows no '-')",
            q(name)
        )))
    }
}

/// A disk spec: SIZE, STORAGE:SIZE or SLOT=STORAGE:SIZE.
fn parse_disk_spec(
    flag: &str,
    text: &str,
) -> Result<(Option<String>, Option<String>, u64), GrammarError> {
    let (slot, rest) = match text.split_once('=') {
        Some((slot, rest)) => (Some(slot.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    if let Some(slot) = &slot {
        let valid = ["scsi", "virtio", "sata", "ide"].iter().any(|bus| {
            slot.strip_prefix(bus).is_some_and(|n| {
                !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if !valid {
            return Err(GrammarError::new(format!(
                "{} is not a disk slot; slots look like scsi1, virtio0, sata2",
                q(slot)
            )));
        }
    }
    let (storage, size) = match rest.rsplit_once(':') {
        Some((st, size)) => (Some(st.to_string()), size),
        None => (None, rest),
    };
    Ok((slot, storage, disk_gib(flag, size)?))
}

/// A NIC spec: BRIDGE[,tag=N][,firewall=0|1][,model=M].
struct NetSpec {
    bridge: String,
    tag: Option<u16>,
    firewall: Option<bool>,
    model: Option<String>,
}

fn parse_net_spec(flag: &str, text: &str) -> Result<NetSpec, GrammarError> {
    let mut parts = text.split(',');
    let bridge = parts.next().unwrap_or_default().to_string();
    if bridge.is_empty() || bridge.contains('=') {
        return Err(GrammarError::new(format!(
            "--{flag} {} must start with a bridge, e.g. --{flag} vmbr0,tag=20",
            q(text)
        )));
    }
    let mut spec = NetSpec {
        bridge,
        tag: None,
        firewall: None,
        model: None,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("tag", n)) => match n.parse::<u16>() {
                Ok(t) if (1..=4094).contains(&t) => spec.tag = Some(t),
                _ => {
                    return Err(GrammarError::new(format!(
                        "VLAN tag {} is out of range: use 1 to 4094",
                        q(n)
                    )));
                }
            },
            Some(("firewall", b)) => {
                spec.firewall = Some(match b {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    _ => {
                        return Err(GrammarError::new(format!(
                            "firewall={} must be 0 or 1",
                            q(b)
                        )));
                    }
                })
            }
            Some(("model", m)) if flag != "net" || !m.is_empty() => {
                let models = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];
                if !models.contains(&m) {
                    return Err(GrammarError::new(format!(
                        "unknown NIC model {}; models: {}",
                        q(m),
                        models.join(", ")
                    )));
                }
                spec.model = Some(m.to_string());
            }
            _ => {
                return Err(GrammarError::new(format!(
                    "unknown NIC option {} in --{flag}; options: tag=N, firewall=0|1, model=M",
                    q(part)
                )));
            }
        }
    }
    Ok(spec)
}

fn check_ip(flag: &str, text: &str) -> Result<(), GrammarError> {
    if text == "dhcp" {
        return Ok(());
    }
    let ok = text.split_once('/').is_some_and(|(addr, len)| {
        addr.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
    });
    if ok {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "--{flag} {} must be an address with its prefix length (10.0.0.5/24) or dhcp",
            q(text)
        )))
    }
}

fn check_addr(flag: &str, text: &str) -> Result<(), GrammarError> {
    if text.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(GrammarError::new(format!(
            "--{flag} {} is not an IP address",
            q(text)
        )))
    }
}

/// Node, storage and bridge for a new guest: flags, then config.yml, then the cluster.
struct Placement {
    node: String,
    storage: String,
    bridge: String,
    chosen: Vec<String>,
}

fn place(
    syntax: &Syntax,
    world: &World<'_>,
    content: &str,
    explicit_storage: Option<&str>,
    explicit_bridge: Option<&str>,
) -> Result<Placement, GrammarError> {
    let mut chosen = Vec::new();
    let node = match syntax.get("node") {
        Some(n) => n.to_string(),
        None => match &world.defaults.node {
            Some(n) => {
                chosen.push(format!("node {n} (config.yml default)"));
                n.clone()
            }
            None => {
                let n = world.roomiest_node().ok_or_else(|| {
                    GrammarError::new("no online node to put it on: the last snapshot has none")
                        .hint("run /sync, or give --node")
                })?;
                chosen.push(format!("node {n} (most free memory)"));
                n
            }
        },
    };
    world.check_node(&node)?;
    let storage = match explicit_storage {
        Some(s) => s.to_string(),
        None => match &world.defaults.storage {
            Some(s) => {
                chosen.push(format!("storage {s} (config.yml default)"));
                s.clone()
            }
            None => {
                let holders = world.storages_on(&node, content);
                let pick = if holders.iter().any(|h| h == "local-lvm") {
                    "local-lvm".to_string()
                } else {
                    holders.first().cloned().ok_or_else(|| {
                        GrammarError::new(format!(
                            "no storage on {node} can hold {}",
                            if content == "images" {
                                "disks"
                            } else {
                                "container volumes"
                            }
                        ))
                        .hint("pick another node with --node")
                    })?
                };
                chosen.push(format!("storage {pick} (holds {content} on {node})"));
                pick
            }
        },
    };
    world.check_storage(&node, &storage, content)?;
    let bridge = match explicit_bridge {
        Some(b) => b.to_string(),
        None => match &world.defaults.bridge {
            Some(b) => {
                chosen.push(format!("bridge {b} (config.yml default)"));
                b.clone()
            }
            None => {
                let b = world.bridges_on(&node).first().cloned().ok_or_else(|| {
                    GrammarError::new(format!("node {node} has no bridge for the NIC"))
                        .hint("give --net BRIDGE")
                })?;
                chosen.push(format!("bridge {b} (first bridge on {node})"));
                b
            }
        },
    };
    world.check_bridge(&node, &bridge)?;
    Ok(Placement {
        node,
        storage,
        bridge,
        chosen,
    })
}

fn pick_vmid(
    syntax: &Syntax,
    world: &World<'_>,
    chosen: &mut Vec<String>,
) -> Result<u32, GrammarError> {
    match syntax.get("vmid") {
        Some(text) => {
            let vmid = text
                .parse::<u64>()
                .map_err(|_| GrammarError::new(format!("--vmid {} is not a number", q(text))))?;
            if !(u64::from(VMID_MIN)..=u64::from(VMID_MAX)).contains(&vmid) {
                return Err(GrammarError::new(format!(
                    "vmid {vmid} is out of range: PVE uses {VMID_MIN} to {VMID_MAX}"
                )));
            }
            let vmid = vmid as u32;
            if let Some(owner) = world.vmid_owner(vmid) {
                let kind = if owner.kind == GuestKind::Qemu {
                    "vm"
                } else {
                    "container"
                };
                return Err(GrammarError::new(format!(
                    "vmid {vmid} is taken by {kind} {}",
                    owner.name
                ))
                .hint(format!(
                    "leave --vmid out to take the lowest free one ({})",
                    world.free_vmid().unwrap_or(VMID_MIN)
                )));
            }
            Ok(vmid)
        }
        None => {
            let vmid = world
                .free_vmid()
                .ok_or_else(|| GrammarError::new("no free vmid is left"))?;
            chosen.push(format!("vmid {vmid} (lowest free)"));
            Ok(vmid)
        }
    }
}

fn check_new_name(world: &World<'_>, kind: Kind, name: &str) -> Result<(), GrammarError> {
    check_name(kind, name)?;
    if let Some(g) = world.all_guests().iter().find(|g| g.name == name) {
        let k = if g.kind == GuestKind::Qemu {
            "vm"
        } else {
            "container"
        };
        return Err(GrammarError::new(format!(
            "a {k} named {} already exists (vmid {})",
            q(name),
            g.vmid
        ))
        .hint("pick another name, or change it with `set`"));
    }
    Ok(())
}

fn new_guest(vmid: u32, name: &str, node: &str, config: GuestConfig) -> Guest {
    Guest {
        vmid,
        name: name.to_string(),
        node: node.to_string(),
        kind: config.kind(),
        status: GuestStatus::Stopped,
        template: false,
        tags: Vec::new(),
        pool: None,
        description: None,
        on_boot: false,
        lock: None,
        config,
        unmodelled: BTreeMap::new(),
        digest: None,
    }
}

fn common_fields(
    syntax: &Syntax,
    world: &World<'_>,
    guest: &mut Guest,
) -> Result<(), GrammarError> {
    if let Some(tags) = syntax.get("tags") {
        guest.tags = parse_tags(tags)?;
    }
    if let Some(pool) = syntax.get("pool") {
        world.check_pool(pool)?;
        guest.pool = Some(pool.to_string());
    }
    if let Some(d) = syntax.get("description") {
        guest.description = Some(d.to_string());
    }
    if syntax.has("start") {
        guest.status = GuestStatus::Running;
    }
    Ok(())
}

fn create(syntax: &Syntax, world: &World<'_>, kind: Kind) -> Result<NewGuest, GrammarError> {
    let name = syntax
        .get("name")
        .map(str::to_string)
        .or_else(|| syntax.name.clone())
        .ok_or_else(|| {
            GrammarError::new(format!("`create {}` needs --name", kind.as_str()))
                .hint(format!("e.g. create {} --name web-01", kind.as_str()))
        })?;
    check_new_name(world, kind, &name)?;
    if kind == Kind::Vm
        && let Some(source) = syntax.get("clone")
    {
        let source = world.desired_guest(Kind::Vm, source)?.clone();
        return clone(syntax, world, kind, &source).map(|mut g| {
            g.guest.name = name.clone();
            g
        });
    }
    let disks = syntax.all(if kind == Kind::Vm { "disk" } else { "rootfs" });
    let nets = syntax.all("net");
    let first_disk = disks
        .first()
        .map(|d| parse_disk_spec(if kind == Kind::Vm { "disk" } else { "rootfs" }, d))
        .transpose()?;
    let first_net = nets.first().map(|n| parse_net_spec("net", n)).transpose()?;
    let content = if kind == Kind::Vm {
        "images"
    } else {
        "rootdir"
    };
    let p = place(
        syntax,
        world,
        content,
        first_disk.as_ref().and_then(|d| d.1.as_deref()),
        first_net.as_ref().map(|n| n.bridge.as_str()),
    )?;
    let mut chosen = p.chosen;
    let vmid = pick_vmid(syntax, world, &mut chosen)?;
    let cores = syntax
        .get("cores")
        .map(|c| count("cores", c, 512))
        .transpose()?;
    let memory = syntax
        .get("memory")
        .map(|m| memory_mib("memory", m))
        .transpose()?;
    let mut nics_specs = Vec::new();
    for n in &nets {
        let spec = parse_net_spec("net", n)?;
        world.check_bridge(&p.node, &spec.bridge)?;
        nics_specs.push(spec);
    }
    if nics_specs.is_empty() {
        nics_specs.push(NetSpec {
            bridge: p.bridge.clone(),
            tag: None,
            firewall: None,
            model: None,
        });
    }
    if let Some(ip) = syntax.get("ip") {
        check_ip("ip", ip)?;
    }
    if let Some(gw) = syntax.get("gw") {
        check_addr("gw", gw)?;
    }
    let dns = syntax
        .get("dns")
        .map(|d| {
            let servers: Vec<&str> = d.split([',', ' ']).filter(|s| !s.is_empty()).collect();
            for s in &servers {
                check_addr("dns", s)?;
            }
            Ok::<_, GrammarError>(servers.join(" "))
        })
        .transpose()?;
    let config = match kind {
        Kind::Vm => {
            let mut vm = VmConfig {
                cores: Some(cores.unwrap_or(2)),
                sockets: Some(
                    syntax
                        .get("sockets")
                        .map(|s| count("sockets", s, 4))
                        .transpose()?
                        .unwrap_or(1),
                ),
                memory_mib: Some(memory.unwrap_or(2048)),
                ostype: Some("l26".into()),
                scsihw: Some("virtio-scsi-single".into()),
                agent: Some(Agent {
                    enabled: true,
                    extra: BTreeMap::new(),
                }),
                ..VmConfig::default()
            };
            let specs: Vec<(Option<String>, Option<String>, u64)> = if disks.is_empty() {
                vec![(None, None, 32)]
            } else {
                disks
                    .iter()
                    .map(|d| parse_disk_spec("disk", d))
                    .collect::<Result<_, _>>()?
            };
            add_disks(world, &p.node, &p.storage, &mut vm, specs)?;
            for (i, spec) in nics_specs.into_iter().enumerate() {
                vm.nics.insert(
                    i as u8,
                    Nic {
                        model: spec.model.unwrap_or_else(|| "virtio".into()),
                        mac: None,
                        bridge: Some(spec.bridge),
                        vlan_tag: spec.tag,
                        firewall: spec.firewall,
                        extra: BTreeMap::new(),
                    },
                );
            }
            let wants_ci = ["ip", "gw", "dns", "ssh-key", "user"]
                .iter()
                .any(|f| syntax.has(f));
            if wants_ci {
                let mut ci = CloudInit {
                    user: syntax.get("user").map(str::to_string),
                    dns,
                    ..CloudInit::default()
                };
                if syntax.has("ip") || syntax.has("gw") {
                    ci.ipconfigs.insert(
                        0,
                        IpConfig {
                            ip: syntax.get("ip").map(str::to_string),
                            gw: syntax.get("gw").map(str::to_string),
                            ..IpConfig::default()
                        },
                    );
                }
                vm.cloud_init = Some(ci);
                let mut drive = Disk::new(format!("{}:cloudinit", p.storage));
                drive.media = Some("cdrom".into());
                vm.disks.insert("ide2".into(), drive);
            }
            GuestConfig::Vm(vm)
        }
        _ => {
            let template = syntax.get("template").ok_or_else(|| {
                GrammarError::new("`create container` needs --template, the OS template").hint(
                    match world.ct_templates {
                        Some(t) if !t.is_empty() => format!("templates: {}", list_of(t)),
                        _ => "e.g. --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
                            .to_string(),
                    },
                )
            })?;
            let template = resolve_template(world, &p.node, template)?;
            let rootfs_gib = first_disk.as_ref().map_or(8, |d| d.2);
            if first_disk.as_ref().is_some_and(|d| d.0.is_some()) {
                return Err(GrammarError::new(
                    "--rootfs takes SIZE or STORAGE:SIZE (no slot)",
                ));
            }
            let mut ct = ContainerConfig {
                hostname: Some(name.clone()),
                cores: Some(cores.unwrap_or(1)),
                memory_mib: Some(memory.unwrap_or(512)),
                swap_mib: Some(
                    syntax
                        .get("swap")
                        .map(|m| memory_mib("swap", m))
                        .transpose()?
                        .unwrap_or(512),
                ),
                rootfs: Some(Mount {
                    volume: format!("{}:{rootfs_gib}", p.storage),
                    path: None,
                    size_bytes: Some(rootfs_gib * GIB),
                    extra: BTreeMap::new(),
                }),
                unprivileged: Some(!syntax.has("privileged")),
                ostemplate: Some(template),
                ..ContainerConfig::default()
            };
            if syntax.has("privileged") && syntax.has("unprivileged") {
                return Err(GrammarError::new(
                    "--privileged and --unprivileged contradict each other",
                ));
            }
            for (i, m) in syntax.all("mount").iter().enumerate() {
                ct.mount_points
                    .insert(i as u8, parse_mount(world, &p.node, m)?);
            }
            if let Some(f) = syntax.get("features") {
                ct.features = parse_features(f)?;
            }
            for (i, spec) in nics_specs.into_iter().enumerate() {
                let first = i == 0;
                ct.nics.insert(
                    i as u8,
                    CtNic {
                        name: format!("eth{i}"),
                        bridge: Some(spec.bridge),
                        ip: if first {
                            Some(syntax.get("ip").unwrap_or("dhcp").to_string())
                        } else {
                            Some("dhcp".into())
                        },
                        gw: if first {
                            syntax.get("gw").map(str::to_string)
                        } else {
                            None
                        },
                        vlan_tag: spec.tag,
                        firewall: spec.firewall,
                        ..CtNic::default()
                    },
                );
            }
            if let Some(dns) = dns {
                // PVE's `nameserver` key; the model keeps it verbatim.
                let mut g = new_guest(vmid, &name, &p.node, GuestConfig::Container(ct));
                g.unmodelled.insert("nameserver".into(), dns);
                common_fields(syntax, world, &mut g)?;
                return Ok(NewGuest {
                    guest: g,
                    chosen,
                    ssh_key_file: None,
                    copied_from: None,
                });
            }
            GuestConfig::Container(ct)
        }
    };
    let mut guest = new_guest(vmid, &name, &p.node, config);
    common_fields(syntax, world, &mut guest)?;
    Ok(NewGuest {
        guest,
        chosen,
        ssh_key_file: syntax.get("ssh-key").map(str::to_string),
        copied_from: None,
    })
}

fn resolve_template(world: &World<'_>, node: &str, text: &str) -> Result<String, GrammarError> {
    if let Some(known) = world.ct_templates {
        if known.iter().any(|t| t == text) {
            return Ok(text.to_string());
        }
        let matching: Vec<&String> = known
            .iter()
            .filter(|t| t.rsplit('/').next().is_some_and(|f| f.starts_with(text)))
            .collect();
        if let [one] = matching.as_slice() {
            return Ok((*one).clone());
        }
        let mut err = GrammarError::new(format!(
            "no template {}; templates: {}",
            q(text),
            list_of(known)
        ));
        if let Some(best) = closest(text, known.iter().map(String::as_str)) {
            err = err.hint(format!("did you mean {best}?"));
        }
        return Err(err);
    }
    let Some((storage, path)) = text.split_once(':') else {
        return Err(GrammarError::new(format!(
            "template {} must be a volume id such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            q(text)
        )));
    };
    if !path.starts_with("vztmpl/") {
        return Err(GrammarError::new(format!(
            "template {} is not under vztmpl/ on its storage",
            q(text)
        )));
    }
    world.check_storage(node, storage, "vztmpl")?;
    Ok(text.to_string())
}

fn parse_mount(world: &World<'_>, node: &str, text: &str) -> Result<Mount, GrammarError> {
    let Some((volume, path)) = text.split_once(',') else {
        return Err(GrammarError::new(format!(
            "--mount {} must be STORAGE:SIZE,PATH, e.g. local-lvm:10G,/srv",
            q(text)
        )));
    };
    if !path.starts_with('/') {
        return Err(GrammarError::new(format!(
            "mount path {} must be absolute",
            q(path)
        )));
    }
    let (_, storage, gib) = parse_disk_spec("mount", volume)?;
    let storage = storage.ok_or_else(|| {
        GrammarError::new(format!(
            "--mount {} needs a storage, e.g. local-lvm:10G,/srv",
            q(text)
        ))
    })?;
    world.check_storage(node, &storage, "rootdir")?;
    Ok(Mount {
        volume: format!("{storage}:{gib}"),
        path: Some(path.to_string()),
        size_bytes: Some(gib * GIB),
        extra: BTreeMap::new(),
    })
}

fn parse_features(text: &str) -> Result<BTreeMap<String, String>, GrammarError> {
    let known = ["nesting", "keyctl", "fuse", "mknod"];
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, "1"));
        if !known.contains(&k) || !matches!(v, "0" | "1") {
            return Err(GrammarError::new(format!(
                "unknown feature {}; features: nesting=1, keyctl=1, fuse=1, mknod=1",
                q(part)
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn add_disks(
    world: &World<'_>,
    node: &str,
    default_storage: &str,
    vm: &mut VmConfig,
    specs: Vec<(Option<String>, Option<String>, u64)>,
) -> Result<Vec<String>, GrammarError> {
    let mut added = Vec::new();
    for (slot, storage, gib) in specs {
        let storage = storage.unwrap_or_else(|| default_storage.to_string());
        world.check_storage(node, &storage, "images")?;
        let slot = match slot {
            Some(s) => {
                if vm.disks.contains_key(&s) {
                    return Err(GrammarError::new(format!("slot {s} is already in use")));
                }
                s
            }
            None => (0..31)
                .map(|n| format!("scsi{n}"))
                .find(|s| !vm.disks.contains_key(s))
                .ok_or_else(|| GrammarError::new("no free scsi slot is left"))?,
        };
        let mut disk = Disk::new(format!("{storage}:{gib}"));
        disk.size_bytes = Some(gib * GIB);
        vm.disks.insert(slot.clone(), disk);
        added.push(format!("{gib} GiB {slot} on {storage}"));
    }
    Ok(added)
}

fn clone(
    syntax: &Syntax,
    world: &World<'_>,
    kind: Kind,
    source: &Guest,
) -> Result<NewGuest, GrammarError> {
    let name = syntax.get("name").map(str::to_string).ok_or_else(|| {
        GrammarError::new(format!(
            "`clone {}` needs --name for the copy",
            kind.as_str()
        ))
        .hint(format!(
            "e.g. clone {} {} --name {}-2",
            kind.as_str(),
            source.name,
            source.name
        ))
    })?;
    check_new_name(world, kind, &name)?;
    let mut chosen = Vec::new();
    let node = match syntax.get("node") {
        Some(n) => n.to_string(),
        None => {
            chosen.push(format!("node {} (same as {})", source.node, source.name));
            source.node.clone()
        }
    };
    world.check_node(&node)?;
    let vmid = pick_vmid(syntax, world, &mut chosen)?;
    let mut guest = source.clone();
    guest.vmid = vmid;
    guest.name = name;
    guest.node = node.clone();
    guest.template = false;
    guest.status = GuestStatus::Stopped;
    guest.lock = None;
    guest.digest = None;
    guest.unmodelled.remove("lock");
    if let GuestConfig::Vm(vm) = &mut guest.config {
        for nic in vm.nics.values_mut() {
            nic.mac = None;
            if let Some(b) = &nic.bridge {
                world.check_bridge(&node, b)?;
            }
        }
        for (slot, disk) in vm.disks.iter_mut() {
            if disk.is_cdrom() {
                if disk.is_cloudinit()
                    && let Some(st) = disk.storage()
                {
                    disk.volume = format!("{st}:cloudinit");
                }
                continue;
            }
            let Some(storage) = disk.storage().map(str::to_string) else {
                continue;
            };
            world
                .check_storage(&node, &storage, "images")
                .map_err(|e| {
                    GrammarError::new(format!("{slot} of {}: {}", source.name, e.message))
                })?;
            let gib = disk.size_bytes.unwrap_or(GIB).div_ceil(GIB).max(1);
            disk.volume = format!("{storage}:{gib}");
            disk.size_bytes = Some(gib * GIB);
        }
    }
    if let Some(pool) = syntax.get("pool") {
        world.check_pool(pool)?;
        guest.pool = Some(pool.to_string());
    }
    if syntax.has("start") {
        guest.status = GuestStatus::Running;
    }
    Ok(NewGuest {
        guest,
        chosen,
        ssh_key_file: None,
        copied_from: Some(target_of(source)),
    })
}

fn set(syntax: &Syntax, world: &World<'_>, current: &Guest) -> Result<Intent, GrammarError> {
    let mut guest = current.clone();
    let mut changes = Vec::new();
    if syntax.flags.is_empty() {
        return Err(GrammarError::new(format!(
            "`set` needs at least one change for {}",
            q(&current.name)
        ))
        .hint("e.g. --memory 4G --cores 4"));
    }
    let cores = syntax
        .get("cores")
        .map(|c| count("cores", c, 512))
        .transpose()?;
    let memory = syntax
        .get("memory")
        .map(|m| memory_mib("memory", m))
        .transpose()?;
    let node = current.node.clone();
    match &mut guest.config {
        GuestConfig::Vm(vm) => {
            if let Some(c) = cores {
                changes.push(change("cores", vm.cores, c));
                vm.cores = Some(c);
            }
            if let Some(s) = syntax.get("sockets") {
                let s = count("sockets", s, 4)?;
                changes.push(change("sockets", vm.sockets, s));
                vm.sockets = Some(s);
            }
            if let Some(m) = memory {
                changes.push(change_mib("memory", vm.memory_mib, m));
                vm.memory_mib = Some(m);
            }
            let specs = syntax
                .all("add-disk")
                .iter()
                .map(|d| parse_disk_spec("add-disk", d))
                .collect::<Result<Vec<_>, _>>()?;
            if !specs.is_empty() {
                let default = vm
                    .disks
                    .values()
                    .find(|d| !d.is_cdrom())
                    .and_then(|d| d.storage().map(str::to_string))
                    .or_else(|| world.defaults.storage.clone())
                    .or_else(|| world.storages_on(&node, "images").first().cloned())
                    .unwrap_or_default();
                for added in add_disks(world, &node, &default, vm, specs)? {
                    changes.push(format!("+ disk {added}"));
                }
            }
            for n in syntax.all("add-net") {
                let spec = parse_net_spec("add-net", n)?;
                world.check_bridge(&node, &spec.bridge)?;
                let index = (0..32u8).find(|i| !vm.nics.contains_key(i)).unwrap_or(32);
                changes.push(format!("+ net{index} on {}", spec.bridge));
                vm.nics.insert(
                    index,
                    Nic {
                        model: spec.model.unwrap_or_else(|| "virtio".into()),
                        mac: None,
                        bridge: Some(spec.bridge),
                        vlan_tag: spec.tag,
                        firewall: spec.firewall,
                        extra: BTreeMap::new(),
                    },
                );
            }
        }
        GuestConfig::Container(ct) => {
            if let Some(c) = cores {
                changes.push(change("cores", ct.cores, c));
                ct.cores = Some(c);
            }
            if let Some(m) = memory {
                changes.push(change_mib("memory", ct.memory_mib, m));
                ct.memory_mib = Some(m);
            }
            if let Some(sw) = syntax.get("swap") {
                let sw = memory_mib("swap", sw)?;
                changes.push(change_mib("swap", ct.swap_mib, sw));
                ct.swap_mib = Some(sw);
            }
            for m in syntax.all("add-mount") {
                let mount = parse_mount(world, &node, m)?;
                let index = (0..=255u8)
                    .find(|i| !ct.mount_points.contains_key(i))
                    .unwrap_or(255);
                changes.push(format!(
                    "+ mp{index} {} at {}",
                    mount.volume,
                    mount.path.clone().unwrap_or_default()
                ));
                ct.mount_points.insert(index, mount);
            }
            for n in syntax.all("add-net") {
                let spec = parse_net_spec("add-net", n)?;
                world.check_bridge(&node, &spec.bridge)?;
                let index = (0..32u8).find(|i| !ct.nics.contains_key(i)).unwrap_or(32);
                changes.push(format!("+ net{index} on {}", spec.bridge));
                ct.nics.insert(
                    index,
                    CtNic {
                        name: format!("eth{index}"),
                        bridge: Some(spec.bridge),
                        ip: Some("dhcp".into()),
                        vlan_tag: spec.tag,
                        firewall: spec.firewall,
                        ..CtNic::default()
                    },
                );
            }
        }
    }
    if let Some(tags) = syntax.get("tags") {
        let tags = parse_tags(tags)?;
        changes.push(format!(
            "tags [{}] -> [{}]",
            guest.tags.join(", "),
            tags.join(", ")
        ));
        guest.tags = tags;
    }
    if let Some(pool) = syntax.get("pool") {
        let new = if pool.is_empty() {
            None
        } else {
            world.check_pool(pool)?;
            Some(pool.to_string())
        };
        changes.push(format!(
            "pool {} -> {}",
            guest.pool.as_deref().unwrap_or("none"),
            new.as_deref().unwrap_or("none")
        ));
        guest.pool = new;
    }
    if let Some(d) = syntax.get("description") {
        changes.push("description changed".into());
        guest.description = Some(d.to_string());
    }
    if syntax.has("start") && syntax.has("stopped") {
        return Err(GrammarError::new(
            "--start and --stopped contradict each other",
        ));
    }
    if syntax.has("start") {
        changes.push("state -> running".into());
        guest.status = GuestStatus::Running;
    }
    if syntax.has("stopped") {
        changes.push("state -> stopped".into());
        guest.status = GuestStatus::Stopped;
    }
    Ok(Intent::Set {
        target: target_of(current),
        guest: Box::new(guest),
        changes,
    })
}

fn change(what: &str, old: Option<u32>, new: u32) -> String {
    match old {
        Some(o) => format!("{what} {o} -> {new}"),
        None => format!("{what} unset -> {new}"),
    }
}

fn change_mib(what: &str, old: Option<u64>, new: u64) -> String {
    match old {
        Some(o) => format!(
            "{what} {} -> {}",
            human_size(o * MIB),
            human_size(new * MIB)
        ),
        None => format!("{what} unset -> {}", human_size(new * MIB)),
    }
}

/// Completion candidates for a resource-command line: verbs, kinds, flags, and the names in
/// `names` (guests, nodes, storages, bridges, templates, pools) where they fit.
pub fn complete(before: &str, names: &Names) -> Vec<String> {
    let ends_with_space = before.ends_with(char::is_whitespace);
    let words: Vec<&str> = before.split_whitespace().collect();
    let (done, partial): (&[&str], &str) = if ends_with_space || words.is_empty() {
        (&words[..], "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let filter = |items: Vec<String>| -> Vec<String> {
        let mut out: Vec<String> = items
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let Some(first) = done.first() else {
        return filter(VERBS.iter().map(|(w, _)| w.to_string()).collect());
    };
    let Some(verb) = VERBS.iter().find(|(w, _)| w == first).map(|(_, v)| *v) else {
        return Vec::new();
    };
    if done.len() == 1 {
        if verb == Verb::List {
            return filter(
                [
                    "vms",
                    "containers",
                    "nodes",
                    "storages",
                    "networks",
                    "pools",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
        return filter(vec![
            "vm".into(),
            "container".into(),
            "ct".into(),
            "pool".into(),
        ]);
    }
    let kind = KINDS.iter().find(|(w, _)| *w == done[1]).map(|(_, k)| *k);
    let specs = flags_for(verb, kind);
    if partial.starts_with('-') {
        return filter(specs.iter().map(|f| format!("--{}", f.name)).collect());
    }
    let last = done.last().copied().unwrap_or_default();
    if let Some(flag) = last.strip_prefix("--") {
        return filter(match flag {
            "node" | "to" => names.nodes.clone(),
            "pool" => names.pools.clone(),
            "clone" => names.vms.clone(),
            "template" => names.templates.clone(),
            "net" | "add-net" => names.bridges.clone(),
            "disk" | "add-disk" | "rootfs" => {
                names.storages.iter().map(|s| format!("{s}:")).collect()
            }
            "status" => vec!["running".into(), "stopped".into(), "template".into()],
            "o" | "output" => vec!["table".into(), "json".into(), "yaml".into()],
            _ => Vec::new(),
        });
    }
    if done.len() == 2 && verb != Verb::Create && verb != Verb::List {
        return filter(match kind {
            Some(Kind::Vm) => names.vms.clone(),
            Some(Kind::Container) => names.containers.clone(),
            Some(Kind::Pool) => names.pools.clone(),
            None => Vec::new(),
        });
    }
    filter(specs.iter().map(|f| format!("--{}", f.name)).collect())
}

/// Names offered by completion.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub vms: Vec<String>,
    pub containers: Vec<String>,
    pub nodes: Vec<String>,
    pub storages: Vec<String>,
    pub bridges: Vec<String>,
    pub templates: Vec<String>,
    pub pools: Vec<String>,
}

impl Names {
    /// Collects the names of a world.
    pub fn of(world: &World<'_>) -> Self {
        let mut n = Names::default();
        for g in world.all_guests() {
            match g.kind {
                GuestKind::Qemu => n.vms.push(g.name.clone()),
                GuestKind::Lxc => n.containers.push(g.name.clone()),
            }
        }
        n.nodes = world.node_names();
        n.storages = world
            .snapshot
            .storages
            .iter()
            .map(|s| s.id.clone())
            .collect();
        n.storages.sort();
        n.storages.dedup();
        n.bridges = world
            .snapshot
            .networks
            .iter()
            .filter(|x| x.kind == "bridge")
            .map(|x| x.iface.clone())
            .collect();
        n.bridges.sort();
        n.bridges.dedup();
        n.templates = world
            .ct_templates
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        n.pools = world.pool_ids();
        n
    }
}

/// The grammar as help text, with examples (`/help create`).
pub fn help_text(verb: Option<&str>) -> String {
    let mut out = String::from(
        "Resource commands: <verb> <kind> [name] [--flags]\n\
         kinds: vm, container (ct, lxc), pool; sizes: 512M, 2G, 2GiB (a bare number is MiB for memory, GiB for disks)\n\n",
    );
    let examples: &[(&str, &str)] = &[
        (
            "create",
            "create vm --name web-01 --cores 2 --memory 2G --disk 32G --net vmbr0,tag=20",
        ),
        (
            "create",
            "create container --name dns-02 --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --rootfs 8G",
        ),
        ("create", "create pool lab --comment 'Lab machines'"),
        (
            "set",
            "set vm web-01 --memory 4G --cores 4 --add-disk scsi1=local-lvm:100G",
        ),
        ("delete", "delete vm web-01   (alias: rm)"),
        ("clone", "clone vm web-01 --name web-02"),
        ("list", "list vms --node pve1 --tag web -o json"),
        ("show", "show vm web-01"),
        ("start", "start vm web-01   (also stop, shutdown, reboot)"),
        ("snapshot", "snapshot vm web-01 --name before_upgrade"),
        ("snapshots", "snapshots vm web-01"),
        ("rollback", "rollback vm web-01 before_upgrade"),
        ("migrate", "migrate vm web-01 --to pve2"),
    ];
    for (v, example) in examples {
        if verb.is_none_or(|w| w == *v || (w == "rm" && *v == "delete")) {
            out.push_str("  ");
            out.push_str(example);
            out.push('\n');
        }
    }
    if let Some(w) = verb
        && let Some((_, verb)) = VERBS.iter().find(|(x, _)| *x == w)
    {
        for kind in [
            Some(Kind::Vm),
            Some(Kind::Container),
            Some(Kind::Pool),
            None,
        ] {
            let specs = flags_for(*verb, kind);
            if specs.is_empty() || (kind.is_none() && *verb != Verb::List) {
                continue;
            }
            let label = kind.map_or("", |k| k.as_str());
            out.push_str(&format!("\n{w} {label} flags:\n"));
            for f in specs {
                let value = if f.takes == Takes::Value {
                    format!(" {}", f.example)
                } else {
                    String::new()
                };
                out.push_str(&format!("  --{}{value}  {}\n", f.name, f.help));
            }
            if *verb == Verb::List || *verb == Verb::Clone {
                break;
            }
        }
    }
    out.push_str("\nDeclarative commands (create, set, delete, clone) only edit the files: run /apply to make it so.");
    out
}

/// Names the console completes, refreshed whenever a resource command loads the workspace.
static COMPLETION_NAMES: std::sync::Mutex<Option<Names>> = std::sync::Mutex::new(None);

/// Remembers the names completion offers (guests, nodes, storages, bridges, pools).
pub fn remember_names(names: Names) {
    if let Ok(mut slot) = COMPLETION_NAMES.lock() {
        *slot = Some(names);
    }
}

/// Completes a resource-command line with the remembered names.
pub fn complete_line(before: &str) -> Vec<String> {
    let names = COMPLETION_NAMES
        .lock()
        .ok()
        .and_then(|n| n.clone())
        .unwrap_or_default();
    complete(before, &names)
}
