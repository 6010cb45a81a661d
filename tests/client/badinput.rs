//! Answers no PVE should send — HTML, truncated JSON, `data: null`, a bad UPID, a connection
//! reset mid-body — each give a typed error naming the request, never a panic. The reset comes
//! from the simulator's drop fault; the garbage bodies from a tiny local server on 127.0.0.1:0
//! (the simulator is faithful and never sends them).

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{Auth, Client, ClientConfig, PveError, Secret, TlsMode};
use proxmox_mpc::sim::{Faults, TokenKind};

use crate::support::sim::{homelab, token_config};

async fn garbage_server() -> String {
    let json = |body: &'static str| {
        move || async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
    };
    let app = Router::new()
        .route(
            "/api2/json/version",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<!DOCTYPE html><html><body>Login</body></html>",
                )
            }),
        )
        .route(
            "/api2/json/nodes",
            get(json(r#"{"data":[{"node":"pve1","sta"#)),
        )
        .route("/api2/json/cluster/status", get(json(r#"{"data":null}"#)))
        .route("/api2/json/cluster/nextid", get(json(r#"{"data":"soon"}"#)))
        .route(
            "/api2/json/nodes/pve1/qemu/100/status/start",
            post(json(r#"{"data":"UPID:not-really"}"#)),
        )
        .route(
            "/api2/json/nodes/pve1/qemu/100/status/stop",
            post(json(r#"{"data":null}"#)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn garbage_client(url: String) -> Client {
    let mut config = ClientConfig::new(
        url,
        Auth::Token {
            id: "root@pam!mpc".into(),
            secret: Secret::new("s3cr3t"),
        },
        TlsMode::Insecure,
    );
    config.retry_base_delay = Duration::from_millis(1);
    Client::new(config).unwrap()
}

fn assert_protocol(err: &PveError, path: &str, contains: &str) {
    assert!(matches!(err, PveError::Protocol { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(path), "{text}");
    assert!(text.contains(contains), "{text}");
}

#[tokio::test]
async fn html_truncated_json_and_null_data_are_protocol_errors() {
    let client = garbage_client(garbage_server().await);
    assert_protocol(&client.version().await.unwrap_err(), "GET /version", "HTML");
    assert_protocol(&client.nodes().await.unwrap_err(), "GET /nodes", "cut off");
    assert_protocol(
        &client.cluster_status().await.unwrap_err(),
        "GET /cluster/status",
        "data: null",
    );
    assert_protocol(
        &client.next_id().await.unwrap_err(),
        "/cluster/nextid",
        "soon",
    );
}

#[tokio::test]
async fn bad_or_missing_upid_is_a_protocol_error() {
    let client = garbage_client(garbage_server().await);
    let err = client
        .start("pve1", GuestKind::Qemu, 100)
        .await
        .unwrap_err();
    assert_protocol(&err, "status/start", "UPID");
    assert!(err.to_string().contains("guest 100 on node pve1"));
    let err = client.stop("pve1", GuestKind::Qemu, 100).await.unwrap_err();
    assert_protocol(&err, "status/stop", "data: null");
}

#[tokio::test]
async fn connection_reset_mid_body_is_a_protocol_error_after_retries() {
    let sim = homelab().await;
    let mut faults = Faults::none();
    faults.drop_rate = 1.0;
    sim.control().set_faults(faults);
    let mut config = token_config(&sim, TokenKind::Full);
    config.retries = 2;
    let err = Client::new(config).unwrap().nodes().await.unwrap_err();
    assert_protocol(&err, "GET /nodes", "broke");
    // Reads are retried: 1 + 2 attempts.
    assert_eq!(sim.control().request_count(), 3);
}

/// A raw HTTP/1.1 server on 127.0.0.1:0 that answers every request with `response` verbatim
/// and then closes the connection. Returns its URL and a counter of requests served.
async fn raw_server(
    response: &'static [u8],
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(response).await;
                let _ = stream.flush().await;
                // Dropping the stream closes the connection, mid-body if the response is short.
            });
        }
    });
    (format!("http://{addr}"), served)
}

#[tokio::test]
async fn reset_after_part_of_the_body_is_a_protocol_error_and_reads_retry() {
    let (url, served) = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\":[{\"node\":\"pv",
    )
    .await;
    let mut config = ClientConfig::new(
        url,
        Auth::Token {
            id: "root@pam!mpc".into(),
            secret: Secret::new("s3cr3t"),
        },
        TlsMode::Insecure,
    );
    config.retries = 2;
    config.retry_base_delay = Duration::from_millis(1);
    let err = Client::new(config).unwrap().nodes().await.unwrap_err();
    assert_protocol(&err, "GET /nodes", "broke");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn writes_are_not_retried_after_a_mid_body_reset() {
    let (url, served) = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\":\"UPID:pv",
    )
    .await;
    let err = garbage_client(url)
        .start("pve1", GuestKind::Qemu, 100)
        .await
        .unwrap_err();
    assert_protocol(&err, "POST /nodes/pve1/qemu/100/status/start", "broke");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn pve_before_8_3_errors_are_read_from_the_reason_phrase() {
    let (url, _) =
        raw_server(b"HTTP/1.1 500 VM is locked (backup)\r\nContent-Length: 0\r\n\r\n").await;
    let err = garbage_client(url)
        .guest_config("pve1", GuestKind::Qemu, 100)
        .await
        .unwrap_err();
    match &err {
        PveError::Locked { lock, message, .. } => {
            assert_eq!(lock.as_deref(), Some("backup"));
            assert_eq!(message, "VM is locked (backup)");
        }
        other => panic!("expected locked, got {other}"),
    }
    let (url, _) = raw_server(
        b"HTTP/1.1 403 Permission check failed (/vms/100, VM.PowerMgmt)\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let err = garbage_client(url)
        .start("pve1", GuestKind::Qemu, 100)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PveError::Permission { privilege: Some(p), acl_path: Some(a), .. }
            if p == "VM.PowerMgmt" && a == "/vms/100"),
        "{err}"
    );
}
