//! The simulator: the homelab seed over HTTPS on 127.0.0.1:0, clients for it with the
//! certificate pinned, and [`TestSim`], a simulator on its own runtime for tests that drive the
//! binary as a child process.

use std::time::Duration;

use proxmox_mpc::pve::{Auth, Client, ClientConfig, Secret, TlsMode};
use proxmox_mpc::sim::{Faults, Sim, SimConfig, SimControl, TokenKind};

/// The variable the tests pass the token in, as `user@realm!name=secret`.
pub const TOKEN_VAR: &str = "PMPC_TEST_TOKEN";

/// Starts a simulator with `config`.
pub async fn start(config: SimConfig) -> Sim {
    Sim::start(config).await.expect("simulator starts")
}

/// Starts the homelab simulator over HTTPS on 127.0.0.1:0.
pub async fn homelab() -> Sim {
    start(SimConfig::homelab()).await
}

/// Starts the homelab simulator over HTTPS on 127.0.0.1:0 with `faults`.
pub async fn homelab_with_faults(faults: Faults) -> Sim {
    start(SimConfig::homelab().with_faults(faults)).await
}

/// Returns the `/init` line that connects to `sim` with the pin, the token in `token_var`.
pub fn init_line(sim: &Sim, token_var: &str) -> String {
    format!(
        "/init --endpoint {} --token-id '{}' --secret-env {token_var} --fingerprint {}",
        sim.url(),
        sim.token_id(),
        sim.fingerprint()
            .expect("https simulator has a certificate")
    )
}

/// A client config for `sim` with a token of `kind`, the certificate pinned and fast retries
/// (5 ms base delay); the rest as [`ClientConfig::new`] sets it.
pub fn pinned_config(sim: &Sim, kind: TokenKind) -> ClientConfig {
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
    config
}

/// [`pinned_config`] with a 20 s request timeout (the client and plan tests).
pub fn token_config(sim: &Sim, kind: TokenKind) -> ClientConfig {
    let mut config = pinned_config(sim, kind);
    config.request_timeout = Duration::from_secs(20);
    config
}

fn client_from(config: ClientConfig) -> Client {
    Client::new(config).expect("client config is valid")
}

/// A client for `sim` with the full token ([`token_config`]: 20 s request timeout).
pub fn client(sim: &Sim) -> Client {
    client_from(token_config(sim, TokenKind::Full))
}

/// A client for `sim` with a token of the given rights ([`token_config`]).
pub fn client_as(sim: &Sim, kind: TokenKind) -> Client {
    client_from(token_config(sim, kind))
}

/// A client that logs in with root@pam's password (ticket + CSRF), otherwise as [`client`].
pub fn ticket_client(sim: &Sim) -> Client {
    let (username, password) = sim.password();
    let mut config = token_config(sim, TokenKind::Full);
    config.auth = Auth::Password {
        username,
        password: Secret::new(password),
    };
    client_from(config)
}

/// A client for `sim` with the full token ([`pinned_config`]) and 16 concurrent requests, as
/// the sync and `/test` tests read the whole cluster.
pub fn sync_client(sim: &Sim) -> Client {
    let mut config = pinned_config(sim, TokenKind::Full);
    config.max_concurrency = 16;
    client_from(config)
}

/// A client for `sim` with the full token and nothing but [`pinned_config`].
pub fn pinned_client(sim: &Sim) -> Client {
    client_from(pinned_config(sim, TokenKind::Full))
}

/// A simulator running on its own runtime until dropped (the binary under test is a child
/// process, so the test thread itself stays synchronous).
pub struct TestSim {
    runtime: tokio::runtime::Runtime,
    sim: Option<Sim>,
}

impl TestSim {
    /// The homelab seed.
    pub fn homelab() -> Self {
        Self::start_with(SimConfig::homelab())
    }

    pub fn start_with(config: SimConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let sim = runtime
            .block_on(Sim::start(config))
            .expect("simulator starts");
        Self {
            runtime,
            sim: Some(sim),
        }
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("running")
    }

    pub fn control(&self) -> SimControl {
        self.sim().control()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.control().set_faults(faults);
    }

    pub fn url(&self) -> String {
        self.sim().url()
    }

    pub fn fingerprint(&self) -> String {
        self.sim()
            .fingerprint()
            .expect("https simulator has a certificate")
    }

    pub fn token_id(&self) -> String {
        self.sim().token_id()
    }

    pub fn secret(&self) -> String {
        self.sim().token_secret()
    }

    /// Returns `user@realm!name=secret`.
    pub fn full_token(&self) -> String {
        format!("{}={}", self.token_id(), self.secret())
    }

    /// Returns the `/init` line that connects to this simulator with the pin, the token in
    /// [`TOKEN_VAR`].
    pub fn init_line(&self) -> String {
        init_line(self.sim(), TOKEN_VAR)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.runtime.block_on(sim.shutdown());
        }
    }
}
