//! Policy as code: rules over guests, written as CEL expressions (`cel` crate, cel-rust), read
//! from the workspace's `policies/*.yml` plus a built-in starter pack; and the arithmetic of
//! right-sizing and cost ([`rightsize`]). Owns the rule file format, the guest model the rules
//! see ([`guest_value`]), evaluation, and the reports (table, JSON, SARIF 2.1.0, JUnit:
//! [`report`]). Reads no network; the operations layer (`commands::policy`,
//! `commands::rightsize`) gives it guests, file texts and RRD rows.
//!
//! A policy file:
//!
//! ```yaml
//! version: 1
//! disabled: [tags-present]      # built-in rules to switch off, by id
//! rules:
//!   - id: vm-memory-cap
//!     severity: error            # error | warning | info
//!     description: VMs get at most 4 GiB
//!     when: guest.kind == "qemu" && !guest.template
//!     assert: guest.memory_mib <= 4096
//! ```
//!
//! A broken rule (CEL syntax error, unknown `guest.` field, a missing key) is reported with its
//! file and line and left out; every other rule still runs.

pub mod report;
pub mod rightsize;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Guest, GuestConfig, GuestStatus};

/// How bad a failing rule is. Only `error` fails `/policy check` and stops `/apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What a rule needs that the workspace may not know; without it the rule is skipped, saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Needs {
    /// Backup-job data (`/cluster/backup`), which discovery does not read yet.
    Backups,
    /// HA groups and resources (`/cluster/ha`), which discovery does not read yet.
    Ha,
}

/// One rule as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub severity: Severity,
    pub description: String,
    #[serde(default)]
    pub when: Option<String>,
    pub assert: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Needs>,
    /// Where the rule comes from: `built-in` or the file path (`policies/x.yml`).
    #[serde(skip)]
    pub source: String,
    /// 1-based line of the rule in its file.
    #[serde(skip)]
    pub line: Option<usize>,
}

/// A problem with the rules themselves (not with a guest), with where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleProblem {
    pub file: String,
    pub line: Option<usize>,
    pub rule: Option<String>,
    /// `error` for a rule that could not run, `info` for one that matched no guest.
    pub level: Severity,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The rules in force and what was wrong with the files that give them.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub problems: Vec<RuleProblem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    disabled: Vec<String>,
    #[serde(default)]
    rules: Vec<serde_json::Value>,
}

/// The built-in starter pack. Each can be switched off with `disabled: [ID]` in a policy file.
pub fn starter_pack() -> Vec<Rule> {
    let r = |id: &str, severity, description: &str, when: Option<&str>, assert: &str| Rule {
        id: id.into(),
        severity,
        description: description.into(),
        when: when.map(str::to_string),
        assert: assert.into(),
        needs: None,
        source: "built-in".into(),
        line: None,
    };
    let mut rules = vec![
        r(
            "production-protected",
            Severity::Warning,
            "Guests tagged or pooled as production have protection on (no accidental delete)",
            Some(
                r#"!guest.template && ("prod" in guest.tags || "production" in guest.tags || guest.pool == "prod" || guest.pool == "production")"#,
            ),
            "guest.protection",
        ),
        r(
            "nic-firewall",
            Severity::Warning,
            "Every network card has the PVE firewall on",
            Some("size(guest.nics) > 0"),
            "guest.nics.all(n, n.firewall)",
        ),
        r(
            "vm-guest-agent",
            Severity::Warning,
            "VMs run with the QEMU guest agent enabled (clean shutdown, IPs, reliable memory data)",
            Some(r#"guest.kind == "qemu" && !guest.template"#),
            "guest.agent",
        ),
        r(
            "template-not-running",
            Severity::Error,
            "A template is never started",
            Some("guest.template"),
            "!guest.started",
        ),
        r(
            "tags-present",
            Severity::Info,
            "Every guest carries at least one tag",
            Some("!guest.template"),
            "size(guest.tags) > 0",
        ),
        r(
            "disk-cache-safe",
            Severity::Warning,
            "No disk uses cache=unsafe (ignores flushes) or cache=writeback (loses writes on host power loss)",
            Some("size(guest.disks) > 0"),
            r#"guest.disks.all(d, d.cache != "unsafe" && d.cache != "writeback")"#,
        ),
    ];
    let mut backups = r(
        "backups-configured",
        Severity::Info,
        "Every guest is covered by a backup job",
        Some("guest.backup.known && !guest.template"),
        "guest.backup.covered",
    );
    backups.needs = Some(Needs::Backups);
    let mut ha = r(
        "no-host-cpu-in-ha",
        Severity::Warning,
        "Guests in an HA group do not use cpu type host (a failover to another CPU model fails)",
        Some(r#"guest.ha.known && guest.ha.group != """#),
        r#"guest.cpu_type != "host""#,
    );
    ha.needs = Some(Needs::Ha);
    rules.push(backups);
    rules.push(ha);
    rules
}

/// Lines (1-based) of the items of the top-level `rules:` list in `text`.
fn rule_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_rules = false;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let depth = line.len() - trimmed.len();
        if depth == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            in_rules = trimmed.starts_with("rules:");
            continue;
        }
        if in_rules && trimmed.starts_with("- ") {
            let want = *indent.get_or_insert(depth);
            if depth == want {
                lines.push(i + 1);
            }
        }
    }
    lines
}

/// The line of `key:` in the rule starting at `start` (the rule's first line when not found).
fn key_line(text: &str, start: usize, key: &str) -> usize {
    text.lines()
        .enumerate()
        .skip(start - 1)
        .take(40)
        .find(|(i, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:"))
                && (*i + 1 == start || !l.trim_start().starts_with("- "))
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(start)
}

/// Reads `policies/*.yml` under `root` and the starter pack, minus what the files disable.
/// A file or rule that cannot be read is a problem; the rest still load.
pub fn load_rules(root: &Path) -> RuleSet {
    let mut set = RuleSet::default();
    let mut disabled = BTreeSet::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("policies"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    let mut user = Vec::new();
    for path in paths {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                set.problems
                    .push(problem(&rel, None, None, format!("cannot read it: {e}")));
                continue;
            }
        };
        let (rules, off, problems) = parse_file(&rel, &text);
        user.extend(rules);
        disabled.extend(off);
        set.problems.extend(problems);
    }
    let builtin_ids: BTreeSet<String> = starter_pack().into_iter().map(|r| r.id).collect();
    for id in &disabled {
        if !builtin_ids.contains(id) {
            set.problems.push(problem(
                "policies",
                None,
                None,
                format!(
                    "`disabled: [{id}]` names no built-in rule; the built-in ones are {}",
                    builtin_ids.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    set.rules = starter_pack()
        .into_iter()
        .filter(|r| !disabled.contains(&r.id))
        .collect();
    set.rules.extend(user);
    set
}

fn problem(file: &str, line: Option<usize>, rule: Option<&str>, message: String) -> RuleProblem {
    RuleProblem {
        file: file.to_string(),
        line,
        rule: rule.map(str::to_string),
        level: Severity::Error,
        message,
    }
}

/// Parses one policy file's text: its rules (each checked on its own), its `disabled:` list
/// and the problems found.
pub fn parse_file(rel: &str, text: &str) -> (Vec<Rule>, Vec<String>, Vec<RuleProblem>) {
    let mut problems = Vec::new();
    let file: PolicyFile = match yaml_serde::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            problems.push(problem(
                rel,
                line,
                None,
                format!("is not a policy file: {e}; expected `version: 1` and a `rules:` list"),
            ));
            return (Vec::new(), Vec::new(), problems);
        }
    };
    if file.version != 1 {
        problems.push(problem(
            rel,
            Some(1),
            None,
            format!(
                "`version: {}` is not known; this build reads version 1",
                file.version
            ),
        ));
        return (Vec::new(), Vec::new(), problems);
    }
    let lines = rule_lines(text);
    let mut rules = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, mut raw) in file.rules.into_iter().enumerate() {
        let line = lines.get(i).copied();
        // YAML reads `assert: true` as a boolean; as CEL it is the same text.
        for key in ["when", "assert"] {
            if let Some(v) = raw.get_mut(key)
                && (v.is_boolean() || v.is_number())
            {
                *v = Value::String(v.to_string());
            }
        }
        let id = raw.get("id").and_then(Value::as_str).map(str::to_string);
        let mut rule: Rule = match serde_json::from_value(raw) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(
                    rel,
                    line,
                    id.as_deref(),
                    format!(
                        "rule {} cannot be read: {e}; a rule has id, severity (error|warning|info), description, optional when, and assert",
                        id.as_deref().unwrap_or("without an id")
                    ),
                ));
                continue;
            }
        };
        if !seen.insert(rule.id.clone()) {
            problems.push(problem(
                rel,
                line,
                Some(&rule.id),
                format!("rule {} is defined twice; the first one counts", rule.id),
            ));
            continue;
        }
        rule.source = rel.to_string();
        rule.line = line;
        match compile_rule(&rule) {
            Ok(_) => rules.push(rule),
            Err((key, message)) => {
                let at = line.map(|l| key_line(text, l, key));
                problems.push(problem(rel, at, Some(&rule.id), message));
            }
        }
    }
    (rules, file.disabled, problems)
}

/// Every field of the guest model (`guest.X`), for the unknown-field check.
pub fn known_fields() -> BTreeSet<String> {
    match guest_value(&sample_guest(), None) {
        Value::Object(map) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

fn sample_guest() -> Guest {
    Guest {
        vmid: 0,
        name: String::new(),
        node: String::new(),
        kind: crate::model::GuestKind::Qemu,
        status: GuestStatus::Stopped,
        template: false,
        tags: Vec::new(),
        pool: None,
        description: None,
        on_boot: false,
        lock: None,
        config: GuestConfig::Vm(Default::default()),
        unmodelled: BTreeMap::new(),
        digest: None,
    }
}

type Compiled = (Option<cel::Program>, cel::Program);

/// Compiles a rule's expressions and checks the `guest.` fields they name. The error names the
/// key (`when`/`assert`) and says what is wrong.
fn compile_rule(rule: &Rule) -> Result<Compiled, (&'static str, String)> {
    let known = known_fields();
    let field_re = regex::Regex::new(r"\bguest\.([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex");
    let check = |key: &'static str, expr: &str| -> Result<cel::Program, (&'static str, String)> {
        let program = cel::Program::compile(expr).map_err(|e| {
            let text = e.to_string().replace("ERROR: <input>:", "at ");
            (
                key,
                format!(
                    "rule {}: `{key}` is not a valid CEL expression: {text}",
                    rule.id
                ),
            )
        })?;
        for cap in field_re.captures_iter(expr) {
            if !known.contains(&cap[1]) {
                let near: Vec<&String> = known
                    .iter()
                    .filter(|k| strsim::levenshtein(k, &cap[1]) <= 3)
                    .collect();
                let hint = match near.first() {
                    Some(k) => format!("did you mean guest.{k}?"),
                    None => format!(
                        "the guest fields are {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                return Err((
                    key,
                    format!(
                        "rule {}: `{key}` names an unknown field guest.{}; {hint}",
                        rule.id, &cap[1]
                    ),
                ));
            }
        }
        Ok(program)
    };
    let when = match &rule.when {
        Some(w) => Some(check("when", w)?),
        None => None,
    };
    let assert = check("assert", &rule.assert)?;
    Ok((when, assert))
}

/// A guest as the rules see it, with where it is written.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub guest: &'a Guest,
    /// The `.tf` file (relative to the workspace) and the line of its `resource` block.
    pub file: Option<String>,
    pub line: Option<usize>,
}

/// What the workspace knows beyond the guests (backup jobs, HA), per vmid.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `Some(covered vmids)` when backup-job data was read.
    pub backups: Option<BTreeSet<u32>>,
    /// `Some(vmid -> HA group)` when HA data was read.
    pub ha: Option<BTreeMap<u32, String>>,
}

/// The guest model the rules see, as JSON (`guest.name`, `guest.memory_mib`, ...).
pub fn guest_value(g: &Guest, extra: Option<&Extra>) -> Value {
    let protection = g.unmodelled.get("protection").is_some_and(|v| v == "1");
    let mut disks = Vec::new();
    let mut nics = Vec::new();
    let (cores, sockets, memory, cpu_type, agent, balloon);
    match &g.config {
        GuestConfig::Vm(c) => {
            cores = c.cores.unwrap_or(1);
            sockets = c.sockets.unwrap_or(1);
            memory = c.memory_mib.unwrap_or(512);
            cpu_type = c.cpu_type.clone().unwrap_or_default();
            agent = c.agent.as_ref().is_some_and(|a| a.enabled);
            balloon = c.balloon_mib;
            for (slot, d) in &c.disks {
                disks.push(json!({
                    "slot": slot, "storage": d.storage().unwrap_or(""),
                    "size_gib": d.size_bytes.map(|b| b / (1 << 30)).unwrap_or(0),
                    "cache": d.extra.get("cache").cloned().unwrap_or_default(),
                    "cdrom": d.is_cdrom(),
                }));
            }
            for (n, nic) in &c.nics {
                nics.push(json!({
                    "key": format!("net{n}"), "bridge": nic.bridge.clone().unwrap_or_default(),
                    "model": nic.model, "firewall": nic.firewall.unwrap_or(false),
                    "vlan": nic.vlan_tag.map(i64::from).unwrap_or(0),
                }));
            }
        }
        GuestConfig::Container(c) => {
            cores = c.cores.unwrap_or(1);
            sockets = 1;
            memory = c.memory_mib.unwrap_or(512);
            cpu_type = String::new();
            agent = false;
            balloon = None;
            for (slot, m) in c
                .rootfs
                .iter()
                .map(|m| ("rootfs".to_string(), m))
                .chain(c.mount_points.iter().map(|(n, m)| (format!("mp{n}"), m)))
            {
                disks.push(json!({
                    "slot": slot, "storage": m.volume.split_once(':').map(|(s, _)| s).unwrap_or(""),
                    "size_gib": m.size_bytes.map(|b| b / (1 << 30)).unwrap_or(0),
                    "cache": "", "cdrom": false,
                }));
            }
            for (n, nic) in &c.nics {
                nics.push(json!({
                    "key": format!("net{n}"), "bridge": nic.bridge.clone().unwrap_or_default(),
                    "model": "veth", "firewall": nic.firewall.unwrap_or(false),
                    "vlan": nic.vlan_tag.map(i64::from).unwrap_or(0),
                }));
            }
        }
    }
    let backups = extra.and_then(|e| e.backups.as_ref());
    let ha = extra.and_then(|e| e.ha.as_ref());
    json!({
        "name": g.name,
        "vmid": g.vmid,
        "kind": g.kind.as_str(),
        "template": g.template,
        "node": g.node,
        "pool": g.pool.clone().unwrap_or_default(),
        "tags": g.tags,
        "description": g.description.clone().unwrap_or_default(),
        "cores": cores,
        "sockets": sockets,
        "vcpus": cores * sockets,
        "memory_mib": memory,
        "balloon_mib": balloon.unwrap_or(0),
        "cpu_type": cpu_type,
        "agent": agent,
        "disks": disks,
        "nics": nics,
        "started": g.status == GuestStatus::Running,
        "on_boot": g.on_boot,
        "protection": protection,
        "locked": g.lock.is_some(),
        "backup": {
            "known": backups.is_some(),
            "covered": backups.is_some_and(|b| b.contains(&g.vmid)),
        },
        "ha": {
            "known": ha.is_some(),
            "group": ha.and_then(|h| h.get(&g.vmid)).cloned().unwrap_or_default(),
        },
    })
}

/// JSON -> CEL, integers as `int` so `guest.memory_mib <= 4096` compares like with like.
fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => cel::Value::String(s.clone().into()),
        Value::Array(items) => {
            cel::Value::List(std::sync::Arc::new(items.iter().map(to_cel).collect()))
        }
        Value::Object(map) => {
            let m: HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::from(m)
        }
    }
}

/// One failed rule on one guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub rule: String,
    pub severity: Severity,
    pub description: String,
    pub guest: String,
    pub vmid: u32,
    /// The guest's `.tf` file and the line of its `resource` block, when it has one.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// Where the rule is written (`built-in` or `policies/x.yml`) and its line.
    pub rule_source: String,
    pub rule_line: Option<usize>,
}

/// The outcome of running the rules over some guests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub rules: Vec<Rule>,
    pub checked: usize,
    pub violations: Vec<Violation>,
    pub problems: Vec<RuleProblem>,
    /// Rules left out because the workspace lacks the data they need, with why.
    pub skipped: Vec<(String, String)>,
}

impl Outcome {
    /// The error-level violations.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
    }

    /// Rules with their failing guests, error level first.
    pub fn failing_rules(&self, severity: Severity) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in self.violations.iter().filter(|v| v.severity == severity) {
            out.entry(v.rule.clone()).or_default().push(v.guest.clone());
        }
        out
    }
}

fn eval_bool(program: &cel::Program, ctx: &cel::Context) -> Result<bool, String> {
    match program.execute(ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("gives {other:?}, not true or false")),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs every rule in `set` over `subjects`.
pub fn evaluate(set: &RuleSet, subjects: &[Subject<'_>], extra: &Extra) -> Outcome {
    let mut out = Outcome {
        rules: set.rules.clone(),
        checked: subjects.len(),
        problems: set.problems.clone(),
        ..Outcome::default()
    };
    let values: Vec<cel::Value> = subjects
        .iter()
        .map(|s| to_cel(&guest_value(s.guest, Some(extra))))
        .collect();
    for rule in &set.rules {
        let missing = match rule.needs {
            Some(Needs::Backups) if extra.backups.is_none() => Some(
                "needs backup-job data, which discovery does not read from PVE yet (/cluster/backup); skipped",
            ),
            Some(Needs::Ha) if extra.ha.is_none() => Some(
                "needs HA data, which discovery does not read from PVE yet (/cluster/ha); skipped",
            ),
            _ => None,
        };
        if let Some(why) = missing {
            out.skipped.push((rule.id.clone(), why.to_string()));
            continue;
        }
        let Ok((when, assert)) = compile_rule(rule) else {
            continue;
        };
        let mut matched = 0;
        for (subject, value) in subjects.iter().zip(&values) {
            let mut ctx = cel::Context::default();
            ctx.add_variable_from_value("guest", value.clone());
            let applies = match &when {
                Some(p) => eval_bool(p, &ctx).map_err(|e| ("when", e)),
                None => Ok(true),
            };
            let result = applies.and_then(|a| {
                if a {
                    matched += 1;
                    eval_bool(&assert, &ctx)
                        .map(Some)
                        .map_err(|e| ("assert", e))
                } else {
                    Ok(None)
                }
            });
            match result {
                Ok(Some(false)) => out.violations.push(Violation {
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    description: rule.description.clone(),
                    guest: subject.guest.name.clone(),
                    vmid: subject.guest.vmid,
                    file: subject.file.clone(),
                    line: subject.line,
                    rule_source: rule.source.clone(),
                    rule_line: rule.line,
                }),
                Ok(_) => {}
                Err((key, e)) => {
                    out.problems.push(problem(
                        &rule.source,
                        rule.line,
                        Some(&rule.id),
                        format!(
                            "rule {}: `{key}` cannot be evaluated on {}: {e}; the rule was left out",
                            rule.id, subject.guest.name
                        ),
                    ));
                    out.violations.retain(|v| v.rule != rule.id);
                    matched = usize::MAX;
                    break;
                }
            }
        }
        if matched == 0 && !subjects.is_empty() && rule.source != "built-in" {
            out.problems.push(RuleProblem {
                file: rule.source.clone(),
                line: rule.line,
                rule: Some(rule.id.clone()),
                level: Severity::Info,
                message: format!(
                    "rule {} matched none of the {} guests checked: its `when` is never true; check the condition",
                    rule.id,
                    subjects.len()
                ),
            });
        }
    }
    out
}

/// The 1-based line of `resource "TYPE" "IDENT"` in a `.tf` file's text.
pub fn resource_line(text: &str, ident: &str) -> Option<usize> {
    let needle = format!("\"{ident}\"");
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        (t.starts_with("resource ") && t.contains(&needle)).then_some(i + 1)
    })
}
