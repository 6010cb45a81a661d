//! `PveError`: every way a PVE call can fail, in kinds a user can act on. Each names the request
//! (method and path) and the object (node, vmid) where known, and its message says what to do
//! next. PVE reports most failures as HTTP 500, so [`classify`] reads the message text
//! (pve-api/NOTES.md §3).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The object a request is about, read from its path (`/nodes/{node}/{qemu|lxc}/{vmid}/...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub node: Option<String>,
    pub vmid: Option<u32>,
}

impl Target {
    /// Reads node and vmid from an API path.
    pub fn from_path(path: &str) -> Self {
        let mut parts = path.trim_start_matches('/').split('/');
        let mut target = Target::default();
        while let Some(part) = parts.next() {
            match part {
                "nodes" if target.node.is_none() => {
                    target.node = parts.next().map(str::to_string);
                }
                "qemu" | "lxc" if target.vmid.is_none() => {
                    target.vmid = parts.next().and_then(|v| v.parse().ok());
                }
                _ => {}
            }
        }
        target
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.vmid, &self.node) {
            (Some(vmid), Some(node)) => write!(f, " (guest {vmid} on node {node})"),
            (None, Some(node)) => write!(f, " (node {node})"),
            (Some(vmid), None) => write!(f, " (guest {vmid})"),
            (None, None) => Ok(()),
        }
    }
}

/// The request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub method: String,
    /// API path below `/api2/json`, without the query.
    pub path: String,
    pub target: Target,
}

impl RequestInfo {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
            target: Target::from_path(path),
        }
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.method, self.path, self.target)
    }
}

fn join_errors(errors: &BTreeMap<String, String>) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim_end()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("\nlast task log lines:\n  {}", lines.join("\n  "))
    }
}

/// A failed PVE call.
#[derive(Debug, thiserror::Error)]
pub enum PveError {
    #[error(
        "cannot reach {endpoint} for {request}: {reason}. Check the endpoint URL, that the node is up and that port 8006 is reachable."
    )]
    Unreachable {
        request: RequestInfo,
        endpoint: String,
        reason: String,
    },
    #[error(
        "TLS with {endpoint} failed: {reason}. Pin the server's certificate fingerprint (proxmox-mpc shows it in /init), give a CA file, or fix the certificate."
    )]
    Tls { endpoint: String, reason: String },
    #[error(
        "the certificate of {endpoint} does not match the pinned fingerprint.\n  expected: {expected}\n  actual:   {actual}\nNothing was sent. If the server's certificate was renewed on purpose, check the new fingerprint on the node (`pvenode cert info`) and update the pin."
    )]
    PinMismatch {
        endpoint: String,
        expected: String,
        actual: String,
    },
    #[error(
        "authentication failed for {request}: {message}. Check the token id and secret (or user and password), and that the token has not expired or been removed."
    )]
    Auth {
        request: RequestInfo,
        message: String,
    },
    #[error(
        "permission denied for {request}: {message}. Grant {} on {} to the token (and, with privilege separation, to its user).",
        privilege.as_deref().unwrap_or("the missing privilege"),
        acl_path.as_deref().unwrap_or("the path")
    )]
    Permission {
        request: RequestInfo,
        message: String,
        acl_path: Option<String>,
        privilege: Option<String>,
    },
    #[error("not found: {request}: {message}. Run /sync to refresh what exists.")]
    NotFound {
        request: RequestInfo,
        message: String,
    },
    #[error("already exists: {request}: {message}. Pick another id or name, or /sync first.")]
    AlreadyExists {
        request: RequestInfo,
        message: String,
    },
    #[error(
        "locked: {request}: {message}. Wait for the running operation ({}) to finish; clear a stale lock on the node with `qm unlock`/`pct unlock`.",
        lock.as_deref().unwrap_or("unknown")
    )]
    Locked {
        request: RequestInfo,
        message: String,
        lock: Option<String>,
    },
    #[error(
        "conflict: {request}: {message}. Someone else changed it since it was read; /sync and /plan again."
    )]
    Conflict {
        request: RequestInfo,
        message: String,
    },
    #[error("invalid parameter for {request}: {}. Fix the value and retry.", if errors.is_empty() { message.trim_end().to_string() } else { join_errors(errors) })]
    InvalidParameter {
        request: RequestInfo,
        message: String,
        errors: BTreeMap<String, String>,
    },
    #[error("task {upid} failed: {exitstatus}.{}", tail(log_tail))]
    TaskFailed {
        upid: String,
        node: String,
        exitstatus: String,
        log_tail: Vec<String>,
    },
    #[error(
        "timed out after {after:?} waiting for {what} ({request}). PVE may still be working: check the task list on the node before retrying."
    )]
    Timeout {
        request: RequestInfo,
        what: String,
        after: Duration,
    },
    #[error("stopped waiting for task {upid}: cancelled. The task may still be running on PVE.")]
    Cancelled { upid: String },
    #[error("PVE answered {status} to {request}: {message}")]
    Api {
        request: RequestInfo,
        status: u16,
        message: String,
    },
    #[error(
        "unexpected answer to {request}: {reason}. This is not what a PVE API server sends; check the endpoint points at PVE (port 8006, /api2/json)."
    )]
    Protocol {
        request: RequestInfo,
        reason: String,
    },
    #[error("client configuration: {0}")]
    Config(String),
}

impl PveError {
    /// Returns the request that failed, when the error came from one.
    pub fn request(&self) -> Option<&RequestInfo> {
        match self {
            PveError::Unreachable { request, .. }
            | PveError::Auth { request, .. }
            | PveError::Permission { request, .. }
            | PveError::NotFound { request, .. }
            | PveError::AlreadyExists { request, .. }
            | PveError::Locked { request, .. }
            | PveError::Conflict { request, .. }
            | PveError::InvalidParameter { request, .. }
            | PveError::Timeout { request, .. }
            | PveError::Api { request, .. }
            | PveError::Protocol { request, .. } => Some(request),
            _ => None,
        }
    }

    /// Short name of the kind, for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            PveError::Unreachable { .. } => "unreachable",
            PveError::Tls { .. } => "tls",
            PveError::PinMismatch { .. } => "pin-mismatch",
            PveError::Auth { .. } => "auth",
            PveError::Permission { .. } => "permission",
            PveError::NotFound { .. } => "not-found",
            PveError::AlreadyExists { .. } => "already-exists",
            PveError::Locked { .. } => "locked",
            PveError::Conflict { .. } => "conflict",
            PveError::InvalidParameter { .. } => "invalid-parameter",
            PveError::TaskFailed { .. } => "task-failed",
            PveError::Timeout { .. } => "timeout",
            PveError::Cancelled { .. } => "cancelled",
            PveError::Api { .. } => "api",
            PveError::Protocol { .. } => "protocol",
            PveError::Config(_) => "config",
        }
    }
}

/// Reads `Permission check failed (/vms/100, VM.Config.CPU)` into (path, privilege).
fn parse_permission(message: &str) -> (Option<String>, Option<String>) {
    let Some(start) = message.find('(') else {
        return (None, None);
    };
    let Some(end) = message[start..].find(')') else {
        return (None, None);
    };
    let inner = &message[start + 1..start + end];
    match inner.split_once(',') {
        Some((path, privilege)) => (
            Some(path.trim().to_string()),
            Some(privilege.trim().to_string()),
        ),
        None => (None, None),
    }
}

/// Reads the lock name from `VM is locked (backup)`.
fn parse_lock(message: &str) -> Option<String> {
    let at = message.find("locked (")? + "locked (".len();
    let end = message[at..].find(')')?;
    Some(message[at..at + end].to_string())
}

/// Turns a non-success HTTP answer into the error kind a user can act on.
///
/// `message` is the body's `message` or, for PVE before 8.3, the reason phrase.
pub fn classify(
    request: RequestInfo,
    status: u16,
    message: String,
    errors: BTreeMap<String, String>,
) -> PveError {
    let message = message.trim_end().to_string();
    let lower = message.to_ascii_lowercase();
    match status {
        401 => PveError::Auth { request, message },
        403 => {
            let (acl_path, privilege) = parse_permission(&message);
            PveError::Permission {
                request,
                message,
                acl_path,
                privilege,
            }
        }
        400 if errors.values().any(|e| e.contains("already exists")) => PveError::AlreadyExists {
            request,
            message: join_errors(&errors),
        },
        400 if errors
            .get("upid")
            .is_some_and(|e| e.contains("no such task")) =>
        {
            PveError::NotFound {
                request,
                message: join_errors(&errors),
            }
        }
        400 => PveError::InvalidParameter {
            request,
            message,
            errors,
        },
        _ if lower.contains("checksum mismatch")
            || lower.contains("file changed by other user") =>
        {
            PveError::Conflict { request, message }
        }
        _ if lower.contains("is locked") => PveError::Locked {
            lock: parse_lock(&message),
            request,
            message,
        },
        _ if lower.contains("already exists") => PveError::AlreadyExists { request, message },
        _ if lower.contains("does not exist")
            || lower.contains("no such")
            || lower.contains("not found") =>
        {
            PveError::NotFound { request, message }
        }
        404 => PveError::NotFound { request, message },
        _ => PveError::Api {
            request,
            status,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> RequestInfo {
        RequestInfo::new("POST", path)
    }

    #[test]
    fn target_comes_from_the_path() {
        let t = Target::from_path("/nodes/pve2/qemu/105/status/start");
        assert_eq!(t.node.as_deref(), Some("pve2"));
        assert_eq!(t.vmid, Some(105));
        assert_eq!(Target::from_path("/cluster/resources"), Target::default());
    }

    #[test]
    fn pve_500s_are_classified_by_message() {
        let e = classify(
            req("/nodes/a/qemu/1/config"),
            500,
            "Configuration file 'nodes/a/qemu-server/1.conf' does not exist\n".into(),
            BTreeMap::new(),
        );
        assert_eq!(e.kind(), "not-found");
        let e = classify(
            req("/nodes/a/qemu/1/config"),
            500,
            "VM is locked (backup)".into(),
            BTreeMap::new(),
        );
        assert!(matches!(&e, PveError::Locked { lock: Some(l), .. } if l == "backup"));
        let e = classify(
            req("/nodes/a/qemu/1/config"),
            500,
            "checksum mismatch (file change by other user?)".into(),
            BTreeMap::new(),
        );
        assert_eq!(e.kind(), "conflict");
        let e = classify(
            req("/nodes/a/qemu"),
            500,
            "VM 100 already exists on node 'a'".into(),
            BTreeMap::new(),
        );
        assert_eq!(e.kind(), "already-exists");
        let e = classify(req("/x"), 500, "got timeout".into(), BTreeMap::new());
        assert_eq!(e.kind(), "api");
    }

    #[test]
    fn permission_names_path_and_privilege() {
        let e = classify(
            req("/nodes/a/qemu/1/config"),
            403,
            "Permission check failed (/vms/1, VM.Config.CPU)\n".into(),
            BTreeMap::new(),
        );
        let text = e.to_string();
        assert!(text.contains("VM.Config.CPU on /vms/1"), "{text}");
        assert!(text.contains("guest 1 on node a"), "{text}");
    }

    #[test]
    fn invalid_parameter_lists_each_field() {
        let mut errors = BTreeMap::new();
        errors.insert(
            "cores".to_string(),
            "value must be at least 1\n".to_string(),
        );
        let e = classify(
            req("/nodes/a/qemu"),
            400,
            "Parameter verification failed.\n".into(),
            errors,
        );
        assert!(e.to_string().contains("cores: value must be at least 1"));
    }
}
