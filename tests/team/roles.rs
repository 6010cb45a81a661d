//! Roles in shared state (a real PostgreSQL, tests/team/pg.rs): the first identity (PVE token
//! id) to use the empty database becomes admin; an identity without a role is refused naming
//! the role it needs and who can grant it; a viewer's apply is refused naming the role; an
//! operator may change the files but not apply to a protected environment; an admin may.
//! `/role grant`, `list` and `revoke` (never the last admin), each grant audited. A local
//! workspace has no roles: the person at the console is admin.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::pg::Pg;
use super::shared::{run, shared_workspace};
use crate::support::cmd::{init_workspace, ok, pmpc, stderr, stdout, text};
use crate::support::sim::TestSim;

const VIEWER: &str = "viewer@pve!ro";
const OPERATOR: &str = "operator@pve!ops";

/// Marks the workspace's default environment `protected` in its config.yml, as
/// `/env add --protected` would.
fn protect(dir: &Path) {
    let path = dir.join(".proxmox/config.yml");
    let config = std::fs::read_to_string(&path).expect("config");
    let marked = config.replacen("    tls:\n", "    protected: true\n    tls:\n", 1);
    assert_ne!(config, marked, "{config}");
    std::fs::write(&path, marked).expect("write config");
}

fn refused(out: &Output, says: &[&str]) {
    assert!(!out.status.success(), "{}", text(out));
    for s in says {
        assert!(stderr(out).contains(s), "expected `{s}`:\n{}", text(out));
    }
}

#[test]
fn viewer_operator_and_admin_may_do_what_their_roles_say() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let admin = shared_workspace(&sim, &pg);
    let viewer = shared_workspace(&sim, &pg);
    let operator = shared_workspace(&sim, &pg);
    let me = sim.token_id();

    // The first identity to use the empty database is its admin.
    ok(run(admin.path(), &sim, &pg, &["sync"]), "sync as the first");
    for (dir, id) in [(viewer.path(), VIEWER), (operator.path(), OPERATOR)] {
        ok(
            run(dir, &sim, &pg, &["config", "set", "token_id", id]),
            "config set token_id",
        );
    }
    // No role yet: refused, naming the role needed and the admin who can grant it.
    let out = run(viewer.path(), &sim, &pg, &["status"]);
    refused(
        &out,
        &[
            &format!("{VIEWER} has no role"),
            "needs the role viewer",
            &format!("/role grant {VIEWER} viewer"),
            &me,
        ],
    );
    ok(
        run(
            admin.path(),
            &sim,
            &pg,
            &["role", "grant", VIEWER, "viewer"],
        ),
        "grant viewer",
    );
    ok(
        run(
            admin.path(),
            &sim,
            &pg,
            &["role", "grant", OPERATOR, "operator"],
        ),
        "grant operator",
    );
    let listed = ok(
        run(admin.path(), &sim, &pg, &["role", "list", "--json"]),
        "role list",
    );
    let roles: Value = serde_json::from_str(stdout(&listed).trim()).expect("json");
    let pairs: Vec<(String, String)> = roles
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["identity"].as_str().unwrap_or_default().to_string(),
                r["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), 3, "{pairs:?}");
    assert!(pairs.contains(&(me.clone(), "admin".into())), "{pairs:?}");
    assert!(
        pairs.contains(&(VIEWER.into(), "viewer".into())),
        "{pairs:?}"
    );

    // A viewer reads; its apply and its grants are refused naming the role.
    ok(run(viewer.path(), &sim, &pg, &["status"]), "a viewer reads");
    refused(
        &run(viewer.path(), &sim, &pg, &["apply", "--yes"]),
        &["the role viewer", "/apply", "needs the role operator"],
    );
    refused(
        &run(
            viewer.path(),
            &sim,
            &pg,
            &["role", "grant", VIEWER, "admin"],
        ),
        &["needs the role admin"],
    );

    // A protected environment: the operator changes its files but may not apply there.
    protect(operator.path());
    protect(admin.path());
    ok(
        run(
            operator.path(),
            &sim,
            &pg,
            &["create", "vm", "--name", "guarded-01", "--memory", "512M"],
        ),
        "an operator changes the files",
    );
    refused(
        &run(operator.path(), &sim, &pg, &["apply", "--yes"]),
        &["is protected", "needs the role admin", OPERATOR],
    );
    // The admin may.
    ok(
        run(
            admin.path(),
            &sim,
            &pg,
            &["create", "vm", "--name", "guarded-01", "--memory", "512M"],
        ),
        "create as admin",
    );
    ok(
        run(admin.path(), &sim, &pg, &["apply", "--yes"]),
        "an admin applies to a protected environment",
    );

    // Never the last admin; revoking another is audited.
    refused(
        &run(admin.path(), &sim, &pg, &["role", "revoke", &me]),
        &["only admin"],
    );
    ok(
        run(admin.path(), &sim, &pg, &["role", "revoke", VIEWER]),
        "revoke",
    );
    refused(
        &run(viewer.path(), &sim, &pg, &["status"]),
        &["has no role"],
    );
    let actions = pg.column(
        "SELECT action || ' ' || target FROM audit_log WHERE action LIKE 'role-%' ORDER BY id",
    );
    assert_eq!(
        actions,
        vec![
            format!("role-grant {me}"),
            format!("role-grant {VIEWER}"),
            format!("role-grant {OPERATOR}"),
            format!("role-revoke {VIEWER}"),
        ]
    );
}

#[test]
fn a_local_workspace_has_no_roles_and_its_user_is_admin() {
    let sim = TestSim::homelab();
    let dir = init_workspace(&sim);
    let out = ok(
        pmpc(dir.path())
            .args(["role", "list"])
            .output()
            .expect("runs"),
        "role list",
    );
    assert!(
        stderr(&out).contains("the person at the console is admin"),
        "{}",
        text(&out)
    );
    let out = pmpc(dir.path())
        .args(["role", "grant", VIEWER, "viewer"])
        .output()
        .expect("runs");
    refused(&out, &["applies to shared state", "/state migrate"]);
}

#[test]
fn doctor_privileges_prints_a_role_the_pve_api_accepts() {
    let sim = TestSim::homelab();
    let dir = init_workspace(&sim);
    let out = ok(
        pmpc(dir.path())
            .args(["doctor", "--privileges", "--json"])
            .output()
            .expect("runs"),
        "doctor --privileges",
    );
    let doc: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let line = doc["pveum"].as_str().expect("the pveum line").to_string();
    let privs = line
        .strip_prefix("pveum role add ProxmoxMPC -privs \"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{line}"));
    for needed in [
        "Sys.Audit",
        "VM.Audit",
        "VM.Allocate",
        "VM.PowerMgmt",
        "Datastore.AllocateSpace",
    ] {
        assert!(privs.split(' ').any(|p| p == needed), "{needed} in {line}");
    }
    // The role is created through the API as `pveum role add` would: every name is a privilege.
    let api = crate::support::sim::client(sim.sim());
    sim.block_on(async {
        api.write(
            reqwest::Method::POST,
            "/access/roles",
            vec![
                ("roleid".into(), "ProxmoxMPC".into()),
                ("privs".into(), privs.replace(' ', ",")),
            ],
        )
        .await
        .expect("the simulator accepts every privilege");
        let role: Value = api
            .get("/access/roles/ProxmoxMPC", Vec::new())
            .await
            .expect("the role reads back");
        let held = role.to_string();
        for p in privs.split(' ') {
            assert!(held.contains(p), "{p} in {held}");
        }
    });
    // The table form names what each is for.
    let out = ok(
        pmpc(dir.path())
            .args(["doctor", "--privileges"])
            .output()
            .expect("runs"),
        "doctor --privileges (table)",
    );
    assert!(stdout(&out).contains(&line), "{}", text(&out));
    assert!(stdout(&out).contains("/apply"), "{}", text(&out));
}
