//! The outcome of a policy check as SARIF 2.1.0 (for code-scanning UIs: each result at the
//! guest's `.tf` file and the line of its `resource` block) and JUnit XML (for CI: one test case
//! per rule and guest checked).

use serde_json::{Value, json};

use super::{Outcome, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The SARIF 2.1.0 log of `outcome`.
pub fn sarif(outcome: &Outcome) -> Value {
    let rules: Vec<Value> = outcome
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.description },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "source": r.source, "assert": r.assert },
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .violations
        .iter()
        .map(|v| {
            let index = outcome.rules.iter().position(|r| r.id == v.rule);
            let mut result = json!({
                "ruleId": v.rule,
                "level": level(v.severity),
                "message": { "text": format!("{} ({}): {}", v.guest, v.vmid, v.description) },
                "locations": [],
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            if let Some(file) = &v.file {
                let mut physical = json!({ "artifactLocation": { "uri": file } });
                if let Some(line) = v.line {
                    physical["region"] = json!({ "startLine": line });
                }
                result["locations"] = json!([{
                    "physicalLocation": physical,
                    "logicalLocations": [{ "name": v.guest, "kind": "resource" }],
                }]);
            } else {
                result["locations"] =
                    json!([{ "logicalLocations": [{ "name": v.guest, "kind": "resource" }] }]);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = outcome
        .problems
        .iter()
        .map(|p| {
            let mut n = json!({
                "level": level(p.level),
                "message": { "text": p.message },
            });
            let mut physical = json!({ "artifactLocation": { "uri": p.file } });
            if let Some(line) = p.line {
                physical["region"] = json!({ "startLine": line });
            }
            n["locations"] = json!([{ "physicalLocation": physical }]);
            n
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "proxmox-mpc policy",
                "informationUri": "https://github.com/proxmox-mpc/proxmox-mpc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolConfigurationNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one suite per rule, one failing case per violation, one error case per broken
/// rule; a rule that passed everywhere is one passing case.
pub fn junit(outcome: &Outcome) -> String {
    let mut suites = String::new();
    let mut total = (0, 0, 0);
    for rule in &outcome.rules {
        let fails: Vec<_> = outcome
            .violations
            .iter()
            .filter(|v| v.rule == rule.id)
            .collect();
        let broken = outcome
            .problems
            .iter()
            .filter(|p| p.rule.as_deref() == Some(&rule.id) && p.level == Severity::Error)
            .count();
        let mut cases = String::new();
        if fails.is_empty() {
            cases.push_str(&format!(
                "    <testcase classname=\"policy.{id}\" name=\"{id}: every guest\"/>\n",
                id = xml(&rule.id)
            ));
        }
        for v in &fails {
            let at = match (&v.file, v.line) {
                (Some(f), Some(l)) => format!("{f}:{l}"),
                (Some(f), None) => f.clone(),
                _ => "no file".into(),
            };
            cases.push_str(&format!(
                "    <testcase classname=\"policy.{id}\" name=\"{id}: {g}\">\n      <failure type=\"{sev}\" message=\"{msg}\">{at}</failure>\n    </testcase>\n",
                id = xml(&rule.id),
                g = xml(&v.guest),
                sev = v.severity.as_str(),
                msg = xml(&v.description),
                at = xml(&at),
            ));
        }
        let tests = fails.len().max(1);
        total.0 += tests;
        total.1 += fails.len();
        total.2 += broken;
        suites.push_str(&format!(
            "  <testsuite name=\"{id}\" tests=\"{tests}\" failures=\"{f}\" errors=\"{broken}\">\n{cases}  </testsuite>\n",
            id = xml(&rule.id),
            f = fails.len(),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"proxmox-mpc policy\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n{suites}</testsuites>\n",
        total.0, total.1, total.2
    )
}
