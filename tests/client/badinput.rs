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

use super::common::{homelab, token_config};

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
