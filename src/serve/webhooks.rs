//! Webhooks of `proxmox-mpc serve`, configured in `.proxmox/serve.yml`:
//!
//! ```yaml
//! hooks:                      # inbound: POST /api/v1/hooks/NAME
//!   push:
//!     secret: env:PMPC_HOOK_SECRET   # GitHub's webhook secret, read from the environment
//!     run: sync                      # sync, drift or plan
//! notify:                     # outbound, on apply finished or failed
//!   - url: https://hooks.example.com/proxmox
//!     secret: env:PMPC_NOTIFY_SECRET
//!     events: [apply_finished, apply_failed]
//! ```
//!
//! An inbound hook is let in only with GitHub's `X-Hub-Signature-256: sha256=HMAC` of the raw
//! body with its secret; a bad or missing signature is answered 401 and audited. An outbound
//! notice is signed as `watch --webhook` signs its posts ([`crate::commands::webhook::sign`],
//! the same headers), retried with a growing wait when the receiver fails, and every delivery
//! (or giving up) is recorded in the audit log. Secrets are only ever references in the file;
//! their values stay in memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::Shared;
use super::problem::Problem;
use crate::commands::webhook::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign};
use crate::error::CommandError;
use crate::pve::TlsMode;

/// GitHub's signature header.
pub const HUB_SIGNATURE: &str = "x-hub-signature-256";
/// The operations an inbound hook may start.
pub const HOOK_OPERATIONS: &[&str] = &["sync", "drift", "plan"];
/// The events an outbound webhook can be sent.
pub const NOTIFY_EVENTS: &[&str] = &["apply_finished", "apply_failed"];
/// The waits before each retry of an outbound notice.
const RETRY_WAITS: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// `.proxmox/serve.yml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    #[serde(default)]
    pub hooks: BTreeMap<String, HookConfig>,
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
}

/// One inbound hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// `env:VAR` or `file:PATH`: where its secret is.
    pub secret: String,
    /// sync, drift or plan.
    pub run: String,
}

/// One outbound webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub url: String,
    /// `env:VAR` or `file:PATH`; unsigned without it.
    #[serde(default)]
    pub secret: Option<String>,
    /// Which events (default: all of [`NOTIFY_EVENTS`]).
    #[serde(default)]
    pub events: Vec<String>,
}

impl ServeConfig {
    /// Reads `.proxmox/serve.yml` (none is an empty configuration) and checks it.
    pub fn load(dot_dir: &Path) -> Result<Self, CommandError> {
        let path = dot_dir.join("serve.yml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(
                    CommandError::config(format!("cannot read {}: {e}", path.display()))
                        .hint("make it readable, or remove it to serve without webhooks"),
                );
            }
        };
        let fix = || format!("fix {} (docs/serve.md shows its keys)", path.display());
        let config: ServeConfig = yaml_serde::from_str(&text).map_err(|e| {
            CommandError::config(format!(
                "{} is not a valid serve configuration: {e}",
                path.display()
            ))
            .hint(fix())
        })?;
        for (name, hook) in &config.hooks {
            if !HOOK_OPERATIONS.contains(&hook.run.as_str()) {
                return Err(CommandError::config(format!(
                    "the hook `{name}` runs `{}`; a hook runs {}",
                    hook.run,
                    HOOK_OPERATIONS.join(", ")
                ))
                .hint(fix()));
            }
            check_reference(&hook.secret, &format!("the hook `{name}`"))
                .map_err(|e| e.hint(fix()))?;
        }
        for target in &config.notify {
            if let Some(secret) = &target.secret {
                check_reference(secret, "a notify webhook").map_err(|e| e.hint(fix()))?;
            }
            if let Some(bad) = target
                .events
                .iter()
                .find(|e| !NOTIFY_EVENTS.contains(&e.as_str()))
            {
                return Err(CommandError::config(format!(
                    "`{bad}` is not a notify event; the events are {}",
                    NOTIFY_EVENTS.join(", ")
                ))
                .hint(fix()));
            }
        }
        Ok(config)
    }
}

fn check_reference(reference: &str, what: &str) -> Result<(), CommandError> {
    if reference.starts_with("env:") || reference.starts_with("file:") {
        Ok(())
    } else {
        Err(CommandError::config(format!(
            "the secret of {what} must be a reference (env:VAR or file:PATH), never the secret itself"
        )))
    }
}

/// Reads a secret reference's value (`env:VAR`, `file:PATH` relative to the workspace).
fn resolve_secret(reference: &str, root: &Path) -> Result<String, String> {
    let value = if let Some(var) = reference.strip_prefix("env:") {
        std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        std::fs::read_to_string(root.join(path))
            .map_err(|e| format!("cannot read {path}: {e}"))?
            .trim()
            .to_string()
    } else {
        return Err("the secret is not a reference".into());
    };
    if value.is_empty() {
        return Err(format!("{reference} is empty"));
    }
    Ok(value)
}

/// True when `header` is `sha256=HEX`, the HMAC-SHA256 of `body` with `secret`.
fn signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `POST /api/v1/hooks/{name}`.
pub async fn inbound(
    State(app): State<Shared>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = format!("hook:{name}");
    let target = format!("/api/v1/hooks/{name}");
    let Some(hook) = app.config.hooks.get(&name) else {
        super::audit(&app, &actor, "hook-refused", &target, "no such hook").await;
        return Problem::new(StatusCode::NOT_FOUND, format!("there is no hook `{name}`"))
            .hint("hooks are configured in .proxmox/serve.yml (docs/serve.md)")
            .into_response();
    };
    let secret = match resolve_secret(&hook.secret, &app.runner.root) {
        Ok(s) => s,
        Err(why) => {
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the hook `{name}` cannot check signatures: {why}"),
            )
            .hint("set the hook's secret where .proxmox/serve.yml says, and restart proxmox-mpc serve")
            .into_response();
        }
    };
    let header = headers.get(HUB_SIGNATURE).and_then(|v| v.to_str().ok());
    if !signature_ok(secret.as_bytes(), &body, header) {
        let why = if header.is_none() {
            "no signature"
        } else {
            "bad signature"
        };
        super::audit(&app, &actor, "hook-refused", &target, why).await;
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            format!("the hook `{name}` refused the request: {why}"),
        )
        .hint("sign the raw body with the hook's secret: X-Hub-Signature-256: sha256=HMAC-SHA256 (as GitHub does)")
        .into_response();
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    let request = match crate::commands::Request::from_json(&hook.run, json!({})) {
        Ok(r) => r,
        Err(e) => return Problem::from_error(&e).into_response(),
    };
    super::audit(
        &app,
        &actor,
        "hook",
        &target,
        &format!("{} started (event {event})", hook.run),
    )
    .await;
    let job = super::routes::start_job(&app, &actor, None, request);
    (StatusCode::ACCEPTED, axum::Json(json!({ "job": job }))).into_response()
}

/// One outbound receiver, ready to post to.
pub struct Target {
    url: url::Url,
    secret: Option<String>,
    events: Vec<String>,
    http: reqwest::Client,
}

impl Target {
    /// The URL as it may be shown and audited: scheme, host and port.
    fn shown(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{}://{host}:{port}/…", self.url.scheme()),
            None => format!("{}://{host}/…", self.url.scheme()),
        }
    }
}

/// The outbound webhooks.
#[derive(Default)]
pub struct Notifier {
    targets: Vec<std::sync::Arc<Target>>,
}

impl Notifier {
    /// Prepares the receivers of `config` (secrets are read now, and kept in memory only).
    pub fn new(config: &ServeConfig, root: &Path) -> Result<Self, CommandError> {
        let mut targets = Vec::new();
        for t in &config.notify {
            // The same checks `watch --webhook` makes of its URL.
            crate::commands::webhook::Webhook::new(
                &t.url,
                None,
                crate::commands::webhook::Format::Json,
            )?;
            let url = url::Url::parse(&t.url)
                .map_err(|e| CommandError::config(format!("a notify URL is not usable: {e}")))?;
            let secret = match &t.secret {
                Some(r) => Some(resolve_secret(r, root).map_err(|why| {
                    CommandError::config(format!("a notify webhook's secret cannot be read: {why}"))
                        .hint("set it where .proxmox/serve.yml says, then start proxmox-mpc serve again")
                })?),
                None => None,
            };
            let (tls, _) =
                crate::pve::tls::client_config(&TlsMode::Verify, &t.url).map_err(|e| {
                    CommandError::internal(format!("cannot set up TLS for a notify webhook: {e}"))
                })?;
            let http = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("proxmox-mpc/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| {
                    CommandError::internal(format!("cannot set up a notify client: {e}"))
                })?;
            let events = if t.events.is_empty() {
                NOTIFY_EVENTS.iter().map(|e| e.to_string()).collect()
            } else {
                t.events.clone()
            };
            targets.push(std::sync::Arc::new(Target {
                url,
                secret,
                events,
                http,
            }));
        }
        Ok(Self { targets })
    }

    /// Sends `event` with `payload` to every receiver that wants it, each on a task of its own.
    pub fn notify(&self, app: &Shared, event: &str, payload: Value) {
        let notice = json!({
            "id": hex::encode(rand::random::<[u8; 16]>()),
            "source": "proxmox-mpc",
            "event": event,
            "at": crate::state::now(),
            "payload": payload,
        });
        let body = serde_json::to_vec(&notice).unwrap_or_default();
        let id = notice["id"].as_str().unwrap_or_default().to_string();
        for target in self
            .targets
            .iter()
            .filter(|t| t.events.iter().any(|e| e == event))
        {
            let (target, app, body, id, event) = (
                target.clone(),
                app.clone(),
                body.clone(),
                id.clone(),
                event.to_string(),
            );
            tokio::spawn(async move {
                let outcome = deliver(&target, &event, &id, body).await;
                super::audit(&app, "notify", "notify", &target.shown(), &outcome).await;
            });
        }
    }
}

/// Posts one notice, retrying with a growing wait; returns what happened, in words.
async fn deliver(target: &Target, event: &str, id: &str, body: Vec<u8>) -> String {
    let mut last = String::new();
    for attempt in 0..=RETRY_WAITS.len() {
        if attempt > 0 {
            tokio::time::sleep(RETRY_WAITS[attempt - 1]).await;
        }
        let mut request = target
            .http
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event)
            .header(DELIVERY_HEADER, id);
        if let Some(secret) = &target.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret.as_bytes(), &body));
        }
        match request.body(body.clone()).send().await {
            Ok(answer) if answer.status().is_success() => {
                return format!(
                    "{event} delivered (HTTP {}) after {} attempt(s)",
                    answer.status().as_u16(),
                    attempt + 1
                );
            }
            Ok(answer) => last = format!("HTTP {}", answer.status().as_u16()),
            Err(e) if e.is_connect() => last = "cannot connect".into(),
            Err(e) if e.is_timeout() => last = "no answer in 10 s".into(),
            Err(_) => last = "the post failed".into(),
        }
    }
    format!(
        "{event} not delivered after {} attempts: {last}",
        RETRY_WAITS.len() + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_are_checked_against_the_raw_body() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(b"s3cret", body);
        assert!(signature_ok(b"s3cret", body, Some(&good)));
        assert!(!signature_ok(b"other", body, Some(&good)));
        assert!(!signature_ok(b"s3cret", b"{}", Some(&good)));
        assert!(!signature_ok(b"s3cret", body, None));
        assert!(!signature_ok(b"s3cret", body, Some("sha256=zz")));
        assert!(!signature_ok(
            b"s3cret",
            body,
            Some(&good.replace("sha256=", "sha1="))
        ));
    }

    #[test]
    fn a_configuration_names_secrets_by_reference_and_known_operations_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("serve.yml"),
            "hooks:\n  push:\n    secret: hunter2\n    run: sync\n",
        )
        .unwrap();
        let e = ServeConfig::load(dir.path()).unwrap_err();
        assert!(e.message.contains("reference"), "{}", e.message);
        std::fs::write(
            dir.path().join("serve.yml"),
            "hooks:\n  push:\n    secret: env:X\n    run: apply\n",
        )
        .unwrap();
        let e = ServeConfig::load(dir.path()).unwrap_err();
        assert!(e.message.contains("sync, drift, plan"), "{}", e.message);
        std::fs::write(
            dir.path().join("serve.yml"),
            "hooks:\n  push:\n    secret: env:X\n    run: plan\n",
        )
        .unwrap();
        assert_eq!(
            ServeConfig::load(dir.path()).unwrap().hooks["push"].run,
            "plan"
        );
    }
}
