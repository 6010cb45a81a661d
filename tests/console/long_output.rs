//! Long lists stay readable: past 20 files or guests, `/apply`'s write-back line and `/sync`'s
//! table give counts and the first names; `-v` (per line in the console) shows them whole, and
//! `-o json` keeps the whole data.

use crate::common::{TestSim, piped, stderr, stdout, workspace};
use crate::support::cmd::{ok, text};
use proxmox_mpc::sim::SimConfig;

/// `create` lines for `count` small VMs named `{prefix}-NN`.
fn creates(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("create vm --name {prefix}-{i:02} --memory 256M --disk 1G"))
        .collect()
}

#[test]
fn an_apply_of_many_creates_summarises_the_files_it_wrote_back() {
    let sim = TestSim::homelab();
    let ws = workspace(&sim);
    // Placement reads the nodes from the last sync.
    let mut lines = vec!["/sync".to_string()];
    lines.extend(creates("bulk", 22));
    lines.extend(["/plan".to_string(), "/apply --yes".to_string()]);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = ok(piped(&sim, ws.path(), &lines), "22 creates and an apply");
    let se = stderr(&out);
    let line = se
        .lines()
        .find(|l| l.starts_with("Wrote the server's choices back"))
        .unwrap_or_else(|| panic!("no write-back line:\n{}", text(&out)));
    assert!(
        line.starts_with("Wrote the server's choices back to 22 files (terraform/bulk_"),
        "{line}"
    );
    assert!(line.ends_with("… and 17 more; -v lists them)."), "{line}");
    assert_eq!(line.matches("terraform/").count(), 5, "{line}");

    // With -v on the line, every file is named.
    let mut lines = creates("more", 21);
    lines.extend(["/plan".to_string(), "/apply --yes -v".to_string()]);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = ok(piped(&sim, ws.path(), &lines), "21 creates and an apply -v");
    let se = stderr(&out);
    let line = se
        .lines()
        .find(|l| l.starts_with("Wrote the server's choices back"))
        .unwrap_or_else(|| panic!("no write-back line:\n{}", text(&out)));
    for i in 0..21 {
        assert!(
            line.contains(&format!("terraform/more_{i:02}.tf")),
            "{line}"
        );
    }
    assert!(!line.contains("more;"), "{line}");
}

/// The names of the simulator's guests, by vmid.
fn names(sim: &TestSim) -> Vec<(u32, String)> {
    let control = sim.control();
    control
        .guest_ids()
        .into_iter()
        .map(|id| {
            let config = control.guest_config(id).unwrap();
            let name = config
                .get("name")
                .or_else(|| config.get("hostname"))
                .cloned()
                .unwrap_or_default();
            (id, name)
        })
        .collect()
}

/// The table rows (lines starting with `|`) whose cells include `word`.
fn rows_with(text: &str, word: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .filter(|l| l.split('|').any(|cell| cell.trim() == word))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_sync_with_many_changed_guests_prints_counts_and_the_whole_table_with_v() {
    let sim = TestSim::start_with(SimConfig::generated(3, 30, 7));
    let ws = workspace(&sim);
    let guests = names(&sim);
    assert_eq!(guests.len(), 30);

    // The first sync: 30 new guests, summarised with counts and the first names.
    let out = ok(piped(&sim, ws.path(), &["/sync"]), "first sync");
    let so = stdout(&out);
    let new = rows_with(&so, "new");
    assert_eq!(new.len(), 1, "one row for the new guests:\n{so}");
    assert!(new[0].contains("| 30 "), "{}", new[0]);
    assert!(new[0].contains("and 25 more"), "{}", new[0]);
    assert!(so.contains("/sync -v or -o json lists them"), "{so}");

    // 25 guests drift on the server.
    let control = sim.control();
    for (vmid, _) in guests.iter().take(25) {
        let memory: u64 = control.guest_config(*vmid).unwrap()["memory"]
            .parse()
            .unwrap();
        control
            .set_guest_config(*vmid, "memory", &(memory * 2).to_string())
            .unwrap();
    }
    let out = ok(
        piped(&sim, ws.path(), &["/sync", "/sync -v", "/sync -o json"]),
        "syncs after the drift",
    );
    let (so, se) = (stdout(&out), stderr(&out));
    // Counts, the first differences, and how to see the rest.
    let drift = rows_with(&so, "drift");
    assert!(drift[0].contains("| 25 "), "{so}");
    assert!(
        se.contains("20 more guests differ from their files"),
        "{se}"
    );
    // -v: the whole table, one row per drifted guest.
    assert_eq!(
        drift.len(),
        1 + 25,
        "the summary row, then every guest:\n{so}"
    );
    for (vmid, name) in guests.iter().take(25) {
        assert!(
            drift
                .iter()
                .any(|r| r.contains(&format!("| {vmid} ")) && r.contains(name)),
            "{vmid} {name} is not in the table:\n{so}"
        );
    }
    // -o json: the whole data, whatever the table shows.
    let json_start = so.find("{\n").expect("a JSON document");
    let value: serde_json::Value = serde_json::from_str(&so[json_start..]).unwrap();
    assert_eq!(value["guests"].as_array().unwrap().len(), 30, "{value}");
    assert_eq!(value["counts"]["drift"], 25, "{value}");
}
