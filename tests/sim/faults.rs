//! Faults: seeded and repeatable, settable at run time; a 5xx after the handler proves the write
//! happened; capacity, dropped connections, failing tasks, lock contention, 401 delay.

use std::time::{Duration, Instant};

use proxmox_mpc::sim::{FaultPoint, Faults, Sim, SimConfig, TokenKind};

use super::common::{Api, homelab, install_crypto};

async fn statuses(sim: &Sim, n: usize) -> Vec<u16> {
    let api = Api::new(sim, TokenKind::Full);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(api.get("/version").await.status);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_fault_seed_gives_the_same_failures() {
    let sim = homelab(false).await;
    let faults = Faults {
        seed: 7,
        error_rate_5xx: 0.3,
        ..Faults::none()
    };
    sim.control().set_faults(faults.clone());
    let first = statuses(&sim, 60).await;
    sim.control().set_faults(faults);
    let second = statuses(&sim, 60).await;
    assert_eq!(first, second);
    let failed = first.iter().filter(|s| **s == 500).count();
    assert!(
        (5..=35).contains(&failed),
        "{failed} of 60 failed at rate 0.3"
    );
    sim.control().set_faults(Faults {
        seed: 8,
        error_rate_5xx: 0.3,
        ..Faults::none()
    });
    let other = statuses(&sim, 60).await;
    assert_ne!(first, other, "another seed, another sequence");
    sim.control().set_faults(Faults::none());
    assert!(statuses(&sim, 20).await.iter().all(|s| *s == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_after_the_handler_means_the_write_happened() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let before = sim.control().write_count();
    sim.control().set_faults(Faults {
        error_rate_5xx: 1.0,
        error_point: FaultPoint::AfterHandler,
        ..Faults::none()
    });
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("description", "written")],
        )
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(
        sim.control().guest_config(110).expect("guest")["description"],
        "written"
    );
    assert_eq!(sim.control().write_count(), before + 1);
    sim.control().set_faults(Faults {
        error_rate_5xx: 1.0,
        error_point: FaultPoint::BeforeHandler,
        ..Faults::none()
    });
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("description", "never")],
        )
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(
        sim.control().guest_config(110).expect("guest")["description"],
        "written"
    );
    assert_eq!(sim.control().write_count(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_fail_the_client_read() {
    let sim = homelab(false).await;
    sim.control().set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::none()
    });
    let api = Api::new(&sim, TokenKind::Full);
    let resp = api
        .client
        .get(format!("{}/nodes", api.base))
        .header("Authorization", &api.auth)
        .send()
        .await;
    let body = match resp {
        Ok(r) => r.text().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        body.is_err(),
        "a dropped connection must not look like a complete answer"
    );
    sim.control().set_faults(Faults::none());
    assert_eq!(api.get("/version").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_queues_requests_and_latency_slows_them() {
    install_crypto();
    let faults = Faults {
        latency: Duration::from_millis(100),
        capacity: 1,
        ..Faults::none()
    };
    let sim = Sim::start(SimConfig::homelab().http().with_faults(faults))
        .await
        .expect("start");
    let api = Api::new(&sim, TokenKind::Full);
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        api.get("/version"),
        api.get("/version"),
        api.get("/version")
    );
    assert!([a.status, b.status, c.status].iter().all(|s| *s == 200));
    // one at a time: three requests of 100 ms each cannot overlap
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.control().request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_tasks_and_lock_contention() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    sim.control().set_faults(Faults {
        task_failure_rate: 1.0,
        ..Faults::none()
    });
    let exit = api
        .run_task(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "195"), ("name", "x")],
        )
        .await;
    assert!(exit.contains("simulated task failure"), "{exit}");
    assert!(sim.control().guest_config(195).is_none());
    sim.control().set_faults(Faults {
        lock_contention_rate: 1.0,
        ..Faults::none()
    });
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.message(),
        "can't lock file '/var/lock/qemu-server/lock-110.conf' - got timeout\n"
    );
    assert_eq!(
        api.get("/nodes/pve1/qemu/110/config").await.status,
        200,
        "reads never contend"
    );
    sim.control().set_faults(Faults {
        auth_delay: Duration::from_millis(200),
        ..Faults::none()
    });
    let started = Instant::now();
    let resp = api
        .client
        .get(format!("{}/nodes", api.base))
        .send()
        .await
        .expect("reply");
    assert_eq!(resp.status(), 401);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_counts_and_request_log() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::ReadOnly);
    api.get("/nodes/pve1/qemu/100/config").await;
    api.get("/nodes/pve1/qemu/101/config").await;
    api.call(
        "PUT",
        "/nodes/pve1/qemu/100/config",
        &[("description", "no")],
    )
    .await;
    let counts = sim.control().route_counts();
    assert_eq!(counts["GET /nodes/{node}/qemu/{vmid}/config"], 2);
    assert_eq!(counts["PUT /nodes/{node}/qemu/{vmid}/config"], 1);
    let log = sim.control().request_log();
    let last = log.last().expect("entry");
    assert_eq!(last.status, 403);
    assert_eq!(last.method, "PUT");
    assert_eq!(last.token_id.as_deref(), Some("auditor@pve!ro"));
    assert!(last.param_names.contains(&"description".to_string()));
    assert_eq!(
        sim.control().write_count(),
        0,
        "a refused write never reached a handler"
    );
    sim.control().clear_log();
    assert!(sim.control().request_log().is_empty());
}
