//! proxmoxer 2.3 (tests/python/proxmoxer_flow.py) walks one VM through its life on the simulator,
//! once with an API token and once with a password (ticket cookie + CSRF header).

use std::collections::BTreeMap;

use std::time::Duration;

use proxmox_mpc::sim::{Faults, SimConfig, TokenKind};
use serde_json::Value;

use crate::common::{SimUnderTest, Venv, python_script};

enum Auth {
    Token,
    Password,
}

/// How long each simulated task stays `running` in the slow-task run.
const SLOW_TASK: Duration = Duration::from_millis(800);

/// Runs the script and checks what it saw against the simulator's own view; returns the route
/// counts of the run.
async fn run_flow(auth: Auth, config: SimConfig) -> (SimUnderTest, BTreeMap<String, u64>, Value) {
    let venv = Venv::find();
    let sut = SimUnderTest::start(config).await;
    let control = sut.control();
    let guests_before = control.guest_count();

    let mut cmd = sut.tool(&venv, "python");
    cmd.arg(python_script("proxmoxer_flow.py"))
        .env("PMPC_SIM_URL", sut.sim.url())
        .env("PMPC_SIM_CA_FILE", &sut.ca_file);
    // with a token, the script also tries one create with a read-only token (refused)
    let vm_creates = if matches!(auth, Auth::Token) { 2 } else { 1 };
    let (expected_auth, what) = match auth {
        Auth::Token => {
            let (ro_id, ro_secret) = sut.sim.token(TokenKind::ReadOnly);
            cmd.env("PMPC_SIM_TOKEN_ID", sut.sim.token_id())
                .env("PMPC_SIM_TOKEN_SECRET", sut.sim.token_secret())
                .env("PMPC_SIM_READONLY_TOKEN_ID", ro_id)
                .env("PMPC_SIM_READONLY_TOKEN_SECRET", ro_secret);
            ("token", "proxmoxer_flow.py (API token)")
        }
        Auth::Password => {
            let (user, password) = sut.sim.password();
            cmd.env("PMPC_SIM_USER", user)
                .env("PMPC_SIM_PASSWORD", password);
            ("ticket", "proxmoxer_flow.py (password)")
        }
    };
    let (output, took) = sut.run(cmd, what).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("the script's summary is not JSON ({err}): {stdout}"));
    eprintln!("{what} took {took:?}: {summary}");
    assert_eq!(summary["auth"], expected_auth);

    // What proxmoxer saw is what the simulator holds.
    assert_eq!(
        summary["nodes"],
        serde_json::json!(["pve1", "pve2", "pve3"])
    );
    assert_eq!(
        summary["guests"].as_u64(),
        Some(guests_before as u64),
        "proxmoxer listed a different number of guests than the simulator holds"
    );
    assert!(
        summary["lxc"].as_u64().unwrap_or(0) > 0 && summary["qemu"].as_u64().unwrap_or(0) > 0,
        "homelab has VMs and containers: {summary}"
    );

    // The VM it created is gone again, and nothing else changed in number.
    let vmid = summary["created_vmid"].as_u64().expect("created_vmid") as u32;
    assert!(
        control.guest_config(vmid).is_none(),
        "VM {vmid} still exists after proxmoxer destroyed it"
    );
    let ctid = summary["created_ct"].as_u64().expect("created_ct") as u32;
    assert!(
        control.guest_config(ctid).is_none(),
        "container {ctid} still exists after proxmoxer destroyed it"
    );
    assert_eq!(control.guest_count(), guests_before);

    // The calls went where a proxmoxer user's calls go.
    let routes = control.route_counts();
    let count = |route: &str| routes.get(route).copied().unwrap_or(0);
    assert_eq!(
        count("POST /nodes/{node}/qemu"),
        vm_creates,
        "routes: {routes:?}"
    );
    assert_eq!(
        count("POST /nodes/{node}/qemu/{vmid}/status/start"),
        2,
        "routes: {routes:?}"
    );
    assert_eq!(
        count("POST /nodes/{node}/qemu/{vmid}/status/stop"),
        1,
        "routes: {routes:?}"
    );
    // one refused (running), one that destroyed it
    assert_eq!(
        count("DELETE /nodes/{node}/qemu/{vmid}"),
        2,
        "routes: {routes:?}"
    );
    assert_eq!(count("POST /nodes/{node}/lxc"), 1, "routes: {routes:?}");
    assert_eq!(
        count("DELETE /nodes/{node}/lxc/{vmid}"),
        1,
        "routes: {routes:?}"
    );
    assert_eq!(
        count("GET /nodes/{node}/lxc/{vmid}/interfaces"),
        1,
        "routes: {routes:?}"
    );
    assert!(
        count("GET /nodes/{node}/tasks/{upid}/status") >= 5,
        "Tasks.blocking_status polls the task status: {routes:?}"
    );
    // The only unserved route is the one the script asks for on purpose.
    for entry in control.request_log() {
        assert_ne!(entry.status, 401, "{what}: request refused: {entry:?}");
        if entry.status == 501 {
            assert_eq!(
                entry.path, "/api2/json/nodes/pve1/nosuchthing",
                "{what}: route not served: {entry:?}"
            );
        }
    }
    (sut, routes, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_with_a_token_lists_creates_starts_and_destroys_a_vm() {
    let (sut, routes, _) = run_flow(Auth::Token, SimConfig::homelab()).await;
    assert_eq!(
        routes.get("POST /access/ticket"),
        None,
        "token auth needs no login"
    );
    // the read-only token's refused create is the one 403, and the only request not made with
    // the full token
    let log = sut.control().request_log();
    let (readonly_id, _) = sut.sim.token(TokenKind::ReadOnly);
    let refused: Vec<_> = log.iter().filter(|e| e.status == 403).collect();
    assert_eq!(refused.len(), 1, "one refused create: {refused:?}");
    assert_eq!(refused[0].token_id.as_deref(), Some(readonly_id.as_str()));
    assert_eq!(refused[0].route.as_deref(), Some("POST /nodes/{node}/qemu"));
    for entry in log.iter().filter(|e| e.status != 403) {
        assert_ne!(entry.status, 401, "request refused: {entry:?}");
        assert!(
            entry.token_id.as_deref() == Some(sut.sim.token_id().as_str())
                || entry.token_id.as_deref() == Some(readonly_id.as_str()),
            "request made without the test's tokens: {entry:?}"
        );
    }
    sut.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_with_a_password_lists_creates_starts_and_destroys_a_vm() {
    let (sut, routes, _) = run_flow(Auth::Password, SimConfig::homelab()).await;
    assert_eq!(
        routes.get("POST /access/ticket").copied(),
        Some(1),
        "proxmoxer logs in once: {routes:?}"
    );
    for entry in sut.control().request_log() {
        assert!(
            entry.token_id.is_none(),
            "a ticket session used a token: {entry:?}"
        );
    }
    sut.stop().await;
}

/// Tasks that take time, as on PVE: proxmoxer's `Tasks.blocking_status` has to poll a task that
/// is still `running` until it turns `stopped`, and the flow still holds (locks held by running
/// tasks are released when they end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_waits_for_tasks_that_take_time() {
    let faults = Faults {
        task_duration: SLOW_TASK,
        latency: Duration::from_millis(2),
        ..Faults::none()
    };
    let (sut, routes, summary) =
        run_flow(Auth::Password, SimConfig::homelab().with_faults(faults)).await;
    let waited = summary["tasks_waited"].as_u64().unwrap_or(0);
    assert!(waited >= 8, "the flow waits for 8 tasks or more: {summary}");
    assert_eq!(
        summary["tasks_seen_running"].as_u64(),
        Some(waited),
        "every task was still running when first asked: {summary}"
    );
    // With a 0.1 s poll interval and tasks of 0.8 s, each wait needs several polls (an instant
    // task needs one).
    let polls = routes
        .get("GET /nodes/{node}/tasks/{upid}/status")
        .copied()
        .unwrap_or(0);
    assert!(
        polls >= waited * 3,
        "Tasks.blocking_status polled {polls} times for {waited} tasks of {SLOW_TASK:?}"
    );
    sut.stop().await;
}
