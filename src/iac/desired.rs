//! The desired state: every `.tf` file under `terraform/` read back into the model.
//!
//! Owns expression evaluation for the workspace's Terraform: literals, `var.x` (defaults from
//! `variable` blocks, overridden by `terraform.tfvars` and `*.auto.tfvars`), `local.x` (from
//! `locals` blocks, which may use each other and variables), and references to other resources
//! of the workspace (`proxmox_virtual_environment_pool.prod.pool_id`,
//! `proxmox_virtual_environment_vm.web.vm_id`). As in Terraform, only declared variables exist:
//! a tfvars value for an undeclared one is ignored. An expression that cannot be evaluated is an
//! error naming the file, the line and the expression. Attributes the model does not carry are
//! kept in the file and listed per guest ([`DesiredFile::unmodelled`]), never dropped silently.
//!
//! Turning an evaluated resource into a model guest reuses the sync engine's view mapping
//! ([`super::view::guest_from_file_parts`]) and its `# pve` line reader, so `/sync` and `/plan`
//! read a file the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};
use hcl::{Body, Expression, Structure};
use rayon::prelude::*;

use super::IacError;
use super::desired_cache;
pub use super::desired_cache::Detail;
use super::terraform::{CT_TYPE, POOL_TYPE, VM_TYPE};
use super::view::{CtView, ResourceView, Verbatim, VmView, guest_from_file_parts};
use crate::model::Guest;

/// One guest file as the desired state sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DesiredFile {
    /// Path relative to the workspace root (`terraform/web.tf`).
    pub path: String,
    /// The resource name (`web` in `proxmox_virtual_environment_vm.web`).
    pub ident: String,
    /// `node/vmid` of the import block, if the file has one (guests that exist on the server).
    pub import_id: Option<String>,
    pub guest: Guest,
    /// Attributes and blocks in the file that the model does not carry (`agent.timeout`,
    /// `startup`): kept in the file, listed here.
    pub unmodelled: Vec<String>,
    /// Expressions in the file other than literals and pool references (`var.x`, `local.y`):
    /// rewriting the file from the model would replace them with their values.
    pub expressions: Vec<String>,
    /// The resource body as Terraform's config sees it (attributes evaluated, blocks as
    /// arrays), for the provider-import model ([`super::bpg`]).
    pub body: serde_json::Value,
    /// `lifecycle.ignore_changes` as written (`operating_system`, `agent[0].timeout`).
    pub ignore_changes: Vec<String>,
}

/// Everything the workspace's Terraform asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    pub files: Vec<DesiredFile>,
    /// Pool ids declared in the files.
    pub pools: Vec<String>,
    /// Pool id -> comment, where the file gives one.
    pub pool_comments: BTreeMap<String, String>,
    /// Pool id -> the resource name that declares it (`prod` in
    /// `proxmox_virtual_environment_pool.prod`), for references from guest files.
    pub pool_idents: BTreeMap<String, String>,
}

impl DesiredState {
    /// Returns the desired guests.
    pub fn guests(&self) -> Vec<Guest> {
        self.files.iter().map(|f| f.guest.clone()).collect()
    }

    /// Returns the file of the guest with this vmid.
    pub fn file_of(&self, vmid: u32) -> Option<&DesiredFile> {
        self.files.iter().find(|f| f.guest.vmid == vmid)
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub expression: Option<String>,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(expr) = &self.expression {
            write!(f, ": cannot evaluate `{expr}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the desired state could not be read. Every file with a problem is named, so a person
/// can fix them all in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct DesiredError {
    pub problems: Vec<FileProblem>,
}

/// A parsed `.tf` file.
struct TfFile {
    path: PathBuf,
    text: String,
    body: Body,
}

/// The folder of the default environment's root module, relative to the workspace.
pub const ROOT_MODULE: &str = "terraform";
/// Where guest files lived before they moved into the root module (Terraform never loaded
/// them there); read so that `/sync` can move them.
pub const LEGACY_GUEST_DIR: &str = "terraform/guests";

/// The workspace's Terraform as read, with every problem found; files and resources with a
/// problem are left out of `state` and named in `problems`.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceRead {
    pub state: DesiredState,
    pub problems: Vec<FileProblem>,
}

/// Reads the desired state of the workspace at `root`; any problem fails the whole read.
pub fn read_desired(root: &Path) -> Result<DesiredState, DesiredError> {
    let read = read_workspace(root);
    if read.problems.is_empty() {
        Ok(read.state)
    } else {
        Err(DesiredError {
            problems: read.problems,
        })
    }
}

/// Reads every `.tf` file of the root module (and of the legacy guest folder) at `root`,
/// keeping what reads and listing what does not: the one reader of `/sync`, `/plan`, `/test`
/// and the resource commands.
pub fn read_workspace(root: &Path) -> WorkspaceRead {
    read_workspace_hashed(root, Detail::Full).0
}

/// Reads the workspace as [`read_workspace`] does (with `detail`: all of each guest, or what
/// a plan needs) and returns, with the read, the [`files_hash`] of the very texts it read: a
/// plan records what it was made from without reading every file a second time.
pub fn read_workspace_hashed(root: &Path, detail: Detail) -> (WorkspaceRead, String) {
    let tf_dir = root.join(ROOT_MODULE);
    let mut paths = tf_files(&tf_dir);
    paths.extend(tf_files(&root.join(LEGACY_GUEST_DIR)));
    let mut problems = Vec::new();
    let mut texts = Vec::new();
    // Thousands of small files: read on every core, kept in path order.
    let read: Vec<(PathBuf, std::io::Result<String>)> = paths
        .into_par_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path);
            (path, text)
        })
        .collect();
    for (path, text) in read {
        match text {
            Err(e) => problems.push(problem(&path, None, None, format!("cannot read: {e}"))),
            Ok(text) => texts.push((path, text)),
        }
    }
    let rels: Vec<String> = texts.iter().map(|(p, _)| rel(root, p)).collect();
    let digests: Vec<String> = texts
        .par_iter()
        .map(|(_, text)| desired_cache::digest(text))
        .collect();
    let known: BTreeMap<&str, &str> = rels
        .iter()
        .zip(&digests)
        .map(|(r, d)| (r.as_str(), d.as_str()))
        .collect();
    let hash = files_hash(root, &known);
    let mut read = read_cached(root, texts, rels, digests, detail);
    problems.append(&mut read.problems);
    read.problems = problems;
    (read, hash)
}

/// SHA-256 over every `.tf` file under `terraform/`, at any depth, in path order: each file's
/// relative path and the SHA-256 of its content. What a plan was made from, and what `/apply`
/// compares to judge it stale. `known` holds digests already computed (relative path -> hex
/// SHA-256 of the content); other files are read here.
pub fn files_hash(root: &Path, known: &BTreeMap<&str, &str>) -> String {
    use sha2::{Digest, Sha256};
    let mut paths = Vec::new();
    let mut stack = vec![root.join(ROOT_MODULE)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry
                .file_type()
                .map(|t| t.is_dir() || (t.is_symlink() && path.is_dir()))
                .unwrap_or(false);
            if is_dir {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "tf") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut hasher = Sha256::new();
    for path in paths {
        let rel = rel(root, &path);
        let digest = match known.get(rel.as_str()) {
            Some(d) => (*d).to_string(),
            None => hex::encode(Sha256::digest(std::fs::read(&path).unwrap_or_default())),
        };
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        hasher.update(digest.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// Reads the workspace as [`read_workspace`] does, with `text` in place of the file at `path`
/// (which may not exist yet): an edit checked by the one reader before it is saved. The
/// reader's cache is neither used nor changed.
pub fn read_workspace_with(root: &Path, path: &Path, text: &str) -> WorkspaceRead {
    let mut paths = tf_files(&root.join(ROOT_MODULE));
    paths.extend(tf_files(&root.join(LEGACY_GUEST_DIR)));
    if !paths.iter().any(|p| p == path) {
        paths.push(path.to_path_buf());
        paths.sort();
    }
    let mut problems = Vec::new();
    let mut texts = Vec::new();
    for p in paths {
        if p == path {
            texts.push((p, text.to_string()));
            continue;
        }
        match std::fs::read_to_string(&p) {
            Err(e) => problems.push(problem(&p, None, None, format!("cannot read: {e}"))),
            Ok(t) => texts.push((p, t)),
        }
    }
    let (mut read, _) = parse_and_read(Some(root), texts);
    read.problems
        .extend(duplicate_vmids(Some(root), &read.state.files));
    problems.append(&mut read.problems);
    read.problems = problems;
    read
}

/// Reads `texts` (the workspace's files at `root`, in path order), parsing only what the
/// reader's cache ([`super::desired_cache`]) cannot answer, and brings the cache up to date.
/// The result is the same as parsing every file (with [`Detail::Guests`], less the parts of
/// reused guests that it leaves empty).
fn read_cached(
    root: &Path,
    texts: Vec<(PathBuf, String)>,
    rels: Vec<String>,
    digests: Vec<String>,
    detail: Detail,
) -> WorkspaceRead {
    let paths: Vec<PathBuf> = texts.iter().map(|(p, _)| p.clone()).collect();
    let cache = desired_cache::load(root);
    let partial = cache
        .as_ref()
        .and_then(|c| read_with_cache(root, &texts, &rels, &digests, c, detail));
    let (read, guest_only, reused) = match partial {
        Some(result) => result,
        None => {
            let (mut read, flags) = parse_and_read(Some(root), texts);
            read.problems
                .extend(duplicate_vmids(Some(root), &read.state.files));
            (read, flags, Vec::new())
        }
    };
    let others = rels
        .iter()
        .zip(&digests)
        .filter(|(r, _)| !guest_only.get(*r).copied().unwrap_or(false));
    let context = desired_cache::context_key(root, others.map(|(r, d)| (r.as_str(), d.as_str())));
    // Written again when a file changed or what guest files depend on did (tfvars): not on
    // every read of a workspace whose guests use variables, which is read whole anyway.
    let stale = cache.as_ref().is_none_or(|c| {
        c.context != context
            || c.files.len() != rels.len()
            || rels
                .iter()
                .zip(&digests)
                .any(|(r, d)| c.files.get(r).is_none_or(|e| &e.sha256 != d))
    });
    if stale {
        let entries = cache_entries(
            &paths,
            &rels,
            &digests,
            &guest_only,
            &read,
            cache.as_ref().map(|c| (c, reused.as_slice())),
        );
        desired_cache::store(root, context, rels.iter().map(String::as_str).zip(entries));
    }
    read
}

/// What [`read_with_cache`] gives: the read, each parsed file's guest-only flag, and the
/// indexes of the files answered from the cache.
type CachedRead = (WorkspaceRead, BTreeMap<String, bool>, Vec<usize>);

/// The read from the cache plus the files it cannot answer, parsed; `None` when the cache
/// does not hold for this workspace (what the guest files depend on changed, or a changed
/// guest file depends on other files): then everything is parsed.
fn read_with_cache(
    root: &Path,
    texts: &[(PathBuf, String)],
    rels: &[String],
    digests: &[String],
    cache: &desired_cache::Cache,
    detail: Detail,
) -> Option<CachedRead> {
    let mut reused: Vec<usize> = Vec::new();
    let mut parse = Vec::new();
    for (i, (text, rel)) in texts.iter().zip(rels).enumerate() {
        match cache.files.get(rel) {
            Some(e) if e.sha256 == digests[i] && e.reusable => reused.push(i),
            _ => parse.push(text.clone()),
        }
    }
    let (sub, sub_flags) = parse_and_read(Some(root), parse);
    let mut guest_only: BTreeMap<String, bool> = sub_flags;
    // A freshly read guest file that depends on other files needs them all read.
    if sub
        .state
        .files
        .iter()
        .any(|f| guest_only.get(&f.path).copied().unwrap_or(false) && !f.expressions.is_empty())
    {
        return None;
    }
    for i in &reused {
        guest_only.insert(rels[*i].clone(), true);
    }
    let others = rels
        .iter()
        .zip(digests)
        .filter(|(r, _)| !guest_only.get(*r).copied().unwrap_or(false));
    let context = desired_cache::context_key(root, others.map(|(r, d)| (r.as_str(), d.as_str())));
    if context != cache.context {
        return None;
    }
    // Reading the stored guests back is most of a cached read: on every core.
    let decoded: Vec<(usize, Vec<DesiredFile>)> = reused
        .par_iter()
        .map(|&i| {
            let entry = cache.files.get(&rels[i])?;
            cache.guests(&rels[i], entry, detail).map(|g| (i, g))
        })
        .collect::<Option<Vec<_>>>()?;
    let index: BTreeMap<&str, usize> = rels
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let WorkspaceRead {
        mut state,
        mut problems,
    } = sub;
    let mut files: Vec<(usize, DesiredFile)> = std::mem::take(&mut state.files)
        .into_iter()
        .map(|f| (index.get(f.path.as_str()).copied().unwrap_or(usize::MAX), f))
        .collect();
    files.extend(
        decoded
            .into_iter()
            .flat_map(|(i, list)| list.into_iter().map(move |f| (i, f))),
    );
    // The parse's order: files in path order, each file's guests in block order (stable).
    files.sort_by_key(|(i, _)| *i);
    state.files = files.into_iter().map(|(_, f)| f).collect();
    problems.extend(duplicate_vmids(Some(root), &state.files));
    Some((WorkspaceRead { state, problems }, guest_only, reused))
}

/// The cache's entries for a read, one per file in order: a guest-only file without problems
/// whose guests use only literals and pool references is reusable while its text is
/// unchanged. A file answered from the cache (`old`: the cache and the indexes it answered)
/// keeps its stored text; the others are serialized, on every core.
fn cache_entries<'a>(
    paths: &[PathBuf],
    rels: &[String],
    digests: &[String],
    guest_only: &BTreeMap<String, bool>,
    read: &WorkspaceRead,
    old: Option<(&'a desired_cache::Cache, &[usize])>,
) -> Vec<desired_cache::StoredFile<'a>> {
    let mut guests: BTreeMap<&str, Vec<&DesiredFile>> = BTreeMap::new();
    for f in &read.state.files {
        guests.entry(f.path.as_str()).or_default().push(f);
    }
    let reused: std::collections::BTreeSet<usize> = old
        .map(|(_, r)| r.iter().copied().collect())
        .unwrap_or_default();
    let with_problems: std::collections::BTreeSet<&Path> =
        read.problems.iter().map(|p| p.path.as_path()).collect();
    (0..rels.len())
        .into_par_iter()
        .map(|i| {
            let (rel, sha) = (&rels[i], &digests[i]);
            if reused.contains(&i)
                && let Some((cache, _)) = old
                && let Some(entry) = cache.files.get(rel)
            {
                return cache.stored(entry);
            }
            let only = guest_only.get(rel).copied().unwrap_or(false);
            let list = guests.get(rel.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let clean = !with_problems.contains(paths[i].as_path());
            let reusable = only && clean && list.iter().all(|f| f.expressions.is_empty());
            let (core, extra) = if reusable {
                desired_cache::encode(list)
            } else {
                ("[]".to_string(), "[]".to_string())
            };
            desired_cache::StoredFile {
                sha256: sha.clone(),
                guest_only: only,
                reusable,
                core: core.into(),
                extra: extra.into(),
            }
        })
        .collect()
}

/// Reads `.tf` texts given by path (no tfvars); paths are reported as given. For one file on
/// its own, or files that are not in a workspace.
pub fn read_texts(files: Vec<(PathBuf, String)>) -> WorkspaceRead {
    let (mut read, _) = parse_and_read(None, files);
    read.problems
        .extend(duplicate_vmids(None, &read.state.files));
    read
}

/// True for a file that holds only import blocks and VM/container resources: what it reads as
/// depends on nothing but its own text and the other files' pools, variables and locals.
fn is_guest_only(body: &Body) -> bool {
    body.attributes().next().is_none()
        && body.blocks().all(|b| {
            let labels = b.labels();
            b.identifier() == "import"
                || (b.identifier() == "resource"
                    && labels.len() == 2
                    && (labels[0].as_str() == VM_TYPE || labels[0].as_str() == CT_TYPE))
        })
}

/// Parses and reads `texts`; returns the read (without the check across files for one vmid
/// described twice: [`duplicate_vmids`]) and, for each file that parsed, whether it is
/// guest-only ([`is_guest_only`]), by the path its guests carry.
fn parse_and_read(
    root: Option<&Path>,
    texts: Vec<(PathBuf, String)>,
) -> (WorkspaceRead, BTreeMap<String, bool>) {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    // Parsing is most of a read and each file parses on its own: on every core, in order.
    let parsed: Vec<(PathBuf, String, Result<Body, hcl::Error>)> = texts
        .into_par_iter()
        .map(|(path, text)| {
            let body = hcl::parse(&text);
            (path, text, body)
        })
        .collect();
    for (path, text, body) in parsed {
        match body {
            Ok(body) => files.push(TfFile { path, text, body }),
            Err(e) => problems.push(problem(
                &path,
                parse_error_line(&e.to_string()),
                None,
                format!("not valid HCL: {e}"),
            )),
        }
    }
    let vars = variables(root, &files, &mut problems);
    let mut ctx = Context::new();
    ctx.declare_var("var", hcl::Value::Object(vars));
    let locals = locals(&files, &ctx, &mut problems);
    ctx.declare_var("local", hcl::Value::Object(locals));
    // Resource attributes that evaluate on their own, so resources can refer to each other:
    // those of the types some file refers to (`TYPE.NAME...`). A generated workspace refers
    // only to pools; evaluating every guest here too held the whole workspace twice more.
    let mut referenced: BTreeMap<&str, bool> = BTreeMap::new();
    let mut resources: BTreeMap<String, hcl::Map<String, hcl::Value>> = BTreeMap::new();
    for file in &files {
        for block in file.body.blocks() {
            if block.identifier() != "resource" || block.labels().len() != 2 {
                continue;
            }
            let rtype = block.labels()[0].as_str();
            let wanted = *referenced.entry(rtype).or_insert_with(|| {
                let reference = format!("{rtype}.");
                files.iter().any(|f| f.text.contains(&reference))
            });
            if !wanted {
                continue;
            }
            let rtype = rtype.to_string();
            let name = block.labels()[1].as_str().to_string();
            let mut attrs = hcl::Map::new();
            for attr in block.body().attributes() {
                if let Ok(value) = attr.expr().evaluate(&ctx) {
                    attrs.insert(attr.key().to_string(), value);
                }
            }
            if rtype == POOL_TYPE
                && let Some(id) = attrs.get("pool_id").cloned()
            {
                attrs.entry("id".to_string()).or_insert(id);
            }
            resources
                .entry(rtype)
                .or_default()
                .insert(name, hcl::Value::Object(attrs));
        }
    }
    for (rtype, objects) in resources {
        ctx.declare_var(rtype, hcl::Value::Object(objects));
    }

    let mut state = DesiredState::default();
    let mut guest_only = BTreeMap::new();
    // Each file's guests read on their own against the shared context, on every core, a
    // batch of files at a time: a file's text and syntax tree go once its guests are read,
    // so a large workspace never holds all of both and all of what was read from them.
    let mut files = files.into_iter();
    loop {
        let batch: Vec<TfFile> = files.by_ref().take(READ_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let guests_of: Vec<_> = batch
            .par_iter()
            .map(|file| guest_resources(file, &ctx))
            .collect();
        for (file, guests) in batch.iter().zip(guests_of) {
            read_file_into(root, file, guests, &ctx, &mut state, &mut problems);
            guest_only.insert(file_rel(root, file), is_guest_only(&file.body));
        }
    }
    state.pools.sort();
    state.pools.dedup();
    (WorkspaceRead { state, problems }, guest_only)
}

/// How many files [`parse_and_read`] reads the guests of at once.
const READ_BATCH: usize = 256;

/// A file's path as its guests carry it: relative to `root`, or as given without one.
fn file_rel(root: Option<&Path>, file: &TfFile) -> String {
    match root {
        Some(root) => rel(root, &file.path),
        None => file.path.to_string_lossy().replace('\\', "/"),
    }
}

/// Adds what `file` holds to `state`: its pools, and its guests as `guests` read them.
fn read_file_into(
    root: Option<&Path>,
    file: &TfFile,
    guests: Result<Vec<GuestEntry>, FileProblem>,
    ctx: &Context,
    state: &mut DesiredState,
    problems: &mut Vec<FileProblem>,
) {
    let rel = file_rel(root, file);
    for block in file.body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        if block.identifier() != "resource" || labels.len() != 2 {
            continue;
        }
        if labels[0] == POOL_TYPE {
            let mut locate = Locator::new(&file.text);
            let line = locate.block_line(block);
            match body_json(&file.path, &file.text, block.body(), ctx, line) {
                Ok((json, _)) => match json.get("pool_id").and_then(|v| v.as_str()) {
                    Some(id) => {
                        state.pools.push(id.to_string());
                        state
                            .pool_idents
                            .insert(id.to_string(), labels[1].to_string());
                        if let Some(c) = json.get("comment").and_then(|v| v.as_str()) {
                            state.pool_comments.insert(id.to_string(), c.to_string());
                        }
                    }
                    None => problems.push(problem(
                        &file.path,
                        Some(line),
                        None,
                        format!("pool resource `{}` has no pool_id", labels[1]),
                    )),
                },
                Err(p) => problems.push(p),
            }
        }
    }
    // Guest resources: one per file in the root module (what /sync and the resource
    // commands write), but any file may hold them.
    match guests {
        Ok(list) => {
            for e in list {
                state.files.push(DesiredFile {
                    path: rel.clone(),
                    ident: e.ident,
                    import_id: e.import_id,
                    guest: e.guest,
                    unmodelled: e.unmodelled,
                    expressions: e.expressions,
                    body: e.body,
                    ignore_changes: e.ignore_changes,
                });
            }
        }
        Err(p) => problems.push(p),
    }
}

/// Two files describing one vmid would make /plan act twice: one problem per extra file.
fn duplicate_vmids(root: Option<&Path>, files: &[DesiredFile]) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    let mut by_vmid: BTreeMap<u32, &DesiredFile> = BTreeMap::new();
    for f in files {
        if let Some(other) = by_vmid.insert(f.guest.vmid, f) {
            let path = match root {
                Some(root) => root.join(&f.path),
                None => PathBuf::from(&f.path),
            };
            problems.push(FileProblem {
                path,
                line: None,
                expression: None,
                message: format!(
                    "vmid {} is also described by {}; keep one of the two",
                    f.guest.vmid, other.path
                ),
            });
        }
    }
    problems
}

struct GuestEntry {
    ident: String,
    import_id: Option<String>,
    guest: Guest,
    unmodelled: Vec<String>,
    expressions: Vec<String>,
    body: serde_json::Value,
    ignore_changes: Vec<String>,
}

fn guest_resources(file: &TfFile, ctx: &Context) -> Result<Vec<GuestEntry>, FileProblem> {
    let mut out = Vec::new();
    let mut import_ids: BTreeMap<String, String> = BTreeMap::new();
    for block in file.body.blocks() {
        if block.identifier() != "import" {
            continue;
        }
        let to = block.body().attributes().find(|a| a.key() == "to");
        let id = block.body().attributes().find(|a| a.key() == "id");
        if let (Some(to), Some(id)) = (to, id)
            && let Ok(hcl::Value::String(id)) = id.expr().evaluate(ctx)
        {
            let target = hcl::format::to_string(to.expr()).unwrap_or_default();
            if let Some(name) = target.rsplit('.').next() {
                import_ids.insert(name.trim().to_string(), id);
            }
        }
    }
    let mut locate = Locator::new(&file.text);
    for block in file.body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        if block.identifier() != "resource"
            || labels.len() != 2
            || (labels[0] != VM_TYPE && labels[0] != CT_TYPE)
        {
            continue;
        }
        let line = locate.block_line(block);
        let (json, expressions) = body_json(&file.path, &file.text, block.body(), ctx, line)?;
        let json = serde_json::Value::Object(json);
        let bad = |e: serde_json::Error| {
            problem(
                &file.path,
                Some(line),
                None,
                format!(
                    "resource {}.{}: unexpected value: {e}",
                    labels[0], labels[1]
                ),
            )
        };
        let (view, known) = if labels[0] == VM_TYPE {
            let mut view: VmView = serde_json::from_value(json.clone()).map_err(bad)?;
            let known = serde_json::to_value(&view).unwrap_or_default();
            // A disk with a size but no `path_in_datastore` is one bpg allocates on create:
            // the model says so with PVE's own `STORAGE:GiB` volume.
            for disk in &mut view.disk {
                if disk.path_in_datastore.is_none()
                    && let Some(size) = disk.size
                {
                    disk.path_in_datastore = Some(size.to_string());
                }
            }
            (ResourceView::Vm(Box::new(view)), known)
        } else {
            let view: CtView = serde_json::from_value(json.clone()).map_err(bad)?;
            let known = serde_json::to_value(&view).unwrap_or_default();
            (ResourceView::Ct(Box::new(view)), known)
        };
        let mut unmodelled = Vec::new();
        unknown_paths("", &json, &known, &mut unmodelled);
        let (verbatim, absent) = read_verbatim(&file.path, &file.text)
            .map_err(|e| problem(&file.path, None, None, format!("a `# pve` line: {e}")))?;
        let guest = guest_from_file_parts(&view, &verbatim, &absent);
        out.push(GuestEntry {
            ident: labels[1].to_string(),
            import_id: import_ids.get(labels[1]).cloned(),
            guest,
            unmodelled,
            expressions,
            body: json,
            ignore_changes: ignore_changes(block.body()),
        });
    }
    Ok(out)
}

/// The paths of `lifecycle { ignore_changes = [...] }` as written.
fn ignore_changes(body: &Body) -> Vec<String> {
    let Some(lifecycle) = body.blocks().find(|b| b.identifier() == "lifecycle") else {
        return Vec::new();
    };
    let Some(attr) = lifecycle
        .body()
        .attributes()
        .find(|a| a.key() == "ignore_changes")
    else {
        return Vec::new();
    };
    match attr.expr() {
        Expression::Array(items) => items
            .iter()
            .map(|e| {
                hcl::format::to_string(e)
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect(),
        // `ignore_changes = all`
        other => vec![hcl::format::to_string(other).unwrap_or_default()],
    }
}

/// Lists the paths present in `file` but not in `known` (the view re-serialized).
fn unknown_paths(
    prefix: &str,
    file: &serde_json::Value,
    known: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (file, known) {
        (serde_json::Value::Object(f), serde_json::Value::Object(k)) => {
            for (key, value) in f {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match k.get(key) {
                    None => out.push(path),
                    Some(kv) => unknown_paths(&path, value, kv, out),
                }
            }
        }
        (serde_json::Value::Array(f), serde_json::Value::Array(k)) => {
            for (i, value) in f.iter().enumerate() {
                if let Some(kv) = k.get(i) {
                    unknown_paths(prefix, value, kv, out);
                }
            }
        }
        _ => {}
    }
}

/// Evaluates a block body into JSON (attributes evaluated, nested blocks as lists of objects,
/// `lifecycle` and `# pve` comments left to their readers). Returns the JSON and the
/// non-literal expressions met. `start_line` is where the block starts, for error lines.
fn body_json(
    path: &Path,
    text: &str,
    body: &Body,
    ctx: &Context,
    start_line: usize,
) -> Result<(serde_json::Map<String, serde_json::Value>, Vec<String>), FileProblem> {
    let mut expressions = Vec::new();
    let mut locate = Locator::new(text);
    locate.line = start_line.saturating_sub(1);
    let json = walk(path, body, ctx, &mut locate, &mut expressions)?;
    Ok((json, expressions))
}

fn walk(
    path: &Path,
    body: &Body,
    ctx: &Context,
    locate: &mut Locator<'_>,
    expressions: &mut Vec<String>,
) -> Result<serde_json::Map<String, serde_json::Value>, FileProblem> {
    let mut out = serde_json::Map::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let line = locate.attribute_line(attr.key());
                let source = locate.source_of(line);
                if !is_plain(attr.expr()) {
                    expressions.push(source.clone().unwrap_or_else(|| attr.key().to_string()));
                }
                let value = attr.expr().evaluate(ctx).map_err(|e| {
                    problem(
                        path,
                        line,
                        Some(source.clone().unwrap_or_else(|| {
                            hcl::format::to_string(attr.expr()).unwrap_or_default()
                        })),
                        explain(&e.to_string()),
                    )
                })?;
                let json = serde_json::to_value(&value)
                    .map_err(|e| problem(path, line, source, e.to_string()))?;
                out.insert(attr.key().to_string(), json);
            }
            Structure::Block(block) => {
                locate.block_start(block.identifier());
                if block.identifier() == "lifecycle" {
                    continue;
                }
                let value =
                    serde_json::Value::Object(walk(path, block.body(), ctx, locate, expressions)?);
                match out
                    .entry(block.identifier().to_string())
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()))
                {
                    serde_json::Value::Array(items) => items.push(value),
                    _ => {
                        return Err(problem(
                            path,
                            Some(locate.line),
                            None,
                            format!("`{}` is both an attribute and a block", block.identifier()),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// True for literals, lists/objects of literals, and pool references (what /sync writes).
fn is_plain(expr: &Expression) -> bool {
    match expr {
        Expression::Null | Expression::Bool(_) | Expression::Number(_) | Expression::String(_) => {
            true
        }
        Expression::Array(items) => items.iter().all(is_plain),
        Expression::Object(map) => map.values().all(is_plain),
        Expression::Traversal(t) => {
            matches!(&t.expr, Expression::Variable(v) if v.as_str() == POOL_TYPE)
        }
        _ => false,
    }
}

fn explain(message: &str) -> String {
    if message.contains("undefined variable") || message.contains("no such key") {
        format!(
            "{message} (variables need a default in variables.tf or a value in terraform.tfvars; locals a `locals` block; resources must be in the workspace)"
        )
    } else {
        message.to_string()
    }
}

/// Finds source lines for attributes and blocks by scanning forward through the text in the
/// order hcl-rs keeps structures (hcl-rs keeps no spans).
struct Locator<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to look at.
    line: usize,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            lines: text.lines().collect(),
            line: 0,
        }
    }

    fn find(&mut self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        let found = (self.line..self.lines.len()).find(|&i| pred(self.lines[i].trim_start()))?;
        self.line = found + 1;
        Some(found + 1)
    }

    fn attribute_line(&mut self, key: &str) -> Option<usize> {
        self.find(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    }

    fn block_start(&mut self, ident: &str) -> Option<usize> {
        self.find(|l| {
            l.strip_prefix(ident).is_some_and(|rest| {
                rest.starts_with([' ', '{', '"']) && !rest.trim_start().starts_with('=')
            })
        })
    }

    /// The line where `block` starts, found from the top of the file.
    fn block_line(&mut self, block: &hcl::Block) -> usize {
        self.line = 0;
        let labels: Vec<String> = block
            .labels()
            .iter()
            .map(|l| format!("\"{}\"", l.as_str()))
            .collect();
        let found = self.find(|l| {
            l.starts_with(block.identifier()) && labels.iter().all(|lab| l.contains(lab.as_str()))
        });
        found.unwrap_or(1)
    }

    /// The expression text of the attribute on `line` (after `=`).
    fn source_of(&self, line: Option<usize>) -> Option<String> {
        let text = self.lines.get(line? - 1)?;
        let (_, expr) = text.split_once('=')?;
        Some(expr.trim().to_string())
    }
}

fn problem(
    path: &Path,
    line: Option<usize>,
    expression: Option<String>,
    message: impl Into<String>,
) -> FileProblem {
    FileProblem {
        path: path.to_path_buf(),
        line,
        expression,
        message: message.into(),
    }
}

fn parse_error_line(message: &str) -> Option<usize> {
    // hcl-rs reports ` --> LINE:COL`.
    let after = message.split("-->").nth(1)?;
    after.trim().split(':').next()?.trim().parse().ok()
}

/// The `.tf` files directly in `dir` (not below it, as Terraform loads a module), sorted.
pub fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "tf"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// `var.*`: `variable` defaults, then `terraform.tfvars`, then `*.auto.tfvars` (Terraform's
/// order, later wins).
fn variables(
    root: Option<&Path>,
    files: &[TfFile],
    problems: &mut Vec<FileProblem>,
) -> hcl::Map<String, hcl::Value> {
    let empty = Context::new();
    let mut vars = hcl::Map::new();
    for file in files {
        for block in file.body.blocks() {
            if block.identifier() != "variable" {
                continue;
            }
            let Some(name) = block.labels().first().map(|l| l.as_str().to_string()) else {
                continue;
            };
            if let Some(default) = block.body().attributes().find(|a| a.key() == "default") {
                match default.expr().evaluate(&empty) {
                    Ok(v) => {
                        vars.insert(name, v);
                    }
                    Err(e) => {
                        let mut locate = Locator::new(&file.text);
                        let start = locate.block_line(block);
                        locate.line = start;
                        let line = locate.attribute_line("default");
                        problems.push(problem(
                            &file.path,
                            line,
                            locate.source_of(line),
                            format!("variable {name}: a default must be a literal ({e})"),
                        ));
                    }
                }
            }
        }
    }
    let declared: std::collections::BTreeSet<String> = files
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "variable")
        .filter_map(|b| b.labels().first().map(|l| l.as_str().to_string()))
        .collect();
    let Some(root) = root else {
        return vars;
    };
    let tf_dir = root.join(ROOT_MODULE);
    let mut tfvars = vec![tf_dir.join("terraform.tfvars")];
    if let Ok(entries) = std::fs::read_dir(&tf_dir) {
        let mut auto: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".auto.tfvars"))
            .collect();
        auto.sort();
        tfvars.extend(auto);
    }
    for path in tfvars {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let body = match hcl::parse(&text) {
            Ok(b) => b,
            Err(e) => {
                problems.push(problem(
                    &path,
                    parse_error_line(&e.to_string()),
                    None,
                    format!("not valid HCL: {e}"),
                ));
                continue;
            }
        };
        let mut locate = Locator::new(&text);
        for attr in body.attributes() {
            let line = locate.attribute_line(attr.key());
            // As in Terraform, a value for an undeclared variable defines nothing.
            if !declared.contains(attr.key()) {
                continue;
            }
            match attr.expr().evaluate(&empty) {
                Ok(v) => {
                    vars.insert(attr.key().to_string(), v);
                }
                Err(e) => problems.push(problem(
                    &path,
                    line,
                    locate.source_of(line),
                    format!("a tfvars value must be a literal ({e})"),
                )),
            }
        }
    }
    vars
}

/// `local.*`: evaluated in rounds so locals may use each other in any order.
fn locals(
    files: &[TfFile],
    base: &Context,
    problems: &mut Vec<FileProblem>,
) -> hcl::Map<String, hcl::Value> {
    let mut pending: Vec<(&TfFile, &hcl::Attribute)> = Vec::new();
    for file in files {
        for block in file.body.blocks() {
            if block.identifier() == "locals" {
                pending.extend(block.body().attributes().map(|a| (file, a)));
            }
        }
    }
    let mut values = hcl::Map::new();
    loop {
        let mut ctx = base.clone();
        ctx.declare_var("local", hcl::Value::Object(values.clone()));
        let before = pending.len();
        let mut still = Vec::new();
        for (file, attr) in pending {
            match attr.expr().evaluate(&ctx) {
                Ok(v) => {
                    values.insert(attr.key().to_string(), v);
                }
                Err(_) => still.push((file, attr)),
            }
        }
        pending = still;
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    let mut ctx = base.clone();
    ctx.declare_var("local", hcl::Value::Object(values.clone()));
    for (file, attr) in pending {
        let mut locate = Locator::new(&file.text);
        let line = locate.attribute_line(attr.key());
        let message = attr
            .expr()
            .evaluate(&ctx)
            .err()
            .map(|e| explain(&e.to_string()))
            .unwrap_or_default();
        problems.push(problem(
            &file.path,
            line,
            locate.source_of(line),
            format!("local.{}: {message}", attr.key()),
        ));
    }
    values
}

/// Reads the `# pve key = "value"` and `# pve-absent key` lines of a guest file.
pub fn read_verbatim(path: &Path, text: &str) -> Result<(Vec<Verbatim>, Vec<String>), IacError> {
    let mut verbatim = Vec::new();
    let mut absent = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(key) = line.strip_prefix("# pve-absent ") {
            absent.push(key.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("# pve ") {
            let Some((key, value)) = rest.split_once(" = ") else {
                continue;
            };
            let parse_error = |message: String| IacError::Parse {
                path: path.to_path_buf(),
                message,
            };
            let body =
                hcl::parse(&format!("v = {value}\n")).map_err(|e| parse_error(e.to_string()))?;
            let value = match body
                .attributes()
                .next()
                .map(|a| a.expr().evaluate(&Context::new()))
            {
                Some(Ok(value)) => value,
                Some(Err(e)) => return Err(parse_error(e.to_string())),
                None => continue,
            };
            if let hcl::Value::String(value) = value {
                verbatim.push(Verbatim {
                    key: key.trim().to_string(),
                    value,
                });
            }
        }
    }
    Ok((verbatim, absent))
}
