//! How a [`TestRun`] is shown: one line per guest (or file, or `workspace`), the summary line
//! `N passed, N failed[, N skipped]`, JUnit XML (one `<testsuite>` per guest, one `<testcase>`
//! per check) and the JSON machine report.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{CheckResult, Status, TestRun};

/// Results grouped by their label, in first-seen order.
pub fn groups(run: &TestRun) -> Vec<(String, Vec<&CheckResult>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<&CheckResult>> = BTreeMap::new();
    for r in &run.results {
        if !map.contains_key(&r.group) {
            order.push(r.group.clone());
        }
        map.entry(r.group.clone()).or_default().push(r);
    }
    order
        .into_iter()
        .map(|g| {
            let list = map.remove(&g).unwrap_or_default();
            (g, list)
        })
        .collect()
}

/// One result as `name: expected X, actual Y` (or its message).
pub fn describe(r: &CheckResult) -> String {
    match (&r.expected, &r.actual) {
        (Some(e), Some(a)) => {
            if a.contains('\n') {
                format!(
                    "{}: expected {e}, actual:\n      {}",
                    r.name,
                    a.replace('\n', "\n      ")
                )
            } else {
                format!("{}: expected {e}, actual {a}", r.name)
            }
        }
        _ => match &r.message {
            Some(m) => format!("{}: {m}", r.name),
            None => r.name.clone(),
        },
    }
}

/// One line per group: `ok      web-01 (100)  14 checks` or `FAILED  db-01 (102)  …` with every
/// failed check's expected vs actual (and its file:line) on the lines below.
pub fn lines(run: &TestRun) -> Vec<String> {
    let mut out = Vec::new();
    for (group, results) in groups(run) {
        let failed: Vec<&&CheckResult> = results
            .iter()
            .filter(|r| r.status == Status::Failed)
            .collect();
        let skipped: Vec<&&CheckResult> = results
            .iter()
            .filter(|r| r.status == Status::Skipped)
            .collect();
        let passed = results.len() - failed.len() - skipped.len();
        if failed.is_empty() {
            let mut line = format!("ok      {group}  {passed} passed");
            if !skipped.is_empty() {
                let reasons: Vec<String> = skipped.iter().map(|r| describe(r)).collect();
                line.push_str(&format!(
                    ", {} skipped ({})",
                    skipped.len(),
                    reasons.join("; ")
                ));
            }
            out.push(line);
        } else {
            let mut line = format!(
                "FAILED  {group}  {} of {} failed",
                failed.len(),
                results.len()
            );
            for r in &failed {
                line.push_str(&format!("\n    {}  [{}]", describe(r), r.source));
            }
            for r in &skipped {
                line.push_str(&format!("\n    skipped {}", describe(r)));
            }
            out.push(line);
        }
    }
    out
}

/// The summary line: `N passed, N failed` and `, N skipped` when any was skipped.
pub fn summary(run: &TestRun) -> String {
    let (passed, failed, skipped) = run.counts();
    if skipped > 0 {
        format!("{passed} passed, {failed} failed, {skipped} skipped")
    } else {
        format!("{passed} passed, {failed} failed")
    }
}

/// The machine report (`--json`).
pub fn json(run: &TestRun) -> Value {
    let (passed, failed, skipped) = run.counts();
    let guests: Vec<Value> = groups(run)
        .into_iter()
        .map(|(group, results)| {
            let status = if results.iter().any(|r| r.status == Status::Failed) {
                "failed"
            } else {
                "passed"
            };
            json!({
                "group": group,
                "vmid": results.first().and_then(|r| r.vmid),
                "status": status,
                "checks": results,
            })
        })
        .collect();
    json!({
        "summary": {
            "passed": passed,
            "failed": failed,
            "skipped": skipped,
            "total": run.results.len(),
            "elapsed_ms": (run.elapsed_ms * 10.0).round() / 10.0,
            "ok": failed == 0,
        },
        "groups": guests,
        "warnings": run.warnings,
    })
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn secs(ms: f64) -> String {
    format!("{:.3}", ms / 1000.0)
}

/// JUnit XML: one `<testsuite>` per group, one `<testcase>` per check.
pub fn junit(run: &TestRun) -> String {
    let (_, failed, skipped) = run.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"proxmox-mpc\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">\n",
        run.results.len(),
        secs(run.elapsed_ms)
    ));
    for (group, results) in groups(run) {
        let f = results
            .iter()
            .filter(|r| r.status == Status::Failed)
            .count();
        let s = results
            .iter()
            .filter(|r| r.status == Status::Skipped)
            .count();
        let t: f64 = results.iter().map(|r| r.duration_ms).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\" skipped=\"{s}\" time=\"{}\">\n",
            xml(&group),
            results.len(),
            secs(t)
        ));
        for r in results {
            let file = r.source.split(':').next().unwrap_or(&r.source);
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{}\"",
                xml(&group),
                xml(&r.name),
                xml(file),
                secs(r.duration_ms)
            ));
            match r.status {
                Status::Passed => out.push_str("/>\n"),
                Status::Failed => {
                    let message = describe(r);
                    out.push_str(&format!(
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                        xml(&message),
                        if r.expected.is_some() { "mismatch" } else { "error" },
                        xml(&format!("{message}\nat {}", r.source))
                    ));
                }
                Status::Skipped => {
                    out.push_str(&format!(
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                        xml(r.message.as_deref().unwrap_or(""))
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_control_characters() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
