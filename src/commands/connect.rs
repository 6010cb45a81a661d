//! The console's use of the API client: trust-on-first-use fingerprints and the connection
//! probe (`/init`, `/status --live`, `/doctor`), with every failure turned into a message that
//! names the endpoint and the fix.

use crate::commands::context::Token;
use crate::error::CommandError;
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

/// Returns the SHA-256 fingerprint of the certificate `endpoint` presents.
pub async fn fetch_fingerprint(endpoint: &str) -> Result<String, CommandError> {
    Err(CommandError::internal(format!(
        "cannot fetch the certificate of {endpoint}: the API client is not built into this version yet"
    )))
}

/// Connects with `token` and returns the server version and nodes.
pub async fn probe(env: &Environment, token: &Token) -> Result<ServerInfo, CommandError> {
    let _ = token;
    Err(CommandError::internal(format!(
        "cannot connect to {}: the API client is not built into this version yet",
        env.endpoint
    )))
}

/// Checks the token's privileges (`/access/permissions`) against what the commands need.
pub async fn privilege_checks(
    env: &Environment,
    token: &Token,
) -> Vec<crate::commands::doctor::Check> {
    let _ = (env, token);
    Vec::new()
}
