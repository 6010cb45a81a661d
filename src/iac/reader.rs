//! Reads the workspace's Terraform back into the model (hcl-rs): guest files
//! (`terraform/guests/*.tf`: the resource, its import block and its `# pve` lines) and pool
//! identifiers (`terraform/pools.tf`).
//!
//! Supported expressions: literals, lists, and references to pool resources
//! (`proxmox_virtual_environment_pool.<name>.pool_id`). Variables, locals, functions and other
//! references are the resource-command issue's extension; such a file is reported, not guessed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};
use hcl::{Body, Expression};

use super::IacError;
use super::terraform::{CT_TYPE, POOL_TYPE, VM_TYPE};
use super::view::{CtView, ResourceView, Verbatim, VmView, guest_from_file_parts};
use crate::model::{Guest, GuestKind};

/// One guest file as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestFile {
    pub path: PathBuf,
    /// The resource's name (`web` in `proxmox_virtual_environment_vm.web`).
    pub ident: String,
    pub kind: GuestKind,
    /// `node/vmid` from the import block, if the file has one.
    pub import_id: Option<String>,
    pub guest: Guest,
}

/// Pool resource name -> pool id, from `pools.tf` text.
pub fn read_pools(path: &Path, text: &str) -> Result<BTreeMap<String, String>, IacError> {
    let body = parse(path, text)?;
    let mut out = BTreeMap::new();
    let ctx = Context::new();
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        if block.identifier() == "resource" && labels.first() == Some(&POOL_TYPE) {
            let ident = labels.get(1).copied().unwrap_or_default().to_string();
            let id = block
                .body()
                .attributes()
                .find(|a| a.key() == "pool_id")
                .map(|a| eval(path, a.expr(), &ctx))
                .transpose()?
                .and_then(|v| v.as_str().map(str::to_string));
            if let Some(id) = id {
                out.insert(ident, id);
            }
        }
    }
    Ok(out)
}

/// Pool resources of `pools.tf`: resource name -> (pool id, comment).
pub fn read_pool_resources(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, (String, Option<String>)>, IacError> {
    let body = parse(path, text)?;
    let ctx = Context::new();
    let mut out = BTreeMap::new();
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        if block.identifier() != "resource" || labels.first() != Some(&POOL_TYPE) {
            continue;
        }
        let attr = |key: &str| -> Result<Option<String>, IacError> {
            Ok(block
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| eval(path, a.expr(), &ctx))
                .transpose()?
                .and_then(|v| v.as_str().map(str::to_string)))
        };
        if let Some(id) = attr("pool_id")? {
            let ident = labels.get(1).copied().unwrap_or_default().to_string();
            out.insert(ident, (id, attr("comment")?));
        }
    }
    Ok(out)
}

fn parse(path: &Path, text: &str) -> Result<Body, IacError> {
    hcl::parse(text).map_err(|e| IacError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn eval(path: &Path, expr: &Expression, ctx: &Context) -> Result<serde_json::Value, IacError> {
    let value = expr.evaluate(ctx).map_err(|e| IacError::Parse {
        path: path.to_path_buf(),
        message: format!("{e} (only literal values and pool references are read back for now)"),
    })?;
    serde_json::to_value(&value).map_err(|e| IacError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Turns a block body into JSON: attributes evaluated, nested blocks as arrays of objects.
fn body_to_json(
    path: &Path,
    body: &Body,
    ctx: &Context,
) -> Result<serde_json::Map<String, serde_json::Value>, IacError> {
    let mut out = serde_json::Map::new();
    for attr in body.attributes() {
        out.insert(attr.key().to_string(), eval(path, attr.expr(), ctx)?);
    }
    for block in body.blocks() {
        if block.identifier() == "lifecycle" {
            continue;
        }
        let value = serde_json::Value::Object(body_to_json(path, block.body(), ctx)?);
        match out
            .entry(block.identifier().to_string())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            serde_json::Value::Array(items) => items.push(value),
            _ => {
                return Err(IacError::Parse {
                    path: path.to_path_buf(),
                    message: format!("`{}` is both an attribute and a block", block.identifier()),
                });
            }
        }
    }
    Ok(out)
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
            let body = parse(path, &format!("v = {value}\n"))?;
            let expr = body
                .attributes()
                .next()
                .map(|a| a.expr().clone())
                .unwrap_or(Expression::Null);
            let value = eval(path, &expr, &Context::new())?;
            if let Some(value) = value.as_str() {
                verbatim.push(Verbatim {
                    key: key.trim().to_string(),
                    value: value.to_string(),
                });
            }
        }
    }
    Ok((verbatim, absent))
}

/// Reads one guest file. `pools` maps pool resource names to pool ids (from `pools.tf`).
pub fn read_guest_file(
    path: &Path,
    text: &str,
    pools: &BTreeMap<String, String>,
) -> Result<GuestFile, IacError> {
    let body = parse(path, text)?;
    let mut ctx = Context::new();
    let pool_objects: hcl::Map<String, hcl::Value> = pools
        .iter()
        .map(|(ident, id)| {
            let mut attrs = hcl::Map::new();
            attrs.insert("pool_id".to_string(), hcl::Value::from(id.clone()));
            attrs.insert("id".to_string(), hcl::Value::from(id.clone()));
            (ident.clone(), hcl::Value::Object(attrs))
        })
        .collect();
    ctx.declare_var(POOL_TYPE, hcl::Value::Object(pool_objects));

    let mut resource = None;
    let mut import_id = None;
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        match block.identifier() {
            "resource" if labels.len() == 2 && (labels[0] == VM_TYPE || labels[0] == CT_TYPE) => {
                if resource.is_some() {
                    return Err(IacError::Parse {
                        path: path.to_path_buf(),
                        message: "more than one guest resource in one file".into(),
                    });
                }
                let json = serde_json::Value::Object(body_to_json(path, block.body(), &ctx)?);
                let view = if labels[0] == VM_TYPE {
                    ResourceView::Vm(Box::new(from_json::<VmView>(path, json)?))
                } else {
                    ResourceView::Ct(Box::new(from_json::<CtView>(path, json)?))
                };
                resource = Some((labels[1].to_string(), view));
            }
            "import" => {
                if let Some(id) = block.body().attributes().find(|a| a.key() == "id") {
                    import_id = eval(path, id.expr(), &ctx)?.as_str().map(str::to_string);
                }
            }
            _ => {}
        }
    }
    let Some((ident, view)) = resource else {
        return Err(IacError::Parse {
            path: path.to_path_buf(),
            message: format!("no {VM_TYPE} or {CT_TYPE} resource in the file"),
        });
    };
    let (verbatim, absent) = read_verbatim(path, text)?;
    let guest = guest_from_file_parts(&view, &verbatim, &absent);
    Ok(GuestFile {
        path: path.to_path_buf(),
        ident,
        kind: guest.kind,
        import_id,
        guest,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    json: serde_json::Value,
) -> Result<T, IacError> {
    serde_json::from_value(json).map_err(|e| IacError::Parse {
        path: path.to_path_buf(),
        message: format!("unexpected value: {e}"),
    })
}

/// Every guest file of a workspace, and the files that could not be read.
#[derive(Debug, Default)]
pub struct WorkspaceGuests {
    pub files: Vec<GuestFile>,
    pub errors: Vec<IacError>,
}

/// Reads `terraform/pools.tf` and every `terraform/guests/*.tf` under `root`.
pub fn read_workspace_guests(root: &Path) -> WorkspaceGuests {
    let mut out = WorkspaceGuests::default();
    let pools_path = root.join("terraform/pools.tf");
    let pools = match std::fs::read_to_string(&pools_path) {
        Ok(text) => match read_pools(&pools_path, &text) {
            Ok(p) => p,
            Err(e) => {
                out.errors.push(e);
                BTreeMap::new()
            }
        },
        Err(_) => BTreeMap::new(),
    };
    let dir = root.join("terraform/guests");
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    for path in paths {
        let result = std::fs::read_to_string(&path)
            .map_err(|e| IacError::Read {
                path: path.clone(),
                message: e.to_string(),
            })
            .and_then(|text| read_guest_file(&path, &text, &pools));
        match result {
            Ok(file) => out.files.push(file),
            Err(e) => out.errors.push(e),
        }
    }
    out
}
