//! Terraform for the bpg/proxmox provider, all in the root module `terraform/`: `provider.tf`,
//! `variables.tf`, one `<ident>.tf` per guest (import block + resource), `pools.tf`,
//! `networks.tf` and `storages.tf`. Names, types and defaults follow the checked-in schema extract
//! (`tests/fixtures/bpg-schema/`, bpg/proxmox v0.111.1).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::names::assign_idents;
use super::view::{GuestView, ResourceView, to_view};
use super::{IacError, Templates};
use crate::model::{ClusterSnapshot, Guest, GuestKind, NodeNetwork, Pool, Storage};

/// The provider version whose schema the generated files follow.
pub const PROVIDER_VERSION: &str = "0.111.1";
/// The `required_providers` constraint (pins the minor version: bpg 0.x minors may break).
pub const PROVIDER_CONSTRAINT: &str = "~> 0.111.1";
pub const PROVIDER_SOURCE: &str = "bpg/proxmox";

/// Resource type of a VM.
pub const VM_TYPE: &str = "proxmox_virtual_environment_vm";
/// Resource type of a container.
pub const CT_TYPE: &str = "proxmox_virtual_environment_container";
/// Resource type of a pool.
pub const POOL_TYPE: &str = "proxmox_virtual_environment_pool";

/// Cluster storage configuration (`GET /storage`): storage id -> PVE keys (`path`, `vgname`,
/// `thinpool`, `server`, `export`, `pool`, `nodes`, ...).
pub type StorageConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// Returns the resource type for a guest kind.
pub fn resource_type(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => VM_TYPE,
        GuestKind::Lxc => CT_TYPE,
    }
}

/// Returns the import id bpg expects for a guest: `node/vmid`.
pub fn guest_import_id(guest: &Guest) -> String {
    format!("{}/{}", guest.node, guest.vmid)
}

/// Pool id -> HCL identifier, deterministic for a snapshot.
pub fn pool_idents(pools: &[Pool]) -> BTreeMap<String, String> {
    let mut ids: Vec<&str> = pools.iter().map(|p| p.id.as_str()).collect();
    ids.sort();
    ids.iter()
        .map(|s| s.to_string())
        .zip(assign_idents(ids.iter().copied()))
        .collect()
}

/// One rendered guest file and what a reviewer should know about it.
#[derive(Debug, Clone)]
pub struct RenderedGuest {
    pub text: String,
    pub view: GuestView,
}

/// Renders `<ident>.tf` for one guest.
pub fn render_guest(
    templates: &Templates,
    guest: &Guest,
    ident: &str,
    pool_idents: &BTreeMap<String, String>,
) -> Result<RenderedGuest, IacError> {
    let view = guest_view(guest);
    let text = render_guest_view(templates, guest, &view, ident, pool_idents)?;
    Ok(RenderedGuest { text, view })
}

/// What a guest's file is rendered from, with the warnings about what it cannot say: without
/// rendering it (a sync reports the warnings of every guest but writes few files).
pub fn guest_view(guest: &Guest) -> GuestView {
    let mut view = to_view(guest);
    // PVE keys are plain words; anything else must not break out of its comment line.
    let odd: Vec<String> = view
        .verbatim
        .iter()
        .filter(|v| !is_plain_key(&v.key))
        .map(|v| {
            format!(
                "config key {:?} is not a PVE key name and is left out",
                v.key
            )
        })
        .collect();
    view.warnings.extend(odd);
    view.verbatim.retain(|v| is_plain_key(&v.key));
    view
}

/// Renders `<ident>.tf` for `guest` from its [`guest_view`].
pub fn render_guest_view(
    templates: &Templates,
    guest: &Guest,
    view: &GuestView,
    ident: &str,
    pool_idents: &BTreeMap<String, String>,
) -> Result<String, IacError> {
    let pool_ref = guest
        .pool
        .as_ref()
        .and_then(|p| pool_idents.get(p))
        .map(|ident| format!("{POOL_TYPE}.{ident}.pool_id"));
    let kind_word = match guest.kind {
        GuestKind::Qemu => "VM",
        GuestKind::Lxc => "Container",
    };
    let title = format!(
        "{kind_word} {} {} on node {}",
        guest.vmid,
        super::filters::hcl_string(&guest.name),
        super::filters::hcl_string(&guest.node)
    );
    let (template, resource) = match &view.resource {
        ResourceView::Vm(vm) => ("terraform/vm.tf.tera", json!({ "vm": vm })),
        ResourceView::Ct(ct) => ("terraform/container.tf.tera", json!({ "ct": ct })),
    };
    let mut ctx = json!({
        "title": super::filters::comment(&title),
        "ident": ident,
        "import_id": guest_import_id(guest),
        "pool_ref": pool_ref,
        "verbatim": view.verbatim,
        "absent": view.absent,
        "warnings": view.warnings,
        "ignore_changes": view.ignore_changes,
        "ignore_notes": ignore_notes(&view.ignore_changes),
    });
    if let (Some(ctx), Some(res)) = (ctx.as_object_mut(), resource.as_object()) {
        ctx.extend(res.clone());
    }
    templates.render(template, &ctx)
}

/// One comment line per reason, naming every path it covers.
fn ignore_notes(ignored: &[super::view::IgnoredChange]) -> Vec<serde_json::Value> {
    let mut notes: Vec<(String, Vec<&str>)> = Vec::new();
    for i in ignored {
        match notes.iter_mut().find(|(why, _)| *why == i.why) {
            Some((_, paths)) => paths.push(&i.path),
            None => notes.push((i.why.clone(), vec![&i.path])),
        }
    }
    notes
        .into_iter()
        .map(|(why, paths)| json!({ "paths": paths.join(", "), "why": why }))
        .collect()
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Renders `provider.tf`.
pub fn render_provider(
    templates: &Templates,
    snapshot: &ClusterSnapshot,
) -> Result<String, IacError> {
    templates.render(
        "terraform/provider.tf.tera",
        &json!({
            "cluster_name": snapshot.cluster_name,
            "provider_version": PROVIDER_VERSION,
            "provider_source": PROVIDER_SOURCE,
            "provider_constraint": PROVIDER_CONSTRAINT,
        }),
    )
}

/// Renders `variables.tf`.
pub fn render_variables(templates: &Templates) -> Result<String, IacError> {
    templates.render("terraform/variables.tf.tera", &json!({}))
}

/// Renders `pools.tf`.
pub fn render_pools(templates: &Templates, pools: &[Pool]) -> Result<String, IacError> {
    let idents = pool_idents(pools);
    let mut sorted: Vec<&Pool> = pools.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let list: Vec<_> = sorted
        .iter()
        .map(|p| json!({ "ident": idents[&p.id], "id": p.id, "comment": p.comment }))
        .collect();
    templates.render("terraform/pools.tf.tera", &json!({ "pools": list }))
}

#[derive(Serialize)]
struct NetworkCtx<'a> {
    ident: String,
    resource_type: &'static str,
    import_id: String,
    node: &'a str,
    iface: &'a str,
    cidr: Option<&'a str>,
    gateway: Option<&'a str>,
    cidr6: Option<&'a str>,
    gateway6: Option<&'a str>,
    mtu: Option<u64>,
    autostart: bool,
    comment: Option<String>,
    ports: Vec<String>,
    is_bridge: bool,
    vlan_aware: bool,
}

/// The node networks bpg can describe: Linux bridges and VLANs.
pub fn importable_networks(networks: &[NodeNetwork]) -> Vec<&NodeNetwork> {
    networks
        .iter()
        .filter(|n| n.kind == "bridge" || n.kind == "vlan")
        .collect()
}

/// Renders `networks.tf`.
pub fn render_networks(
    templates: &Templates,
    networks: &[NodeNetwork],
) -> Result<String, IacError> {
    let list = importable_networks(networks);
    let keys: Vec<String> = list
        .iter()
        .map(|n| format!("{}_{}", n.node, n.iface))
        .collect();
    let idents = assign_idents(keys.iter().map(String::as_str));
    let ctx: Vec<NetworkCtx> = list
        .iter()
        .zip(idents)
        .map(|(n, ident)| NetworkCtx {
            ident,
            resource_type: if n.kind == "bridge" {
                "proxmox_network_linux_bridge"
            } else {
                "proxmox_network_linux_vlan"
            },
            import_id: format!("{}:{}", n.node, n.iface),
            node: &n.node,
            iface: &n.iface,
            cidr: n.cidr.as_deref(),
            gateway: n.gateway.as_deref(),
            cidr6: n.cidr6.as_deref(),
            gateway6: n.gateway6.as_deref(),
            mtu: n.mtu,
            autostart: n.autostart,
            comment: n
                .comments
                .as_ref()
                .map(|c| c.trim_end_matches('\n').to_string())
                .filter(|c| !c.is_empty()),
            ports: n
                .bridge_ports
                .as_deref()
                .map(|p| p.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            is_bridge: n.kind == "bridge",
            vlan_aware: n.vlan_aware,
        })
        .collect();
    templates.render("terraform/networks.tf.tera", &json!({ "networks": ctx }))
}

/// bpg storage resource and the PVE keys it requires, by PVE storage type.
fn storage_mapping(kind: &str) -> Option<(&'static str, &'static [(&'static str, &'static str)])> {
    Some(match kind {
        "dir" => ("proxmox_storage_directory", &[("path", "path")]),
        "lvm" => ("proxmox_storage_lvm", &[("volume_group", "vgname")]),
        "lvmthin" => (
            "proxmox_storage_lvmthin",
            &[("volume_group", "vgname"), ("thin_pool", "thinpool")],
        ),
        "zfspool" => ("proxmox_storage_zfspool", &[("zfs_pool", "pool")]),
        "nfs" => (
            "proxmox_storage_nfs",
            &[("server", "server"), ("export", "export")],
        ),
        _ => return None,
    })
}

/// Optional bpg attributes and the PVE keys they come from, by PVE storage type.
fn optional_storage_keys(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "zfspool" => &[("thin_provision", "sparse"), ("blocksize", "blocksize")],
        "nfs" => &[("options", "options"), ("preallocation", "preallocation")],
        "dir" => &[("preallocation", "preallocation")],
        _ => &[],
    }
}

/// Renders `storages.tf`; returns the text and the storages left out, with the reason.
pub fn render_storages(
    templates: &Templates,
    storages: &[Storage],
    configs: &StorageConfigs,
) -> Result<(String, Vec<String>), IacError> {
    // The model has one entry per node; a storage is one resource for the cluster.
    let mut by_id: BTreeMap<&str, Vec<&Storage>> = BTreeMap::new();
    for s in storages {
        by_id.entry(&s.id).or_default().push(s);
    }
    let ids: Vec<&str> = by_id.keys().copied().collect();
    let idents = assign_idents(ids.iter().copied());
    let mut list = Vec::new();
    let mut skipped = Vec::new();
    for ((id, entries), ident) in by_id.iter().zip(idents) {
        let first = entries[0];
        let Some((resource_type, required)) = storage_mapping(&first.kind) else {
            skipped.push(format!(
                "storage {id} (type {}): bpg/proxmox has no resource for this type",
                first.kind
            ));
            continue;
        };
        let config = configs.get(*id);
        let mut attributes = Vec::new();
        let mut missing = Vec::new();
        for (attr, key) in required {
            match config.and_then(|c| c.get(*key)) {
                Some(v) => attributes.push(json!({ "name": attr, "value": v })),
                None => missing.push(*key),
            }
        }
        // Settings bpg reads back when PVE has them; left out, an apply would drop them
        // (model_zfs.go:75-81, model_nfs.go:101-107, model_directory.go:93-95).
        for (attr, key) in optional_storage_keys(&first.kind) {
            if let Some(v) = config.and_then(|c| c.get(*key)) {
                attributes.push(if *attr == "thin_provision" {
                    json!({ "name": attr, "bool": v == "1" })
                } else {
                    json!({ "name": attr, "value": v })
                });
            }
        }
        if !missing.is_empty() {
            skipped.push(format!(
                "storage {id}: the storage configuration (GET /storage) did not give {}",
                missing.join(", ")
            ));
            continue;
        }
        let nodes: Vec<String> = config
            .and_then(|c| c.get("nodes"))
            .map(|n| crate::model::propstring::split_list(n))
            .unwrap_or_default();
        let mut content = first.content.clone();
        content.sort();
        let shared = matches!(first.kind.as_str(), "dir" | "lvm").then_some(first.shared);
        list.push(json!({
            "ident": ident,
            "resource_type": resource_type,
            "id": id,
            "attributes": attributes,
            "nodes": nodes,
            "content": content,
            "shared": shared,
        }));
    }
    let text = templates.render(
        "terraform/storages.tf.tera",
        &json!({ "storages": list, "skipped": skipped }),
    )?;
    Ok((text, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(id: &str, kind: &str) -> Storage {
        Storage {
            id: id.into(),
            node: "pve1".into(),
            kind: kind.into(),
            content: vec!["images".into()],
            shared: false,
            active: true,
            total_bytes: None,
            used_bytes: None,
            available_bytes: None,
        }
    }

    /// Audit S2/S3: stock `local-zfs` has `sparse 1`; an NFS share its mount options. Left out,
    /// a `terraform apply` would make new disks thick or drop the options.
    #[test]
    fn zfs_sparse_and_nfs_options_are_written() {
        let templates = Templates::builtin().unwrap();
        let configs: StorageConfigs = BTreeMap::from([
            (
                "local-zfs".to_string(),
                BTreeMap::from([
                    ("pool".to_string(), "rpool/data".to_string()),
                    ("sparse".to_string(), "1".to_string()),
                    ("blocksize".to_string(), "16k".to_string()),
                ]),
            ),
            (
                "nas".to_string(),
                BTreeMap::from([
                    ("server".to_string(), "127.0.0.9".to_string()),
                    ("export".to_string(), "/srv".to_string()),
                    ("options".to_string(), "vers=4.2".to_string()),
                ]),
            ),
        ]);
        let (text, skipped) = render_storages(
            &templates,
            &[storage("local-zfs", "zfspool"), storage("nas", "nfs")],
            &configs,
        )
        .unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let body = hcl::parse(&text).unwrap();
        let attr = |ident: &str, key: &str| -> Option<hcl::Expression> {
            body.blocks()
                .find(|b| b.labels().get(1).map(|l| l.as_str()) == Some(ident))?
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().clone())
        };
        assert_eq!(
            attr("local_zfs", "thin_provision"),
            Some(true.into()),
            "{text}"
        );
        assert_eq!(attr("local_zfs", "blocksize"), Some("16k".into()), "{text}");
        assert_eq!(attr("nas", "options"), Some("vers=4.2".into()), "{text}");
    }

    /// Audit N3: a VLAN without an `auto` line reads back autostart = null, which no file can
    /// say, so it is ignored there; a bridge (read back as false) and an auto VLAN are not.
    #[test]
    fn a_vlan_without_auto_ignores_autostart() {
        let templates = Templates::builtin().unwrap();
        let net = |iface: &str, kind: &str, autostart: bool| NodeNetwork {
            node: "pve1".into(),
            iface: iface.into(),
            kind: kind.into(),
            method: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            cidr6: None,
            gateway6: None,
            mtu: None,
            vlan_aware: false,
            autostart,
            active: true,
            comments: None,
        };
        let text = render_networks(
            &templates,
            &[
                net("vmbr0", "bridge", false),
                net("vmbr0.20", "vlan", false),
                net("vmbr0.30", "vlan", true),
            ],
        )
        .unwrap();
        let body = hcl::parse(&text).unwrap();
        let ignored = |ident: &str| -> bool {
            let block = body
                .blocks()
                .find(|b| b.labels().get(1).map(|l| l.as_str()) == Some(ident))
                .unwrap_or_else(|| panic!("{ident} in {text}"));
            block
                .body()
                .blocks()
                .find(|b| b.identifier() == "lifecycle")
                .is_some_and(|l| l.body().attributes().any(|a| a.key() == "ignore_changes"))
        };
        assert!(ignored("pve1_vmbr0_20"), "{text}");
        assert!(!ignored("pve1_vmbr0_30"), "{text}");
        assert!(!ignored("pve1_vmbr0"), "{text}");
    }
}
