//! The HTTP core of the PVE client: one pooled keep-alive reqwest client on rustls, API token or
//! ticket auth (with CSRF token on writes and renewal before the 2-hour expiry), the
//! `{"data": ...}` envelope, bounded concurrency, per-request timeouts and retries.
//!
//! Retry policy (pve-api/NOTES.md §3): reads are retried with jittered exponential backoff on
//! connection errors, 502/503/595/596, and a 500 whose message is none of PVE's definite
//! answers (not found, locked, exists, conflict). Writes are retried only when the connection
//! could not be established, which proves nothing was sent — a blindly retried create would
//! make two guests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::error::{PveError, RequestInfo, classify};
use super::secret::Secret;
use super::tls::{PinObservation, TlsMode, client_config};
use super::types::TicketResponse;

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// API token: `id` is `user@realm!tokenid`.
    Token { id: String, secret: Secret },
    /// User and password: the client logs in for a ticket and renews it.
    Password { username: String, password: Secret },
}

/// Everything needed to talk to one PVE endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host:8006` (a trailing `/` or `/api2/json` is accepted).
    pub endpoint: String,
    pub auth: Auth,
    pub tls: TlsMode,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Per-request timeout. PVE is slow under load, so the default is generous (60 s).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts for a retryable failure.
    pub retries: u32,
    /// First backoff delay; doubles each attempt, with jitter.
    pub retry_base_delay: Duration,
    /// Timeout for guest-agent calls, which hang when the agent is absent.
    pub agent_timeout: Duration,
    /// Age at which a login ticket is renewed (tickets live 2 hours; default 90 minutes).
    pub ticket_renew_after: Duration,
}

impl ClientConfig {
    /// Returns a config with the default limits: 8 requests in flight, 60 s per request,
    /// 3 retries starting at 200 ms.
    pub fn new(endpoint: impl Into<String>, auth: Auth, tls: TlsMode) -> Self {
        Self {
            endpoint: endpoint.into(),
            auth,
            tls,
            max_concurrency: 8,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            retry_base_delay: Duration::from_millis(200),
            agent_timeout: Duration::from_secs(5),
            ticket_renew_after: TICKET_RENEW_AFTER,
        }
    }
}

/// Tickets are valid for 2 hours; renew well before.
const TICKET_RENEW_AFTER: Duration = Duration::from_secs(90 * 60);

struct TicketState {
    ticket: Secret,
    csrf: Secret,
    obtained: Instant,
}

struct Inner {
    http: reqwest::Client,
    endpoint: String,
    base: String,
    config: ClientConfig,
    semaphore: Semaphore,
    pin_seen: PinObservation,
    ticket: Mutex<Option<TicketState>>,
}

/// A PVE API client. Cheap to clone; clones share the connection pool and limits.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("auth", &self.inner.config.auth)
            .finish()
    }
}

/// Request parameters: query string for GET/DELETE, form body for POST/PUT.
pub type Params = Vec<(String, String)>;

/// Builds [`Params`] from pairs.
pub fn params<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Params {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// What one attempt produced, before retry decisions.
enum Attempt {
    Done(Value),
    /// Failed; `retryable` says whether the policy allows another attempt.
    Failed {
        error: PveError,
        retryable: bool,
    },
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// Finds a rustls error in a reqwest error's chain. `io::Error::source` skips its own payload,
/// so each io::Error's inner error is checked too.
fn has_rustls_error(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Client {
    /// Builds a client. Fails only on a bad configuration (URL, pin, CA file); no connection is
    /// made until the first call.
    pub fn new(config: ClientConfig) -> Result<Client, PveError> {
        let endpoint = config
            .endpoint
            .trim_end_matches('/')
            .trim_end_matches("/api2/json")
            .to_string();
        let url = url::Url::parse(&endpoint).map_err(|e| {
            PveError::Config(format!(
                "endpoint '{endpoint}' is not a URL ({e}); use https://host:8006"
            ))
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(PveError::Config(format!(
                "endpoint '{endpoint}' must be https://host:port"
            )));
        }
        match &config.auth {
            Auth::Token { id, secret } => {
                if !id.contains('@') || !id.contains('!') {
                    return Err(PveError::Config(format!(
                        "token id '{id}' must look like user@realm!tokenid"
                    )));
                }
                if secret.is_empty() {
                    return Err(PveError::Config(format!(
                        "the secret for token '{id}' is empty"
                    )));
                }
            }
            Auth::Password { username, .. } => {
                if !username.contains('@') {
                    return Err(PveError::Config(format!(
                        "user '{username}' must include the realm, e.g. root@pam"
                    )));
                }
            }
        }
        if config.max_concurrency == 0 {
            return Err(PveError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        let (tls, pin_seen) = client_config(&config.tls, &endpoint)?;
        let mut default_headers = HeaderMap::new();
        if let Auth::Token { id, secret } = &config.auth {
            let mut value = HeaderValue::from_str(&format!("PVEAPIToken={id}={}", secret.expose()))
                .map_err(|_| {
                    PveError::Config(format!(
                        "token '{id}' or its secret contains characters not allowed in a header"
                    ))
                })?;
            value.set_sensitive(true);
            default_headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .default_headers(default_headers)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_keepalive(Duration::from_secs(30))
            .no_proxy()
            .user_agent(concat!("proxmox-mpc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PveError::Config(format!("HTTP client setup failed: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base: format!("{endpoint}/api2/json"),
                endpoint,
                semaphore: Semaphore::new(config.max_concurrency),
                config,
                pin_seen,
                ticket: Mutex::new(None),
            }),
        })
    }

    /// Returns the endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Returns the client configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// GETs `path` and decodes `data` as `T`. `data: null` is a protocol error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: Params) -> Result<T, PveError> {
        let value = self.call(Method::GET, path, query).await?;
        decode(&RequestInfo::new("GET", path), value)
    }

    /// Sends a write and returns `data` as is (a UPID string, null, or an object).
    pub async fn write(&self, method: Method, path: &str, body: Params) -> Result<Value, PveError> {
        self.call(method, path, body).await
    }

    /// Makes one API call with the retry policy and returns the envelope's `data`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        params: Params,
    ) -> Result<Value, PveError> {
        self.call_with_timeout(method, path, params, self.inner.config.request_timeout)
            .await
    }

    /// As [`Client::call`], with a specific per-request timeout.
    pub async fn call_with_timeout(
        &self,
        method: Method,
        path: &str,
        params: Params,
        timeout: Duration,
    ) -> Result<Value, PveError> {
        self.call_with_policy(method, path, params, timeout, self.inner.config.retries)
            .await
    }

    /// As [`Client::call`], with a specific timeout and retry budget (guest-agent calls use
    /// none: an absent agent should fail fast, not be asked four times).
    pub async fn call_with_policy(
        &self,
        method: Method,
        path: &str,
        params: Params,
        timeout: Duration,
        retries: u32,
    ) -> Result<Value, PveError> {
        let request = RequestInfo::new(method.as_str(), path);
        let idempotent = method == Method::GET;
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            let outcome = self
                .attempt(&method, path, &params, &request, timeout, idempotent)
                .await;
            match outcome {
                Attempt::Done(value) => return Ok(value),
                Attempt::Failed { error, retryable } => {
                    if let (PveError::Auth { .. }, Auth::Password { .. }) =
                        (&error, &self.inner.config.auth)
                    {
                        // An expired or revoked ticket: log in again once.
                        if !relogged && path != "/access/ticket" {
                            let mut ticket = self.inner.ticket.lock().await;
                            if ticket.is_some() {
                                relogged = true;
                                *ticket = None;
                                continue;
                            }
                        }
                    }
                    if !retryable || attempt >= retries {
                        return Err(error);
                    }
                    attempt += 1;
                    let delay = self.backoff(attempt);
                    tracing::debug!(
                        method = %method, path, attempt, delay_ms = delay.as_millis() as u64,
                        error = error.kind(), "retrying PVE call"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.config.retry_base_delay.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.min(10).saturating_sub(1));
        let capped = exp.min(10_000);
        let jitter = rand::rng().random_range(0..=capped / 2 + 1);
        Duration::from_millis(capped / 2 + jitter)
    }

    async fn auth_headers(&self, method: &Method) -> Result<HeaderMap, PveError> {
        let mut headers = HeaderMap::new();
        let Auth::Password { username, password } = &self.inner.config.auth else {
            return Ok(headers);
        };
        let mut guard = self.inner.ticket.lock().await;
        let needs_login = guard
            .as_ref()
            .is_none_or(|t| t.obtained.elapsed() >= self.inner.config.ticket_renew_after);
        if needs_login {
            // Renew with the current ticket as password while it is still valid; else log in.
            let renew_with = guard.as_ref().map(|t| t.ticket.clone());
            let fresh = match renew_with {
                Some(ticket) => match self.login(username, &ticket).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::debug!(error = e.kind(), "ticket renewal refused; logging in");
                        self.login(username, password).await?
                    }
                },
                None => self.login(username, password).await?,
            };
            *guard = Some(fresh);
        }
        let Some(state) = guard.as_ref() else {
            return Ok(headers);
        };
        let cookie = format!(
            "PVEAuthCookie={}",
            url::form_urlencoded::byte_serialize(state.ticket.expose().as_bytes())
                .collect::<String>()
        );
        let mut cookie = HeaderValue::from_str(&cookie)
            .map_err(|_| PveError::Config("the ticket is not a valid header value".into()))?;
        cookie.set_sensitive(true);
        headers.insert(reqwest::header::COOKIE, cookie);
        if method != Method::GET {
            let mut csrf = HeaderValue::from_str(state.csrf.expose())
                .map_err(|_| PveError::Config("the CSRF token is not a valid header".into()))?;
            csrf.set_sensitive(true);
            headers.insert("CSRFPreventionToken", csrf);
        }
        Ok(headers)
    }

    async fn login(&self, username: &str, password: &Secret) -> Result<TicketState, PveError> {
        let path = "/access/ticket";
        let request = RequestInfo::new("POST", path);
        let body = params([("username", username), ("password", password.expose())]);
        let value = match self
            .send_once(
                &Method::POST,
                path,
                &body,
                &request,
                self.inner.config.request_timeout,
                HeaderMap::new(),
                false,
            )
            .await
        {
            Attempt::Done(value) => value,
            Attempt::Failed { error, .. } => return Err(error),
        };
        let ticket: TicketResponse = decode(&request, value)?;
        tracing::debug!(user = %ticket.username, "logged in with a ticket");
        Ok(TicketState {
            ticket: Secret::new(ticket.ticket),
            csrf: Secret::new(ticket.csrf_token),
            obtained: Instant::now(),
        })
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        params: &Params,
        request: &RequestInfo,
        timeout: Duration,
        idempotent: bool,
    ) -> Attempt {
        let headers = match self.auth_headers(method).await {
            Ok(h) => h,
            Err(error) => {
                let retryable = matches!(error, PveError::Unreachable { .. }) && idempotent;
                return Attempt::Failed { error, retryable };
            }
        };
        self.send_once(method, path, params, request, timeout, headers, idempotent)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        params: &Params,
        request: &RequestInfo,
        timeout: Duration,
        headers: HeaderMap,
        idempotent: bool,
    ) -> Attempt {
        let _permit = match self.inner.semaphore.acquire().await {
            Ok(p) => p,
            Err(_) => {
                return Attempt::Failed {
                    error: PveError::Config("the client was shut down".into()),
                    retryable: false,
                };
            }
        };
        let url = format!("{}{}", self.inner.base, path);
        let mut builder = self
            .inner
            .http
            .request(method.clone(), &url)
            .headers(headers)
            .timeout(timeout);
        if *method == Method::GET || *method == Method::DELETE {
            if !params.is_empty() {
                builder = builder.query(params);
            }
        } else {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter())
                .finish();
            builder = builder
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        let started = Instant::now();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return self.transport_failure(e, request, timeout, idempotent),
        };
        let status = response.status();
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return self.transport_failure(e, request, timeout, idempotent),
        };
        tracing::debug!(
            method = %method, path, status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64, "PVE call"
        );
        if status.is_success() {
            return match parse_envelope(request, &body) {
                Ok(value) => Attempt::Done(value),
                Err(error) => Attempt::Failed {
                    error,
                    retryable: false,
                },
            };
        }
        let code = status.as_u16();
        let (message, errors) = parse_error_body(&body);
        let message = message.filter(|m| !m.trim().is_empty()).unwrap_or(reason);
        let error = classify(request.clone(), code, message, errors);
        // 500 is also PVE's answer for not-found/locked/exists; only a generic 500 (pmxcfs
        // hiccup, proxy error) is worth repeating, and only for a read.
        let transient = matches!(code, 502 | 503 | 595 | 596)
            || (code == 500 && matches!(error, PveError::Api { .. }));
        Attempt::Failed {
            error,
            retryable: idempotent && transient,
        }
    }

    fn transport_failure(
        &self,
        error: reqwest::Error,
        request: &RequestInfo,
        timeout: Duration,
        idempotent: bool,
    ) -> Attempt {
        let endpoint = self.inner.endpoint.clone();
        if let (TlsMode::Pinned(pin), Some(actual)) =
            (&self.inner.config.tls, self.inner.pin_seen.take())
        {
            return Attempt::Failed {
                error: PveError::PinMismatch {
                    endpoint,
                    expected: super::tls::normalize_fingerprint(pin).unwrap_or(pin.clone()),
                    actual,
                },
                retryable: false,
            };
        }
        let chain = error_chain(&error);
        if error.is_connect() && (has_rustls_error(&error) || chain.contains("certificate")) {
            return Attempt::Failed {
                error: PveError::Tls {
                    endpoint,
                    reason: chain,
                },
                retryable: false,
            };
        }
        if error.is_connect() {
            // A failed connect proves nothing was sent: safe to retry even a write.
            return Attempt::Failed {
                error: PveError::Unreachable {
                    request: request.clone(),
                    endpoint,
                    reason: chain,
                },
                retryable: true,
            };
        }
        if error.is_timeout() {
            // Waited the whole (generous) timeout: repeating would only add load to a busy PVE.
            return Attempt::Failed {
                error: PveError::Timeout {
                    request: request.clone(),
                    what: "the answer".into(),
                    after: timeout,
                },
                retryable: false,
            };
        }
        // Connected, then the exchange broke: the server may have acted on it.
        Attempt::Failed {
            error: PveError::Protocol {
                request: request.clone(),
                reason: format!("the connection broke before the answer was complete: {chain}"),
            },
            retryable: idempotent,
        }
    }
}

/// Decodes the envelope of a 2xx answer and returns `data`.
fn parse_envelope(request: &RequestInfo, body: &[u8]) -> Result<Value, PveError> {
    let protocol = |reason: String| PveError::Protocol {
        request: request.clone(),
        reason,
    };
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'<') {
        return Err(protocol(format!(
            "got an HTML page instead of JSON ('{}')",
            snippet(trimmed)
        )));
    }
    if trimmed.is_empty() {
        return Err(protocol("the answer was empty".into()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        protocol(if e.is_eof() {
            format!("the JSON answer was cut off ({e})")
        } else {
            format!("the answer is not valid JSON ({e}): '{}'", snippet(trimmed))
        })
    })?;
    match value {
        Value::Object(mut map) => match map.remove("data") {
            Some(data) => Ok(data),
            None => Err(protocol("the JSON answer has no 'data' field".into())),
        },
        _ => Err(protocol("the JSON answer is not an object".into())),
    }
}

/// Reads `message` and `errors` from an error body (which may be empty or not JSON).
fn parse_error_body(body: &[u8]) -> (Option<String>, BTreeMap<String, String>) {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return (None, BTreeMap::new());
    };
    let message = map
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string);
    let errors = match map.get("errors") {
        Some(Value::Object(errors)) => errors
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    (message, errors)
}

/// Decodes `data` into `T`; `null` where data is expected is a protocol error.
pub(crate) fn decode<T: DeserializeOwned>(
    request: &RequestInfo,
    value: Value,
) -> Result<T, PveError> {
    if value.is_null() {
        return Err(PveError::Protocol {
            request: request.clone(),
            reason: "the answer had 'data: null' where data was expected".into(),
        });
    }
    serde_json::from_value(value).map_err(|e| PveError::Protocol {
        request: request.clone(),
        reason: format!("the data does not have the expected shape: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RequestInfo {
        RequestInfo::new("GET", "/version")
    }

    #[test]
    fn envelope_garbage_is_a_protocol_error() {
        for body in [
            &b"<html><body>502 Bad Gateway</body></html>"[..],
            b"{\"data\": {\"version\": \"9",
            b"",
            b"[1,2]",
            b"{\"nodata\": 1}",
        ] {
            let err = parse_envelope(&req(), body).unwrap_err();
            assert_eq!(err.kind(), "protocol", "{}", String::from_utf8_lossy(body));
            assert!(err.to_string().contains("GET /version"));
        }
        assert_eq!(
            parse_envelope(&req(), b"{\"data\":null}").unwrap(),
            Value::Null
        );
    }

    #[test]
    fn data_null_where_expected_is_a_protocol_error() {
        let err = decode::<crate::pve::types::VersionInfo>(&req(), Value::Null).unwrap_err();
        assert!(err.to_string().contains("data: null"));
    }

    #[test]
    fn error_body_reads_message_and_errors() {
        let (m, e) = parse_error_body(
            br#"{"data":null,"message":"Parameter verification failed.\n","errors":{"vmid":"VM 100 already exists"}}"#,
        );
        assert_eq!(m.as_deref(), Some("Parameter verification failed.\n"));
        assert_eq!(e["vmid"], "VM 100 already exists");
        assert_eq!(parse_error_body(b""), (None, BTreeMap::new()));
    }

    #[test]
    fn config_mistakes_are_reported() {
        let auth = Auth::Token {
            id: "root@pam".into(),
            secret: Secret::new("x"),
        };
        let err = Client::new(ClientConfig::new(
            "https://127.0.0.1:8006",
            auth,
            TlsMode::Insecure,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("user@realm!tokenid"));
        let auth = Auth::Token {
            id: "root@pam!t".into(),
            secret: Secret::new("x"),
        };
        let err = Client::new(ClientConfig::new("not a url", auth, TlsMode::Insecure)).unwrap_err();
        assert_eq!(err.kind(), "config");
    }
}
