//! `/access`: realms, login tickets, the caller's permissions, API tokens, roles and the ACL.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::sim::TokenKind;
use crate::sim::server::{Shared, lock, now};

use super::{ALL_PRIVS, ApiError, Ctx, Reply, ok};

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
        .filter(|p| ctx.caller.holds(p))
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
    // Without privilege separation a token has its user's rights; with it, exactly what the
    // ACL grants the token (nothing until `PUT /access/acl` names it), as in PVE.
    let kind = match (privsep, userid) {
        ("0", "root@pam") => TokenKind::Full,
        ("0", "operator@pve") => TokenKind::NoAllocate,
        _ => TokenKind::ReadOnly,
    };
    if privsep != "0" {
        lock(&ctx.shared.acl_tokens).insert(id.clone());
    }
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
    lock(&ctx.shared.acl_tokens).remove(&id);
    lock(&ctx.shared.acl).retain(|(_, kind, ugid, _)| !(kind == "token" && *ugid == id));
    if lock(&ctx.shared.tokens).remove(&id).is_none() {
        return Err(ApiError::internal(format!(
            "no such token '{}' for user '{}'",
            ctx.p("tokenid").unwrap_or(""),
            ctx.p("userid").unwrap_or("")
        )));
    }
    ok(Value::Null)
}

/// PVE's built-in roles the simulator knows (a subset), by privilege.
pub(crate) fn builtin_roles() -> BTreeMap<String, BTreeSet<String>> {
    let set = |f: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
        ALL_PRIVS
            .iter()
            .filter(|p| f(p))
            .map(|p| p.to_string())
            .collect()
    };
    BTreeMap::from([
        ("Administrator".to_string(), set(&|_| true)),
        ("PVEAuditor".to_string(), set(&|p| p.ends_with(".Audit"))),
        ("NoAccess".to_string(), BTreeSet::new()),
    ])
}

/// The privileges the ACL grants `ugid` (of `kind`: user, group, token) through its roles.
pub(crate) fn granted_to(shared: &Shared, kind: &str, ugid: &str) -> BTreeSet<String> {
    let roles = lock(&shared.roles);
    lock(&shared.acl)
        .iter()
        .filter(|(_, k, u, _)| k == kind && u == ugid)
        .filter_map(|(_, _, _, role)| roles.get(role))
        .flatten()
        .cloned()
        .collect()
}

pub(super) fn role_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let roleid = ctx.p("roleid").unwrap_or("");
    if roleid.is_empty()
        || !roleid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::param(
            "roleid",
            "value does not match the regex pattern",
        ));
    }
    let mut privs = BTreeSet::new();
    for p in super::split_list(ctx.p("privs").unwrap_or("")) {
        if !ALL_PRIVS.contains(&p.as_str()) {
            return Err(ApiError::param(
                "privs",
                &format!("invalid privilege '{p}'"),
            ));
        }
        privs.insert(p);
    }
    let mut roles = lock(&ctx.shared.roles);
    if roles.contains_key(roleid) {
        return Err(ApiError::internal(format!(
            "create role failed: role '{roleid}' already exists"
        )));
    }
    roles.insert(roleid.to_string(), privs);
    ok(Value::Null)
}

pub(super) fn role_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let roleid = ctx.p("roleid").unwrap_or("");
    match lock(&ctx.shared.roles).get(roleid) {
        Some(privs) => ok(Value::Object(
            privs.iter().map(|p| (p.clone(), json!(1))).collect(),
        )),
        None => Err(ApiError::internal(format!(
            "role '{roleid}' does not exist"
        ))),
    }
}

pub(super) fn acl_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let out: Vec<Value> = lock(&ctx.shared.acl)
        .iter()
        .map(|(path, kind, ugid, role)| {
            json!({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": 1})
        })
        .collect();
    ok(Value::Array(out))
}

pub(super) fn acl_update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let path = ctx.p("path").unwrap_or("").to_string();
    if !path.starts_with('/') {
        return Err(ApiError::param(
            "path",
            &format!("invalid ACL path '{path}'"),
        ));
    }
    let roles = super::split_list(ctx.p("roles").unwrap_or(""));
    for role in &roles {
        if !lock(&ctx.shared.roles).contains_key(role) {
            return Err(ApiError::internal(format!("role '{role}' does not exist")));
        }
    }
    let mut subjects = Vec::new();
    for (kind, param) in [("user", "users"), ("token", "tokens")] {
        for ugid in super::split_list(ctx.p(param).unwrap_or("")) {
            let known = match kind {
                "token" => lock(&ctx.shared.tokens).contains_key(&ugid),
                _ => ["root@pam", "auditor@pve", "operator@pve"].contains(&ugid.as_str()),
            };
            if !known {
                return Err(ApiError::internal(format!(
                    "{kind} '{ugid}' does not exist"
                )));
            }
            subjects.push((kind.to_string(), ugid));
        }
    }
    let delete = ctx.flag("delete");
    let mut acl = lock(&ctx.shared.acl);
    for (kind, ugid) in subjects {
        for role in &roles {
            let entry = (path.clone(), kind.clone(), ugid.clone(), role.clone());
            acl.retain(|e| *e != entry);
            if !delete {
                acl.push(entry);
            }
        }
    }
    ok(Value::Null)
}

/// The users the simulator knows: the built-in tokens' owners (PVE's own `root@pam`, and the
/// `pve`-realm users the tokens belong to).
const USERS: &[(&str, &str)] = &[
    ("root@pam", "pam"),
    ("auditor@pve", "pve"),
    ("operator@pve", "pve"),
];

/// A user's tokens as (token name, privsep).
fn user_tokens(ctx: &Ctx, userid: &str) -> Vec<(String, u8)> {
    let tokens = lock(&ctx.shared.tokens);
    let acl = lock(&ctx.shared.acl_tokens);
    tokens
        .keys()
        .filter_map(|id| id.split_once('!').map(|(u, t)| (id, u, t)))
        .filter(|(_, u, _)| *u == userid)
        .map(|(id, _, t)| (t.to_string(), u8::from(acl.contains(id.as_str()))))
        .collect()
}

/// `GET /access/users` (AC `src/PVE/API2/User.pm` index): every user, with `full=1` their
/// tokens; `enabled` filters by the account's state (all are enabled here).
pub(super) fn users_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    if ctx.p("enabled") == Some("0") {
        return ok(json!([]));
    }
    let full = ctx.flag("full");
    let out: Vec<Value> = USERS
        .iter()
        .map(|(userid, realm)| {
            let mut o = json!({"userid": userid, "enable": 1, "expire": 0, "realm-type": realm});
            if full {
                let tokens: Vec<Value> = user_tokens(ctx, userid)
                    .into_iter()
                    .map(|(t, privsep)| json!({"tokenid": t, "privsep": privsep, "expire": 0}))
                    .collect();
                o["tokens"] = json!(tokens);
                o["groups"] = json!("");
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

/// `GET /access/users/{userid}`: an unknown user is "no such user ('ID')" (AC
/// `src/PVE/AccessControl.pm` L678 @ 5ccd07d).
pub(super) fn user_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let userid = ctx.p("userid").unwrap_or("");
    if !USERS.iter().any(|(u, _)| *u == userid) {
        return Err(ApiError::internal(format!("no such user ('{userid}')")));
    }
    let tokens: Map<String, Value> = user_tokens(ctx, userid)
        .into_iter()
        .map(|(t, privsep)| (t, json!({"privsep": privsep, "expire": 0})))
        .collect();
    ok(json!({"enable": 1, "expire": 0, "groups": [], "tokens": tokens}))
}

/// `GET /access/groups`: a fresh PVE has no groups, and neither has the simulator.
pub(super) fn groups_list(_ctx: &Ctx) -> Result<Reply, ApiError> {
    ok(json!([]))
}
