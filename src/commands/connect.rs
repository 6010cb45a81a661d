//! The console's use of the API client: building a [`pve::Client`] from the workspace
//! configuration, trust-on-first-use fingerprints, the connection probe (`/init`,
//! `/status --live`, `/doctor`), the token's privileges and the node clock — every failure
//! turned into a message that names the endpoint and the fix.

use std::path::PathBuf;
use std::time::Duration;

use crate::commands::context::Token;
use crate::commands::doctor::{Check, Level};
use crate::error::CommandError;
use crate::pve::{self, Auth, Client, ClientConfig, PveError, TlsMode};
use crate::workspace::config::Environment;

/// One node as the probe saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub online: bool,
}

/// What the connection probe learned.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub version: String,
    pub nodes: Vec<NodeInfo>,
}

/// Returns the TLS mode `env` asks for.
pub fn tls_mode(env: &Environment) -> TlsMode {
    if env.tls.insecure {
        TlsMode::Insecure
    } else if let Some(fp) = &env.tls.fingerprint {
        TlsMode::Pinned(fp.clone())
    } else if let Some(ca) = &env.tls.ca_file {
        TlsMode::CaFile(PathBuf::from(ca))
    } else {
        TlsMode::Verify
    }
}

/// Builds a client for `env` with `token`; short timeouts and one retry, since a person waits.
pub fn client(env: &Environment, token: &Token) -> Result<Client, CommandError> {
    let auth = Auth::Token {
        id: token.id.clone(),
        secret: token.secret.clone(),
    };
    let mut config = ClientConfig::new(env.endpoint.clone(), auth, tls_mode(env));
    config.connect_timeout = Duration::from_secs(env.defaults.timeout_secs.min(10));
    config.request_timeout = Duration::from_secs(env.defaults.timeout_secs);
    config.retries = 1;
    Client::new(config).map_err(|e| pve_error(e, &env.endpoint))
}

/// Turns an API error into a console error with the next step.
pub fn pve_error(e: PveError, endpoint: &str) -> CommandError {
    let hint = match &e {
        PveError::Unreachable { .. } => format!(
            "check the address ({endpoint}) with /config, or fix it with /config set endpoint URL"
        ),
        PveError::Tls { .. } | PveError::PinMismatch { .. } => {
            "if the certificate changed on purpose: /config set tls.fingerprint NEW_FINGERPRINT".to_string()
        }
        PveError::Auth { .. } => {
            "check the token id (/config) and the secret it reads; create a new token in the PVE web UI under Datacenter > Permissions > API Tokens".to_string()
        }
        PveError::Config(_) => "fix the setting with /config set".to_string(),
        _ => "run /doctor for a full check".to_string(),
    };
    CommandError::user(e.to_string()).hint(hint)
}

/// Returns the SHA-256 fingerprint of the certificate `endpoint` presents (TLS handshake only).
pub async fn fetch_fingerprint(endpoint: &str) -> Result<String, CommandError> {
    pve::fetch_fingerprint(endpoint)
        .await
        .map_err(|e| pve_error(e, endpoint))
}

/// Asks `client` (talking to `endpoint`) for the server version and nodes.
pub async fn probe(client: &Client, endpoint: &str) -> Result<ServerInfo, CommandError> {
    let version = client.version().await.map_err(|e| pve_error(e, endpoint))?;
    let nodes = client.nodes().await.map_err(|e| pve_error(e, endpoint))?;
    let mut nodes: Vec<NodeInfo> = nodes
        .into_iter()
        .map(|n| NodeInfo {
            online: n.status.as_deref() == Some("online"),
            name: n.node,
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ServerInfo {
        version: version
            .version
            .unwrap_or_else(|| "(unknown version)".into()),
        nodes,
    })
}

/// What each command needs: (privilege, ACL path, who needs it).
const REQUIRED: &[(&str, &str, &str)] = &[
    ("Sys.Audit", "/", "/status --live, /sync (nodes, cluster)"),
    ("VM.Audit", "/vms", "/sync (guest configs)"),
    ("Datastore.Audit", "/storage", "/sync (storages)"),
    ("VM.Allocate", "/vms", "/apply (create, destroy)"),
    ("VM.Config.CPU", "/vms", "/apply (change cores)"),
    ("VM.Config.Memory", "/vms", "/apply (change memory)"),
    ("VM.Config.Disk", "/vms", "/apply (disks)"),
    ("VM.Config.Network", "/vms", "/apply (NICs)"),
    ("VM.PowerMgmt", "/vms", "/apply (start, stop)"),
    ("Datastore.AllocateSpace", "/storage", "/apply (new disks)"),
];

/// Returns true when `perms` grants `privilege` on `path` or on one of its ancestors.
fn holds(perms: &pve::types::Permissions, privilege: &str, path: &str) -> bool {
    let mut candidate = path.to_string();
    loop {
        if let Some(privs) = perms.get(&candidate)
            && privs
                .get(privilege)
                .is_some_and(|v| v.as_u64().unwrap_or(1) != 0 || v.as_bool() == Some(true))
        {
            return true;
        }
        if candidate == "/" {
            return false;
        }
        candidate = match candidate.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => candidate[..i].to_string(),
        };
    }
}

/// Checks the privileges of the token `client` uses (`token_id`, from `/access/permissions`)
/// against what the commands need, and the first online node's clock.
pub async fn privilege_checks(client: &Client, token_id: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    match client.permissions().await {
        Err(e) => checks.push(Check {
            name: "privileges",
            level: Level::Warn,
            detail: format!("cannot read the token's permissions: {e}"),
            fix: "grant Sys.Audit on / so the token can read its own permissions".into(),
        }),
        Ok(perms) => {
            let missing: Vec<String> = REQUIRED
                .iter()
                .filter(|(privilege, path, _)| !holds(&perms, privilege, path))
                .map(|(privilege, path, used)| format!("{privilege} on {path} (for {used})"))
                .collect();
            if missing.is_empty() {
                checks.push(Check {
                    name: "privileges",
                    level: Level::Ok,
                    detail: "the token holds every privilege the commands use".into(),
                    fix: String::new(),
                });
            } else {
                checks.push(Check {
                    name: "privileges",
                    level: Level::Warn,
                    detail: format!("missing: {}", missing.join("; ")),
                    fix: format!(
                        "grant them to {token_id} (pveum acl modify PATH --tokens {token_id} --roles ROLE); without them those commands fail"
                    ),
                });
            }
        }
    }
    let node = client
        .nodes()
        .await
        .ok()
        .and_then(|nodes| {
            nodes
                .into_iter()
                .find(|n| n.status.as_deref() == Some("online"))
        })
        .map(|n| n.node);
    if let Some(node) = node {
        let answer: Result<serde_json::Value, _> =
            client.get(&format!("/nodes/{node}/time"), Vec::new()).await;
        let server_time = answer.ok().and_then(|v| {
            v.get("time")
                .and_then(|t| t.as_i64().or_else(|| t.as_str()?.parse().ok()))
        });
        match server_time {
            Some(t) => {
                let skew = (chrono::Utc::now().timestamp() - t).abs();
                let (level, fix) = if skew > 30 {
                    (
                        Level::Warn,
                        "sync the clocks with NTP (chrony) on this machine and the node",
                    )
                } else {
                    (Level::Ok, "")
                };
                checks.push(Check {
                    name: "clock",
                    level,
                    detail: format!("{skew}s between this machine and {node}"),
                    fix: fix.into(),
                });
            }
            None => checks.push(Check {
                name: "clock",
                level: Level::Warn,
                detail: format!("cannot read the clock of {node} (GET /nodes/{node}/time)"),
                fix: "grant Sys.Audit on /nodes, or compare `date` on both machines by hand".into(),
            }),
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_inherited_from_ancestor_paths() {
        let mut perms = pve::types::Permissions::new();
        perms.insert(
            "/".into(),
            [("Sys.Audit".to_string(), serde_json::json!(1))].into(),
        );
        perms.insert(
            "/vms".into(),
            [("VM.Audit".to_string(), serde_json::json!(1))].into(),
        );
        assert!(holds(&perms, "Sys.Audit", "/vms/100"));
        assert!(holds(&perms, "VM.Audit", "/vms"));
        assert!(!holds(&perms, "VM.Audit", "/storage"));
    }
}
