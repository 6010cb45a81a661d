//! The HTTP(S) front: listener, TLS, and the single dispatcher every request goes through
//! (auth, CSRF, parameters, schema validation, permissions, faults, request log, envelope).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::api::{self, ApiError, Ctx, Reply, Route};
use super::cluster::Cluster;
use super::control::{RequestLogEntry, SimControl};
use super::faults::{FaultPoint, FaultRng, Faults};
use super::{Seed, SimConfig, SimError, TokenKind, seed};

/// Bodies above this size are refused, like pveproxy does.
const MAX_BODY: usize = 512 * 1024;

/// Request log entries kept (the counters keep counting past it).
const MAX_LOG: usize = 200_000;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Who made a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// `root@pam` (ticket) or `root@pam!mpc` (token): what tasks record as their user.
    pub user: String,
    pub token_id: Option<String>,
    pub kind: TokenKind,
    /// A token created through the API with privilege separation: exactly what the ACL grants
    /// it (its roles' privileges), instead of what `kind` carries.
    pub granted: Option<BTreeSet<String>>,
}

impl Caller {
    /// Whether the caller holds `privilege` (on every path: the simulator's ACL is flat).
    pub(crate) fn holds(&self, privilege: &str) -> bool {
        match &self.granted {
            Some(granted) => granted.contains(privilege),
            None => api::has_priv(self.kind, privilege),
        }
    }
}

/// What is kept in `--state FILE`. The token secrets are not: they derive from the seed.
#[derive(Serialize, Deserialize)]
struct StateFile {
    cluster: Cluster,
    cert_pem: String,
    key_pem: String,
}

/// Everything the dispatcher and the control handle share.
pub(crate) struct Shared {
    pub cluster: Mutex<Cluster>,
    pub faults: Mutex<Faults>,
    pub rng: Mutex<FaultRng>,
    pub capacity: Mutex<Option<Arc<Semaphore>>>,
    pub log: Mutex<Vec<RequestLogEntry>>,
    pub route_counts: Mutex<BTreeMap<String, u64>>,
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    /// token id -> (secret, rights)
    pub tokens: Mutex<BTreeMap<String, (String, TokenKind)>>,
    pub password: String,
    /// ticket -> user
    pub tickets: Mutex<HashMap<String, String>>,
    /// Tokens created through the API with `privsep=1`: their rights come from the ACL.
    pub acl_tokens: Mutex<BTreeSet<String>>,
    /// role id -> privileges (the built-in roles and those made with `POST /access/roles`).
    pub roles: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// The ACL, flat: (path, type, ugid, roleid).
    pub acl: Mutex<Vec<(String, String, String, String)>>,
    pub csrf: String,
    pub seed_number: u64,
    pub mac_counter: AtomicU64,
    /// SHA-256 of the served certificate, as `/nodes` reports it in `ssl_fingerprint`.
    pub fingerprint: String,
    state_file: Option<PathBuf>,
    persist_lock: Mutex<()>,
    cert_pem: String,
    key_pem: String,
}

impl Shared {
    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.rng) = FaultRng::new(faults.seed);
        *lock(&self.capacity) =
            (faults.capacity > 0).then(|| Arc::new(Semaphore::new(faults.capacity)));
        *lock(&self.faults) = faults;
    }

    /// Writes the state file (if any) atomically: temp file + rename.
    pub(crate) fn persist(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        // one writer at a time, snapshot and write together: the file never goes back in time
        // and two writers never share the temp file
        let _writer = lock(&self.persist_lock);
        let text = {
            let cluster = lock(&self.cluster);
            let state = StateFileRef {
                cluster: &cluster,
                cert_pem: &self.cert_pem,
                key_pem: &self.key_pem,
            };
            match serde_json::to_string(&state) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("cannot serialise simulator state: {e}");
                    return;
                }
            }
        };
        if let Err(e) = write_atomic(path, text.as_bytes()) {
            tracing::warn!("cannot write simulator state {}: {e}", path.display());
        }
    }
}

#[derive(Serialize)]
struct StateFileRef<'a> {
    cluster: &'a Cluster,
    cert_pem: &'a str,
    key_pem: &'a str,
}

pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A running simulator.
pub struct Sim {
    addr: SocketAddr,
    tls: bool,
    fingerprint: Option<String>,
    cert_pem: Option<String>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn token_secret_for(seed_number: u64, token_id: &str) -> String {
    let digest = Sha256::digest(format!("proxmox-mpc-sim:{seed_number}:{token_id}").as_bytes());
    format!("sim-{}", &hex::encode(digest)[..24])
}

fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Sim {
    /// Builds the cluster (or loads it from the state file) and starts serving.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        let seed_number = config.seed.number();
        let loaded = match &config.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(|e| SimError::StateFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let state: StateFile =
                    serde_json::from_str(&text).map_err(|e| SimError::StateFile {
                        path: path.clone(),
                        message: format!("not a simulator state file ({e}); remove it or pass another --state path"),
                    })?;
                Some(state)
            }
            _ => None,
        };
        let (mut cluster, cert_pem, key_pem) = match loaded {
            Some(state) => (state.cluster, state.cert_pem, state.key_pem),
            None => {
                let cluster = match &config.seed {
                    Seed::Homelab => seed::homelab(),
                    Seed::Generated {
                        nodes,
                        guests,
                        seed,
                    } => seed::generated(*nodes, *guests, *seed)?,
                };
                let (cert, key) = new_certificate()?;
                (cluster, cert, key)
            }
        };
        cluster.reindex();
        // workers do not survive a restart: PVE shows their status as "unexpected status"
        for task in &mut cluster.tasks {
            if task.state == super::cluster::TaskState::Running {
                task.state = super::cluster::TaskState::Stopped {
                    exitstatus: "unexpected status".to_string(),
                    endtime: now(),
                };
            }
        }
        let der = pem_to_der(&cert_pem)?;
        let fingerprint = fingerprint_of(&der);

        let mut tokens = BTreeMap::new();
        for kind in TokenKind::ALL {
            tokens.insert(
                kind.token_id().to_string(),
                (token_secret_for(seed_number, kind.token_id()), kind),
            );
        }
        let shared = Arc::new(Shared {
            cluster: Mutex::new(cluster),
            faults: Mutex::new(Faults::none()),
            rng: Mutex::new(FaultRng::new(0)),
            capacity: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            route_counts: Mutex::new(BTreeMap::new()),
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            tokens: Mutex::new(tokens),
            password: token_secret_for(seed_number, "root@pam password"),
            tickets: Mutex::new(HashMap::new()),
            acl_tokens: Mutex::new(BTreeSet::new()),
            roles: Mutex::new(api::builtin_roles()),
            acl: Mutex::new(Vec::new()),
            csrf: format!(
                "{:08X}:{}",
                now(),
                &token_secret_for(seed_number ^ now(), "csrf")[4..]
            ),
            seed_number,
            mac_counter: AtomicU64::new(seed_number),
            fingerprint: fingerprint.clone(),
            state_file: config.state_file.clone(),
            persist_lock: Mutex::new(()),
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
        });
        shared.set_faults(config.faults.clone());
        shared.persist();

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let router = Router::new().fallback(dispatch).with_state(shared.clone());
        let acceptor = if config.tls {
            Some(tls_acceptor(&cert_pem, &key_pem)?)
        } else {
            None
        };
        let server = tokio::spawn(accept_loop(listener, acceptor, move |_| router.clone()));
        Ok(Sim {
            addr,
            tls: config.tls,
            fingerprint: config.tls.then_some(fingerprint),
            cert_pem: config.tls.then_some(cert_pem),
            shared,
            server,
        })
    }

    /// Returns the base URL, e.g. `https://127.0.0.1:PORT` (without `/api2/json`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SHA-256 of the DER certificate, uppercase hex, `:`-separated; None for plain HTTP.
    pub fn fingerprint(&self) -> Option<String> {
        self.fingerprint.clone()
    }

    pub fn cert_pem(&self) -> Option<String> {
        self.cert_pem.clone()
    }

    pub fn token_id(&self) -> String {
        TokenKind::Full.token_id().to_string()
    }

    pub fn token_secret(&self) -> String {
        self.token(TokenKind::Full).1
    }

    /// `PVEAPIToken=root@pam!mpc=<secret>`.
    pub fn token_header(&self) -> String {
        let (id, secret) = self.token(TokenKind::Full);
        format!("PVEAPIToken={id}={secret}")
    }

    /// Returns (token id, secret) for a token of the given rights.
    pub fn token(&self, kind: TokenKind) -> (String, String) {
        let id = kind.token_id().to_string();
        let secret = token_secret_for(self.shared.seed_number, &id);
        (id, secret)
    }

    /// Returns ("root@pam", password) for ticket login.
    pub fn password(&self) -> (String, String) {
        ("root@pam".to_string(), self.shared.password.clone())
    }

    pub fn control(&self) -> SimControl {
        SimControl::new(self.shared.clone())
    }

    /// Stops serving (open connections are closed).
    pub async fn shutdown(self) {
        self.server.abort();
        let _ = self.server.await;
        self.shared.persist();
    }
}

fn new_certificate() -> Result<(String, String), SimError> {
    let key = rcgen::KeyPair::generate().map_err(|e| SimError::Tls(e.to_string()))?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| SimError::Tls(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "proxmox-mpc simulator");
    let cert = params
        .self_signed(&key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, SimError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| SimError::Tls(format!("bad certificate PEM: {e}")))
}

fn tls_acceptor(cert_pem: &str, key_pem: &str) -> Result<tokio_rustls::TlsAcceptor, SimError> {
    use rustls_pki_types::pem::PemObject;
    let cert = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| SimError::Tls(e.to_string()))?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| SimError::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    // pveproxy speaks HTTP/1.1 only; over HTTP/2 a client would lose the reason phrase, which
    // carries PVE's error text (NOTES §3), so offering h2 would be unfaithful.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections for ever, each served on a task of its own over HTTP/1.1 (with
/// upgrades, for a WebSocket), over TLS when an acceptor is given; `router_for` makes the
/// router of a connection from its peer. The simulator and `proxmox-mpc serve` both listen
/// through it.
pub async fn accept_loop<F>(
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    router_for: F,
) where
    F: Fn(std::net::SocketAddr) -> Router,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // reap finished connections so the set does not grow without bound
        while connections.try_join_next().is_some() {}
        let service = hyper_util::service::TowerToHyperService::new(router_for(peer));
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .http1_only();
            match acceptor {
                Some(acceptor) => {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                }
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(
                            hyper_util::rt::TokioIo::new(stream),
                            service,
                        )
                        .await;
                }
            }
        });
    }
}

/// Builds PVE's reply for an error: reason phrase = first line, body `{data:null, message}`.
pub(crate) fn error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = err.message.clone();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    let body = if err.status == 401 && !err.with_body {
        Body::empty()
    } else {
        let mut obj = serde_json::Map::new();
        obj.insert("data".into(), Value::Null);
        obj.insert("message".into(), Value::from(message.clone()));
        if let Some(errors) = &err.errors {
            obj.insert(
                "errors".into(),
                Value::Object(
                    errors
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                        .collect(),
                ),
            );
        }
        Body::from(Value::Object(obj).to_string())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    pve_headers(response.headers_mut());
    let reason: String = message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    if !reason.is_empty()
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes())
    {
        response.extensions_mut().insert(phrase);
    }
    response
}

fn pve_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(
        header::SERVER,
        HeaderValue::from_static("pve-api-daemon/3.0"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(
        &chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    ) {
        headers.insert(header::EXPIRES, v);
    }
}

/// Bodies over this size are gzip-compressed when the client accepts it (like pveproxy).
const GZIP_OVER: usize = 1024;

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

fn success_response(reply: Reply, accepts_gzip: bool) -> Response {
    let mut obj = serde_json::Map::new();
    obj.insert("data".into(), reply.data);
    if let Some(total) = reply.total {
        obj.insert("total".into(), Value::from(total));
    }
    let text = Value::Object(obj).to_string();
    let compressed = if accepts_gzip && text.len() > GZIP_OVER {
        gzip(text.as_bytes())
    } else {
        None
    };
    let gzipped = compressed.is_some();
    let mut response = Response::new(Body::from(compressed.unwrap_or_else(|| text.into_bytes())));
    pve_headers(response.headers_mut());
    if gzipped {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A response whose connection is cut after half of the body (Content-Length promises more).
fn dropped_response(full: Response) -> Response {
    let (parts, _) = full.into_parts();
    let text = b"{\"data\":[{\"truncated\":\"by the simulator's drop fault\"".to_vec();
    let half = Bytes::from(text);
    let stream = futures::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated dropped connection",
        )),
    ]);
    let mut response = Response::from_parts(parts, Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
    response
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Splits the form-encoded text into parameters (`+` is a space).
fn parse_form(text: &str, into: &mut BTreeMap<String, String>) {
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        into.insert(k.into_owned(), v.into_owned());
    }
}

fn json_to_params(body: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("malformed JSON string: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::new(
            400,
            "Parameter verification failed: the JSON body must be an object",
        ));
    };
    for (k, v) in map {
        let text = match v {
            Value::Null => continue,
            Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\0"),
            Value::Object(_) => {
                return Err(ApiError::param(&k, "type check failed - got an object"));
            }
        };
        into.insert(k, text);
    }
    Ok(())
}

/// Parses the credentials of a request.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let cookie_ticket = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("PVEAuthCookie="))
        .map(percent_decode)
        .next();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let header_ticket = auth.strip_prefix("PVEAuthCookie=").map(percent_decode);
    if let Some(ticket) = cookie_ticket.or(header_ticket) {
        let user = lock(&shared.tickets).get(&ticket).cloned();
        return match user {
            Some(user) => Ok(Some(Caller {
                user,
                token_id: None,
                kind: TokenKind::Full,
                granted: None,
            })),
            None => Err(ApiError::unauthorized("authentication failure")),
        };
    }
    let Some(pos) = auth.find("PVEAPIToken") else {
        return Ok(None);
    };
    let rest = &auth[pos + "PVEAPIToken".len()..];
    let rest = rest.strip_prefix(['=', ' ']).unwrap_or(rest);
    let value = percent_decode(rest.split(';').next().unwrap_or(""));
    let Some((id, secret)) = value.rsplit_once('=') else {
        return Err(ApiError::unauthorized("authentication failure"));
    };
    let tokens = lock(&shared.tokens);
    match tokens.get(id) {
        Some((expected, kind)) if expected == secret => Ok(Some(Caller {
            user: id.to_string(),
            token_id: Some(id.to_string()),
            kind: *kind,
            granted: lock(&shared.acl_tokens)
                .contains(id)
                .then(|| api::granted_to(shared, "token", id)),
        })),
        _ => Err(ApiError::unauthorized("authentication failure")),
    }
}

/// Matches a path to a route template, returning the path variables.
fn match_route<'a>(
    method: &Method,
    segments: &[String],
) -> Result<(&'a Route, BTreeMap<String, String>), bool> {
    let mut path_matched = false;
    for route in api::ROUTES {
        let template: Vec<&str> = route.path.split('/').filter(|s| !s.is_empty()).collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut vars = BTreeMap::new();
        let ok = template.iter().zip(segments).all(|(t, s)| {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                vars.insert(name.to_string(), s.clone());
                !s.is_empty()
            } else {
                t == s
            }
        });
        if ok {
            path_matched = true;
            if route.method == method.as_str() {
                return Ok((route, vars));
            }
        }
    }
    Err(path_matched)
}

struct Outcome {
    response: Response,
    template: Option<String>,
    params: Vec<String>,
    token_id: Option<String>,
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let permit = {
        let sem = lock(&shared.capacity).clone();
        match sem {
            Some(sem) => sem.acquire_owned().await.ok(),
            None => None,
        }
    };
    let (latency, jitter) = {
        let f = lock(&shared.faults);
        (f.latency, f.jitter)
    };
    let delay = latency + lock(&shared.rng).jitter(jitter);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let path = uri.path().to_string();
    let outcome = handle(&shared, &method, &uri, &headers, body).await;
    drop(permit);
    let status = outcome.response.status().as_u16();
    if let Some(t) = &outcome.template {
        *lock(&shared.route_counts).entry(t.clone()).or_insert(0) += 1;
    }
    {
        let mut log = lock(&shared.log);
        // a long-running `proxmox-mpc sim` keeps the newest entries only
        if log.len() >= MAX_LOG {
            log.drain(..MAX_LOG / 2);
        }
        log.push(RequestLogEntry {
            time: SystemTime::now(),
            method: method.to_string(),
            path,
            route: outcome.template.clone(),
            param_names: outcome.params,
            token_id: outcome.token_id,
            status,
        });
    }
    let drop_rate = lock(&shared.faults).drop_rate;
    if lock(&shared.rng).chance(drop_rate) {
        return dropped_response(outcome.response);
    }
    outcome.response
}

async fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Outcome {
    let mut outcome = Outcome {
        response: Response::new(Body::empty()),
        template: None,
        params: Vec::new(),
        token_id: None,
    };
    outcome.response = match serve_request(shared, method, uri, headers, body, &mut outcome).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    };
    outcome
}

/// Runs one request through every stage, recording in `outcome` what the request log keeps as
/// soon as each piece is known (so a refused request still logs its route and token).
async fn serve_request(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let segments = api_segments(uri)?;
    let display_path = format!("/{}", segments.join("/"));

    // credentials first, as PVE does (HTTPServer.pm auth_handler runs before the handler
    // lookup): an unknown route without credentials is `401 No ticket`, not 501
    let public = is_public(method, &display_path);
    let caller = identify_caller(shared, headers, public).await?;
    outcome.token_id = caller.as_ref().and_then(|c| c.token_id.clone());

    let (route, vars) = match_route(method, &segments).map_err(|_| {
        ApiError::new(
            501,
            format!("Method '{} {}' not implemented", method, display_path),
        )
    })?;
    let key = format!("{} {}", route.method, route.path);
    outcome.template = Some(key.clone());

    if let Some(c) = &caller {
        check_ticket_and_token(shared, method, headers, c, public, &key, &display_path)?;
    }

    // parameters
    let params = collect_params(method, uri, headers, &body, &vars)?;
    outcome.params = params.keys().cloned().collect();
    if let Err(errors) = super::schema::validate(&key, &params) {
        return Err(ApiError::params(errors));
    }

    // permissions
    let caller = caller.unwrap_or(Caller {
        user: String::new(),
        token_id: None,
        kind: TokenKind::Full,
        granted: None,
    });
    check_permission(route, &vars, &params, &caller)?;

    // faults before the handler
    let modifying = method != Method::GET && !public;
    let fail_after = faults_before_handler(shared, route, &vars, modifying)?;
    let reply = run_handler(shared, route, params, caller, modifying, fail_after)?;
    // background_delay etc. may wait on a task
    let reply = match reply.wait_for.clone() {
        Some(upid) => wait_task(shared, upid, reply).await,
        None => reply,
    };
    Ok(success_response(reply, accepts_gzip(headers)))
}

/// The decoded path segments under `/api2/json`.
fn api_segments(uri: &Uri) -> Result<Vec<String>, ApiError> {
    let Some(rest) = uri.path().strip_prefix("/api2/json") else {
        return Err(ApiError::new(501, "no such uri"));
    };
    Ok(rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect())
}

/// The calls PVE answers without credentials.
fn is_public(method: &Method, display_path: &str) -> bool {
    matches!(
        (method.as_str(), display_path),
        ("GET", "/access/domains")
            | ("GET" | "POST", "/access/ticket")
            | ("POST", "/access/vncticket")
            | ("POST", "/access/openid/login" | "/access/openid/auth-url")
    )
}

/// Who is calling; a public call goes on without (valid) credentials, any other call is
/// refused after the configured auth delay.
async fn identify_caller(
    shared: &Shared,
    headers: &HeaderMap,
    public: bool,
) -> Result<Option<Caller>, ApiError> {
    match authenticate(shared, headers) {
        Ok(Some(c)) => Ok(Some(c)),
        Ok(None) if public => Ok(None),
        Ok(None) => {
            auth_delay(shared).await;
            Err(ApiError::unauthorized("No ticket"))
        }
        Err(e) if public => {
            let _ = e;
            Ok(None)
        }
        Err(e) => {
            auth_delay(shared).await;
            Err(e)
        }
    }
}

/// A ticket caller's writes need the CSRF token; a token caller is refused on routes that do
/// not allow API tokens.
fn check_ticket_and_token(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    c: &Caller,
    public: bool,
    key: &str,
    display_path: &str,
) -> Result<(), ApiError> {
    if c.token_id.is_none() && method != Method::GET {
        let csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok());
        if csrf != Some(shared.csrf.as_str()) && !public {
            return Err(ApiError::unauthorized(
                "Permission denied - invalid csrf token",
            ));
        }
    }
    let allowtoken = super::schema::route(key)
        .and_then(|r| r.get("allowtoken"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if c.token_id.is_some() && allowtoken == 0 {
        return Err(ApiError::new(
            403,
            format!("URI '{display_path}' not available with API token, need proper ticket."),
        ));
    }
    Ok(())
}

/// The request's parameters: body (form or JSON), then query, then the path variables (which
/// must not conflict with a parameter of the same name).
fn collect_params(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    vars: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(501, "for data too large"));
    }
    let mut params = BTreeMap::new();
    if !body.is_empty() {
        body_params(method, headers, body, &mut params)?;
    }
    if let Some(q) = uri.query() {
        parse_form(q, &mut params);
    }
    params.remove("_dc");
    for (name, value) in vars {
        if let Some(given) = params.get(name)
            && given != value
        {
            return Err(ApiError::param(
                name,
                "duplicate parameter (already defined in URI) with conflicting values!",
            ));
        }
        params.insert(name.clone(), value.clone());
    }
    Ok(params)
}

/// Parses a non-empty body by its content type (form-encoded when none is given).
fn body_params(
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    params: &mut BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if method != Method::POST && method != Method::PUT {
        return Err(ApiError::new(
            501,
            format!("Unexpected content for method '{method}'"),
        ));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    if ctype.starts_with("application/json") {
        json_to_params(body, params)
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        match std::str::from_utf8(body) {
            Ok(text) => {
                parse_form(text, params);
                Ok(())
            }
            Err(_) => Err(ApiError::new(400, "malformed form body (not UTF-8)")),
        }
    } else {
        Err(ApiError::new(
            506,
            format!("unsupported content type '{ctype}'"),
        ))
    }
}

/// Refuses a caller without the route's privilege on its permission path.
fn check_permission(
    route: &Route,
    vars: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    caller: &Caller,
) -> Result<(), ApiError> {
    let Some((path_template, privilege)) = route.perm else {
        return Ok(());
    };
    let mut perm_path = path_template.to_string();
    for (name, value) in vars {
        perm_path = perm_path.replace(&format!("{{{name}}}"), value);
    }
    for (name, value) in params {
        if perm_path.contains('{') {
            perm_path = perm_path.replace(&format!("{{{name}}}"), value);
        }
    }
    if !caller.holds(privilege) {
        return Err(ApiError::perm(&perm_path, privilege));
    }
    Ok(())
}

/// Injects the faults that strike before the handler runs; returns whether a 5xx was drawn
/// for after the handler (when that is the configured point).
fn faults_before_handler(
    shared: &Shared,
    route: &Route,
    vars: &BTreeMap<String, String>,
    modifying: bool,
) -> Result<bool, ApiError> {
    let (err_rate, err_point, lock_rate) = {
        let f = lock(&shared.faults);
        (f.error_rate_5xx, f.error_point, f.lock_contention_rate)
    };
    let inject_5xx = lock(&shared.rng).chance(err_rate);
    if inject_5xx && err_point == FaultPoint::BeforeHandler {
        return Err(ApiError::new(
            500,
            "simulated server error (fault injection)",
        ));
    }
    if modifying
        && let Some(vmid) = vars.get("vmid")
        && lock(&shared.rng).chance(lock_rate)
    {
        let dir = if route.path.contains("/lxc/") {
            "lxc"
        } else {
            "qemu-server"
        };
        return Err(ApiError::new(
            500,
            format!("can't lock file '/var/lock/{dir}/lock-{vmid}.conf' - got timeout"),
        ));
    }
    Ok(inject_5xx && err_point == FaultPoint::AfterHandler)
}

/// Runs the route's handler, counts and persists a write, and injects an after-handler fault.
fn run_handler(
    shared: &Arc<Shared>,
    route: &Route,
    params: BTreeMap<String, String>,
    caller: Caller,
    modifying: bool,
    fail_after: bool,
) -> Result<Reply, ApiError> {
    let ctx = Ctx {
        shared: shared.clone(),
        params,
        caller,
        route_path: route.path,
    };
    let result = (route.handler)(&ctx);
    if modifying {
        shared.writes.fetch_add(1, Ordering::Relaxed);
        shared.persist();
    }
    if fail_after {
        return Err(ApiError::new(
            500,
            "simulated server error (fault injection)",
        ));
    }
    result
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

async fn wait_task(shared: &Arc<Shared>, upid: (String, Duration), reply: Reply) -> Reply {
    let deadline = tokio::time::Instant::now() + upid.1;
    loop {
        let done = {
            let cl = lock(&shared.cluster);
            cl.task(&upid.0)
                .is_none_or(|t| t.state != super::cluster::TaskState::Running)
        };
        if done {
            return Reply::new(Value::Null);
        }
        if tokio::time::Instant::now() >= deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn auth_delay(shared: &Shared) {
    let delay = lock(&shared.faults).auth_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}
