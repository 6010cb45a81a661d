//! `/promote GUEST... --from A --to B`: copies guests' definitions from one environment's root
//! module to another's. Owns turning a guest of one cluster into a *new* guest of another
//! (names mapped through `environments.B.map`, a VMID free on B, no import block, disks to
//! allocate, MAC addresses left to PVE), which `/export` and `/init --from-bundle` use too.
//! Everything is checked before the first file is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::commands::resource::{refresh_generated, strip_import_block};
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::iac::desired::{DesiredState, ROOT_MODULE, read_desired};
use crate::iac::names::sanitize;
use crate::iac::{Templates, terraform};
use crate::model::{ClusterSnapshot, Guest, GuestConfig};
use crate::ui::Item;
use crate::workspace::Workspace;
use crate::workspace::config::{Config, NameMap};

const GIB: u64 = 1 << 30;

/// The templates of the environment at `root` (its `.proxmox/templates/` overrides).
pub(crate) fn templates(root: &Path) -> Result<Templates, CommandError> {
    Ok(Templates::with_overrides(Some(
        &root.join(".proxmox/templates"),
    ))?)
}

/// Renames a guest's node, storages and bridges through `map` and checks each name against
/// `target` (the cluster it goes to); returns the renamed guest or every name that has no
/// mapping there, as `storage `small``.
pub(crate) fn map_names(
    guest: &Guest,
    map: &NameMap,
    target: &ClusterSnapshot,
) -> Result<Guest, Vec<String>> {
    let mut out = guest.clone();
    let mut missing = BTreeSet::new();
    let nodes: BTreeSet<&str> = target.nodes.iter().map(|n| n.name.as_str()).collect();
    let storages: BTreeSet<&str> = target.storages.iter().map(|s| s.id.as_str()).collect();
    let node = map.node.get(&guest.node).unwrap_or(&guest.node).clone();
    if !nodes.contains(node.as_str()) {
        missing.insert(format!("node `{}`", guest.node));
    }
    let bridges: BTreeSet<&str> = target
        .networks
        .iter()
        .filter(|n| n.node == node)
        .map(|n| n.iface.as_str())
        .collect();
    let mut storage = |name: &str| -> String {
        let to = map
            .storage
            .get(name)
            .map_or(name, String::as_str)
            .to_string();
        if !storages.contains(to.as_str()) {
            missing.insert(format!("storage `{name}`"));
        }
        to
    };
    let mut bridge_names = Vec::new();
    match &mut out.config {
        GuestConfig::Vm(vm) => {
            for disk in vm.disks.values_mut() {
                if let Some((st, rest)) = disk.volume.split_once(':') {
                    disk.volume = format!("{}:{rest}", storage(st));
                }
            }
            for nic in vm.nics.values_mut() {
                if let Some(b) = &nic.bridge {
                    let to = map.bridge.get(b).unwrap_or(b).clone();
                    bridge_names.push((b.clone(), to.clone()));
                    nic.bridge = Some(to);
                }
            }
        }
        GuestConfig::Container(ct) => {
            for mount in ct.rootfs.iter_mut().chain(ct.mount_points.values_mut()) {
                if mount.volume.starts_with('/') {
                    continue;
                }
                if let Some((st, rest)) = mount.volume.split_once(':') {
                    mount.volume = format!("{}:{rest}", storage(st));
                }
            }
            if let Some(tpl) = &ct.ostemplate
                && let Some((st, rest)) = tpl.split_once(':')
            {
                ct.ostemplate = Some(format!("{}:{rest}", storage(st)));
            }
            for nic in ct.nics.values_mut() {
                if let Some(b) = &nic.bridge {
                    let to = map.bridge.get(b).unwrap_or(b).clone();
                    bridge_names.push((b.clone(), to.clone()));
                    nic.bridge = Some(to);
                }
            }
        }
    }
    for (from, to) in bridge_names {
        if !bridges.is_empty() && !bridges.contains(to.as_str()) {
            missing.insert(format!("bridge `{from}`"));
        }
    }
    out.node = node;
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing.into_iter().collect())
    }
}

/// The guest as a new one with VMID `vmid`: disks allocated afresh on their storage, MAC
/// addresses left to PVE, no lock or digest of the cluster it came from.
pub(crate) fn as_new(guest: &Guest, vmid: u32) -> Guest {
    let mut g = guest.clone();
    g.vmid = vmid;
    g.lock = None;
    g.digest = None;
    g.unmodelled.remove("lock");
    match &mut g.config {
        GuestConfig::Vm(vm) => {
            for nic in vm.nics.values_mut() {
                nic.mac = None;
            }
            for disk in vm.disks.values_mut() {
                let Some(st) = disk.storage().map(str::to_string) else {
                    continue;
                };
                if disk.is_cdrom() {
                    if disk.is_cloudinit() {
                        disk.volume = format!("{st}:cloudinit");
                    }
                    continue;
                }
                let gib = disk.size_bytes.unwrap_or(GIB).div_ceil(GIB).max(1);
                disk.volume = format!("{st}:{gib}");
                disk.size_bytes = Some(gib * GIB);
            }
        }
        GuestConfig::Container(ct) => {
            for nic in ct.nics.values_mut() {
                nic.hwaddr = None;
            }
            for mount in ct.rootfs.iter_mut().chain(ct.mount_points.values_mut()) {
                if mount.volume.starts_with('/') {
                    continue;
                }
                if let Some((st, _)) = mount.volume.split_once(':') {
                    let gib = mount.size_bytes.unwrap_or(GIB).div_ceil(GIB).max(1);
                    mount.volume = format!("{st}:{gib}");
                    mount.size_bytes = Some(gib * GIB);
                }
            }
        }
    }
    g
}

/// Renders a new guest's file: the `/sync` template without the import block (nothing to
/// import yet) and without the volume paths of disks still to allocate.
pub(crate) fn render_new(
    templates: &Templates,
    guest: &Guest,
    ident: &str,
    pool_idents: &BTreeMap<String, String>,
) -> Result<String, CommandError> {
    let rendered = terraform::render_guest(templates, guest, ident, pool_idents)?;
    // Removing lines can change which `=` align: laid out again as `terraform fmt` does.
    Ok(crate::iac::hclfmt::canonical(&strip_allocation_paths(
        &strip_import_block(&rendered.text),
    )))
}

/// Drops `path_in_datastore = "32"` (a size, not a volume: the disk is allocated on create).
fn strip_allocation_paths(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| {
            let Some(rest) = line.trim_start().strip_prefix("path_in_datastore") else {
                return true;
            };
            let value = rest.trim_start().trim_start_matches('=').trim();
            let inner = value.trim_matches('"');
            !(value.starts_with('"')
                && !inner.is_empty()
                && inner.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// What a reviewer must add before a new container can be created: PVE does not report an
/// existing container's OS template, so an imported container's file has none.
pub(crate) fn template_warning(guest: &Guest, to: &str) -> Option<String> {
    match &guest.config {
        GuestConfig::Container(ct) if ct.ostemplate.is_none() => Some(format!(
            "container {} has no OS template in its file (PVE does not report it for an existing container): set operating_system.template_file_id in its file in {to} before /apply",
            guest.name
        )),
        _ => None,
    }
}

/// The first VMID at or above `wanted` (and 100) that `taken` does not hold.
pub(crate) fn free_vmid(wanted: u32, taken: &BTreeSet<u32>) -> u32 {
    let mut vmid = wanted.max(100);
    while taken.contains(&vmid) {
        vmid += 1;
    }
    vmid
}

/// A file name (and resource name) for `name` that `taken` does not hold.
pub(crate) fn free_ident(name: &str, vmid: u32, taken: &BTreeSet<String>) -> String {
    let base = sanitize(name).unwrap_or_else(|| format!("guest_{vmid}"));
    if taken.contains(&base) {
        format!("{base}_{vmid}")
    } else {
        base
    }
}

/// Reads the live cluster of environment `name` (for names, VMIDs and guests there).
pub(crate) async fn observe_env(
    ctx: &mut Ctx,
    config: &Config,
    name: &str,
) -> Result<ClusterSnapshot, CommandError> {
    let env = config.environments.get(name).cloned().ok_or_else(|| {
        CommandError::user(format!(
            "there is no environment `{name}` in this workspace"
        ))
        .hint("/env list shows the environments")
    })?;
    let client = ctx.client_for(&env)?;
    let spinner = ctx.ui.spinner(&format!("Reading the cluster of {name}"));
    let snapshot = client.discover(|_, _| {}).await;
    drop(spinner);
    snapshot.map_err(|e| {
        let mut err = connect::pve_error(e, &env.endpoint);
        err.message = format!("environment `{name}`: {}; nothing was written", err.message);
        err
    })
}

/// One guest to write into the target.
struct Promotion {
    rel: String,
    text: String,
    guest: Guest,
    from_vmid: u32,
}

/// Runs `/promote`.
pub async fn run(
    ctx: &mut Ctx,
    guests: &[String],
    from: Option<&str>,
    to: &str,
) -> Result<Report, CommandError> {
    if guests.is_empty() {
        return Err(CommandError::cli("/promote needs the guests to copy")
            .hint("e.g. /promote web-01 --from default --to prod"));
    }
    if to.is_empty() {
        return Err(CommandError::cli("/promote needs --to ENV")
            .hint("e.g. /promote web-01 --to prod; /env list shows the environments"));
    }
    let config = ctx.config()?.clone();
    let from = from.map_or_else(|| config.active.clone(), str::to_string);
    for name in [from.as_str(), to] {
        if !config.environments.contains_key(name) {
            let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(CommandError::user(format!(
                "there is no environment `{name}` in this workspace"
            ))
            .hint(format!("the environments are: {}", names.join(", "))));
        }
    }
    if from == to {
        return Err(
            CommandError::user(format!("--from and --to are both `{to}`"))
                .hint("promote copies a guest to another environment"),
        );
    }
    let top = Workspace::at(ctx.workspace()?.top());
    let (a, b) = (top.for_env(&from), top.for_env(to));
    if !b.root().is_dir() {
        return Err(CommandError::user(format!(
            "the environment `{to}` has no folder {}",
            b.root().display()
        ))
        .hint(format!("/env remove {to}, then /env add it again")));
    }
    let source = read_desired(a.root())?;
    let target = read_desired(b.root())?;
    let live = observe_env(ctx, &config, to).await?;
    let map = &config.environments[to].map;
    let templates = templates(b.root())?;
    let reserved = crate::iac::sync::reserved_file_stems(b.root());
    let (promotions, mut items) = prepare(
        guests, &from, to, &source, &target, &live, map, &templates, reserved,
    )?;
    if promotions.is_empty() {
        items.push(Item::Status(format!(
            "Nothing to write: {to} has them already."
        )));
        return Ok(items);
    }
    // Every check passed: now the files.
    let mut touched = Vec::new();
    for p in &promotions {
        crate::iac::sync::write_atomic(
            &b.root().join(&p.rel),
            p.text.as_bytes(),
            &mut ctx.written,
        )?;
        touched.push(format!("{}/{}", env_prefix(to), p.rel));
        items.push(Item::Status(format!(
            "Promoted {} (vmid {} in {from}) to {to}: vmid {} on {}, {}.",
            p.guest.name,
            p.from_vmid,
            p.guest.vmid,
            p.guest.node,
            touched.last().map(String::as_str).unwrap_or_default()
        )));
    }
    let mut all: Vec<(String, Guest)> = target
        .files
        .iter()
        .map(|f| (f.ident.clone(), f.guest.clone()))
        .collect();
    let new: BTreeSet<u32> = promotions.iter().map(|p| p.guest.vmid).collect();
    for p in &promotions {
        let ident = p
            .rel
            .trim_start_matches("terraform/")
            .trim_end_matches(".tf");
        all.push((ident.to_string(), p.guest.clone()));
    }
    match refresh_generated(
        b.root(),
        &templates,
        &live,
        &all,
        &new,
        &[],
        &mut ctx.written,
    ) {
        Ok(more) => touched.extend(more.iter().map(|r| format!("{}/{r}", env_prefix(to)))),
        Err(e) => items.push(Item::Warning(format!(
            "the guest files were written, but {to}'s inventory and docs were not refreshed: {}",
            e.message
        ))),
    }
    let names: Vec<&str> = promotions.iter().map(|p| p.guest.name.as_str()).collect();
    ctx.change.subject = Some(format!("promote: {} from {from} to {to}", names.join(", ")));
    items.push(Item::Status(format!(
        "Files written: {}.",
        touched.join(", ")
    )));
    items.extend(target_plan(ctx, to).await);
    items.push(Item::Hint(format!(
        "proxmox-mpc --env {to} apply creates them on {to}'s cluster"
    )));
    Ok(items)
}

/// `environments/NAME` (or nothing for the default environment), for messages.
fn env_prefix(name: &str) -> String {
    crate::workspace::env_dir(name)
        .display()
        .to_string()
        .trim_start_matches("./")
        .trim_start_matches('.')
        .to_string()
}

/// Checks every guest and builds its file for the target; nothing is written here.
#[allow(clippy::too_many_arguments)]
fn prepare(
    guests: &[String],
    from: &str,
    to: &str,
    source: &DesiredState,
    target: &DesiredState,
    live: &ClusterSnapshot,
    map: &NameMap,
    templates: &Templates,
    reserved: BTreeSet<String>,
) -> Result<(Vec<Promotion>, Report), CommandError> {
    let nothing = "nothing was written";
    let mut taken_vmids: BTreeSet<u32> = live.guests.iter().map(|g| g.vmid).collect();
    taken_vmids.extend(target.files.iter().map(|f| f.guest.vmid));
    let mut taken_idents = reserved;
    taken_idents.extend(target.files.iter().map(|f| f.ident.clone()));
    let mut out = Vec::new();
    let mut items = Vec::new();
    for wanted in guests {
        let file = source
            .files
            .iter()
            .find(|f| f.guest.name == *wanted || f.guest.vmid.to_string() == *wanted)
            .ok_or_else(|| {
                CommandError::user(format!("{from} has no guest `{wanted}` in its files")).hint(
                    format!("proxmox-mpc --env {from} list vms shows its guests; {nothing}"),
                )
            })?;
        let mapped = map_names(&file.guest, map, live).map_err(|missing| {
            CommandError::user(format!(
                "cannot promote {} to {to}: no mapping for {} ({to}'s cluster has no such name)",
                file.guest.name,
                missing.join(", ")
            ))
            .hint(format!(
                "add it to config.yml under environments.{to}.map (e.g. map: {{storage: {{NAME: {to}-NAME}}}}); {nothing}"
            ))
        })?;
        if let Some(other) = target
            .files
            .iter()
            .find(|f| f.guest.name == file.guest.name)
        {
            let ours = as_new(&mapped, other.guest.vmid);
            if ours == as_new(&other.guest, other.guest.vmid) {
                items.push(Item::Status(format!(
                    "{to} has {} already (vmid {}, {}): left as it is.",
                    other.guest.name, other.guest.vmid, other.path
                )));
                continue;
            }
            return Err(CommandError::user(format!(
                "{to} already has a different guest named {} (vmid {} in {})",
                other.guest.name, other.guest.vmid, other.path
            ))
            .hint(format!(
                "rename one of them, or change {to}'s file by hand; {nothing}"
            )));
        }
        if let Some(other) = live.guests.iter().find(|g| g.name == file.guest.name) {
            return Err(CommandError::user(format!(
                "{to}'s cluster already has a guest named {} (vmid {}) that is not in {to}'s files",
                other.name, other.vmid
            ))
            .hint(format!(
                "proxmox-mpc --env {to} sync imports it; rename one of them; {nothing}"
            )));
        }
        let vmid = free_vmid(file.guest.vmid, &taken_vmids);
        taken_vmids.insert(vmid);
        let mut guest = as_new(&mapped, vmid);
        if let Some(pool) = &guest.pool
            && !target.pools.contains(pool)
        {
            items.push(Item::Warning(format!(
                "{} is in pool {pool}, which {to} does not declare: promoted without a pool",
                guest.name
            )));
            guest.pool = None;
        }
        items.extend(template_warning(&guest, to).map(Item::Warning));
        let ident = free_ident(&guest.name, vmid, &taken_idents);
        taken_idents.insert(ident.clone());
        let text = render_new(templates, &guest, &ident, &target.pool_idents)?;
        out.push(Promotion {
            rel: format!("{ROOT_MODULE}/{ident}.tf"),
            text,
            guest,
            from_vmid: file.guest.vmid,
        });
    }
    Ok((out, items))
}

/// The target's plan, shown after the files are written (its own failure is a warning: the
/// files stay).
async fn target_plan(ctx: &mut Ctx, to: &str) -> Report {
    let previous = ctx.selected_env();
    ctx.select_env(Some(to));
    let args = crate::commands::plan::PlanArgs::default();
    let result = crate::commands::plan::run(ctx, &args).await;
    ctx.select_env(previous.as_deref());
    match result {
        Ok(mut report) => {
            report.insert(0, Item::Status(format!("The plan of {to}:")));
            report
        }
        Err(e) => vec![Item::Warning(format!(
            "the files were written, but {to}'s plan could not be made: {}; run proxmox-mpc --env {to} plan",
            e.message
        ))],
    }
}
