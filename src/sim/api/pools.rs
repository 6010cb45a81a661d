//! Resource pools (`/pools[/{poolid}]`): list, members, create, update (members move in and out),
//! delete.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::sim::cluster::Cluster;
use crate::sim::server::{lock, now};

use super::cluster::guest_resource;
use super::{ApiError, Ctx, Reply, ok, split_list};

fn pool_members(cl: &Cluster, pool: &str, want: Option<&str>) -> Vec<Value> {
    let t = now();
    let mut out: Vec<Value> = cl
        .guests
        .values()
        .filter(|g| g.pool.as_deref() == Some(pool))
        .filter(|g| want.is_none_or(|w| w == g.kind.as_str()))
        .map(|g| guest_resource(cl, g, t))
        .collect();
    if (want.is_none() || want == Some("storage"))
        && let Some(p) = cl.pools.get(pool)
    {
        {
            for sid in &p.storages {
                if let Some(s) = cl.storage(sid) {
                    for n in cl.nodes.iter().filter(|n| s.on_node(&n.name)) {
                        out.push(json!({
                            "id": format!("storage/{}/{}", n.name, s.id), "type": "storage",
                            "node": n.name, "storage": s.id, "plugintype": s.kind,
                            "shared": u8::from(s.shared), "content": s.content.join(","),
                            "status": "available", "disk": cl.storage_used(s, &n.name),
                            "maxdisk": s.total,
                        }));
                    }
                }
            }
        }
    }
    out
}

pub(super) fn pools_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    if let Some(id) = ctx.p("poolid") {
        let p = cl
            .pools
            .get(id)
            .ok_or_else(|| ApiError::internal(format!("pool '{id}' does not exist")))?;
        return ok(json!([{
            "poolid": p.id, "comment": p.comment,
            "members": pool_members(&cl, id, ctx.p("type")),
        }]));
    }
    let out: Vec<Value> = cl
        .pools
        .values()
        .map(|p| {
            let mut o = json!({"poolid": p.id});
            if !p.comment.is_empty() {
                o["comment"] = json!(p.comment);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}

pub(super) fn pool_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("");
    let p = cl
        .pools
        .get(id)
        .ok_or_else(|| ApiError::internal(format!("pool '{id}' does not exist")))?;
    let mut o = json!({"members": pool_members(&cl, id, ctx.p("type"))});
    if !p.comment.is_empty() {
        o["comment"] = json!(p.comment);
    }
    ok(o)
}

pub(super) fn pools_create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    if cl.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' already exists")));
    }
    cl.pools.insert(
        id.clone(),
        crate::sim::cluster::Pool {
            id,
            comment: ctx.p("comment").unwrap_or("").to_string(),
            storages: BTreeSet::new(),
        },
    );
    ok(Value::Null)
}

pub(super) fn pools_update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    if !cl.pools.contains_key(&id) {
        return Err(ApiError::internal(format!("pool '{id}' does not exist")));
    }
    let delete = ctx.flag("delete");
    let vms: Vec<u32> = ctx
        .p("vms")
        .map(split_list)
        .unwrap_or_default()
        .iter()
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| ApiError::param("vms", &format!("invalid vmid '{v}'")))
        })
        .collect::<Result<_, _>>()?;
    for vmid in &vms {
        let g = cl
            .guests
            .get(vmid)
            .ok_or_else(|| ApiError::internal(format!("no such VM '{vmid}'")))?;
        if delete {
            if g.pool.as_deref() != Some(id.as_str()) {
                return Err(ApiError::internal(format!(
                    "VM {vmid} is not a pool member"
                )));
            }
        } else if let Some(other) = &g.pool
            && other != &id
            && !ctx.flag("allow-move")
        {
            return Err(ApiError::internal(format!(
                "VM {vmid} belongs already to pool '{other}' and 'allow-move' is not set"
            )));
        }
    }
    let storages = ctx.p("storage").map(split_list).unwrap_or_default();
    for sid in &storages {
        if cl.storage(sid).is_none() {
            return Err(ApiError::internal(format!("no such storage '{sid}'")));
        }
    }
    for vmid in vms {
        if let Some(g) = cl.guests.get_mut(&vmid) {
            g.pool = if delete { None } else { Some(id.clone()) };
        }
    }
    if let Some(p) = cl.pools.get_mut(&id) {
        for sid in storages {
            if delete {
                p.storages.remove(&sid);
            } else {
                p.storages.insert(sid);
            }
        }
        if let Some(c) = ctx.p("comment") {
            p.comment = c.to_string();
        }
    }
    ok(Value::Null)
}

pub(super) fn pools_delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let id = ctx.p("poolid").unwrap_or("").to_string();
    let Some(p) = cl.pools.get(&id) else {
        return Err(ApiError::internal(format!("pool '{id}' does not exist")));
    };
    if !p.storages.is_empty() || cl.guests.values().any(|g| g.pool.as_deref() == Some(&id)) {
        return Err(ApiError::internal(format!("pool '{id}' is not empty")));
    }
    cl.pools.remove(&id);
    ok(Value::Null)
}
