//! The tamper-evident audit log: operations on the simulator (init, sync, create, apply, and
//! calls from an MCP client) leave a hash chain that `audit --verify` accepts; editing one row's
//! detail with SQL makes it fail (exit 1) naming that row; removing a row names the broken
//! link; `--export` writes JSON lines whose hashes this test recomputes on its own (SHA-256 of
//! the canonical JSON docs/team.md describes); `--actor` filters.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::support::cmd::{ok, pmpc, stderr, stdout, text};
use crate::support::ops::OpsWorkspace;

fn audit(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    pmpc(dir).args(&all).output().expect("runs")
}

/// Runs `sql` on the workspace's state.db, as someone with the file (not proxmox-mpc) would.
async fn tamper(db: &Path, sql: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("state.db opens");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    conn.close().await.expect("closes");
}

/// The hash the export's line should carry, computed here from the documented canonical form.
fn recompute(entry: &Value) -> String {
    let keys = [
        "action",
        "actor",
        "at",
        "detail",
        "environment",
        "id",
        "origin",
        "prev_hash",
        "target",
    ];
    let canonical: BTreeMap<&str, Value> = keys.iter().map(|k| (*k, entry[*k].clone())).collect();
    let text = serde_json::to_string(&canonical).expect("json");
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn verify_fails_naming(dir: &Path, says: &[&str]) {
    let out = audit(dir, &["--verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for s in says {
        assert!(stderr(&out).contains(s), "expected `{s}`:\n{}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_a_hash_chain_that_names_what_was_changed() {
    let ws = OpsWorkspace::init().await;
    ws.run("sync", json!({})).await;
    ws.run(
        "create",
        json!({ "kind": "vm", "flags": { "name": "chain-01", "memory": "1G" } }),
    )
    .await;
    ws.run("apply", json!({ "yes": true })).await;
    assert!(
        ws.sim_guest("chain-01").is_some(),
        "the apply created chain-01"
    );
    let mut mcp = ws.ctx();
    mcp.origin = "mcp".into();
    mcp.actor = Some("claude-desktop".into());
    for _ in 0..3 {
        ws.try_run_in(&mut mcp, "status", json!({}))
            .await
            .expect("status");
    }
    let dir = ws.root().to_path_buf();
    let db = dir.join(".proxmox/state.db");

    let out = ok(audit(&dir, &["--verify", "--json"]), "audit --verify");
    let verdict: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let chained = verdict.to_string();
    assert!(chained.contains("\"verified\":true"), "{chained}");

    // --actor keeps the MCP client's calls only.
    let out = ok(
        audit(&dir, &["--actor", "claude-desktop", "--json"]),
        "audit --actor",
    );
    let listed: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let text_listed = listed.to_string();
    assert_eq!(
        text_listed.matches("\"actor\":\"claude-desktop\"").count(),
        3,
        "{text_listed}"
    );
    assert!(
        !text_listed.contains("\"action\":\"init\""),
        "{text_listed}"
    );

    // The export re-verifies here, hash by hash and link by link.
    let out = ok(audit(&dir, &["--export", "audit.jsonl"]), "audit --export");
    assert!(stderr(&out).contains("audit.jsonl"), "{}", text(&out));
    let exported = std::fs::read_to_string(dir.join("audit.jsonl")).expect("export written");
    let entries: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        entries.len() >= 5,
        "init, apply and three calls: {exported}"
    );
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"init") && actions.contains(&"apply"),
        "{actions:?}"
    );
    let mut previous = Value::Null;
    for entry in &entries {
        assert_eq!(
            entry["hash"].as_str(),
            Some(recompute(entry).as_str()),
            "{entry}"
        );
        assert_eq!(entry["prev_hash"], previous, "{entry}");
        previous = entry["hash"].clone();
    }

    // Edit one row's detail: verify names that row; putting it back heals it.
    let edited = entries[1]["id"].as_i64().expect("id");
    let original = entries[1]["detail"].clone();
    tamper(
        &db,
        &format!("UPDATE audit_log SET detail = 'nothing happened' WHERE id = {edited}"),
    )
    .await;
    verify_fails_naming(&dir, &[&format!("audit entry {edited} was changed")]);
    let restore = match original.as_str() {
        Some(text) => format!("'{}'", text.replace('\'', "''")),
        None => "NULL".into(),
    };
    tamper(
        &db,
        &format!("UPDATE audit_log SET detail = {restore} WHERE id = {edited}"),
    )
    .await;
    ok(
        audit(&dir, &["--verify"]),
        "verify after the edit was undone",
    );

    // Remove a row in the middle: the row after it no longer links.
    let before = entries[1]["id"].as_i64().expect("id");
    let removed = entries[2]["id"].as_i64().expect("id");
    let after = entries[3]["id"].as_i64().expect("id");
    tamper(&db, &format!("DELETE FROM audit_log WHERE id = {removed}")).await;
    verify_fails_naming(
        &dir,
        &[&format!(
            "audit entry {after} does not link to entry {before}"
        )],
    );
}
