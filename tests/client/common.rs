//! Shared helpers: start a simulator and build clients for it.

use std::time::Duration;

use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Sim, SimConfig, TokenKind};

/// Starts the homelab simulator over HTTPS on 127.0.0.1:0.
pub async fn homelab() -> Sim {
    Sim::start(SimConfig::homelab())
        .await
        .expect("simulator starts")
}

/// A client config for `sim` with the full token, the certificate pinned, fast retries.
pub fn token_config(sim: &Sim, kind: TokenKind) -> ClientConfig {
    let (id, secret) = sim.token(kind);
    let mut config = ClientConfig::new(
        sim.url(),
        Auth::Token {
            id,
            secret: Secret::new(secret),
        },
        TlsMode::Pinned(
            sim.fingerprint()
                .expect("HTTPS simulator has a fingerprint"),
        ),
    );
    config.retry_base_delay = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(20);
    config
}

/// A client for `sim` with the full token and the certificate pinned.
pub fn client(sim: &Sim) -> Client {
    Client::new(token_config(sim, TokenKind::Full)).expect("client config is valid")
}

/// A client for `sim` with a token of the given rights.
pub fn client_as(sim: &Sim, kind: TokenKind) -> Client {
    Client::new(token_config(sim, kind)).expect("client config is valid")
}

/// A client that logs in with root@pam's password (ticket + CSRF).
pub fn ticket_client(sim: &Sim) -> Client {
    let (username, password) = sim.password();
    let mut config = token_config(sim, TokenKind::Full);
    config.auth = Auth::Password {
        username,
        password: Secret::new(password),
    };
    Client::new(config).expect("client config is valid")
}
