//! Who is asking: `Authorization: Bearer TOKEN` (a token from `/token create`, found by its
//! SHA-256 in `state.db`), or a browser session (`POST /api/v1/session` with a token sets an
//! HttpOnly SameSite=Strict cookie and answers a CSRF token that every cookie-authenticated
//! write must echo in `X-CSRF-Token`). A failed attempt is audited and answered only after a
//! short delay, so guessing is slow. The token's role is checked per operation in `routes`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::problem::Problem;
use crate::commands::access::Role;
use crate::commands::token::token_hash;
use crate::state::tokens::TokenLookup;

/// How long a failed authentication waits before it is answered.
const FAILED_AUTH_DELAY: Duration = Duration::from_millis(400);
/// How long a browser session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pmpc_session";
/// The header a cookie-authenticated write carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The principal of a request, put in its extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's name (the audit log's actor).
    pub name: String,
    pub role: Role,
    /// The environment the token is limited to, if any.
    pub environment: Option<String>,
}

/// One browser session.
struct Session {
    token_sha256: String,
    csrf: String,
    until: Instant,
}

/// The browser sessions of this server (in memory: a restart logs everyone out).
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Constant-time comparison of two short strings (a CSRF token).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a request was not let in.
enum Refusal {
    Missing,
    Malformed,
    Unknown,
    Revoked(String),
    Expired(String),
    Csrf,
    SessionOver,
    Internal(String),
}

impl Refusal {
    fn problem(&self) -> Problem {
        let (status, detail, hint) = match self {
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                "this route needs an API token".to_string(),
                "send `Authorization: Bearer TOKEN`; an admin makes one with `proxmox-mpc token create NAME --role viewer`",
            ),
            Refusal::Malformed => (
                StatusCode::UNAUTHORIZED,
                "the Authorization header is not `Bearer TOKEN`".to_string(),
                "send `Authorization: Bearer TOKEN` with the token /token create printed",
            ),
            Refusal::Unknown => (
                StatusCode::UNAUTHORIZED,
                "the API token is not known".to_string(),
                "check the token, or ask an admin for a new one (/token create)",
            ),
            Refusal::Revoked(name) => (
                StatusCode::UNAUTHORIZED,
                format!("the API token `{name}` was revoked"),
                "ask an admin for a new token (/token create)",
            ),
            Refusal::Expired(name) => (
                StatusCode::UNAUTHORIZED,
                format!("the API token `{name}` has expired"),
                "ask an admin for a new token (/token create NAME --expires ...)",
            ),
            Refusal::Csrf => (
                StatusCode::FORBIDDEN,
                "a write with a session cookie needs the session's CSRF token".to_string(),
                "send the csrf_token POST /api/v1/session answered in the X-CSRF-Token header",
            ),
            Refusal::SessionOver => (
                StatusCode::UNAUTHORIZED,
                "the browser session is over (expired, logged out, or the server restarted)"
                    .to_string(),
                "log in again: POST /api/v1/session with {\"token\": TOKEN}",
            ),
            Refusal::Internal(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot check the API token: {e}"),
                "run /doctor in the workspace to check state.db",
            ),
        };
        let mut p = Problem::new(status, detail).hint(hint);
        if status == StatusCode::UNAUTHORIZED {
            p = p.with("auth_scheme", "Bearer");
        }
        p
    }

    /// The audit log's words for it (no token or part of one is ever written).
    fn audit_detail(&self) -> String {
        match self {
            Refusal::Missing => "no token".into(),
            Refusal::Malformed => "malformed Authorization header".into(),
            Refusal::Unknown => "unknown token".into(),
            Refusal::Revoked(n) => format!("revoked token {n}"),
            Refusal::Expired(n) => format!("expired token {n}"),
            Refusal::Csrf => "cookie write without CSRF token".into(),
            Refusal::SessionOver => "session over".into(),
            Refusal::Internal(_) => "state.db unavailable".into(),
        }
    }
}

/// Finds the live token with `token`'s hash.
async fn principal_of_hash(app: &Shared, token_sha256: &str) -> Result<Principal, Refusal> {
    match app.db.token_by_hash(token_sha256).await {
        Ok(TokenLookup::Valid(t)) => {
            let role = Role::parse(&t.role).map_err(|e| Refusal::Internal(e.message))?;
            // Best effort: the last use is a convenience of /token list.
            let _ = app.db.touch_token(&t.name).await;
            Ok(Principal {
                name: t.name,
                role,
                environment: t.environment,
            })
        }
        Ok(TokenLookup::Revoked(t)) => Err(Refusal::Revoked(t.name)),
        Ok(TokenLookup::Expired(t)) => Err(Refusal::Expired(t.name)),
        Ok(TokenLookup::Unknown) => Err(Refusal::Unknown),
        Err(e) => Err(Refusal::Internal(e.to_string())),
    }
}

/// The bearer token of a request, if it sends one.
fn bearer(headers: &HeaderMap) -> Option<Result<String, Refusal>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or(Refusal::Malformed);
    Some(parsed)
}

async fn authenticate(
    app: &Shared,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, Refusal> {
    if let Some(token) = bearer(headers) {
        return principal_of_hash(app, &token_hash(&token?)).await;
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Err(Refusal::Missing);
    };
    let (token_sha256, csrf) = {
        let mut sessions = app.sessions.lock();
        sessions.retain(|_, s| s.until > Instant::now());
        match sessions.get(&id) {
            Some(s) => (s.token_sha256.clone(), s.csrf.clone()),
            None => return Err(Refusal::SessionOver),
        }
    };
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same(sent, &csrf) {
            return Err(Refusal::Csrf);
        }
    }
    // A session lives only as long as its token: a revoked token ends it.
    principal_of_hash(app, &token_sha256).await
}

/// Audits a refused attempt and waits before answering it.
async fn refuse(app: &Shared, refusal: Refusal, path: &str) -> Response {
    super::audit(
        app,
        "anonymous",
        "auth-failed",
        path,
        &refusal.audit_detail(),
    )
    .await;
    tokio::time::sleep(FAILED_AUTH_DELAY).await;
    refusal.problem().into_response()
}

/// Middleware: lets a request in with its [`Principal`], or answers 401 (403 for a missing
/// CSRF token).
pub async fn require(State(app): State<Shared>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    match authenticate(&app, request.method(), request.headers()).await {
        Ok(mut principal) => {
            if let Err(problem) = choose_environment(&mut principal, request.headers()) {
                return problem.into_response();
            }
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => refuse(&app, refusal, &path).await,
    }
}

/// The header a client (the dashboard's environment switcher) names the environment with.
pub const ENVIRONMENT_HEADER: &str = "x-pmpc-env";

/// Runs the request in the environment `X-PMPC-Env` names, unless the token is limited to
/// another one (refused: a token made with `--env` never reaches past it).
fn choose_environment(principal: &mut Principal, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(asked) = headers
        .get(ENVIRONMENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(());
    };
    match &principal.environment {
        Some(limited) if limited != asked => Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "the token `{}` is limited to the environment `{limited}`, not `{asked}`",
                principal.name
            ),
        )
        .hint("drop the X-PMPC-Env header, or use a token made for that environment")),
        _ => {
            principal.environment = Some(asked.to_string());
            Ok(())
        }
    }
}

/// `POST /api/v1/session` with `{"token": TOKEN}`: a browser session.
pub async fn login(State(app): State<Shared>, body: axum::body::Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        token: String,
    }
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "a login is the JSON object {\"token\": TOKEN}",
        )
        .hint("send the token /token create printed")
        .into_response();
    };
    let hash = token_hash(&login.token);
    let principal = match principal_of_hash(&app, &hash).await {
        Ok(p) => p,
        Err(refusal) => return refuse(&app, refusal, "/api/v1/session").await,
    };
    let (id, csrf) = (random_hex(), random_hex());
    app.sessions.lock().insert(
        id.clone(),
        Session {
            token_sha256: hash,
            csrf: csrf.clone(),
            until: Instant::now() + SESSION_LIFETIME,
        },
    );
    super::audit(
        &app,
        &principal.name,
        "session",
        "/api/v1/session",
        "browser session started",
    )
    .await;
    let secure = if app.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = axum::Json(json!({
        "name": principal.name,
        "role": principal.role.as_str(),
        "csrf_token": csrf,
        "expires_in": SESSION_LIFETIME.as_secs(),
    }))
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `DELETE /api/v1/session`: ends the browser session (a bearer caller has none). Like any
/// write it needs a token, or the session with its CSRF token.
pub async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(refusal) = authenticate(&app, &Method::DELETE, &headers).await {
        return refuse(&app, refusal, "/api/v1/session").await;
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        app.sessions.lock().remove(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("pmpc_session=; HttpOnly; SameSite=Strict; Path=/api; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_headers_are_read_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pmpc_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic xyz"));
        assert!(matches!(bearer(&h), Some(Err(Refusal::Malformed))));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer pmpc_1"),
        );
        assert!(matches!(bearer(&h), Some(Ok(t)) if t == "pmpc_1"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
