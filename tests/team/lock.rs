//! The team's lock across copies of a workspace on one PostgreSQL (tests/team/pg.rs): while one
//! copy applies (the simulator's tasks made slow), the other's apply is refused naming the
//! holder (`locked by USER@HOST (pid N, apply, since ...)`) and the guest is created once; a
//! holder killed with SIGKILL keeps the lock until its TTL (`PMPC_LOCK_TTL_SECS`), after which
//! the other copy applies; `/unlock --force` releases a lock at once and is audited.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use proxmox_mpc::sim::Faults;

use super::pg::{PASSWORD_VAR, Pg};
use super::shared::shared_workspace;
use crate::support::cmd::{ok, pmpc, stderr, text};
use crate::support::sim::{TOKEN_VAR, TestSim};

const TTL_SECS: u64 = 3;

fn command(dir: &Path, sim: &TestSim, pg: &Pg, user: &str, args: &[&str]) -> Command {
    let mut cmd = pmpc(dir);
    cmd.env(TOKEN_VAR, sim.full_token())
        .env(PASSWORD_VAR, pg.password())
        .env("USER", user)
        .env("PMPC_LOCK_TTL_SECS", TTL_SECS.to_string())
        .args(args);
    cmd
}

fn run(dir: &Path, sim: &TestSim, pg: &Pg, user: &str, args: &[&str]) -> Output {
    command(dir, sim, pg, user, args).output().expect("runs")
}

fn spawn(dir: &Path, sim: &TestSim, pg: &Pg, user: &str, args: &[&str]) -> Child {
    command(dir, sim, pg, user, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns")
}

/// Waits until the lock row names `pid` (the holder has the lock and is working).
fn wait_for_holder(pg: &Pg, pid: u32, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if pg.column("SELECT pid::text FROM locks") == vec![pid.to_string()] {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the holder ended before it was seen holding the lock: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("pid {pid} never held the lock");
}

fn guests_named(sim: &TestSim, name: &str) -> usize {
    let control = sim.control();
    control
        .guest_ids()
        .into_iter()
        .filter(|id| {
            control
                .guest_config(*id)
                .is_some_and(|c| c.get("name").map(String::as_str) == Some(name))
        })
        .count()
}

/// Makes `name` in `dir` as `user`'s file (`what` names the step in a failure).
fn create_vm(dir: &Path, sim: &TestSim, pg: &Pg, user: &str, name: &str, what: &str) {
    ok(
        run(
            dir,
            sim,
            pg,
            user,
            &["create", "vm", "--name", name, "--memory", "512M"],
        ),
        what,
    );
}

/// Two copies of one workspace on `pg`; in the first, alice applies the creation of `name`
/// with tasks of `task_secs`, and holds the lock when this returns.
fn alice_applying(
    sim: &TestSim,
    pg: &Pg,
    name: &str,
    task_secs: u64,
) -> (tempfile::TempDir, tempfile::TempDir, Child) {
    let first = shared_workspace(sim, pg);
    let second = shared_workspace(sim, pg);
    let a = first.path();
    ok(run(a, sim, pg, "alice", &["sync"]), "sync");
    create_vm(a, sim, pg, "alice", name, "create");
    sim.set_faults(Faults {
        task_duration: Duration::from_secs(task_secs),
        ..Faults::none()
    });
    let mut holder = spawn(a, sim, pg, "alice", &["apply", "--yes"]);
    wait_for_holder(pg, holder.id(), &mut holder);
    (first, second, holder)
}

#[test]
fn one_apply_at_a_time_across_copies_and_a_killed_holder_frees_the_lock_after_its_ttl() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let (first, second, holder) = alice_applying(&sim, &pg, "locked-01", 4);
    let (a, b) = (first.path(), second.path());

    let refused = run(b, &sim, &pg, "bob", &["apply", "--yes"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    let said = stderr(&refused);
    assert!(said.contains("locked by alice@"), "{}", text(&refused));
    assert!(
        said.contains(&format!("(pid {}, apply, since ", holder.id())),
        "{}",
        text(&refused)
    );
    let done = holder.wait_with_output().expect("the apply ends");
    ok(done, "the holder's apply");
    assert_eq!(guests_named(&sim, "locked-01"), 1, "created once");
    assert!(
        pg.column("SELECT pid::text FROM locks").is_empty(),
        "released"
    );

    // A holder killed outright: its lock outlives it until the TTL, then the other applies.
    ok(run(b, &sim, &pg, "bob", &["sync"]), "sync in the second");
    create_vm(b, &sim, &pg, "bob", "killed-01", "create in the second");
    let mut doomed = spawn(b, &sim, &pg, "bob", &["apply", "--yes"]);
    wait_for_holder(&pg, doomed.id(), &mut doomed);
    doomed.kill().expect("SIGKILL");
    doomed.wait().expect("reaped");
    sim.set_faults(Faults::none());
    std::thread::sleep(Duration::from_secs(TTL_SECS + 1));
    create_vm(a, &sim, &pg, "alice", "after-01", "create after");
    ok(
        run(a, &sim, &pg, "alice", &["apply", "--yes"]),
        "apply after the TTL",
    );
    assert_eq!(guests_named(&sim, "after-01"), 1);
}

#[test]
fn unlock_force_releases_a_live_holder_and_is_audited() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let (_first, second, mut holder) = alice_applying(&sim, &pg, "stuck-01", 30);
    let b = second.path();

    let without = run(b, &sim, &pg, "bob", &["unlock"]);
    assert!(!without.status.success(), "{}", text(&without));
    assert!(stderr(&without).contains("--force"), "{}", text(&without));
    let unlocked = ok(
        run(b, &sim, &pg, "bob", &["unlock", "--force"]),
        "unlock --force",
    );
    assert!(
        stderr(&unlocked).contains("locked by alice@"),
        "names who held it: {}",
        text(&unlocked)
    );
    assert!(pg.column("SELECT pid::text FROM locks").is_empty());
    let audited = pg.column("SELECT coalesce(detail, '') FROM audit_log WHERE action = 'unlock'");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains("alice@"), "{audited:?}");
    sim.set_faults(Faults::none());
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_killed_holders_lock_waits_for_its_ttl_and_unlock_force_frees_it_now() {
    let sim = TestSim::homelab();
    let pg = Pg::start();
    let first = shared_workspace(&sim, &pg);
    let second = shared_workspace(&sim, &pg);
    let (a, b) = (first.path(), second.path());
    // A TTL far longer than the test: the lock can only go by /unlock --force.
    let long = |dir: &Path, user: &str, args: &[&str]| {
        let mut cmd = command(dir, &sim, &pg, user, args);
        cmd.env("PMPC_LOCK_TTL_SECS", "3600");
        cmd
    };
    ok(long(a, "alice", &["sync"]).output().expect("runs"), "sync");
    ok(
        long(
            a,
            "alice",
            &["create", "vm", "--name", "orphan-01", "--memory", "512M"],
        )
        .output()
        .expect("runs"),
        "create",
    );
    sim.set_faults(Faults {
        task_duration: Duration::from_secs(30),
        ..Faults::none()
    });
    let mut doomed = long(a, "alice", &["apply", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    wait_for_holder(&pg, doomed.id(), &mut doomed);
    doomed.kill().expect("SIGKILL");
    doomed.wait().expect("reaped");
    sim.set_faults(Faults::none());

    // Its session is gone, its row is not: refused, saying so and what frees it.
    let refused = long(b, "bob", &["sync"]).output().expect("runs");
    assert!(!refused.status.success(), "{}", text(&refused));
    let said = stderr(&refused);
    assert!(said.contains("locked by alice@"), "{said}");
    assert!(
        said.contains(&format!("(pid {}, apply, since ", doomed.id())),
        "{said}"
    );
    assert!(
        said.contains("process is gone") && said.contains("/unlock --force"),
        "{said}"
    );
    ok(
        long(b, "bob", &["unlock", "--force"])
            .output()
            .expect("runs"),
        "unlock --force",
    );
    ok(
        long(b, "bob", &["sync"]).output().expect("runs"),
        "sync after the unlock",
    );
}

#[test]
fn unlock_force_releases_a_local_workspaces_file_lock_and_is_audited() {
    let sim = TestSim::homelab();
    let dir = crate::support::cmd::init_workspace(&sim);
    let ws = dir.path();
    // A lock left by a process on another machine (a shared folder): never cleared by itself.
    std::fs::write(
        ws.join(".proxmox/apply.lock"),
        "op=apply\npid=4242\nhost=elsewhere\nsince=2026-01-01T00:00:00Z\n",
    )
    .expect("lock file");
    let out = pmpc(ws)
        .env(TOKEN_VAR, sim.full_token())
        .args(["sync"])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("4242@elsewhere"), "{}", text(&out));
    let out = ok(
        pmpc(ws).args(["unlock", "--force"]).output().expect("runs"),
        "unlock --force",
    );
    assert!(stderr(&out).contains("elsewhere"), "{}", text(&out));
    assert!(!ws.join(".proxmox/apply.lock").exists());
    ok(
        pmpc(ws)
            .env(TOKEN_VAR, sim.full_token())
            .args(["sync"])
            .output()
            .expect("runs"),
        "sync after the unlock",
    );
    let out = ok(
        pmpc(ws).args(["audit", "--json"]).output().expect("runs"),
        "audit",
    );
    let listed = crate::support::cmd::stdout(&out);
    assert!(
        listed.contains("\"unlock\"") && listed.contains("pid 4242"),
        "{listed}"
    );
}
