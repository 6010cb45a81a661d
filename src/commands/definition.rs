//! `/definition GUEST`: a guest's definition as the dashboard's editor sees it (the file's
//! path and text, and the fields a form can change), and edits to it. An edit is checked
//! before anything is written, field by field, by the same code that checks the console:
//! form fields by the language's `set` (each field on its own, so each refusal names its
//! field), raw HCL by the one reader ([`crate::iac::desired::read_workspace_with`]). A valid
//! form edit then runs as `set` does; a valid HCL text replaces the file atomically. A refused
//! edit writes nothing and answers `errors: [{field, message, hint}]` with the error.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::commands::request::DefinitionRequest;
use crate::commands::resource::{self, Loaded};
use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::iac::desired::{DesiredFile, read_workspace_with};
use crate::iac::drift::guest_fields;
use crate::iac::sync::write_atomic;
use crate::lang::{self as grammar, Verb, is_disk_slot};
use crate::model::{GuestConfig, GuestKind};
use crate::ui::{Item, Table};

/// The fields a form offers for each kind: `set`'s flags plus `state`.
fn editable(kind: GuestKind) -> &'static [&'static str] {
    match kind {
        GuestKind::Qemu => &[
            "memory",
            "cores",
            "sockets",
            "tags",
            "pool",
            "description",
            "state",
            "add-disk",
            "add-net",
        ],
        GuestKind::Lxc => &[
            "memory",
            "swap",
            "cores",
            "tags",
            "pool",
            "description",
            "state",
            "add-mount",
            "add-net",
        ],
    }
}

fn kind_word(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "container",
    }
}

/// Runs `/definition`.
pub async fn run(ctx: &mut Ctx, args: &DefinitionRequest) -> Result<Report, CommandError> {
    if !args.set.is_empty() && args.hcl.is_some() {
        return Err(CommandError::user(
            "an edit is either form fields or the whole HCL text, not both",
        )
        .hint("send `set` or `hcl`"));
    }
    let root = ctx.workspace()?.root().to_path_buf();
    let loaded = resource::load(ctx).await?;
    let file = find_file(&loaded, &args.guest)?.clone();
    if let Some(text) = &args.hcl {
        return save_hcl(ctx, &root, &file, text);
    }
    if !args.set.is_empty() {
        return save_fields(ctx, &loaded, &file, &args.set).await;
    }
    let text = std::fs::read_to_string(root.join(&file.path)).map_err(|e| {
        CommandError::user(format!("cannot read {}: {e}", file.path))
            .hint("check the file's permissions")
    })?;
    Ok(vec![definition_item(&file, text)])
}

fn find_file<'a>(loaded: &'a Loaded, name: &str) -> Result<&'a DesiredFile, CommandError> {
    loaded
        .desired
        .files
        .iter()
        .find(|f| f.guest.name == name || f.guest.vmid.to_string() == name)
        .ok_or_else(|| {
            CommandError::user(format!("no workspace file describes a guest `{name}`"))
                .hint("/sync writes a file for every guest on the cluster; /overview lists them")
        })
}

/// The definition as data: path, text, the form's current values and which fields it edits.
fn definition_item(file: &DesiredFile, text: String) -> Item {
    let guest = &file.guest;
    let fields = guest_fields(guest);
    let mut values = serde_json::Map::new();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    values.insert("memory".into(), json!(get("memory")));
    values.insert("cores".into(), json!(get("cores")));
    match &guest.config {
        GuestConfig::Vm(_) => {
            values.insert("sockets".into(), json!(get("sockets")));
        }
        GuestConfig::Container(_) => {
            values.insert("swap".into(), json!(get("swap")));
        }
    }
    values.insert("tags".into(), json!(guest.tags.join(",")));
    values.insert("pool".into(), json!(guest.pool.clone().unwrap_or_default()));
    values.insert(
        "description".into(),
        json!(guest.description.clone().unwrap_or_default()),
    );
    values.insert("state".into(), json!(get("state")));
    let disks: Vec<Value> = fields
        .iter()
        .filter(|(k, _)| is_disk_slot(k) || k.as_str() == "rootfs" || k.starts_with("mp"))
        .map(|(k, v)| json!({ "slot": k, "value": v }))
        .collect();
    let mut table = Table::new(&["FIELD", "VALUE"]);
    for (k, v) in &values {
        table.row(vec![k.clone(), v.as_str().unwrap_or_default().to_string()]);
    }
    for d in &disks {
        table.row(vec![
            d["slot"].as_str().unwrap_or_default().into(),
            d["value"].as_str().unwrap_or_default().into(),
        ]);
    }
    Item::Data {
        value: json!({
            "guest": guest.name, "vmid": guest.vmid, "kind": kind_word(guest.kind),
            "path": file.path, "hcl": text, "fields": values, "disks": disks,
            "editable": editable(guest.kind),
            "rewritable": file.expressions.is_empty(),
        }),
        table,
    }
}

/// `set`'s flag for a form field (`state` becomes the switch `start` or `stopped`).
fn flag_of(field: &str, value: &str) -> Result<(String, Option<String>), String> {
    if field != "state" {
        return Ok((field.to_string(), Some(value.to_string())));
    }
    match value {
        "running" => Ok(("start".into(), None)),
        "stopped" => Ok(("stopped".into(), None)),
        other => Err(format!(
            "state is `running` or `stopped`, not `{}`",
            other.chars().take(40).collect::<String>()
        )),
    }
}

/// A refused edit: the error names each field, `output` carries them as data.
fn refused(file: &DesiredFile, errors: Vec<Value>) -> CommandError {
    let list: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["field"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let mut err = CommandError::user(format!(
        "{} was not changed: {}",
        file.path,
        list.join("; ")
    ))
    .hint("correct the field(s) named and save again; nothing was written");
    err.output.push(Item::Data {
        value: json!({ "errors": errors }),
        table: Table::default(),
    });
    err
}

async fn save_fields(
    ctx: &mut Ctx,
    loaded: &Loaded,
    file: &DesiredFile,
    set: &BTreeMap<String, String>,
) -> Result<Report, CommandError> {
    let guest = &file.guest;
    let kind = kind_word(guest.kind).to_string();
    let guests = loaded.desired.guests();
    let world = loaded.world(&guests);
    let mut errors = Vec::new();
    let mut flags = Vec::new();
    for (field, value) in set {
        if !editable(guest.kind).contains(&field.as_str()) {
            errors.push(json!({
                "field": field,
                "message": format!("`{field}` is not a field the editor changes"),
                "hint": format!("fields: {}", editable(guest.kind).join(", ")),
            }));
            continue;
        }
        let flag = match flag_of(field, value) {
            Ok(f) => f,
            Err(message) => {
                errors.push(json!({ "field": field, "message": message, "hint": null }));
                continue;
            }
        };
        // Each field on its own through the language, so each refusal names its field.
        let checked = grammar::syntax_of(
            Verb::Set,
            Some(kind.clone()),
            vec![guest.name.clone()],
            vec![flag.clone()],
        )
        .and_then(|syntax| grammar::validate(&syntax, &world));
        match checked {
            Ok(_) => flags.push(flag),
            Err(e) => errors.push(json!({ "field": field, "message": e.message, "hint": e.hint })),
        }
    }
    if !errors.is_empty() {
        return Err(refused(file, errors));
    }
    let syntax = grammar::syntax_of(Verb::Set, Some(kind), vec![guest.name.clone()], flags)?;
    let mut report = resource::run_syntax(ctx, syntax).await?;
    report.push(Item::Data {
        value: json!({ "written": true, "path": file.path, "guest": guest.name }),
        table: Table::default(),
    });
    Ok(report)
}

fn save_hcl(
    ctx: &mut Ctx,
    root: &std::path::Path,
    file: &DesiredFile,
    text: &str,
) -> Result<Report, CommandError> {
    let path = root.join(&file.path);
    let read = read_workspace_with(root, &path, text);
    let mut errors: Vec<Value> = read
        .problems
        .iter()
        .map(|p| {
            json!({
                "field": "hcl", "line": p.line,
                "message": match p.line {
                    Some(line) => format!("line {line}: {}", p.message),
                    None => p.message.clone(),
                },
                "hint": null,
            })
        })
        .collect();
    let described: Vec<&DesiredFile> = read
        .state
        .files
        .iter()
        .filter(|f| f.path == file.path)
        .collect();
    if errors.is_empty() {
        match described.as_slice() {
            [one] if one.guest.vmid == file.guest.vmid => {
                for (key, _) in guest_fields(&one.guest) {
                    if looks_like_disk(&key) && !is_disk_slot(&key) {
                        errors.push(json!({
                            "field": "hcl",
                            "message": format!(
                                "`{key}` is not a disk slot; slots are scsi0-scsi30, \
                                 virtio0-virtio15, sata0-sata5 and ide0-ide3"
                            ),
                            "hint": null,
                        }));
                    }
                }
            }
            [one] => errors.push(json!({
                "field": "hcl",
                "message": format!(
                    "the file must keep describing vmid {} (it now says {})",
                    file.guest.vmid, one.guest.vmid
                ),
                "hint": "to make another guest, use `create`; to renumber one, /help migrate",
            })),
            _ => errors.push(json!({
                "field": "hcl",
                "message": format!(
                    "the file must describe exactly one guest, {} (vmid {})",
                    file.guest.name, file.guest.vmid
                ),
                "hint": null,
            })),
        }
    }
    if !errors.is_empty() {
        return Err(refused(file, errors));
    }
    write_atomic(&path, text.as_bytes(), &mut ctx.written)?;
    Ok(vec![
        Item::Status(format!("wrote {}", file.path)),
        Item::Data {
            value: json!({ "written": true, "path": file.path, "guest": file.guest.name }),
            table: Table::default(),
        },
        Item::Hint("/plan shows what /apply will change".into()),
    ])
}

/// A config key that names a disk on some bus (`scsi99` is one, though not a slot PVE has).
fn looks_like_disk(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide"].iter().any(|bus| {
        key.strip_prefix(bus)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}
