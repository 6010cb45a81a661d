//! `/access`: realms, login tickets, the caller's permissions and API tokens.

use serde_json::{Map, Value, json};

use crate::sim::TokenKind;
use crate::sim::server::{lock, now};

use super::{ALL_PRIVS, ApiError, Ctx, Reply, has_priv, ok};

pub(super) fn access_domains(_ctx: &Ctx) -> Result<Reply, ApiError> {
    ok(json!([
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server", "default": 1},
    ]))
}

pub(super) fn access_ticket(ctx: &Ctx) -> Result<Reply, ApiError> {
    let fail = || ApiError {
        with_body: true,
        ..ApiError::new(401, "authentication failure")
    };
    let mut user = ctx.p("username").unwrap_or("").to_string();
    if !user.contains('@')
        && let Some(realm) = ctx.p("realm")
    {
        user = format!("{user}@{realm}");
    }
    let password = ctx.p("password").unwrap_or("");
    let renewing = lock(&ctx.shared.tickets).get(password) == Some(&user);
    if user != "root@pam" || (password != ctx.shared.password && !renewing) {
        return Err(fail());
    }
    let t = now();
    let sig = <sha2::Sha256 as sha2::Digest>::digest(
        format!(
            "{}:{user}:{t}:{}",
            ctx.shared.seed_number,
            lock(&ctx.shared.tickets).len()
        )
        .as_bytes(),
    );
    let ticket = format!(
        "PVE:{user}:{t:08X}::{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig)
    );
    lock(&ctx.shared.tickets).insert(ticket.clone(), user.clone());
    let cluster_name = lock(&ctx.shared.cluster).name.clone();
    ok(json!({
        "username": user, "ticket": ticket, "CSRFPreventionToken": ctx.shared.csrf,
        "clustername": cluster_name,
        "cap": {"vms": {"VM.Allocate": 1, "VM.Audit": 1}, "storage": {"Datastore.Audit": 1}, "nodes": {"Sys.Audit": 1}, "access": {}, "dc": {}, "sdn": {}},
    }))
}

pub(super) fn access_permissions(ctx: &Ctx) -> Result<Reply, ApiError> {
    let privs: Map<String, Value> = ALL_PRIVS
        .iter()
        .filter(|p| has_priv(ctx.caller.kind, p))
        .map(|p| (p.to_string(), json!(1)))
        .collect();
    let paths: Vec<String> = match ctx.p("path") {
        Some(p) => vec![p.to_string()],
        None => [
            "/", "/access", "/nodes", "/pool", "/sdn", "/storage", "/vms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    };
    let out: Map<String, Value> = paths
        .into_iter()
        .map(|p| (p, Value::Object(privs.clone())))
        .collect();
    ok(Value::Object(out))
}

pub(super) fn token_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let userid = ctx.p("userid").unwrap_or("");
    let tokens = lock(&ctx.shared.tokens);
    let out: Vec<Value> = tokens
        .keys()
        .filter_map(|id| id.split_once('!'))
        .filter(|(u, _)| *u == userid)
        .map(
            |(_, t)| json!({"tokenid": t, "expire": 0, "privsep": 1, "comment": "simulator token"}),
        )
        .collect();
    ok(Value::Array(out))
}

fn full_tokenid(ctx: &Ctx) -> String {
    format!(
        "{}!{}",
        ctx.p("userid").unwrap_or(""),
        ctx.p("tokenid").unwrap_or("")
    )
}

pub(super) fn token_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    if !lock(&ctx.shared.tokens).contains_key(&id) {
        return Err(ApiError::internal(format!(
            "no such token '{}' for user '{}'",
            ctx.p("tokenid").unwrap_or(""),
            ctx.p("userid").unwrap_or("")
        )));
    }
    ok(json!({"expire": 0, "privsep": 1, "comment": "simulator token"}))
}

pub(super) fn token_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    let userid = ctx.p("userid").unwrap_or("");
    if !["root@pam", "auditor@pve", "operator@pve"].contains(&userid) {
        return Err(ApiError::internal(format!("no such user ('{userid}')")));
    }
    let mut tokens = lock(&ctx.shared.tokens);
    if tokens.contains_key(&id) {
        return Err(ApiError::internal("Token already exists."));
    }
    let privsep = ctx.p("privsep").unwrap_or("1");
    // the simulator has no ACL editor: a privilege-separated token gets audit rights only
    let kind = match (privsep, userid) {
        ("0", "root@pam") => TokenKind::Full,
        ("0", "operator@pve") => TokenKind::NoAllocate,
        _ => TokenKind::ReadOnly,
    };
    let digest = <sha2::Sha256 as sha2::Digest>::digest(
        format!("{}:{id}:{}", ctx.shared.seed_number, now()).as_bytes(),
    );
    let secret = format!("sim-{}", &hex::encode(digest)[..24]);
    tokens.insert(id.clone(), (secret.clone(), kind));
    ok(json!({
        "full-tokenid": id,
        "info": {"privsep": privsep, "expire": ctx.p("expire").unwrap_or("0"), "comment": ctx.p("comment").unwrap_or("")},
        "value": secret,
    }))
}

pub(super) fn token_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = full_tokenid(ctx);
    if lock(&ctx.shared.tokens).remove(&id).is_none() {
        return Err(ApiError::internal(format!(
            "no such token '{}' for user '{}'",
            ctx.p("tokenid").unwrap_or(""),
            ctx.p("userid").unwrap_or("")
        )));
    }
    ok(Value::Null)
}
