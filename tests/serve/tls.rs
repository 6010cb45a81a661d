//! `serve --tls-self-signed`: HTTPS with a certificate made at start whose printed SHA-256
//! fingerprint is the one the server presents; the session cookie is `Secure` over HTTPS; and
//! with TLS and a token a non-loopback address is accepted.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::common::{PATIENCE, Server, synced, token};
use crate::support::sim::TestSim;

#[test]
fn a_self_signed_server_presents_the_printed_fingerprint_and_secure_cookies() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let viewer = token(&sim, dir.path(), "dash", "viewer", &[]);
    let (server, said) = Server::start_with(&sim, dir.path(), &["--tls-self-signed"], &[]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let printed = said
        .lines()
        .find_map(|l| l.split("fingerprint: ").nth(1))
        .unwrap_or_else(|| panic!("no fingerprint line: {said}"))
        .trim()
        .to_string();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (presented, guests, cookie) = sim.block_on(async {
        // The certificate is checked by its fingerprint below, as a pinning client would.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .timeout(PATIENCE)
            .build()
            .unwrap();
        let answer = client
            .get(server.url("/api/v1/guests"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        let der = answer
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
            .expect("the server's certificate");
        let presented: Vec<String> = Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let guests: serde_json::Value = answer.json().await.unwrap();
        let login = client
            .post(server.url("/api/v1/session"))
            .json(&json!({ "token": viewer }))
            .send()
            .await
            .unwrap();
        let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
        (presented.join(":"), guests, cookie)
    });
    assert_eq!(presented, printed);
    assert_eq!(guests["guests"].as_array().unwrap().len(), 29);
    assert!(cookie.contains("; Secure"), "{cookie}");
    drop(server);

    // With TLS and a token, listening beyond loopback is allowed.
    let mut child = super::common::cmd(&sim, dir.path())
        .args(["serve", "--listen", "0.0.0.0:0", "--tls-self-signed"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("listening on https://0.0.0.0:"), "{first}");
}
