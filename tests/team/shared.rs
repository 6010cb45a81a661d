//! Shared state in a real PostgreSQL (tests/team/pg.rs): two copies of a workspace on one
//! database see each other's sync in `status --json`; `state migrate` to PostgreSQL and back
//! leaves every row of every shared table equal; the audit chain written on SQLite verifies on
//! PostgreSQL and an UPDATE of one row there is named by `audit --verify`; the database's
//! password (read from `env:`) lands in no file, no output and no row.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use super::pg::{PASSWORD_VAR, Pg};
use crate::support::cmd::{init_workspace, ok, pmpc, stderr, stdout, text};
use crate::support::sim::{TOKEN_VAR, TestSim};

/// The shared tables `/state migrate` copies (docs/team.md).
const SHARED: [&str; 8] = [
    "snapshots",
    "plans",
    "journal",
    "audit_log",
    "managed_guests",
    "sync_base",
    "api_tokens",
    "roles",
];

/// `proxmox-mpc ARGS` in `dir` with the simulator's token and the database password in
/// their variables.
pub fn run(dir: &Path, sim: &TestSim, pg: &Pg, args: &[&str]) -> Output {
    pmpc(dir)
        .env(TOKEN_VAR, sim.full_token())
        .env(PASSWORD_VAR, pg.password())
        .args(args)
        .output()
        .expect("runs")
}

/// A new workspace on the simulator whose state is `pg`'s database.
pub fn shared_workspace(sim: &TestSim, pg: &Pg) -> tempfile::TempDir {
    let dir = init_workspace(sim);
    let url = pg.url();
    ok(
        run(dir.path(), sim, pg, &["config", "set", "state.url", &url]),
        "config set state.url",
    );
    ok(
        run(
            dir.path(),
            sim,
            pg,
            &[
                "config",
                "set",
                "state.password",
                &format!("env:{PASSWORD_VAR}"),
            ],
        ),
        "config set state.password",
    );
    dir
}

fn json_out(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Every file under `dir` that contains `needle` (state.db, logs and history included).
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// Every row of every shared table of the SQLite file, as text, table by table.
async fn sqlite_rows(db: &Path) -> Vec<(String, Vec<String>)> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("state.db opens");
    let mut out = Vec::new();
    for table in SHARED {
        let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY 1"))
            .fetch_all(&mut conn)
            .await
            .expect(table);
        let mut texts = Vec::new();
        for row in rows {
            let mut cells = Vec::new();
            for i in 0..row.len() {
                let cell = row
                    .try_get::<Option<i64>, _>(i)
                    .map(|v| format!("{v:?}"))
                    .or_else(|_| {
                        row.try_get::<Option<String>, _>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .expect("integer or text");
                cells.push(cell);
            }
            texts.push(cells.join("|"));
        }
        out.push((table.to_string(), texts));
    }
    conn.close().await.ok();
    out
}

#[test]
fn two_copies_on_one_database_see_each_others_sync_and_no_password_lands_anywhere() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let first = shared_workspace(&sim, &pg);
    let second = shared_workspace(&sim, &pg);

    let before = json_out(&ok(
        run(second.path(), &sim, &pg, &["status", "--json"]),
        "status before",
    ));
    let synced = ok(run(first.path(), &sim, &pg, &["sync"]), "sync in the first");
    let after = json_out(&ok(
        run(second.path(), &sim, &pg, &["status", "--json"]),
        "status after",
    ));
    let mine = json_out(&ok(
        run(first.path(), &sim, &pg, &["status", "--json"]),
        "status in the first",
    ));
    assert!(
        after["last_sync"].is_string(),
        "the second copy sees the first's sync: {after}"
    );
    assert_ne!(before["last_sync"], after["last_sync"], "{before} {after}");
    assert_eq!(after["snapshot_serial"], mine["snapshot_serial"]);
    assert_eq!(after["last_sync"], mine["last_sync"]);

    // `/state` names the database, never with its password.
    let shown = ok(run(first.path(), &sim, &pg, &["state", "--json"]), "state");
    let state = json_out(&shown);
    assert_eq!(state["backend"], "postgres", "{state}");
    assert_eq!(state["location"], pg.url().as_str(), "{state}");

    let password = pg.password();
    for dir in [first.path(), second.path()] {
        let found = files_containing(dir, password);
        assert!(found.is_empty(), "the password is in {found:?}");
    }
    for out in [&synced, &shown] {
        assert!(!stdout(out).contains(password) && !stderr(out).contains(password));
    }
    for table in SHARED
        .iter()
        .chain(["locks", "session", "written_files"].iter())
    {
        let dump = pg.column(&format!(
            "SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"
        ));
        assert!(
            !dump.concat().contains(password),
            "the password is in the table {table}"
        );
    }
}

#[test]
fn a_url_with_a_password_is_refused_and_config_yml_keeps_none() {
    let sim = TestSim::homelab();
    let dir = init_workspace(&sim);
    let out = pmpc(dir.path())
        .args([
            "config",
            "set",
            "state.url",
            "postgres://pmpc:hunter2-pw@127.0.0.1:5432/team",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("state.password env:"),
        "the refusal says where the password goes: {}",
        text(&out)
    );
    let config = std::fs::read_to_string(dir.path().join(".proxmox/config.yml")).expect("config");
    assert!(
        !config.contains("hunter2-pw") && !config.contains("state:"),
        "{config}"
    );
}

#[test]
fn state_migrate_to_postgres_and_back_keeps_every_row_and_the_audit_chain() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let dir = init_workspace(&sim);
    let ws = dir.path();
    ok(run(ws, &sim, &pg, &["sync"]), "sync");
    ok(
        run(
            ws,
            &sim,
            &pg,
            &["create", "vm", "--name", "moved-01", "--memory", "1G"],
        ),
        "create",
    );
    ok(run(ws, &sim, &pg, &["apply", "--yes"]), "apply");
    ok(
        run(
            ws,
            &sim,
            &pg,
            &["token", "create", "ci-bot", "--role", "viewer"],
        ),
        "token create",
    );
    let db = ws.join(".proxmox/state.db");
    let runtime = super::pg::runtime();
    let original = runtime.block_on(sqlite_rows(&db));
    let count = |name: &str| {
        original
            .iter()
            .find(|(t, _)| t == name)
            .map_or(0, |(_, rows)| rows.len())
    };
    assert!(
        count("snapshots") > 0 && count("plans") > 0 && count("journal") > 0,
        "{original:?}"
    );
    assert!(count("audit_log") >= 2 && count("api_tokens") == 1);

    let url = pg.url();
    let password_ref = format!("env:{PASSWORD_VAR}");
    let moved = ok(
        run(
            ws,
            &sim,
            &pg,
            &[
                "state",
                "migrate",
                "--to",
                &url,
                "--password",
                &password_ref,
            ],
        ),
        "migrate to postgres",
    );
    assert!(
        stderr(&moved).contains("every table checked equal"),
        "{}",
        text(&moved)
    );
    let config = std::fs::read_to_string(ws.join(".proxmox/config.yml")).expect("config");
    assert!(
        config.contains(&url) && config.contains(&password_ref),
        "{config}"
    );
    // Every audit row came along, and whoever moved the state is its first admin (audited).
    assert_eq!(
        pg.column("SELECT count(*)::text FROM audit_log"),
        vec![(count("audit_log") + 1).to_string()]
    );
    assert_eq!(
        pg.column("SELECT action || ' ' || target FROM audit_log ORDER BY id DESC LIMIT 1"),
        vec![format!("role-grant {}", sim.token_id())]
    );
    assert_eq!(
        pg.column("SELECT identity || ' ' || role FROM roles"),
        vec![format!("{} admin", sim.token_id())]
    );
    // Into a database that holds rows: refused, nothing copied.
    let again = run(ws, &sim, &pg, &["state", "migrate", "--to", &url]);
    assert!(!again.status.success(), "{}", text(&again));

    // The chain written on SQLite verifies on PostgreSQL; an edited row there is named.
    ok(
        run(ws, &sim, &pg, &["audit", "--verify"]),
        "verify on postgres",
    );
    let ids = pg.column("SELECT id::text FROM audit_log ORDER BY id");
    let edited = &ids[1];
    assert_eq!(
        pg.execute(&format!(
            "UPDATE audit_log SET target = 'nothing' WHERE id = {edited}"
        )),
        1
    );
    let verify = run(ws, &sim, &pg, &["audit", "--verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(
        stderr(&verify).contains(&format!("audit entry {edited} was changed")),
        "{}",
        text(&verify)
    );
    let target = original
        .iter()
        .find(|(t, _)| t == "audit_log")
        .and_then(|(_, rows)| {
            rows.iter()
                .find(|r| r.starts_with(&format!("Some({edited})|")))
        })
        .expect("the edited row in the original")
        .split('|')
        .nth(5)
        .expect("target")
        .to_string();
    let target = target
        .strip_prefix("Some(\"")
        .and_then(|t| t.strip_suffix("\")"))
        .expect("text");
    pg.execute(&format!(
        "UPDATE audit_log SET target = '{}' WHERE id = {edited}",
        target.replace('\'', "''")
    ));
    ok(
        run(ws, &sim, &pg, &["audit", "--verify"]),
        "verify restored",
    );

    // And back: the local file held the rows it had, so --force replaces them with the copy.
    let back = run(ws, &sim, &pg, &["state", "migrate", "--to", "sqlite"]);
    assert!(
        !back.status.success(),
        "a non-empty target is refused: {}",
        text(&back)
    );
    assert!(stderr(&back).contains("--force"), "{}", text(&back));
    let back = ok(
        run(
            ws,
            &sim,
            &pg,
            &["state", "migrate", "--to", "sqlite", "--force"],
        ),
        "migrate back",
    );
    assert!(
        stderr(&back).contains("every table checked equal"),
        "{}",
        text(&back)
    );
    let returned = runtime.block_on(sqlite_rows(&db));
    // Every row is as it was. What was added in between is the mover's admin grant and its
    // audit entry, after the others.
    for ((table, before), (_, after)) in original.iter().zip(&returned) {
        match table.as_str() {
            "roles" => {
                assert!(before.is_empty(), "{before:?}");
                assert_eq!(after.len(), 1, "{after:?}");
                assert!(after[0].contains(&sim.token_id()) && after[0].contains("admin"));
            }
            "audit_log" => {
                assert_eq!(&after[..before.len()], &before[..], "the audit log's rows");
                assert!(
                    after[before.len()..]
                        .iter()
                        .all(|r| r.contains("\"role-grant\"")),
                    "{:?}",
                    &after[before.len()..]
                );
            }
            _ => assert_eq!(before, after, "the rows of {table}"),
        }
    }
    let config = std::fs::read_to_string(ws.join(".proxmox/config.yml")).expect("config");
    assert!(!config.contains("state:"), "{config}");
    ok(
        run(ws, &sim, &pg, &["audit", "--verify"]),
        "verify on sqlite",
    );
    assert!(files_containing(ws, pg.password()).is_empty());
}

#[test]
fn an_environment_folder_keeps_its_shared_tables_in_a_schema_of_its_own() {
    let sim = TestSim::homelab();
    let prod = TestSim::homelab();
    let pg = Pg::start();
    let dir = shared_workspace(&sim, &pg);
    let ws = dir.path();
    let mut add = pmpc(ws);
    add.env(TOKEN_VAR, sim.full_token())
        .env(PASSWORD_VAR, pg.password())
        .env("PMPC_TEST_PROD_TOKEN", prod.full_token())
        .args([
            "env",
            "add",
            "prod",
            "--endpoint",
            &prod.url(),
            "--token-id",
            &prod.token_id(),
            "--secret-env",
            "PMPC_TEST_PROD_TOKEN",
            "--fingerprint",
            &prod.fingerprint(),
        ]);
    ok(add.output().expect("runs"), "env add prod");
    let mut sync = pmpc(ws);
    sync.env(PASSWORD_VAR, pg.password())
        .env("PMPC_TEST_PROD_TOKEN", prod.full_token())
        .args(["--env", "prod", "sync"]);
    ok(sync.output().expect("runs"), "sync prod");
    assert_eq!(
        pg.column("SELECT count(*)::text FROM pmpc_env_prod.snapshots"),
        vec!["1"]
    );
    assert_eq!(
        pg.column("SELECT count(*)::text FROM public.snapshots"),
        vec!["0"]
    );
    let default = json_out(&ok(
        run(ws, &sim, &pg, &["status", "--json"]),
        "status of the default environment",
    ));
    assert!(default["last_sync"].is_null(), "{default}");
}

#[test]
fn an_unreachable_database_is_named_with_the_next_step_and_no_password() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let dir = shared_workspace(&sim, &pg);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://pmpc@127.0.0.1:{port}/team");
    ok(
        run(dir.path(), &sim, &pg, &["config", "set", "state.url", &url]),
        "config set state.url",
    );
    let out = run(dir.path(), &sim, &pg, &["status"]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("cannot open the state database {url}")),
        "{}",
        text(&out)
    );
    assert!(
        said.contains("reachable") && said.contains("state.url none"),
        "{said}"
    );
    assert!(!said.contains(pg.password()) && !stdout(&out).contains(pg.password()));
    // Unset, the local state.db is used again.
    ok(
        run(
            dir.path(),
            &sim,
            &pg,
            &["config", "set", "state.url", "none"],
        ),
        "config set state.url none",
    );
    let state = json_out(&ok(
        run(dir.path(), &sim, &pg, &["state", "--json"]),
        "state",
    ));
    assert_eq!(state["backend"], "sqlite", "{state}");
}

#[test]
fn the_password_may_come_from_a_file_outside_the_workspace() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let dir = init_workspace(&sim);
    let secrets = tempfile::tempdir().expect("temp dir");
    let file = secrets.path().join("pg-password");
    std::fs::write(&file, format!("{}\n", pg.password())).expect("password file");
    let url = pg.url();
    let reference = format!("file:{}", file.display());
    for (key, value) in [
        ("state.url", url.as_str()),
        ("state.password", reference.as_str()),
    ] {
        ok(
            pmpc(dir.path())
                .args(["config", "set", key, value])
                .output()
                .expect("runs"),
            "config set",
        );
    }
    let out = ok(
        pmpc(dir.path())
            .env(TOKEN_VAR, sim.full_token())
            .args(["sync"])
            .output()
            .expect("runs"),
        "sync with the password from a file",
    );
    assert!(!stdout(&out).contains(pg.password()) && !stderr(&out).contains(pg.password()));
    assert_eq!(pg.column("SELECT count(*)::text FROM snapshots"), vec!["1"]);
    assert!(files_containing(dir.path(), pg.password()).is_empty());
}
