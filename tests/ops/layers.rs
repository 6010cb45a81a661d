//! The layers point one way: `model` at the bottom; the domain rooms (`pve`, `state`, `plan`,
//! `iac`, `infratest`, `sim`, `workspace`) and the command language (`lang`) above it; the
//! operations layer (`commands`, with `error` and the `ui` report types it returns) above
//! those; the front ends (`console`, `cli`, the REST API `serve`, the MCP server `mcp`) on top. A module never names a room above its own.
//! This reads every `crate::` path in `src/` and fails on a breach, naming file and path.

use std::collections::BTreeMap;
use std::path::Path;

fn rank(room: &str) -> Option<u8> {
    Some(match room {
        "model" => 0,
        "pve" | "state" | "plan" | "iac" | "infratest" | "sim" | "workspace" | "lang"
        | "policy" => 1,
        "commands" | "error" | "ui" => 2,
        "console" | "cli" | "serve" | "mcp" => 3,
        _ => return None,
    })
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_names_a_room_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let path_re = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut breaches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rooms_seen = 0;
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let room = rel.split(['/', '.']).next().unwrap().to_string();
        if room == "lib" || room == "main" {
            continue;
        }
        let Some(own) = rank(&room) else {
            panic!(
                "src/{rel}: room `{room}` has no layer; add it to this test and to docs/ARCHITECTURE.md"
            );
        };
        rooms_seen += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for cap in path_re.captures_iter(&text) {
            let target = &cap[1];
            if target == room {
                continue;
            }
            if let Some(theirs) = rank(target)
                && theirs > own
            {
                breaches
                    .entry(format!("src/{rel}"))
                    .or_default()
                    .push(format!("crate::{target}"));
            }
        }
    }
    assert!(rooms_seen > 50, "read {rooms_seen} files");
    assert!(
        breaches.is_empty(),
        "modules naming a room above their own: {breaches:#?}"
    );
}
