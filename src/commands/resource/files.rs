//! The declarative side: writing guest and pool files through the `/sync` templates, and the
//! generated files that follow them (inventory, site playbook, test specs, docs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::Loaded;
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::iac::desired::DesiredFile;
use crate::iac::names::sanitize;
use crate::iac::sync::write_atomic;
use crate::iac::{Templates, ansible, docs, filters, spec, terraform};
use crate::lang::{NewGuest, Target, human_size};
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestKind, GuestStatus, Pool};
use crate::state::written::Written;
use crate::ui::Item;

fn templates(root: &Path) -> Result<Templates, CommandError> {
    Ok(Templates::with_overrides(Some(
        &root.join(".proxmox/templates"),
    ))?)
}

fn kind_word(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "container",
    }
}

/// Removes the `import { ... }` block of a rendered guest file: a guest that does not exist
/// yet has nothing to import, and Terraform would fail on it.
pub fn strip_import_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    let mut skipped = false;
    for line in text.split_inclusive('\n') {
        if !skipped && !skipping && line.trim_end() == "import {" {
            skipping = true;
            continue;
        }
        if skipping {
            if line.trim_end() == "}" {
                skipping = false;
                skipped = true;
            }
            continue;
        }
        // Drop the blank line the removed block leaves behind.
        if skipped && out.ends_with("\n\n") && line.trim().is_empty() {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Removes `path_in_datastore = "32"` from disks still to be allocated (`STORAGE:GiB` in the
/// model): bpg allocates a disk that has a size and no path, and would look for a volume named
/// "32" otherwise. Real volume paths are never all digits (`vm-100-disk-0`).
pub fn strip_allocation_paths(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| {
            let Some(rest) = line.trim_start().strip_prefix("path_in_datastore") else {
                return true;
            };
            let value = rest.trim_start().trim_start_matches('=').trim();
            let digits = value.trim_matches('"');
            !(value.starts_with('"')
                && digits.len() + 2 == value.len()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// One line of the pending plan for a new guest: "+ vm web-01 on pve1: 2 cores, 2 GiB, 32 GiB
/// scsi0 on local-lvm".
pub fn summary_line(guest: &Guest) -> String {
    let mut parts = Vec::new();
    match &guest.config {
        GuestConfig::Vm(vm) => {
            let cores = vm.cores.unwrap_or(1) * vm.sockets.unwrap_or(1);
            parts.push(format!("{cores} core{}", if cores == 1 { "" } else { "s" }));
            if let Some(m) = vm.memory_mib {
                parts.push(human_size(m << 20));
            }
            for (slot, disk) in &vm.disks {
                if disk.is_cdrom() {
                    continue;
                }
                let size = disk.size_bytes.map(human_size).unwrap_or_default();
                parts.push(format!(
                    "{size} {slot} on {}",
                    disk.storage().unwrap_or("?")
                ));
            }
            for (i, nic) in &vm.nics {
                let mut text = format!("net{i} on {}", nic.bridge.as_deref().unwrap_or("?"));
                if let Some(tag) = nic.vlan_tag {
                    text.push_str(&format!(" tag {tag}"));
                }
                parts.push(text);
            }
        }
        GuestConfig::Container(ct) => {
            let cores = ct.cores.unwrap_or(1);
            parts.push(format!("{cores} core{}", if cores == 1 { "" } else { "s" }));
            if let Some(m) = ct.memory_mib {
                parts.push(human_size(m << 20));
            }
            if let Some(r) = &ct.rootfs {
                let size = r.size_bytes.map(human_size).unwrap_or_default();
                let storage = r.volume.split(':').next().unwrap_or("?");
                parts.push(format!("{size} rootfs on {storage}"));
            }
            for (i, m) in &ct.mount_points {
                parts.push(format!(
                    "mp{i} {} at {}",
                    m.size_bytes.map(human_size).unwrap_or_default(),
                    m.path.as_deref().unwrap_or("?")
                ));
            }
            for (i, nic) in &ct.nics {
                parts.push(format!(
                    "net{i} on {}",
                    nic.bridge.as_deref().unwrap_or("?")
                ));
            }
            if let Some(t) = &ct.ostemplate {
                parts.push(format!("from {t}"));
            }
        }
    }
    if let Some(pool) = &guest.pool {
        parts.push(format!("pool {pool}"));
    }
    if guest.status == GuestStatus::Running {
        parts.push("started".into());
    }
    format!(
        "+ {} {} (vmid {}) on {}: {}",
        kind_word(guest.kind),
        guest.name,
        guest.vmid,
        guest.node,
        parts.join(", ")
    )
}

/// Rewrites the inventory, the site playbook, the docs, and the test specs of `changed`
/// (vmid -> ident) for the guests in `files`; removes the specs of `removed` idents. Writes
/// only files whose content differs. Returns the paths written or removed (relative).
pub fn refresh_generated(
    root: &Path,
    templates: &Templates,
    live: &ClusterSnapshot,
    files: &[(String, Guest)],
    changed: &BTreeSet<u32>,
    removed: &[String],
    written: &mut Written,
) -> Result<Vec<String>, CommandError> {
    let mut snapshot = live.clone();
    snapshot.guests = files.iter().map(|(_, g)| g.clone()).collect();
    let mut pool_ids: BTreeSet<String> = snapshot.pools.iter().map(|p| p.id.clone()).collect();
    for (_, g) in files {
        if let Some(p) = &g.pool
            && pool_ids.insert(p.clone())
        {
            snapshot.pools.push(Pool {
                id: p.clone(),
                comment: None,
                guests: Vec::new(),
                storages: Vec::new(),
            });
        }
    }
    for pool in &mut snapshot.pools {
        pool.guests = files
            .iter()
            .filter(|(_, g)| g.pool.as_deref() == Some(pool.id.as_str()))
            .map(|(_, g)| g.vmid)
            .collect();
    }
    let idents: BTreeMap<u32, String> = files
        .iter()
        .map(|(ident, g)| (g.vmid, ident.clone()))
        .collect();
    let mut writes: BTreeMap<String, String> = BTreeMap::new();
    writes.insert(
        "ansible/inventory.yml".into(),
        ansible::render_inventory(templates, &snapshot, &idents)?,
    );
    writes.insert(
        "ansible/site.yml".into(),
        ansible::render_site(templates, &snapshot, &idents)?,
    );
    for (group, _) in ansible::role_groups(&snapshot, &idents) {
        let path = format!("ansible/roles/{group}/tasks/main.yml");
        if !root.join(&path).exists() {
            writes.insert(path, ansible::render_role_tasks(templates, &group)?);
        }
    }
    writes.insert(
        "docs/inventory.md".into(),
        docs::render_inventory_doc(templates, &snapshot)?,
    );
    for (ident, g) in files {
        if changed.contains(&g.vmid) {
            writes.insert(
                format!("tests/{ident}.yml"),
                spec::render_spec(templates, g)?,
            );
        }
    }
    let mut touched = Vec::new();
    for (rel, text) in writes {
        let path = root.join(&rel);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        write_atomic(&path, text.as_bytes(), written)?;
        touched.push(rel);
    }
    for ident in removed {
        let rel = format!("tests/{ident}.yml");
        if std::fs::remove_file(root.join(&rel)).is_ok() {
            written.note_removed(&root.join(&rel));
            touched.push(rel);
        }
    }
    Ok(touched)
}

fn file_guests(loaded: &Loaded) -> Vec<(String, Guest)> {
    loaded
        .desired
        .files
        .iter()
        .map(|f| (f.ident.clone(), f.guest.clone()))
        .collect()
}

/// Refuses to rewrite a file whose expressions or unmodelled attributes would be lost.
pub fn check_rewritable(file: &DesiredFile) -> Result<(), CommandError> {
    if !file.unmodelled.is_empty() {
        return Err(CommandError::user(format!(
            "{} has attributes the console does not model ({}); rewriting it would lose them",
            file.path,
            file.unmodelled.join(", ")
        ))
        .hint("make this change by hand in the file; /plan reads it back. Nothing was changed"));
    }
    if !file.expressions.is_empty() {
        return Err(CommandError::user(format!(
            "{} uses expressions ({}); rewriting it would replace them with their values",
            file.path,
            file.expressions.join(", ")
        ))
        .hint("make this change by hand in the file; /plan reads it back. Nothing was changed"));
    }
    Ok(())
}

/// Renders one guest file (no import block unless the guest already exists on the server).
fn render_file(
    templates: &Templates,
    loaded: &Loaded,
    guest: &Guest,
    ident: &str,
    keep_import: bool,
) -> Result<(String, Vec<String>), CommandError> {
    let rendered = terraform::render_guest(templates, guest, ident, &loaded.desired.pool_idents)?;
    let text = if keep_import {
        rendered.text
    } else {
        strip_import_block(&rendered.text)
    };
    let text = strip_allocation_paths(&text);
    Ok((text, rendered.view.warnings))
}

fn footer(items: &mut Report, touched: &[String]) {
    items.push(Item::Status(format!(
        "Files written: {}.",
        touched.join(", ")
    )));
    items.push(Item::Hint(
        "Nothing changed on the server: run /apply to make it so (/plan shows the whole plan)."
            .into(),
    ));
}

/// `create vm|container`, `clone vm`: adds the guest's file.
pub async fn create(
    ctx: &mut Ctx,
    loaded: &Loaded,
    mut new: NewGuest,
) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    if let Some(key_file) = &new.ssh_key_file {
        let path = ctx.resolve_path(Path::new(&expand_home(ctx, key_file)));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CommandError::user(format!(
                "cannot read the SSH public key {}: {e}",
                path.display()
            ))
            .hint("give the .pub file of a key pair; nothing was changed")
        })?;
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if keys.is_empty() || keys.iter().any(|k| k.contains("PRIVATE KEY")) {
            return Err(
                CommandError::user(format!("{} holds no public key", path.display()))
                    .hint("give the .pub file, never the private key; nothing was changed"),
            );
        }
        if let GuestConfig::Vm(vm) = &mut new.guest.config
            && let Some(ci) = vm.cloud_init.as_mut()
        {
            ci.ssh_keys = keys;
        }
    }
    let guest = new.guest;
    let taken: BTreeSet<String> = loaded
        .desired
        .files
        .iter()
        .map(|f| f.ident.clone())
        .chain(crate::iac::sync::reserved_file_stems(&root))
        .collect();
    let base = sanitize(&guest.name).unwrap_or_else(|| format!("guest_{}", guest.vmid));
    let ident = if taken.contains(&base) {
        format!("{base}_{}", guest.vmid)
    } else {
        base
    };
    let rel = format!("{}/{ident}.tf", crate::iac::desired::ROOT_MODULE);
    let templates = templates(&root)?;
    let (text, warnings) = render_file(&templates, loaded, &guest, &ident, false)?;
    let mut all = file_guests(loaded);
    all.push((ident.clone(), guest.clone()));
    write_atomic(&root.join(&rel), text.as_bytes(), &mut ctx.written)?;
    let mut touched = vec![rel];
    touched.extend(refresh_generated(
        &root,
        &templates,
        &loaded.snapshot,
        &all,
        &BTreeSet::from([guest.vmid]),
        &[],
        &mut ctx.written,
    )?);
    let mut items = Vec::new();
    if let Some(src) = &new.copied_from {
        items.push(Item::Status(format!(
            "Copied the configuration of {} {} (vmid {}); disks are new and empty, MAC addresses new.",
            kind_word(src.kind),
            src.name,
            src.vmid
        )));
    }
    if let Some(why) = &new.placement {
        items.push(Item::Status(format!("{why}.")));
    }
    if !new.chosen.is_empty() {
        items.push(Item::Status(format!("Chose {}.", new.chosen.join(", "))));
    }
    for w in warnings {
        items.push(Item::Warning(w));
    }
    items.push(Item::Text(summary_line(&guest)));
    footer(&mut items, &touched);
    Ok(items)
}

fn expand_home(ctx: &Ctx, path: &str) -> String {
    match (path.strip_prefix("~/"), ctx.env_var("HOME")) {
        (Some(rest), Some(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// `set vm|container`: rewrites the guest's file with the changes.
pub fn set(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
    guest: Guest,
    changes: &[String],
) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let file = loaded
        .desired
        .file_of(target.vmid)
        .ok_or_else(|| CommandError::internal("the guest's file disappeared while reading"))?;
    check_rewritable(file)?;
    let templates = templates(&root)?;
    let (text, warnings) = render_file(
        &templates,
        loaded,
        &guest,
        &file.ident,
        file.import_id.is_some(),
    )?;
    let mut touched = Vec::new();
    let path = root.join(&file.path);
    if std::fs::read(&path).map_or(true, |old| old != text.as_bytes()) {
        write_atomic(&path, text.as_bytes(), &mut ctx.written)?;
        touched.push(file.path.clone());
    }
    let all: Vec<(String, Guest)> = loaded
        .desired
        .files
        .iter()
        .map(|f| {
            let g = if f.guest.vmid == target.vmid {
                guest.clone()
            } else {
                f.guest.clone()
            };
            (f.ident.clone(), g)
        })
        .collect();
    touched.extend(refresh_generated(
        &root,
        &templates,
        &loaded.snapshot,
        &all,
        &BTreeSet::from([target.vmid]),
        &[],
        &mut ctx.written,
    )?);
    let mut items = Vec::new();
    for w in warnings {
        items.push(Item::Warning(w));
    }
    items.push(Item::Text(format!(
        "~ {} {} (vmid {}): {}",
        kind_word(target.kind),
        target.name,
        target.vmid,
        changes.join(", ")
    )));
    footer(&mut items, &touched);
    Ok(items)
}

/// `delete vm|container`: removes the guest's file (the server keeps it until /apply).
pub async fn delete(
    ctx: &mut Ctx,
    loaded: &Loaded,
    target: &Target,
) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let file = loaded
        .desired
        .file_of(target.vmid)
        .ok_or_else(|| CommandError::internal("the guest's file disappeared while reading"))?;
    let others: Vec<&DesiredFile> = loaded
        .desired
        .files
        .iter()
        .filter(|f| f.path == file.path && f.guest.vmid != target.vmid)
        .collect();
    if !others.is_empty() {
        return Err(CommandError::user(format!(
            "{} also describes other guests; deleting it would remove them too",
            file.path
        ))
        .hint("remove the resource block by hand; nothing was changed"));
    }
    let live = loaded.snapshot.guest(target.vmid).is_some();
    if live {
        // The file was the guest's code: deleting it asks /apply to destroy the guest, so the
        // workspace manages it from now on (/plan destroys only managed guests).
        let db = ctx.state().await?.clone();
        db.set_managed(
            target.vmid,
            &target.name,
            &target.node,
            target.kind.as_str(),
        )
        .await?;
    }
    std::fs::remove_file(root.join(&file.path)).map_err(|e| {
        CommandError::user(format!("cannot remove {}: {e}", file.path))
            .hint("check that the workspace folder is writable")
    })?;
    ctx.written.note_removed(&root.join(&file.path));
    let mut touched = vec![file.path.clone()];
    let templates = templates(&root)?;
    let all: Vec<(String, Guest)> = file_guests(loaded)
        .into_iter()
        .filter(|(_, g)| g.vmid != target.vmid)
        .collect();
    touched.extend(refresh_generated(
        &root,
        &templates,
        &loaded.snapshot,
        &all,
        &BTreeSet::new(),
        std::slice::from_ref(&file.ident),
        &mut ctx.written,
    )?);
    let mut items = vec![Item::Text(format!(
        "- {} {} (vmid {}) on {}{}",
        kind_word(target.kind),
        target.name,
        target.vmid,
        target.node,
        if live {
            ": destroyed by /apply (disks included)"
        } else {
            ": not on the server; only the file goes"
        }
    ))];
    footer(&mut items, &touched);
    Ok(items)
}

fn pools_file(root: &Path, pools: &[Pool]) -> Result<String, CommandError> {
    Ok(terraform::render_pools(&templates(root)?, pools)?)
}

fn desired_pools(loaded: &Loaded) -> Vec<Pool> {
    loaded
        .desired
        .pools
        .iter()
        .map(|id| Pool {
            id: id.clone(),
            comment: loaded.desired.pool_comments.get(id).cloned(),
            guests: Vec::new(),
            storages: Vec::new(),
        })
        .collect()
}

/// Refuses when `pools.tf` names pools under resource names the renderer would not give them:
/// guest files refer to pools by those names.
fn check_pool_idents(loaded: &Loaded, pools: &[Pool]) -> Result<(), CommandError> {
    let before: Vec<Pool> = desired_pools(loaded);
    let would = terraform::pool_idents(&before);
    if would != loaded.desired.pool_idents {
        return Err(CommandError::user(
            "terraform/pools.tf names its pools differently from what /sync writes; rewriting it would break references to them",
        )
        .hint("add or remove the pool block by hand; nothing was changed"));
    }
    let after = terraform::pool_idents(pools);
    if before.iter().any(|p| after.get(&p.id) != would.get(&p.id)) {
        return Err(CommandError::user(
            "this pool id would rename another pool's resource in terraform/pools.tf",
        )
        .hint("pick a pool id that does not collide after lowercasing; nothing was changed"));
    }
    Ok(())
}

/// `create pool`: adds the pool to `pools.tf`.
pub fn create_pool(
    ctx: &mut Ctx,
    loaded: &Loaded,
    id: &str,
    comment: Option<String>,
) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let mut pools = desired_pools(loaded);
    pools.push(Pool {
        id: id.to_string(),
        comment: comment.clone(),
        guests: Vec::new(),
        storages: Vec::new(),
    });
    check_pool_idents(loaded, &pools)?;
    let text = pools_file(&root, &pools)?;
    write_atomic(
        &root.join("terraform/pools.tf"),
        text.as_bytes(),
        &mut ctx.written,
    )?;
    let mut items = vec![Item::Text(format!(
        "+ pool {id}{}",
        comment
            .map(|c| format!(" ({})", filters::hcl_string(&c)))
            .unwrap_or_default()
    ))];
    footer(&mut items, &["terraform/pools.tf".to_string()]);
    Ok(items)
}

/// `delete pool`: removes the pool from `pools.tf` (refused while a guest file uses it).
pub fn delete_pool(ctx: &mut Ctx, loaded: &Loaded, id: &str) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let users: Vec<String> = loaded
        .desired
        .files
        .iter()
        .filter(|f| f.guest.pool.as_deref() == Some(id))
        .map(|f| f.guest.name.clone())
        .collect();
    if !users.is_empty() {
        return Err(
            CommandError::user(format!("pool {id} is used by {}", users.join(", ")))
                .hint("move them out first (set vm NAME --pool \"\"); nothing was changed"),
        );
    }
    if !loaded.desired.pools.iter().any(|p| p == id) {
        return Err(CommandError::user(format!(
            "pool {id} is on the server but not in terraform/pools.tf"
        ))
        .hint("run /sync to import it first"));
    }
    let pools: Vec<Pool> = desired_pools(loaded)
        .into_iter()
        .filter(|p| p.id != id)
        .collect();
    check_pool_idents(loaded, &desired_pools(loaded))?;
    let text = pools_file(&root, &pools)?;
    write_atomic(
        &root.join("terraform/pools.tf"),
        text.as_bytes(),
        &mut ctx.written,
    )?;
    let mut items = vec![Item::Text(format!("- pool {id}"))];
    footer(&mut items, &["terraform/pools.tf".to_string()]);
    Ok(items)
}

/// Sets a top-level attribute of the guest resource in `text` (`started`, `node_name`) and,
/// for `node_name`, the import id; everything else in the file is left byte for byte.
pub fn edit_attribute(text: &str, key: &str, hcl_value: &str) -> String {
    let mut out = Vec::new();
    let mut in_resource = false;
    let mut done = false;
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines {
        if line.starts_with("resource \"proxmox_virtual_environment_") {
            in_resource = true;
        } else if line.starts_with('}') {
            if in_resource && !done {
                // Not present: add it right before the end of the resource.
                out.push(format!("  {key} = {hcl_value}"));
                done = true;
            }
            in_resource = false;
        }
        if in_resource
            && !done
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && line[2..]
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let width = line.find('=').unwrap_or(2 + key.len() + 1);
            out.push(format!("{:<width$}= {hcl_value}", format!("  {key}")));
            done = true;
            continue;
        }
        out.push((*line).to_string());
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// Sets the import block's id (`node/vmid`) after a migration.
pub fn edit_import_id(text: &str, new_id: &str) -> String {
    let mut out = Vec::new();
    let mut in_import = false;
    for line in text.lines() {
        if line.trim_end() == "import {" {
            in_import = true;
        } else if in_import && line.trim_end() == "}" {
            in_import = false;
        } else if in_import && line.trim_start().starts_with("id ") && line.contains('=') {
            out.push(format!("  id = {}", filters::hcl_string(new_id)));
            continue;
        }
        out.push(line.to_string());
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}
