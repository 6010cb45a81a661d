//! Storage endpoints: the storage configuration (`/storage[/{storage}]`), a node's storages with
//! usage (`/nodes/{node}/storage`) and a storage's content (guest volumes and files).

use serde_json::{Value, json};

use crate::sim::cluster::{GuestKind, is_disk_key, size_of};
use crate::sim::server::lock;

use super::{ApiError, Ctx, MIB, Reply, check_node, ok, split_list};

pub(super) fn node_storage(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let node = ctx.node();
    let usage = cl.disk_usage();
    let out: Vec<Value> = cl
        .storages
        .iter()
        .filter(|s| s.on_node(node))
        .filter(|s| ctx.p("storage").is_none_or(|w| w == s.id))
        .filter(|s| {
            ctx.p("content")
                .is_none_or(|c| split_list(c).iter().all(|c| s.content.contains(c)))
        })
        .filter(|s| ctx.p("target").is_none_or(|t| s.on_node(t)))
        .map(|s| {
            let used = cl.storage_used_in(&usage, s, node).min(s.total);
            json!({
                "storage": s.id, "type": s.kind, "content": s.content.join(","),
                "active": 1, "enabled": 1, "shared": u8::from(s.shared),
                "total": s.total, "used": used, "avail": s.total - used,
                "used_fraction": used as f64 / s.total.max(1) as f64,
            })
        })
        .collect();
    ok(Value::Array(out))
}

pub(super) fn storage_content(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    check_node(&cl, ctx.node())?;
    let sid = ctx.p("storage").unwrap_or("");
    let s = cl
        .storage(sid)
        .filter(|s| s.on_node(ctx.node()))
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))?;
    let want_content = ctx.p("content");
    let want_vmid: Option<u32> = ctx.p("vmid").and_then(|v| v.parse().ok());
    let mut out = Vec::new();
    for g in cl.guests.values() {
        if !s.shared && g.node != ctx.node() {
            continue;
        }
        if want_vmid.is_some_and(|v| v != g.vmid) {
            continue;
        }
        for (key, value) in &g.config {
            if !is_disk_key(g.kind, key) && !key.starts_with("unused") {
                continue;
            }
            let volid = value.split(',').next().unwrap_or("");
            if volid.split(':').next() != Some(s.id.as_str()) {
                continue;
            }
            let content = if g.kind == GuestKind::Lxc {
                "rootdir"
            } else {
                "images"
            };
            if want_content.is_some_and(|c| c != content) {
                continue;
            }
            let format = if volid.ends_with(".qcow2") {
                "qcow2"
            } else {
                "raw"
            };
            let size = if value.contains("cloudinit") {
                4 * MIB
            } else {
                size_of(value)
            };
            out.push(json!({
                "volid": volid, "content": content, "format": format, "size": size,
                "used": size / 3, "vmid": g.vmid, "ctime": 1_767_225_600u64,
            }));
        }
    }
    for (volid, content, size) in &s.files {
        if want_content.is_some_and(|c| c != content) {
            continue;
        }
        if content == "backup" {
            // a backup names its guest and time (PVE reads both from the file name)
            let Some((kind, vmid, ctime)) = super::backup::parse_backup_name(volid) else {
                continue;
            };
            if want_vmid.is_some_and(|v| v != vmid) {
                continue;
            }
            let mut o = json!({
                "volid": volid, "content": content, "format": super::backup::backup_format(volid),
                "size": size, "ctime": ctime, "vmid": vmid, "subtype": kind.as_str(),
            });
            if let Some(a) = cl.backups.get(volid) {
                // only the first line of the notes, as PVE lists them
                o["notes"] = json!(a.notes.lines().next().unwrap_or(""));
                if a.protected {
                    o["protected"] = json!(1);
                }
            }
            out.push(o);
            continue;
        }
        if want_vmid.is_some() {
            continue;
        }
        let format = match content.as_str() {
            "iso" => "iso",
            "vztmpl" => "tzst",
            _ => "raw",
        };
        out.push(json!({"volid": volid, "content": content, "format": format, "size": size, "ctime": 1_767_225_600u64}));
    }
    ok(Value::Array(out))
}

pub(super) fn storage_get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let sid = ctx.p("storage").unwrap_or("").to_string();
    let all = storage_config(ctx)?;
    all.data
        .as_array()
        .and_then(|list| list.iter().find(|s| s["storage"] == sid.as_str()).cloned())
        .map(Reply::new)
        .ok_or_else(|| ApiError::internal(format!("storage '{sid}' does not exist")))
}

pub(super) fn storage_config(ctx: &Ctx) -> Result<Reply, ApiError> {
    let cl = lock(&ctx.shared.cluster);
    let out: Vec<Value> = cl
        .storages
        .iter()
        .filter(|s| ctx.p("type").is_none_or(|t| t == s.kind))
        .map(|s| {
            let mut o = json!({
                "storage": s.id, "type": s.kind, "content": s.content.join(","),
                "digest": hex::encode(<sha1::Sha1 as sha1::Digest>::digest(s.id.as_bytes())),
            });
            if s.shared {
                o["shared"] = json!(1);
            }
            if let Some(p) = &s.path {
                o["path"] = json!(p);
            }
            if let Some(nodes) = &s.nodes {
                o["nodes"] = json!(nodes.join(","));
            }
            for (k, v) in &s.extra {
                o[k] = json!(v);
            }
            o
        })
        .collect();
    ok(Value::Array(out))
}
