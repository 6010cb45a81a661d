//! Token and ticket auth, TLS pin accept and mismatch, CA file, insecure mode, and the
//! trust-on-first-use fingerprint probe — all against the simulator over HTTPS.

use std::time::Duration;

use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{Auth, Client, ClientConfig, PveError, Secret, TlsMode, fetch_fingerprint};
use proxmox_mpc::sim::TokenKind;

use crate::support::sim::{client, homelab, ticket_client, token_config};

#[tokio::test]
async fn token_auth_reads_the_cluster() {
    let sim = homelab().await;
    let version = client(&sim).version().await.expect("version with token");
    assert!(version.version.is_some_and(|v| !v.is_empty()));
    let log = sim.control().request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].token_id.as_deref(), Some("root@pam!mpc"));
    assert_eq!(log[0].status, 200);
}

#[tokio::test]
async fn ticket_auth_logs_in_once_and_writes_with_csrf() {
    let sim = homelab().await;
    let client = ticket_client(&sim);
    let nodes = client.nodes().await.expect("nodes with ticket");
    assert_eq!(nodes.len(), 3);
    // A write needs the CSRF token; the sim answers 401 without it.
    let upid = client
        .start("pve3", GuestKind::Qemu, 104)
        .await
        .expect("start with ticket + CSRF");
    client.wait(&upid).await.expect("start task ends OK");
    assert_eq!(sim.control().guest_running(104), Some(true));
    let counts = sim.control().route_counts();
    assert_eq!(counts.get("POST /access/ticket"), Some(&1), "{counts:?}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let sim = homelab().await;
    let mut config = token_config(&sim, TokenKind::Full);
    config.auth = Auth::Password {
        username: "root@pam".into(),
        password: Secret::new("wrong"),
    };
    let err = Client::new(config).unwrap().nodes().await.unwrap_err();
    assert!(matches!(err, PveError::Auth { .. }), "{err}");
}

#[tokio::test]
async fn wrong_token_secret_is_an_auth_error_naming_the_request() {
    let sim = homelab().await;
    let mut config = token_config(&sim, TokenKind::Full);
    config.auth = Auth::Token {
        id: "root@pam!mpc".into(),
        secret: Secret::new("not-the-secret"),
    };
    let err = Client::new(config).unwrap().version().await.unwrap_err();
    assert!(matches!(err, PveError::Auth { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("GET /version"), "{text}");
    assert!(text.contains("token"), "{text}");
    assert!(!text.contains("not-the-secret"));
}

#[tokio::test]
async fn pinned_fingerprint_accepts_any_case_and_colons() {
    let sim = homelab().await;
    let pin = sim.fingerprint().unwrap().replace(':', "").to_lowercase();
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::Pinned(pin);
    Client::new(config)
        .unwrap()
        .version()
        .await
        .expect("pin accepted");
}

#[tokio::test]
async fn pin_mismatch_is_refused_before_any_request_is_sent() {
    let sim = homelab().await;
    let wrong = "AB:".repeat(31) + "AB";
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::Pinned(wrong.clone());
    let err = Client::new(config).unwrap().version().await.unwrap_err();
    match &err {
        PveError::PinMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(Some(actual.clone()), sim.fingerprint());
        }
        other => panic!("expected a pin mismatch, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains(&wrong) && text.contains(&sim.fingerprint().unwrap()));
    assert_eq!(
        sim.control().request_count(),
        0,
        "a request reached the server"
    );
}

#[tokio::test]
async fn ca_file_trusts_the_simulator_certificate() {
    let sim = homelab().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, sim.cert_pem().unwrap()).unwrap();
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::CaFile(path);
    Client::new(config)
        .unwrap()
        .version()
        .await
        .expect("CA file trust");
}

#[tokio::test]
async fn default_verification_refuses_a_self_signed_certificate() {
    let sim = homelab().await;
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::Verify;
    let err = Client::new(config).unwrap().version().await.unwrap_err();
    assert!(matches!(err, PveError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("fingerprint"));
    assert_eq!(sim.control().request_count(), 0);
}

#[tokio::test]
async fn missing_ca_file_is_a_config_error() {
    let sim = homelab().await;
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::CaFile("/nonexistent/ca.pem".into());
    let err = Client::new(config).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn insecure_mode_connects() {
    let sim = homelab().await;
    let mut config = token_config(&sim, TokenKind::Full);
    config.tls = TlsMode::Insecure;
    Client::new(config)
        .unwrap()
        .version()
        .await
        .expect("insecure connects");
}

#[tokio::test]
async fn fetch_fingerprint_sends_no_request() {
    let sim = homelab().await;
    let fingerprint = fetch_fingerprint(&sim.url()).await.expect("handshake");
    assert_eq!(Some(fingerprint), sim.fingerprint());
    assert_eq!(sim.control().request_count(), 0);
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = ClientConfig::new(
        format!("https://127.0.0.1:{port}"),
        Auth::Token {
            id: "root@pam!mpc".into(),
            secret: Secret::new("x"),
        },
        TlsMode::Insecure,
    );
    config.retries = 1;
    config.retry_base_delay = Duration::from_millis(1);
    let err = Client::new(config).unwrap().version().await.unwrap_err();
    assert!(matches!(err, PveError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("port 8006"), "{err}");
    assert!(
        fetch_fingerprint(&format!("https://127.0.0.1:{port}"))
            .await
            .is_err()
    );
}
