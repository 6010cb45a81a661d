//! Terraform for the bpg/proxmox provider: `provider.tf`, `variables.tf`, one
//! `guests/<ident>.tf` per guest (import block + resource), `pools.tf`, `networks.tf` and
//! `storages.tf`. Names, types and defaults follow the checked-in schema extract
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

/// Renders `guests/<ident>.tf` for one guest.
pub fn render_guest(
    templates: &Templates,
    guest: &Guest,
    ident: &str,
    pool_idents: &BTreeMap<String, String>,
) -> Result<RenderedGuest, IacError> {
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
    });
    if let (Some(ctx), Some(res)) = (ctx.as_object_mut(), resource.as_object()) {
        ctx.extend(res.clone());
    }
    let text = templates.render(template, &ctx)?;
    Ok(RenderedGuest { text, view })
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
