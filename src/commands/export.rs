//! `/export --env NAME --to DIR [--format tar.gz]` and the bundle it writes; `/init
//! --from-bundle DIR` reads one ([`prepare_bundle`], [`install_bundle`]). A bundle is one
//! environment made deployable on another server: its Terraform root module with every guest as
//! a new one (no import block, no volume name or MAC address of the cluster it came from), the
//! environment's `NAME.tfvars`, the Ansible files, tests/, docs/, a README with the commands
//! and `bundle.json` listing the guests. It never holds a secret, state or an absolute path:
//! config.yml, `.proxmox/` and Terraform state are not copied, and every file is checked for
//! the workspace's own path before the bundle appears (written aside, then renamed).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::commands::promote::{
    as_new, free_vmid, map_names, render_new, template_warning, templates,
};
use crate::commands::resource::{check_rewritable, refresh_generated};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::iac::desired::{ROOT_MODULE, read_desired};
use crate::model::{ClusterSnapshot, Guest};
use crate::ui::Item;
use crate::workspace::Workspace;
use crate::workspace::config::{Environment, NameMap};

/// What `bundle.json` says a bundle is.
pub const BUNDLE_KIND: &str = "proxmox-mpc-bundle";
/// The manifest's file name.
pub const MANIFEST: &str = "bundle.json";

/// `bundle.json`: which environment the bundle came from and its guests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub format_version: u32,
    pub environment: String,
    pub guests: Vec<ManifestGuest>,
}

/// One guest of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestGuest {
    pub name: String,
    pub vmid: u32,
    pub node: String,
    /// Relative to the bundle (`terraform/web_01.tf`).
    pub file: String,
}

/// Files of the root module that describe the cluster itself (imported networks and storages):
/// they belong to the cluster the bundle came from, not to the next one.
const CLUSTER_FILES: [&str; 2] = ["networks.tf", "storages.tf"];

/// Runs `/export`.
pub async fn run(
    ctx: &mut Ctx,
    env: Option<&str>,
    to: &str,
    format: Option<&str>,
) -> Result<Report, CommandError> {
    if to.is_empty() {
        return Err(CommandError::cli("/export needs --to DIR")
            .hint("e.g. /export --env prod --to ../prod-bundle"));
    }
    let gz = match format.unwrap_or("dir") {
        "dir" => false,
        "tar.gz" | "tgz" => true,
        other => {
            return Err(CommandError::cli(format!(
                "`--format {other}`: the formats are dir and tar.gz"
            )));
        }
    };
    let config = ctx.config()?.clone();
    let name = env.map_or_else(|| config.active.clone(), str::to_string);
    if !config.environments.contains_key(&name) {
        let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        return Err(CommandError::user(format!(
            "there is no environment `{name}` in this workspace"
        ))
        .hint(format!("the environments are: {}", names.join(", "))));
    }
    let workspace = Workspace::at(ctx.workspace()?.top()).for_env(&name);
    let dest = ctx.cwd.join(to);
    check_destination(&dest, gz)?;
    let (files, manifest, mut items) = bundle_files(&workspace, &name)?;
    let top = workspace.top().display().to_string();
    for (rel, bytes) in &files {
        if String::from_utf8_lossy(bytes).contains(&top) {
            return Err(CommandError::internal(format!(
                "{rel} holds the workspace's own path ({top}); a bundle has no absolute path"
            ))
            .hint("remove the path from that file and export again; nothing was written"));
        }
    }
    if gz {
        write_tar_gz(&dest, &files)?;
    } else {
        write_dir(&dest, &files)?;
    }
    items.push(Item::Status(format!(
        "Exported {name} to {}{}: {} guest(s), {} files (Terraform, {name}.tfvars, Ansible, tests, docs, README.md); no secret, no state.",
        dest.display(),
        if gz { " (tar.gz)" } else { "" },
        manifest.guests.len(),
        files.len()
    )));
    items.push(Item::Hint(format!(
        "on the other server: proxmox-mpc init --from-bundle {} --endpoint URL --token-id ID --secret-env VAR, then proxmox-mpc plan",
        if gz { "DIR (unpacked)" } else { to }
    )));
    Ok(items)
}

/// The destination must not exist, or be an empty folder (a tar.gz: must not exist).
fn check_destination(dest: &Path, gz: bool) -> Result<(), CommandError> {
    let busy = if gz {
        dest.exists()
    } else {
        dest.is_file() || std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some())
    };
    if busy {
        return Err(CommandError::user(format!(
            "{} exists already and is not an empty folder",
            dest.display()
        ))
        .hint("give a new path (or an empty folder); nothing was written"));
    }
    Ok(())
}

/// A bundle's files: relative path and bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Every file of the bundle (relative path, bytes), sorted, with its manifest.
fn bundle_files(
    workspace: &Workspace,
    name: &str,
) -> Result<(Files, Manifest, Report), CommandError> {
    let root = workspace.root();
    let desired = read_desired(root)?;
    let templates = templates(root)?;
    let mut items = Vec::new();
    let mut files: Files = Vec::new();
    let mut guests = Vec::new();
    let mut guest_paths = BTreeSet::new();
    for file in &desired.files {
        guest_paths.insert(file.path.clone());
        let text = if file.import_id.is_none() {
            std::fs::read_to_string(root.join(&file.path)).map_err(|e| {
                CommandError::user(format!("cannot read {}: {e}", file.path))
                    .hint("nothing was written")
            })?
        } else {
            check_rewritable(file).map_err(|e| {
                CommandError::user(format!("cannot export {}: {}", file.guest.name, e.message))
                    .hint("a bundle holds guests as new ones, rendered from the model; nothing was written")
            })?;
            render_new(
                &templates,
                &as_new(&file.guest, file.guest.vmid),
                &file.ident,
                &desired.pool_idents,
            )?
        };
        items.extend(template_warning(&file.guest, "the bundle").map(Item::Warning));
        guests.push(ManifestGuest {
            name: file.guest.name.clone(),
            vmid: file.guest.vmid,
            node: file.guest.node.clone(),
            file: file.path.clone(),
        });
        files.push((file.path.clone(), text.into_bytes()));
    }
    for path in crate::iac::desired::tf_files(&root.join(ROOT_MODULE)) {
        let rel = relative(root, &path);
        let base = path.file_name().map(|n| n.to_string_lossy().to_string());
        if guest_paths.contains(&rel) || base.as_deref().is_some_and(|b| CLUSTER_FILES.contains(&b))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CommandError::user(format!("cannot read {rel}: {e}")).hint("nothing was written")
        })?;
        let text = crate::iac::hclfmt::canonical(&strip_all_imports(&text));
        files.push((rel, text.into_bytes()));
    }
    files.push((
        format!("{ROOT_MODULE}/{name}.tfvars"),
        tfvars(root, name).into_bytes(),
    ));
    for dir in ["ansible", "tests", "docs"] {
        for path in walk(&root.join(dir)) {
            let rel = relative(root, &path);
            let bytes = std::fs::read(&path).map_err(|e| {
                CommandError::user(format!("cannot read {rel}: {e}")).hint("nothing was written")
            })?;
            files.push((rel, bytes));
        }
    }
    let manifest = Manifest {
        kind: BUNDLE_KIND.into(),
        format_version: 1,
        environment: name.to_string(),
        guests,
    };
    files.push(("README.md".into(), readme(&manifest).into_bytes()));
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| CommandError::internal(format!("cannot write bundle.json: {e}")))?;
    files.push((MANIFEST.into(), format!("{json}\n").into_bytes()));
    files.sort();
    if desired.files.iter().any(|f| f.import_id.is_some()) {
        items.push(Item::Status(
            "Guests that exist on this cluster are in the bundle as new ones: no import block, disks allocated afresh, MAC addresses left to PVE.".into(),
        ));
    }
    Ok((files, manifest, items))
}

/// The environment's tfvars: its own `NAME.tfvars` if it has one, else `terraform.tfvars`,
/// else a file that says there is nothing to set yet.
fn tfvars(root: &Path, name: &str) -> String {
    for candidate in [format!("{name}.tfvars"), "terraform.tfvars".into()] {
        if let Ok(text) = std::fs::read_to_string(root.join(ROOT_MODULE).join(candidate)) {
            return text;
        }
    }
    format!(
        "# Values of the {name} environment's variables (variables.tf declares them).\n\
         # None are declared yet: the guests' values are in their own files.\n"
    )
}

/// `path` relative to `root`, with `/` separators.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every regular file under `dir`, skipping anything that is never part of a bundle (state,
/// secrets, Terraform's working folder).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let private = name.starts_with('.')
                || name.contains("secret")
                || name.contains(".tfstate")
                || name.ends_with(".log");
            if private {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Removes every `import { ... }` block (what the bundle declares is new on the next server).
fn strip_all_imports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        if !skipping && line.trim_end() == "import {" {
            skipping = true;
            continue;
        }
        if skipping {
            if line.trim_end() == "}" {
                skipping = false;
            }
            continue;
        }
        if line.trim().is_empty() && (out.is_empty() || out.ends_with("\n\n")) {
            continue;
        }
        out.push_str(line);
    }
    out
}

fn readme(manifest: &Manifest) -> String {
    let name = &manifest.environment;
    let mut out = format!(
        "# proxmox-mpc bundle: environment `{name}`\n\n\
         Exported by `proxmox-mpc export --env {name}`. It holds no secret and no state: the API token is\n\
         read from the environment when a command runs.\n\n\
         ## Guests\n\n"
    );
    for g in &manifest.guests {
        out.push_str(&format!(
            "- {} (vmid {} on node {}): `{}`\n",
            g.name, g.vmid, g.node, g.file
        ));
    }
    out.push_str(&format!(
        "\n## Deploy with proxmox-mpc\n\n\
         ```sh\n\
         mkdir site && cd site\n\
         export PVE_TOKEN='user@realm!name=secret'\n\
         proxmox-mpc init --from-bundle ../BUNDLE --endpoint https://pve.example:8006 --token-id 'user@realm!name' --secret-env PVE_TOKEN --yes\n\
         proxmox-mpc plan\n\
         proxmox-mpc apply\n\
         ```\n\n\
         `init --from-bundle` gives each guest a VMID that is free on the new cluster and refuses a node or storage\n\
         that cluster does not have.\n\n\
         ## Or with Terraform alone\n\n\
         ```sh\n\
         cd terraform\n\
         export PROXMOX_VE_ENDPOINT='https://pve.example:8006/'\n\
         export PROXMOX_VE_API_TOKEN='user@realm!name=secret'\n\
         terraform init\n\
         terraform plan -var-file={name}.tfvars\n\
         ```\n\n\
         ## Ansible\n\n\
         ```sh\n\
         ansible-playbook -i ansible/inventory.yml ansible/site.yml\n\
         ```\n"
    ));
    out
}

/// Writes the bundle in a folder next to `dest`, then renames it into place: it appears whole
/// or not at all.
fn write_dir(dest: &Path, files: &[(String, Vec<u8>)]) -> Result<(), CommandError> {
    let tmp = aside(dest);
    let result = (|| -> std::io::Result<()> {
        for (rel, bytes) in files {
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
        }
        if dest.is_dir() {
            // An empty folder: rename replaces it.
            std::fs::remove_dir(dest)?;
        }
        std::fs::rename(&tmp, dest)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        CommandError::user(format!(
            "cannot write the bundle to {}: {e}",
            dest.display()
        ))
        .hint("check that the folder above it exists and is writable; nothing was written")
    })
}

fn aside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "bundle".into());
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes the files as a gzip'd ustar archive (fixed owner and time: the same bundle gives
/// the same bytes), through a temp file and a rename.
fn write_tar_gz(dest: &Path, files: &[(String, Vec<u8>)]) -> Result<(), CommandError> {
    let mut tar = Vec::new();
    for (rel, bytes) in files {
        tar.extend_from_slice(&ustar_header(rel, bytes.len())?);
        tar.extend_from_slice(bytes);
        let pad = (512 - bytes.len() % 512) % 512;
        tar.extend(std::iter::repeat_n(0u8, pad));
    }
    tar.extend(std::iter::repeat_n(0u8, 1024));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let bytes = gz
        .write_all(&tar)
        .and_then(|()| gz.finish())
        .map_err(|e| CommandError::internal(format!("cannot compress the bundle: {e}")))?;
    crate::workspace::write_atomic(dest, &bytes, 0o644)?;
    Ok(())
}

fn ustar_header(path: &str, size: usize) -> Result<[u8; 512], CommandError> {
    let mut h = [0u8; 512];
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        match path[..path.len().min(156)].rfind('/') {
            Some(i) if path.len() - i - 1 <= 100 => (&path[..i], &path[i + 1..]),
            _ => {
                return Err(CommandError::user(format!(
                    "{path} is too long a path for the tar.gz format"
                ))
                .hint("export as a folder (--format dir); nothing was written"));
            }
        }
    };
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum counts its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// A bundle read and fitted to the cluster `/init --from-bundle` connects to: every file to
/// write (relative path, text) and what was changed to fit.
#[derive(Debug, Clone, Default)]
pub struct PreparedBundle {
    files: Files,
    guests: Vec<(String, Guest)>,
    notes: Vec<String>,
}

/// Reads the bundle at `dir` and fits it to the cluster of `env` (`None`: not connected):
/// a VMID taken there is replaced by a free one, a node or storage it lacks is refused. Reads
/// and checks everything before `/init` writes anything.
pub async fn prepare_bundle(
    ctx: &mut Ctx,
    env: Option<&Environment>,
    dir: &str,
) -> Result<PreparedBundle, CommandError> {
    let root = ctx.cwd.join(dir);
    let nothing = "nothing was written";
    let manifest: Manifest = std::fs::read_to_string(root.join(MANIFEST))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|m: &Manifest| m.kind == BUNDLE_KIND)
        .ok_or_else(|| {
            CommandError::user(format!(
                "{} is not a bundle written by proxmox-mpc export (no valid {MANIFEST})",
                root.display()
            ))
            .hint(format!("give the folder `proxmox-mpc export --to DIR` wrote (unpack a tar.gz first); {nothing}"))
        })?;
    let desired = read_desired(&root).map_err(|e| {
        CommandError::user(format!("the bundle's Terraform cannot be read: {e}")).hint(nothing)
    })?;
    let live = match env {
        Some(env) => {
            let client = ctx.client_for(env)?;
            let spinner = ctx.ui.spinner("Reading the cluster for the bundle");
            let snapshot = client.discover(|_, _| {}).await;
            drop(spinner);
            Some(snapshot.map_err(|e| crate::commands::connect::pve_error(e, &env.endpoint))?)
        }
        None => None,
    };
    let mut prepared = PreparedBundle::default();
    let templates = templates(&root)?;
    let mut taken: BTreeSet<u32> = live
        .as_ref()
        .map(|l| l.guests.iter().map(|g| g.vmid).collect())
        .unwrap_or_default();
    let mut replaced = BTreeSet::new();
    for file in &desired.files {
        let guest = fit(&file.guest, live.as_ref(), &manifest.environment)?;
        if live.is_some() && taken.contains(&guest.vmid) {
            check_rewritable(file)?;
            let vmid = free_vmid(guest.vmid, &taken);
            let moved = as_new(&guest, vmid);
            let text = render_new(&templates, &moved, &file.ident, &desired.pool_idents)?;
            prepared.notes.push(format!(
                "{}: vmid {} is taken on this cluster, so it gets {vmid}",
                guest.name, guest.vmid
            ));
            taken.insert(vmid);
            replaced.insert(file.path.clone());
            prepared.files.push((file.path.clone(), text.into_bytes()));
            prepared.guests.push((file.ident.clone(), moved));
        } else {
            taken.insert(guest.vmid);
            prepared.guests.push((file.ident.clone(), guest));
        }
    }
    for dir in [ROOT_MODULE, "ansible", "tests", "docs"] {
        for path in walk(&root.join(dir)) {
            let rel = relative(&root, &path);
            if replaced.contains(&rel) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| {
                CommandError::user(format!("cannot read the bundle's {rel}: {e}")).hint(nothing)
            })?;
            prepared.files.push((rel, bytes));
        }
    }
    if live.is_none() {
        prepared.notes.push(
            "not connected (--no-connect): the bundle's VMIDs were not checked against the cluster"
                .into(),
        );
    }
    Ok(prepared)
}

/// Checks that the guest's node and storages exist on the new cluster (no mapping: a bundle is
/// fitted by editing it).
fn fit(guest: &Guest, live: Option<&ClusterSnapshot>, from: &str) -> Result<Guest, CommandError> {
    let Some(live) = live else {
        return Ok(guest.clone());
    };
    map_names(guest, &NameMap::default(), live).map_err(|missing| {
        CommandError::user(format!(
            "the bundle's guest {} (from {from}) needs {}, which this cluster does not have",
            guest.name,
            missing.join(", ")
        ))
        .hint("edit the bundle's file (node_name, datastore_id, bridge) to names this cluster has; nothing was written")
    })
}

/// Writes a prepared bundle into the new workspace at `root`, and its inventory and docs for
/// the guests as fitted.
pub fn install_bundle(
    ctx: &mut Ctx,
    root: &Path,
    bundle: &PreparedBundle,
) -> Result<Report, CommandError> {
    for (rel, bytes) in &bundle.files {
        crate::iac::sync::write_atomic(&root.join(rel), bytes, &mut ctx.written)?;
    }
    let mut items: Report = bundle.notes.iter().cloned().map(Item::Status).collect();
    if !bundle.notes.is_empty() {
        let templates = templates(root)?;
        let changed: BTreeSet<u32> = bundle.guests.iter().map(|(_, g)| g.vmid).collect();
        refresh_generated(
            root,
            &templates,
            &ClusterSnapshot::default(),
            &bundle.guests,
            &changed,
            &[],
            &mut ctx.written,
        )?;
    }
    items.push(Item::Status(format!(
        "Started from the bundle: {} guest(s) to create; /plan shows them.",
        bundle.guests.len()
    )));
    Ok(items)
}
