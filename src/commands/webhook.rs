//! Drift notices for a webhook (`watch --webhook URL`): the body, its signature and one
//! delivery attempt.
//!
//! The body is generic JSON ([`Notice::json`]) or, with `--slack`, Slack's `{"text": ...}`.
//! With a secret (read from the environment variable `--webhook-secret-env` names) every post
//! carries `X-Proxmox-MPC-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body, so a
//! receiver can check it came from this watch; `X-Proxmox-MPC-Delivery` names the notice, the
//! same on every retry, so a receiver can drop a repeat. The secret lives only in a
//! [`Secret`] in memory: it is never in a body, a line of output or a log. A webhook URL is
//! shown only as scheme, host and port (a Slack URL's path is itself a secret).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::commands::drift::DriftEntry;
use crate::error::CommandError;
use crate::pve::{Secret, TlsMode};

/// The header with the body's HMAC-SHA256, `sha256=<lowercase hex>`.
pub const SIGNATURE_HEADER: &str = "X-Proxmox-MPC-Signature";
/// The header naming the event (`drift`).
pub const EVENT_HEADER: &str = "X-Proxmox-MPC-Event";
/// The header with the notice's id, the same on every retry.
pub const DELIVERY_HEADER: &str = "X-Proxmox-MPC-Delivery";

/// How long one post may take before it counts as failed.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns `sha256=<hex>`, the HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a change to one difference was, between two checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// A new difference.
    New,
    /// The same field differs, with other values.
    Changed,
    /// The difference is gone (the two sides agree again, or the files took the server's).
    Gone,
}

impl Transition {
    pub fn word(self) -> &'static str {
        match self {
            Transition::New => "drift",
            Transition::Changed => "drift changed",
            Transition::Gone => "drift gone",
        }
    }
}

/// One change between two checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub transition: Transition,
    #[serde(flatten)]
    pub entry: DriftEntry,
}

impl Change {
    /// One line: "drift: web-01 (100) memory: file 2048, server 4096, last sync 2048".
    pub fn line(&self) -> String {
        let word = match (self.transition, self.entry.change.word()) {
            (Transition::New, "conflict") => "conflict",
            (t, _) => t.word(),
        };
        match self.transition {
            Transition::Gone => format!(
                "{word}: {} {} (no longer differs)",
                self.entry.guest_or_path(),
                self.entry.field
            ),
            _ => format!("{word}: {}", self.entry.describe()),
        }
    }
}

impl DriftEntry {
    fn guest_or_path(&self) -> String {
        match self.vmid {
            Some(vmid) => format!("{} ({vmid})", self.guest),
            None => self.path.clone(),
        }
    }
}

/// One notice: the changes one check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// Random, the same on every retry of this notice.
    pub id: String,
    pub source: &'static str,
    pub event: &'static str,
    /// When the check ran (RFC 3339, UTC).
    pub at: String,
    pub environment: String,
    pub endpoint: String,
    /// The number of the check that found the changes.
    pub check: u64,
    pub changes: Vec<Change>,
    /// How many differences the cluster has after this check.
    pub drift_now: usize,
    /// The changes in words, one line each (what the Slack body says).
    pub text: String,
}

impl Notice {
    pub fn new(
        environment: &str,
        endpoint: &str,
        check: u64,
        changes: Vec<Change>,
        drift_now: usize,
    ) -> Self {
        let mut lines = vec![format!(
            "proxmox-mpc: {} drift change(s) on {environment} ({endpoint}), {drift_now} difference(s) now:",
            changes.len()
        )];
        lines.extend(changes.iter().map(|c| format!("- {}", c.line())));
        Notice {
            id: hex::encode(rand::random::<[u8; 16]>()),
            source: "proxmox-mpc",
            event: "drift",
            at: crate::state::now(),
            environment: environment.to_string(),
            endpoint: endpoint.to_string(),
            check,
            changes,
            drift_now,
            text: lines.join("\n"),
        }
    }

    /// The generic JSON body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The body a webhook takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The whole [`Notice`] as JSON.
    Json,
    /// `{"text": ...}` for Slack's (and compatible) incoming webhooks.
    Slack,
}

/// A webhook receiver.
pub struct Webhook {
    url: url::Url,
    secret: Option<Secret>,
    format: Format,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.shown())
            .field("signed", &self.secret.is_some())
            .field("format", &self.format)
            .finish()
    }
}

impl Webhook {
    /// Checks `url` (http or https, with a host) and prepares the client: certificates are
    /// verified against the public roots, and redirects are not followed (a notice goes where
    /// it was told to, or counts as not delivered).
    pub fn new(url: &str, secret: Option<Secret>, format: Format) -> Result<Self, CommandError> {
        let bad = |why: &str| {
            CommandError::user(format!("the webhook URL is not usable: {why}"))
                .hint("give an http:// or https:// address, e.g. --webhook https://hooks.example.com/proxmox")
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "its scheme is `{}`; only http and https are allowed",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        let (tls, _) = crate::pve::tls::client_config(&TlsMode::Verify, url).map_err(|e| {
            CommandError::internal(format!("cannot set up TLS for the webhook: {e}"))
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(POST_TIMEOUT)
            .connect_timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("proxmox-mpc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                CommandError::internal(format!("cannot set up the webhook client: {e}"))
            })?;
        Ok(Webhook {
            url: parsed,
            secret,
            format,
            http,
        })
    }

    /// The URL as it may be shown: scheme, host and port, without path or query.
    pub fn shown(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{}://{host}:{port}/…", self.url.scheme()),
            None => format!("{}://{host}/…", self.url.scheme()),
        }
    }

    pub fn is_signed(&self) -> bool {
        self.secret.is_some()
    }

    /// The body of `notice` in this webhook's format.
    pub fn body(&self, notice: &Notice) -> Vec<u8> {
        let value = match self.format {
            Format::Json => notice.json(),
            Format::Slack => serde_json::json!({ "text": notice.text }),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Posts `notice` once. Returns the HTTP status of a 2xx answer, or why it failed (the
    /// message names neither the URL's path nor the secret).
    pub async fn deliver(&self, notice: &Notice) -> Result<u16, String> {
        let body = self.body(notice);
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, "drift")
            .header(DELIVERY_HEADER, &notice.id);
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret.expose().as_bytes(), &body));
        }
        match request.body(body).send().await {
            Ok(answer) if answer.status().is_success() => Ok(answer.status().as_u16()),
            Ok(answer) => Err(format!("the receiver answered HTTP {}", answer.status())),
            Err(e) => Err(describe_error(e)),
        }
    }
}

/// A failed post in words, without the URL (reqwest's own text includes it).
fn describe_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", POST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect (is the receiver running?)".into()
    } else {
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231s_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "not a url",
            "http://",
        ] {
            let e = Webhook::new(bad, None, Format::Json).unwrap_err();
            assert!(e.message.contains("webhook URL"), "{bad}: {}", e.message);
        }
        let ok = Webhook::new(
            "https://hooks.example.com/T000/B000/XXXX?x=1",
            None,
            Format::Slack,
        )
        .unwrap();
        assert_eq!(ok.shown(), "https://hooks.example.com/…");
        assert!(!format!("{ok:?}").contains("XXXX"));
    }
}
