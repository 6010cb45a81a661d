//! `proxmox-mpc serve`: the workspace's operations as a REST API (a front end, like the
//! console and the command line). It owns the HTTP side only: routes ([`routes`]), who is
//! asking ([`auth`]), background jobs ([`jobs`]), live events ([`events`]), the OpenAPI
//! document and docs page generated from the registry ([`openapi`]), webhooks ([`webhooks`])
//! and RFC 9457 problem documents ([`problem`]). Every operation runs through
//! `commands::execute`, so roles, the plan gate, policy and the audit log are the operations
//! layer's, exactly as in the console.
//!
//! Secure by default: 127.0.0.1:7780; another address only with TLS and at least one token;
//! a 1 MiB body limit; no CORS; security headers on every answer; failed logins audited and
//! slowed down.

pub mod auth;
pub mod dashboard;
pub mod events;
pub mod jobs;
pub mod limit;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod webhooks;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ArgMatches;

use crate::commands::Ctx;
use crate::error::CommandError;
use crate::state::{Principal, StateDb};
use crate::ui::{OutputFormat, Ui, Verbosity};

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7780";

/// `proxmox-mpc serve`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_self_signed: bool,
    /// Requests per minute per client address.
    pub rate_limit: Option<u32>,
    /// The environment operations run in unless a token is limited to another (the global
    /// `--env`).
    pub env: Option<String>,
}

impl ServeArgs {
    /// Reads the registry command's parsed flags.
    pub fn from_matches(m: &ArgMatches) -> Self {
        let text = |k: &str| m.try_get_one::<String>(k).ok().flatten().cloned();
        Self {
            listen: text("listen"),
            tls_cert: text("tls-cert").map(PathBuf::from),
            tls_key: text("tls-key").map(PathBuf::from),
            tls_self_signed: matches!(m.try_get_one::<bool>("tls-self-signed"), Ok(Some(true))),
            rate_limit: text("rate-limit").map(|t| t.trim().parse().unwrap_or(0)),
            env: text("env"),
        }
    }
}

/// What every handler shares.
pub struct App {
    pub runner: jobs::Runner,
    pub jobs: Arc<jobs::Jobs>,
    pub sessions: auth::Sessions,
    pub config: webhooks::ServeConfig,
    pub notifier: webhooks::Notifier,
    /// True when served over HTTPS (session cookies are `Secure` then).
    pub tls: bool,
    /// The workspace's state database (tokens, and audit rows of the HTTP side).
    pub db: StateDb,
    /// The active environment when the server started, for the HTTP side's audit rows.
    pub environment: String,
    /// Every registry operation's name.
    pub operations: BTreeSet<String>,
    pub limit: limit::RateLimit,
}

pub type Shared = Arc<App>;

/// The Ui an operation runs with over HTTP: JSON data, nothing printed.
pub fn quiet_ui() -> Ui {
    Ui {
        format: OutputFormat::Json,
        verbosity: Verbosity::Quiet,
        color: false,
    }
}

/// Writes an audit row of the HTTP side itself (refused logins, hooks, notices): origin
/// `api`, `actor` as the principal. Best effort: a full disk must not stop the server
/// answering.
pub async fn audit(app: &App, actor: &str, action: &str, target: &str, detail: &str) {
    let mut db = app.db.clone();
    db.set_principal(Principal {
        origin: "api".into(),
        actor: actor.to_string(),
    });
    if let Err(e) = db
        .audit(&app.environment, action, target, Some(detail))
        .await
    {
        tracing::warn!("cannot write an audit row: {e}");
    }
}

/// How the server speaks TLS, if it does.
struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The SHA-256 fingerprint of a self-signed certificate, to print.
    fingerprint: Option<String>,
}

fn tls_error(what: String) -> CommandError {
    CommandError::user(what).hint(
        "give --tls-cert FILE --tls-key FILE (PEM), or --tls-self-signed for a certificate made now",
    )
}

fn tls_setup(args: &ServeArgs, listen: &SocketAddr) -> Result<Option<Tls>, CommandError> {
    use rustls_pki_types::pem::PemObject;
    let (cert_pem, key_pem, fingerprint) =
        match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
            (None, None, false) => return Ok(None),
            (Some(_), Some(_), true) => {
                return Err(tls_error(
                    "--tls-self-signed and --tls-cert/--tls-key exclude each other".into(),
                ));
            }
            (Some(cert), Some(key), false) => {
                let read = |p: &Path| {
                    std::fs::read_to_string(p)
                        .map_err(|e| tls_error(format!("cannot read {}: {e}", p.display())))
                };
                (read(cert)?, read(key)?, None)
            }
            (None, None, true) => {
                let key = rcgen::KeyPair::generate()
                    .map_err(|e| CommandError::internal(format!("cannot make a TLS key: {e}")))?;
                let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
                if !listen.ip().is_unspecified() {
                    names.push(listen.ip().to_string());
                }
                let params = rcgen::CertificateParams::new(names).map_err(|e| {
                    CommandError::internal(format!("cannot make a certificate: {e}"))
                })?;
                let cert = params.self_signed(&key).map_err(|e| {
                    CommandError::internal(format!("cannot make a certificate: {e}"))
                })?;
                let fingerprint = crate::pve::cert_fingerprint(cert.der());
                (cert.pem(), key.serialize_pem(), Some(fingerprint))
            }
            _ => return Err(tls_error("--tls-cert and --tls-key go together".into())),
        };
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("the certificate is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(
            "the certificate file holds no certificate".into(),
        ));
    }
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| tls_error(format!("the key is not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CommandError::internal(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(format!(
                "the certificate and key do not make a TLS identity: {e}"
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        fingerprint,
    }))
}

/// A server started by [`start`]: where it listens, and its accept loop.
pub struct Started {
    /// The base URL (`http://127.0.0.1:7780`).
    pub url: String,
    accepting: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Stops accepting connections.
    pub fn stop(self) {
        self.accepting.abort();
    }
}

/// Runs `proxmox-mpc serve` in the workspace at or above `cwd` until Ctrl-C.
pub async fn run(ui: &Ui, cwd: &Path, args: &ServeArgs) -> Result<i32, CommandError> {
    let started = start(ui, cwd, args, Vec::new()).await?;
    // Ctrl-C, or SIGTERM from a service manager: stop accepting and exit normally.
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ui.status("proxmox-mpc serve: stopped"),
        () = terminate => ui.status("proxmox-mpc serve: stopped"),
    }
    started.stop();
    Ok(0)
}

/// Starts serving the workspace at or above `cwd` on a task of its own and says where.
/// `environment` is a process-environment overlay every operation sees (the demo's token
/// secret, which lives in no real environment variable); its values are treated as secrets.
pub async fn start(
    ui: &Ui,
    cwd: &Path,
    args: &ServeArgs,
    environment_overlay: Vec<(String, String)>,
) -> Result<Started, CommandError> {
    let mut ctx = Ctx::new(quiet_ui(), cwd.to_path_buf(), false);
    for (name, value) in &environment_overlay {
        ctx.set_env(name, value);
        ctx.remember_secret(value);
    }
    if args.env.is_some() {
        ctx.select_env(args.env.as_deref());
    }
    let root = ctx.workspace()?.top().to_path_buf();
    let dot_dir = crate::workspace::Workspace::at(&root).dot_dir();
    let environment = ctx.config()?.active.clone();
    let db = crate::commands::token::token_db(&mut ctx).await?;
    let text = args.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = text.parse().map_err(|_| {
        CommandError::user(format!("`--listen {text}` is not an address and port"))
            .hint("give IP:PORT, e.g. --listen 127.0.0.1:7780 (port 0 picks a free one)")
    })?;
    let tls = tls_setup(args, &listen)?;
    let per_minute = args.rate_limit.unwrap_or(limit::DEFAULT_PER_MINUTE);
    if per_minute == 0 {
        return Err(CommandError::user(
            "`--rate-limit` takes a whole number of requests per minute, at least 1",
        )
        .hint(format!("e.g. --rate-limit {}", limit::DEFAULT_PER_MINUTE)));
    }
    let tokens = db.live_token_count().await?;
    if !listen.ip().is_loopback() {
        if tls.is_none() {
            return Err(CommandError::user(format!(
                "refusing to serve on {listen} without TLS: tokens would cross the network in clear text"
            ))
            .hint("add --tls-cert FILE --tls-key FILE (or --tls-self-signed), or listen on 127.0.0.1"));
        }
        if tokens == 0 {
            return Err(CommandError::user(format!(
                "refusing to serve on {listen}: there is no API token yet, so nobody could use it"
            ))
            .hint("create one first: proxmox-mpc token create NAME --role viewer|operator|admin"));
        }
    }
    let config = webhooks::ServeConfig::load(&dot_dir)?;
    let notifier = webhooks::Notifier::new(&config, &root)?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CommandError::user(format!("cannot listen on {listen}: {e}"))
            .hint("pick another port with --listen 127.0.0.1:PORT, or stop what uses it")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::internal(format!("cannot read the listening address: {e}")))?;
    let jobs = Arc::new(jobs::Jobs::new());
    let operations = crate::commands::registry::operations()
        .into_iter()
        .map(|o| o.name)
        .collect();
    let app: Shared = Arc::new(App {
        runner: jobs::Runner {
            root,
            ui: quiet_ui(),
            jobs: jobs.clone(),
            default_env: args.env.clone(),
            environment_overlay,
        },
        jobs,
        sessions: auth::Sessions::default(),
        config,
        notifier,
        tls: tls.is_some(),
        db,
        environment,
        operations,
        limit: limit::RateLimit::new(per_minute),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    ui.status(&format!(
        "proxmox-mpc serve: listening on {scheme}://{addr} (API {scheme}://{addr}/api/v1, docs {scheme}://{addr}/api/docs)"
    ));
    if let Some(fp) = tls.as_ref().and_then(|t| t.fingerprint.as_ref()) {
        ui.status(&format!(
            "TLS certificate (self-signed) SHA-256 fingerprint: {fp}"
        ));
    }
    if tokens == 0 {
        ui.hint("no API token yet: proxmox-mpc token create NAME --role viewer|operator|admin");
    }
    let router = routes::router(app);
    // Each connection's router knows its peer, for the per-client rate limit.
    let accepting = tokio::spawn(crate::sim::accept_loop(
        listener,
        tls.map(|t| t.acceptor),
        move |peer| {
            router
                .clone()
                .layer(axum::Extension(limit::Peer(peer.ip())))
        },
    ));
    Ok(Started {
        url: format!("{scheme}://{addr}"),
        accepting,
    })
}
