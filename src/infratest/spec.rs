//! Loading what `/test` checks, from two kinds of files:
//!
//! - `tests/*.yml`: one generated spec per guest (format 1, see `crate::iac::spec`). `/sync`
//!   rewrites these; each key under `expect` becomes one check.
//! - `tests/checks/*.yml`: hand-written checks. `/sync` never reads, writes or removes anything
//!   under `tests/checks/`, so they survive every regeneration. Format:
//!
//! ```yaml
//! version: 1
//! checks:
//!   - guest: web-01                 # name or vmid of a guest in the code
//!     name: ssh                     # optional; shown in the report
//!     tags: [smoke]                 # optional; for /test --tag
//!     tcp: {port: 22, host: 127.0.0.1, timeout_ms: 500}   # or just `tcp: 22`
//!   - guest: web-01
//!     reaches: {guest: db-01, port: 5432}   # through web-01's QEMU guest agent
//!   - guest: db-01
//!     cpu_below: 80%                # average over the window
//!     memory_headroom: 20%          # at the busiest point of the window
//!     window: hour                  # hour (default), day, week, month, year
//! backups:                          # optional: two backup checks per guest (super::backup)
//!   rpo: 24h
//!   exclude: [scratch-01]
//! ```
//!
//! A file that does not parse (YAML syntax, a typo'd key, a wrong type) or names a guest that is
//! not in the code becomes one failed [`CheckKind::Broken`] check naming the file and line;
//! every other file and entry still runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::fields::Expectation;
use super::workspace::WorkspaceCheck;
use crate::model::Guest;

/// Who a check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Guest {
        vmid: u32,
        name: String,
    },
    Workspace,
    /// A spec or check file that could not be used.
    File(String),
}

impl Subject {
    /// Returns the label the report groups by: `web-01 (100)`, `workspace`, or the file.
    pub fn label(&self) -> String {
        match self {
            Subject::Guest { vmid, name } if name.is_empty() => format!("guest {vmid}"),
            Subject::Guest { vmid, name } => format!("{name} ({vmid})"),
            Subject::Workspace => "workspace".into(),
            Subject::File(path) => path.clone(),
        }
    }

    /// Returns the guest's vmid, for guest checks.
    pub fn vmid(&self) -> Option<u32> {
        match self {
            Subject::Guest { vmid, .. } => Some(*vmid),
            _ => None,
        }
    }
}

/// `tcp:` — connect from the console's host.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    /// Address to probe; the guest's static address from the code when not given.
    pub host: Option<String>,
    pub port: u16,
    pub timeout: Duration,
}

/// `reaches:` — connect from inside the subject guest through its guest agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReachesCheck {
    pub target_vmid: u32,
    pub target_name: String,
    /// Address to reach; the target's static address when not given.
    pub host: Option<String>,
    pub port: u16,
    pub timeout: Duration,
}

/// Which utilisation bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UtilisationKind {
    /// Average CPU use over the window below this percentage of the guest's CPUs.
    CpuBelow,
    /// Free memory at the busiest point of the window at least this percentage.
    MemoryHeadroom,
}

/// `cpu_below:` / `memory_headroom:` over an RRD window.
#[derive(Debug, Clone, PartialEq)]
pub struct UtilisationCheck {
    pub kind: UtilisationKind,
    pub percent: f64,
    /// PVE's RRD timeframe: hour, day, week, month, year.
    pub window: String,
}

/// What a check does.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// A file or entry that could not be used: always fails with this message.
    Broken {
        message: String,
    },
    Field(Expectation),
    Workspace(WorkspaceCheck),
    Tcp(TcpCheck),
    Reaches(ReachesCheck),
    Utilisation(UtilisationCheck),
    Backup(super::backup::BackupCheck),
}

/// One check to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub subject: Subject,
    pub name: String,
    /// `tests/web_01.yml:12`.
    pub source: String,
    /// Tags given on a hand-written check (lowercase).
    pub tags: Vec<String>,
    pub kind: CheckKind,
}

/// Every check loaded from a workspace.
#[derive(Debug, Default)]
pub struct LoadedChecks {
    pub checks: Vec<Check>,
    /// Files read (relative), generated specs first.
    pub files: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// generated specs (format 1)

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    version: u32,
    guest: SpecGuest,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecGuest {
    vmid: u32,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    exists: Option<bool>,
    node: Option<String>,
    state: Option<RunState>,
    template: Option<bool>,
    cores: Option<u32>,
    sockets: Option<u32>,
    memory_mib: Option<u64>,
    pool: Option<String>,
    tags: Option<Vec<String>>,
    /// Cloud-init `ipconfig0` / container `net0` address, with or without its prefix length.
    ip: Option<String>,
    disks: Option<BTreeMap<String, DiskExpect>>,
    nics: Option<BTreeMap<String, NicExpect>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RunState {
    Running,
    Stopped,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskExpect {
    storage: Option<String>,
    size_gib: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NicExpect {
    bridge: Option<String>,
    model: Option<String>,
    vlan: Option<u16>,
}

// ---------------------------------------------------------------------------------------------
// hand-written checks

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksFile {
    version: u32,
    #[serde(default)]
    checks: Vec<UserCheck>,
    /// Backup coverage and RPO for every guest ([`super::backup`]).
    #[serde(default)]
    backups: Option<super::backup::BackupsSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum GuestRef {
    Vmid(u32),
    Name(String),
}

impl std::fmt::Display for GuestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestRef::Vmid(v) => write!(f, "{v}"),
            GuestRef::Name(n) => f.write_str(n),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCheck {
    guest: GuestRef,
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    tcp: Option<TcpField>,
    reaches: Option<ReachesSpec>,
    cpu_below: Option<Percent>,
    memory_headroom: Option<Percent>,
    window: Option<Window>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TcpField {
    Port(u16),
    Full(TcpSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpSpec {
    port: u16,
    host: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachesSpec {
    guest: GuestRef,
    port: u16,
    host: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Percent {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Window {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Window {
    fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "hour",
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
            Window::Year => "year",
        }
    }
}

impl Percent {
    /// Returns the percentage (0..=100) or says what is wrong.
    fn value(&self) -> Result<f64, String> {
        let n = match self {
            Percent::Number(n) => *n,
            Percent::Text(t) => t
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{t}` is not a percentage (write e.g. 80%)"))?,
        };
        if (0.0..=100.0).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n}% is outside 0%..100%"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// loading

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Turns a YAML error into `message (line:column)` parts: the line, and a message without
/// the library's own location suffix.
fn yaml_error(e: &yaml_serde::Error) -> (Option<usize>, String) {
    let mut message = e.to_string();
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    if message.contains("untagged enum TcpField") {
        message = "tcp: expected a port number or {port, host, timeout_ms}".into();
    } else if message.contains("untagged enum GuestRef") {
        message = "guest: expected a guest name or vmid".into();
    } else if message.contains("untagged enum Percent") {
        message = "expected a percentage such as 80%".into();
    }
    (e.location().map(|l| l.line()), message)
}

/// Returns the 1-based line of the first line whose trimmed text starts with `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| i + 1)
}

fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

fn broken(file: &str, line: Option<usize>, message: impl Into<String>) -> Check {
    let source = at(file, line);
    Check {
        subject: Subject::File(source.clone()),
        name: "spec is readable".into(),
        source,
        tags: Vec::new(),
        kind: CheckKind::Broken {
            message: message.into(),
        },
    }
}

/// Finds guests of the code by vmid or name.
struct CodeGuests<'a> {
    by_vmid: BTreeMap<u32, &'a Guest>,
}

impl<'a> CodeGuests<'a> {
    fn new(guests: &'a [Guest]) -> Self {
        Self {
            by_vmid: guests.iter().map(|g| (g.vmid, g)).collect(),
        }
    }

    fn resolve(&self, r: &GuestRef) -> Result<&'a Guest, String> {
        match r {
            GuestRef::Vmid(v) => self.by_vmid.get(v).copied().ok_or_else(|| {
                format!("guest {v} is not in the code (no terraform/*.tf describes it)")
            }),
            GuestRef::Name(n) => {
                if let Ok(v) = n.parse::<u32>() {
                    return self.resolve(&GuestRef::Vmid(v));
                }
                let hits: Vec<&Guest> = self
                    .by_vmid
                    .values()
                    .filter(|g| g.name == *n)
                    .copied()
                    .collect();
                match hits.as_slice() {
                    [one] => Ok(one),
                    [] => {
                        let close: Vec<&str> = self
                            .by_vmid
                            .values()
                            .map(|g| g.name.as_str())
                            .filter(|c| strsim::jaro_winkler(n, c) > 0.85)
                            .collect();
                        let hint = if close.is_empty() {
                            String::new()
                        } else {
                            format!("; did you mean {}?", close.join(" or "))
                        };
                        Err(format!(
                            "guest `{n}` is not in the code (no terraform/*.tf describes it){hint}"
                        ))
                    }
                    many => Err(format!(
                        "{} guests are named `{n}`; name it by vmid ({})",
                        many.len(),
                        many.iter()
                            .map(|g| g.vmid.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
        }
    }
}

/// Loads the generated specs (`tests/*.yml`) and hand-written checks (`tests/checks/*.yml`) of
/// the workspace at `root`. `code_guests` are the guests the Terraform files describe.
pub fn load_checks(root: &Path, code_guests: &[Guest]) -> LoadedChecks {
    let code = CodeGuests::new(code_guests);
    let mut out = LoadedChecks::default();
    for path in yaml_files(&root.join("tests")) {
        let file = rel(root, &path);
        match std::fs::read_to_string(&path) {
            Ok(text) => out.checks.extend(spec_checks(&file, &text, &code)),
            Err(e) => out
                .checks
                .push(broken(&file, None, format!("cannot read: {e}"))),
        }
        out.files.push(file);
    }
    for path in yaml_files(&root.join("tests/checks")) {
        let file = rel(root, &path);
        match std::fs::read_to_string(&path) {
            Ok(text) => out.checks.extend(user_checks(&file, &text, &code)),
            Err(e) => out
                .checks
                .push(broken(&file, None, format!("cannot read: {e}"))),
        }
        out.files.push(file);
    }
    out
}

/// Checks of one generated spec.
fn spec_checks(file: &str, text: &str, code: &CodeGuests<'_>) -> Vec<Check> {
    let spec = match parse_spec(file, text) {
        Ok(spec) => spec,
        Err(check) => return vec![*check],
    };
    let subject = match spec_subject(file, text, &spec.guest, code) {
        Ok(subject) => subject,
        Err(check) => return vec![*check],
    };
    let mut e = spec.expect;
    let keyed = keyed_expectations(e.disks.take(), e.nics.take());
    let list = field_expectations(e);
    let mut checks: Vec<Check> = list
        .into_iter()
        .map(|(name, key, x)| Check {
            subject: subject.clone(),
            name,
            source: at(file, line_of(text, key)),
            tags: Vec::new(),
            kind: CheckKind::Field(x),
        })
        .collect();
    for (name, key, x) in keyed {
        let line =
            line_of(text, &format!("\"{key}\":")).or_else(|| line_of(text, &format!("{key}:")));
        checks.push(Check {
            subject: subject.clone(),
            name,
            source: at(file, line),
            tags: Vec::new(),
            kind: CheckKind::Field(x),
        });
    }
    checks
}

/// Parses a generated spec of a known format version, or says why not.
fn parse_spec(file: &str, text: &str) -> Result<SpecFile, Box<Check>> {
    let spec: SpecFile = match yaml_serde::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            let (line, message) = yaml_error(&e);
            return Err(Box::new(broken(file, line, message)));
        }
    };
    if spec.version != 1 {
        return Err(Box::new(broken(
            file,
            line_of(text, "version:"),
            format!(
                "spec format version {} is not known to this build (it reads version 1)",
                spec.version
            ),
        )));
    }
    Ok(spec)
}

/// The guest a spec is about: it must be in the code, as the kind the spec says.
fn spec_subject(
    file: &str,
    text: &str,
    guest: &SpecGuest,
    code: &CodeGuests<'_>,
) -> Result<Subject, Box<Check>> {
    let vmid = guest.vmid;
    let Some(code_guest) = code.by_vmid.get(&vmid) else {
        return Err(Box::new(broken(
            file,
            line_of(text, "vmid:"),
            format!(
                "guest {vmid} is not in the code (no terraform/*.tf describes it); remove this spec or run /sync"
            ),
        )));
    };
    if let Some(kind) = &guest.kind
        && kind != code_guest.kind.as_str()
    {
        return Err(Box::new(broken(
            file,
            line_of(text, "kind:"),
            format!(
                "guest {vmid} is a {} in the code, but this spec says {kind}",
                code_guest.kind
            ),
        )));
    }
    Ok(Subject::Guest {
        vmid,
        name: guest
            .name
            .clone()
            .unwrap_or_else(|| code_guest.name.clone()),
    })
}

/// The top-level expectations: (check name, YAML key for the line, expectation).
fn field_expectations(e: Expect) -> Vec<(String, &'static str, Expectation)> {
    let mut list: Vec<(String, &str, Expectation)> = Vec::new();
    let mut push = |name: String, key: &'static str, x: Expectation| list.push((name, key, x));
    if let Some(exists) = e.exists {
        push("exists".into(), "exists:", Expectation::Exists(exists));
    }
    if let Some(v) = e.node {
        push("node".into(), "node:", Expectation::Node(v));
    }
    if let Some(v) = e.state {
        let running = matches!(v, RunState::Running);
        push("state".into(), "state:", Expectation::Running(running));
    }
    if let Some(v) = e.template {
        push("template".into(), "template:", Expectation::Template(v));
    }
    if let Some(v) = e.cores {
        push("cores".into(), "cores:", Expectation::Cores(v));
    }
    if let Some(v) = e.sockets {
        push("sockets".into(), "sockets:", Expectation::Sockets(v));
    }
    if let Some(v) = e.memory_mib {
        push(
            "memory_mib".into(),
            "memory_mib:",
            Expectation::MemoryMib(v),
        );
    }
    if let Some(v) = e.pool {
        push("pool".into(), "pool:", Expectation::Pool(v));
    }
    if let Some(v) = e.tags {
        push("tags".into(), "tags:", Expectation::Tags(v));
    }
    if let Some(v) = e.ip {
        push("ip".into(), "ip:", Expectation::Ip(v));
    }
    list
}

/// The per-disk and per-NIC expectations: (check name, slot or NIC key, expectation).
fn keyed_expectations(
    disks: Option<BTreeMap<String, DiskExpect>>,
    nics: Option<BTreeMap<String, NicExpect>>,
) -> Vec<(String, String, Expectation)> {
    let mut keyed: Vec<(String, String, Expectation)> = Vec::new();
    for (slot, d) in disks.unwrap_or_default() {
        if let Some(storage) = d.storage {
            keyed.push((
                format!("disk {slot} storage"),
                slot.clone(),
                Expectation::DiskStorage {
                    slot: slot.clone(),
                    storage,
                },
            ));
        }
        if let Some(gib) = d.size_gib {
            keyed.push((
                format!("disk {slot} size_gib"),
                slot.clone(),
                Expectation::DiskSizeGib {
                    slot: slot.clone(),
                    gib,
                },
            ));
        }
    }
    for (key, n) in nics.unwrap_or_default() {
        keyed.extend(nic_expectations(key, n));
    }
    keyed
}

/// The expectations of one NIC, in bridge, model, vlan order.
fn nic_expectations(key: String, n: NicExpect) -> Vec<(String, String, Expectation)> {
    let mut keyed = Vec::new();
    if let Some(bridge) = n.bridge {
        keyed.push((
            format!("nic {key} bridge"),
            key.clone(),
            Expectation::NicBridge {
                key: key.clone(),
                bridge,
            },
        ));
    }
    if let Some(model) = n.model {
        keyed.push((
            format!("nic {key} model"),
            key.clone(),
            Expectation::NicModel {
                key: key.clone(),
                model,
            },
        ));
    }
    if let Some(vlan) = n.vlan {
        keyed.push((
            format!("nic {key} vlan"),
            key.clone(),
            Expectation::NicVlan {
                key: key.clone(),
                vlan,
            },
        ));
    }
    keyed
}

/// Lines where the entries of the top-level `checks:` list start (1-based).
fn entry_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_checks = false;
    let mut indent = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 {
            in_checks = trimmed.starts_with("checks:");
            continue;
        }
        if in_checks && trimmed.starts_with('-') {
            let want = *indent.get_or_insert(depth);
            if depth == want {
                out.push(i + 1);
            }
        }
    }
    out
}

fn timeout(ms: Option<u64>) -> Duration {
    ms.map(Duration::from_millis)
        .unwrap_or(super::DEFAULT_TIMEOUT)
}

/// Checks of one hand-written file.
fn user_checks(file: &str, text: &str, code: &CodeGuests<'_>) -> Vec<Check> {
    let mut parsed: ChecksFile = match yaml_serde::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            let (line, message) = yaml_error(&e);
            return vec![broken(file, line, message)];
        }
    };
    if parsed.version != 1 {
        return vec![broken(
            file,
            line_of(text, "version:"),
            format!(
                "check file version {} is not known to this build (it reads version 1)",
                parsed.version
            ),
        )];
    }
    let lines = entry_lines(text);
    let mut out = Vec::new();
    if let Some(policy) = parsed.backups.take() {
        out.extend(super::backup::checks(file, text, policy, &code.by_vmid));
    }
    for (index, entry) in parsed.checks.into_iter().enumerate() {
        let line = lines.get(index).copied();
        let source = at(file, line);
        let guest = match code.resolve(&entry.guest) {
            Ok(g) => g,
            Err(message) => {
                out.push(broken(file, line, message));
                continue;
            }
        };
        let subject = Subject::Guest {
            vmid: guest.vmid,
            name: guest.name.clone(),
        };
        let tags: Vec<String> = entry.tags.iter().map(|t| t.to_lowercase()).collect();
        let mut kinds: Vec<(String, CheckKind)> = Vec::new();
        if let Some(tcp) = entry.tcp {
            let spec = match tcp {
                TcpField::Port(port) => TcpSpec {
                    port,
                    host: None,
                    timeout_ms: None,
                },
                TcpField::Full(spec) => spec,
            };
            let label = match &spec.host {
                Some(host) => format!("tcp {host}:{}", spec.port),
                None => format!("tcp port {}", spec.port),
            };
            kinds.push((
                label,
                CheckKind::Tcp(TcpCheck {
                    host: spec.host,
                    port: spec.port,
                    timeout: timeout(spec.timeout_ms),
                }),
            ));
        }
        if let Some(r) = entry.reaches {
            match code.resolve(&r.guest) {
                Ok(target) => kinds.push((
                    format!("reaches {}:{}", target.name, r.port),
                    CheckKind::Reaches(ReachesCheck {
                        target_vmid: target.vmid,
                        target_name: target.name.clone(),
                        host: r.host,
                        port: r.port,
                        timeout: timeout(r.timeout_ms),
                    }),
                )),
                Err(message) => {
                    out.push(broken(file, line, format!("reaches: {message}")));
                    continue;
                }
            }
        }
        let window = entry.window.unwrap_or(Window::Hour).as_str().to_string();
        for (value, kind, label) in [
            (&entry.cpu_below, UtilisationKind::CpuBelow, "cpu_below"),
            (
                &entry.memory_headroom,
                UtilisationKind::MemoryHeadroom,
                "memory_headroom",
            ),
        ] {
            let Some(value) = value else { continue };
            match value.value() {
                Ok(percent) => kinds.push((
                    format!("{label} {percent}% ({window})"),
                    CheckKind::Utilisation(UtilisationCheck {
                        kind,
                        percent,
                        window: window.clone(),
                    }),
                )),
                Err(message) => {
                    out.push(broken(file, line, format!("{label}: {message}")));
                }
            }
        }
        if kinds.is_empty() && entry.cpu_below.is_none() && entry.memory_headroom.is_none() {
            out.push(broken(
                file,
                line,
                format!(
                    "the entry for guest {} has no check: add tcp, reaches, cpu_below or memory_headroom",
                    entry.guest
                ),
            ));
            continue;
        }
        let several = kinds.len() > 1;
        for (label, kind) in kinds {
            let name = match (&entry.name, several) {
                (Some(n), false) => n.clone(),
                (Some(n), true) => format!("{n}: {label}"),
                (None, _) => label,
            };
            out.push(Check {
                subject: subject.clone(),
                name,
                source: source.clone(),
                tags: tags.clone(),
                kind,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lines_follow_the_checks_list() {
        let text = "version: 1\nchecks:\n  - guest: a\n    tcp: 22\n\n  - guest: b\n    tags:\n      - x\n";
        assert_eq!(entry_lines(text), vec![3, 6]);
    }

    #[test]
    fn percentages_parse_or_explain() {
        assert_eq!(Percent::Text("80%".into()).value(), Ok(80.0));
        assert_eq!(Percent::Number(20.0).value(), Ok(20.0));
        assert!(Percent::Text("lots".into()).value().is_err());
        assert!(Percent::Number(120.0).value().is_err());
    }
}
