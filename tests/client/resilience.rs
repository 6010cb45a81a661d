//! Retries under injected faults: reads survive 10% 5xx and dropped connections; writes are
//! never repeated, so a lost reply never makes a second change.

use std::time::Duration;

use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{PveError, params};
use proxmox_mpc::sim::{FaultPoint, Faults};

use crate::support::sim::{client, homelab};

fn faults(seed: u64, rate_5xx: f64, drop_rate: f64, point: FaultPoint) -> Faults {
    let mut f = Faults::none();
    f.seed = seed;
    f.error_rate_5xx = rate_5xx;
    f.drop_rate = drop_rate;
    f.error_point = point;
    f
}

#[tokio::test]
async fn discovery_survives_ten_percent_5xx_and_drops() {
    let sim = homelab().await;
    let client = client(&sim);
    let clean = client.discover(|_, _| {}).await.expect("clean discovery");
    sim.control()
        .set_faults(faults(7, 0.10, 0.05, FaultPoint::BeforeHandler));
    for _ in 0..3 {
        let faulty = client
            .discover(|_, _| {})
            .await
            .expect("discovery with faults");
        // Node metrics (memory used, uptime) move between reads; everything else must match.
        assert!(faulty.guests == clean.guests, "guests differ under faults");
        assert!(
            faulty.storages == clean.storages,
            "storages differ under faults"
        );
        assert!(
            faulty.networks == clean.networks,
            "networks differ under faults"
        );
        assert!(faulty.pools == clean.pools, "pools differ under faults");
        let names = |s: &proxmox_mpc::model::ClusterSnapshot| {
            s.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&faulty), names(&clean));
    }
    let failed = sim
        .control()
        .request_log()
        .iter()
        .filter(|e| e.status >= 500)
        .count();
    assert!(failed > 0, "the fault injection produced no failures");
}

#[tokio::test]
async fn writes_under_5xx_are_sent_exactly_once() {
    let sim = homelab().await;
    let client = client(&sim);
    sim.control()
        .set_faults(faults(11, 0.10, 0.0, FaultPoint::AfterHandler));
    let calls = 40;
    let mut failures = 0;
    for i in 0..calls {
        let memory = (512 + i * 16).to_string();
        match client
            .update_config(
                "pve1",
                GuestKind::Lxc,
                209,
                params([("memory", memory.as_str())]),
                &[],
                None,
            )
            .await
        {
            Ok(_) => {}
            Err(PveError::Api { status, .. }) if status >= 500 => failures += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert!(failures > 0, "no injected failure hit a write");
    let writes: usize = sim
        .control()
        .request_log()
        .iter()
        .filter(|e| e.method == "PUT")
        .count();
    assert_eq!(writes, calls as usize, "a write was retried");
    assert_eq!(sim.control().write_count(), calls as u64);
    // Each write acted once, lost reply or not: the last one is what the guest holds.
    let last = (512 + (calls - 1) * 16).to_string();
    assert_eq!(
        sim.control().guest_config(209).unwrap().get("memory"),
        Some(&last)
    );
}

#[tokio::test]
async fn creates_under_5xx_never_make_two_guests() {
    let sim = homelab().await;
    let client = client(&sim);
    sim.control()
        .set_faults(faults(3, 0.10, 0.0, FaultPoint::AfterHandler));
    let before = sim.control().guest_count();
    for vmid in 500..520u32 {
        let vmid_text = vmid.to_string();
        let _ = client
            .create_guest(
                "pve2",
                GuestKind::Qemu,
                params([("vmid", vmid_text.as_str()), ("name", "retry-test")]),
            )
            .await;
    }
    let posts = sim
        .control()
        .request_log()
        .iter()
        .filter(|e| e.method == "POST" && e.route.as_deref() == Some("POST /nodes/{node}/qemu"))
        .count();
    assert_eq!(posts, 20, "a create was sent twice");
    // Each create acted exactly once (AfterHandler faults still create).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.control().guest_count(), before + 20);
}

#[tokio::test]
async fn a_refused_connection_proves_nothing_was_sent_so_a_write_is_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A port that refuses connections now and accepts them shortly after.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let body =
                br#"{"data":"UPID:pve1:00000001:00000002:6745F0A1:qmstart:100:root@pam!mpc:"}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body).await;
        }
    });
    let mut config = proxmox_mpc::pve::ClientConfig::new(
        format!("http://127.0.0.1:{port}"),
        proxmox_mpc::pve::Auth::Token {
            id: "root@pam!mpc".into(),
            secret: proxmox_mpc::pve::Secret::new("s3cr3t"),
        },
        proxmox_mpc::pve::TlsMode::Insecure,
    );
    config.retries = 6;
    config.retry_base_delay = Duration::from_millis(40);
    let upid = proxmox_mpc::pve::Client::new(config)
        .unwrap()
        .start("pve1", GuestKind::Qemu, 100)
        .await
        .expect("the write went through once the port accepted");
    assert_eq!(upid.task_type, "qmstart");
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "the write was sent more than once"
    );
}
