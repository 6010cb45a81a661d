//! Secrets kept in HashiCorp Vault or OpenBao: the `vault:MOUNT/PATH#FIELD` reference of
//! config.yml's `secret` (and `ai.key`), and a small KV version 2 client that reads one field.
//!
//! Owns parsing the reference, logging in (a token, or AppRole's role and secret id), and
//! turning each way a read can fail (unreachable, sealed, denied, no such secret, no such
//! field) into a message naming the secret's path and what to do next. What it reads comes
//! back as a masked [`Secret`] and is never written anywhere; the settings come from the
//! caller (the commands' context is the one place environment variables are read).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::pve::Secret;
use crate::pve::tls::{TlsMode, client_config};

/// How long one request to Vault may take: a secret read is small, a hung server should not
/// hold a command for long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How to log in to Vault.
#[derive(Debug, Clone)]
pub enum VaultAuth {
    /// `VAULT_TOKEN`.
    Token(Secret),
    /// `VAULT_ROLE_ID` and `VAULT_SECRET_ID`: POST /v1/auth/approle/login first.
    AppRole { role_id: String, secret_id: Secret },
}

/// Where Vault is and how to talk to it (`VAULT_ADDR`, `VAULT_NAMESPACE`, `VAULT_CACERT`).
#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub addr: String,
    pub auth: VaultAuth,
    pub namespace: Option<String>,
    /// A PEM file of the CA that signed Vault's certificate (else the web PKI roots).
    pub cacert: Option<PathBuf>,
}

/// A read that failed: what happened (naming the secret) and the next step. Neither ever
/// holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultError {
    pub message: String,
    pub hint: String,
}

impl VaultError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Splits `MOUNT/PATH#FIELD` (the text after `vault:`) into its three parts.
pub fn parse_reference(text: &str) -> Result<(String, String, String), String> {
    let expected = "expected vault:MOUNT/PATH#FIELD, e.g. vault:secret/proxmox#token";
    let (location, field) = text
        .rsplit_once('#')
        .ok_or_else(|| format!("no #FIELD; {expected}"))?;
    let (mount, path) = location
        .split_once('/')
        .ok_or_else(|| format!("no /PATH after the mount; {expected}"))?;
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '?' | '#' | '%'))
    };
    if !segment_ok(mount) {
        return Err(format!("the mount `{mount}` is not usable; {expected}"));
    }
    if !path.split('/').all(segment_ok) {
        return Err(format!("the path `{path}` is not usable; {expected}"));
    }
    if field.is_empty() || field.chars().any(|c| c.is_control()) {
        return Err(format!("the field is empty; {expected}"));
    }
    Ok((mount.to_string(), path.to_string(), field.to_string()))
}

/// Reads `field` of the KV v2 secret `mount/path`. Blocking: runs on a thread of its own with
/// its own runtime, so it works from synchronous code inside or outside a Tokio runtime.
pub fn read_field(
    settings: &VaultSettings,
    mount: &str,
    path: &str,
    field: &str,
) -> Result<Secret, VaultError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        VaultError::new(format!("cannot start the Vault client: {e}"), "try again")
                    })?;
                runtime.block_on(read_field_async(settings, mount, path, field))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(VaultError::new(
                    "the Vault client stopped unexpectedly",
                    "try again; report it if it persists",
                ))
            })
    })
}

async fn read_field_async(
    settings: &VaultSettings,
    mount: &str,
    path: &str,
    field: &str,
) -> Result<Secret, VaultError> {
    let name = format!("{mount}/{path}");
    let addr = settings.addr.trim_end_matches('/');
    let http = http_client(settings)?;
    let token = match &settings.auth {
        VaultAuth::Token(token) => token.clone(),
        VaultAuth::AppRole { role_id, secret_id } => {
            approle_login(&http, settings, role_id, secret_id).await?
        }
    };
    let url = format!("{addr}/v1/{mount}/data/{path}");
    let mut request = http.get(&url).header("X-Vault-Token", token.expose());
    if let Some(ns) = &settings.namespace {
        request = request.header("X-Vault-Namespace", ns);
    }
    let response = request
        .send()
        .await
        .map_err(|e| unreachable_error(addr, &e))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    check_status(status, &body, addr, &name)?;
    let data = body
        .pointer("/data/data")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            VaultError::new(
                format!("Vault's answer for {name} holds no KV version 2 data"),
                format!("is `{mount}` a KV version 2 mount? (bao secrets list shows each mount's version)"),
            )
        })?;
    match data.get(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Secret::new(text.trim())),
        Some(Value::String(_)) => Err(VaultError::new(
            format!("the field `{field}` of the Vault secret {name} is empty"),
            "put the token secret there and try again",
        )),
        Some(_) => Err(VaultError::new(
            format!("the field `{field}` of the Vault secret {name} is not text"),
            "store the token secret as a string",
        )),
        None => {
            let fields: Vec<&str> = data.keys().map(String::as_str).collect();
            Err(VaultError::new(
                format!("the Vault secret {name} has no field `{field}`"),
                format!(
                    "its fields are: {}; name one with /config set secret vault:{name}#FIELD",
                    if fields.is_empty() {
                        "(none)".to_string()
                    } else {
                        fields.join(", ")
                    }
                ),
            ))
        }
    }
}

/// The HTTP client: rustls with the ring provider, `VAULT_CACERT` as the only root when set.
fn http_client(settings: &VaultSettings) -> Result<reqwest::Client, VaultError> {
    let mode = settings
        .cacert
        .clone()
        .map_or(TlsMode::Verify, TlsMode::CaFile);
    let (tls, _) = client_config(&mode, &settings.addr).map_err(|e| {
        VaultError::new(
            format!("cannot set up TLS for Vault: {e}"),
            "check VAULT_CACERT (a PEM file of the CA that signed Vault's certificate)",
        )
    })?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("proxmox-mpc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| VaultError::new(format!("cannot set up the Vault client: {e}"), "try again"))
}

/// Logs in with AppRole and returns the client token.
async fn approle_login(
    http: &reqwest::Client,
    settings: &VaultSettings,
    role_id: &str,
    secret_id: &Secret,
) -> Result<Secret, VaultError> {
    let addr = settings.addr.trim_end_matches('/');
    let mut request = http
        .post(format!("{addr}/v1/auth/approle/login"))
        .json(&serde_json::json!({ "role_id": role_id, "secret_id": secret_id.expose() }));
    if let Some(ns) = &settings.namespace {
        request = request.header("X-Vault-Namespace", ns);
    }
    let response = request
        .send()
        .await
        .map_err(|e| unreachable_error(addr, &e))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == 503 || mentions_sealed(&body) {
        return Err(sealed_error(addr));
    }
    match body.pointer("/auth/client_token").and_then(Value::as_str) {
        Some(token) if (200..300).contains(&status) && !token.is_empty() => Ok(Secret::new(token)),
        _ => Err(VaultError::new(
            format!(
                "the AppRole login at {addr} was refused (HTTP {status}{})",
                errors_of(&body)
            ),
            "check VAULT_ROLE_ID and VAULT_SECRET_ID (a secret id may have expired or been used up)",
        )),
    }
}

/// Turns a non-success status into the error a user can act on.
fn check_status(status: u16, body: &Value, addr: &str, name: &str) -> Result<(), VaultError> {
    match status {
        200..=299 => Ok(()),
        503 => Err(sealed_error(addr)),
        _ if mentions_sealed(body) => Err(sealed_error(addr)),
        404 => Err(VaultError::new(
            format!("Vault at {addr} has no secret at {name}"),
            format!(
                "write it (bao kv put -mount={} {} FIELD=...) or point `secret` at the right path with /config set secret vault:MOUNT/PATH#FIELD",
                name.split('/').next().unwrap_or_default(),
                name.split_once('/').map_or("", |(_, p)| p)
            ),
        )),
        401 | 403 => Err(VaultError::new(
            format!(
                "Vault at {addr} denied reading {name} (HTTP {status}{})",
                errors_of(body)
            ),
            format!(
                "the token (VAULT_TOKEN, or the AppRole's) needs a policy allowing read on {}/data/{}; check that it has not expired",
                name.split('/').next().unwrap_or_default(),
                name.split_once('/').map_or("", |(_, p)| p)
            ),
        )),
        _ => Err(VaultError::new(
            format!(
                "Vault at {addr} answered HTTP {status} for {name}{}",
                errors_of(body)
            ),
            "check the server's log, then try again",
        )),
    }
}

fn sealed_error(addr: &str) -> VaultError {
    VaultError::new(
        format!("Vault at {addr} is sealed"),
        "unseal it (bao operator unseal, or vault operator unseal) and try again",
    )
}

fn unreachable_error(addr: &str, error: &reqwest::Error) -> VaultError {
    let mut why = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        why = format!("{why}: {inner}");
        source = inner.source();
    }
    VaultError::new(
        format!("cannot reach Vault at {addr}: {why}"),
        "check VAULT_ADDR and that the server is running (VAULT_CACERT names the CA of a private certificate)",
    )
}

fn mentions_sealed(body: &Value) -> bool {
    body.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors
                .iter()
                .filter_map(Value::as_str)
                .any(|e| e.contains("sealed"))
        })
}

/// `: msg; msg` of Vault's `errors` array, trimmed (Vault's messages never hold a secret).
fn errors_of(body: &Value) -> String {
    let messages: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(Value::as_str)
                .map(|e| {
                    e.split(['\n', '\t', '*'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && !s.ends_with("error occurred:"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|e| !e.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        String::new()
    } else {
        format!(": {}", messages.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_path_and_field() {
        assert_eq!(
            parse_reference("secret/proxmox/prod#token").unwrap(),
            ("secret".into(), "proxmox/prod".into(), "token".into())
        );
        for bad in [
            "secret#token",
            "secret/proxmox",
            "/proxmox#t",
            "secret/#t",
            "secret/a/../b#t",
            "secret/p#",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vault_errors_are_shortened() {
        let body = serde_json::json!({"errors": ["1 error occurred:\n\t* permission denied\n\n"]});
        assert_eq!(errors_of(&body), ": permission denied");
        assert!(mentions_sealed(
            &serde_json::json!({"errors": ["Vault is sealed"]})
        ));
    }
}
