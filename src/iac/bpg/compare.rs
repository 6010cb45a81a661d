//! The comparator: what `terraform plan` shows for a resource body against the state bpg holds
//! after import, following terraform-plugin-sdk v2's diff (docs/bpg-import.md §0) and the provider's
//! DiffSuppressFuncs, StateFuncs, ForceNew and CustomizeDiff rules.

use serde_json::{Map, Value};

use super::{Consequence, Finding, resource_block};

const VM: &str = "proxmox_virtual_environment_vm";

/// What Terraform would plan for one resource: `file` is the resource body as JSON (attributes
/// evaluated, each nested block as an array of objects, no `lifecycle`), `ignore_changes` the
/// lifecycle paths as written (`"operating_system"`, `"agent[0].wait_for_ip"`), `predicted` from
/// [`super::predict_state`]. Empty = "no changes". Sorted by attribute.
pub fn compare(
    resource_type: &str,
    file: &Value,
    ignore_changes: &[String],
    predicted: &Value,
) -> Vec<Finding> {
    let Some(block) = resource_block(resource_type) else {
        return Vec::new();
    };
    let mut cx = Cx {
        vm: resource_type == VM,
        file_root: file,
        state_root: predicted,
        ignore: ignore_changes.iter().map(|p| normalize_path(p)).collect(),
        findings: Vec::new(),
    };
    cx.block(
        &Path::default(),
        block,
        file.as_object(),
        predicted.as_object(),
        false,
    );
    let mut findings = cx.findings;
    findings.sort_by(|a, b| a.attribute.cmp(&b.attribute));
    findings
}

/// `agent.0.wait_for_ip` -> `agent[0].wait_for_ip`; whitespace dropped.
fn normalize_path(path: &str) -> String {
    let mut out = String::new();
    for (i, part) in path.trim().split('.').enumerate() {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// A location in the resource: as shown (`disk[scsi0].size`), by index (`disk[0].size`, for
/// `ignore_changes`) and in the schema (`disk.size`).
#[derive(Debug, Clone, Default)]
struct Path {
    shown: String,
    indexed: String,
    schema: String,
}

impl Path {
    fn child(&self, name: &str) -> Path {
        let join = |base: &str| {
            if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}.{name}")
            }
        };
        Path {
            shown: join(&self.shown),
            indexed: join(&self.indexed),
            schema: join(&self.schema),
        }
    }

    fn element(&self, key: &str, index: usize) -> Path {
        Path {
            shown: format!("{}[{key}]", self.shown),
            indexed: format!("{}[{index}]", self.indexed),
            schema: self.schema.clone(),
        }
    }
}

struct Cx<'a> {
    vm: bool,
    file_root: &'a Value,
    state_root: &'a Value,
    ignore: Vec<String>,
    findings: Vec<Finding>,
}

fn flag(spec: &Value, key: &str) -> bool {
    spec.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn present<'v>(obj: Option<&'v Map<String, Value>>, key: &str) -> Option<&'v Value> {
    obj.and_then(|o| o.get(key)).filter(|v| !v.is_null())
}

/// The zero value SDKv2 compares a null against (bpg-import.md §0.2-0.3).
fn zero(ty: &str) -> Value {
    match ty {
        "string" => Value::String(String::new()),
        "number" => Value::from(0),
        "bool" => Value::Bool(false),
        t if t.starts_with("map") => Value::Object(Map::new()),
        t if t.starts_with("list") || t.starts_with("set") => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// Loose equality: numbers numerically (also against numeric strings), null as the empty
/// list/map, sets order-insensitive.
fn same(a: &Value, b: &Value, unordered: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // Terraform converts "4" and "true" to the attribute's type.
        (Value::Number(n), Value::String(t)) | (Value::String(t), Value::Number(n)) => {
            t.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::Bool(b), Value::String(t)) | (Value::String(t), Value::Bool(b)) => {
            t == if *b { "true" } else { "false" }
        }
        (Value::Array(x), Value::Array(y)) if unordered => {
            let mut rest: Vec<&Value> = y.iter().collect();
            x.len() == y.len()
                && x.iter().all(|v| {
                    rest.iter()
                        .position(|w| same(v, w, false))
                        .map(|i| rest.remove(i))
                        .is_some()
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w, false))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same(v, w, false)))
        }
        (Value::Null, Value::Array(v)) | (Value::Array(v), Value::Null) => v.is_empty(),
        (Value::Null, Value::Object(v)) | (Value::Object(v), Value::Null) => v.is_empty(),
        _ => a == b,
    }
}

/// The key a list block's elements are matched by (order-insensitive), if any: disks by
/// interface (`dschema.go` suppress by interface), hostpci and numa by device
/// (`SuppressIfListsOfMapsAreEqualIgnoringOrderByKey`).
fn element_key(vm: bool, schema_path: &str) -> Option<&'static str> {
    match (vm, schema_path) {
        (true, "disk") => Some("interface"),
        (true, "hostpci" | "numa") => Some("device"),
        _ => None,
    }
}

impl Cx<'_> {
    fn ignored(&self, path: &Path) -> bool {
        self.ignore.iter().any(|entry| {
            [&path.shown, &path.indexed].iter().any(|p| {
                *p == entry
                    || p.strip_prefix(entry.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
        })
    }

    fn block(
        &mut self,
        at: &Path,
        block: &Value,
        file: Option<&Map<String, Value>>,
        state: Option<&Map<String, Value>>,
        force_new: bool,
    ) {
        if let Some(attributes) = block.get("attributes").and_then(Value::as_object) {
            for (name, spec) in attributes {
                self.attribute(&at.child(name), name, spec, file, state, force_new);
            }
        }
        if let Some(blocks) = block.get("block_types").and_then(Value::as_object) {
            for (name, spec) in blocks {
                self.list_block(&at.child(name), name, spec, file, state, force_new);
            }
        }
    }

    fn attribute(
        &mut self,
        at: &Path,
        name: &str,
        spec: &Value,
        file: Option<&Map<String, Value>>,
        state: Option<&Map<String, Value>>,
        force_new: bool,
    ) {
        let configurable = flag(spec, "optional") || flag(spec, "required");
        if !configurable || name == "id" || self.ignored(at) {
            return;
        }
        let default = spec.get("x_default").filter(|d| !d.is_null());
        let given = present(file, name);
        // bpg-import.md §0.4: Optional+Computed left out => no diff (unless it has a DefaultFunc, VM
        // disk.size, bpg-import.md §1.13).
        if given.is_none() && flag(spec, "computed") && default.is_none() {
            return;
        }
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or("string");
        let file_value = given.or(default).cloned().unwrap_or_else(|| zero(ty));
        let state_value = present(state, name).cloned().unwrap_or_else(|| zero(ty));
        if self.equal(&at.schema, ty, &file_value, &state_value) {
            return;
        }
        let consequence = self.consequence(
            &at.schema,
            force_new || flag(spec, "x_force_new"),
            &file_value,
            &state_value,
        );
        self.findings.push(Finding {
            attribute: at.shown.clone(),
            file: given.cloned().unwrap_or_else(|| file_value.clone()),
            predicted: present(state, name).cloned().unwrap_or(Value::Null),
            consequence,
        });
    }

    /// Attribute equality with the provider's StateFuncs and DiffSuppressFuncs.
    fn equal(&self, schema_path: &str, ty: &str, file: &Value, state: &Value) -> bool {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match (self.vm, schema_path) {
            // vm.go:743-758: StateFunc TrimSpace + CRLF->LF, against the raw API value.
            (true, "description") => {
                let f = text(file);
                let f = if f.is_empty() {
                    f
                } else {
                    f.trim().replace("\r\n", "\n")
                };
                f == text(state)
            }
            // ct.go:374-382: StateFunc TrimSpace + CRLF->LF + "\n".
            (false, "description") => {
                let f = text(file);
                let f = if f.is_empty() {
                    f
                } else {
                    format!("{}\n", f.trim().replace("\r\n", "\n"))
                };
                f == text(state)
            }
            // vm.go:1342-1350: new == "" && old != "" is suppressed.
            (true, "pool_id") if text(file).is_empty() => true,
            // vm.go:1471-1479, container.go:1039-1041: `started` is suppressed when the
            // configured template is true.
            (_, "started") if self.file_template() => true,
            // vm.go:1515-1525 (and the sorted read for both): tag order does not matter.
            (_, "tags") => same(file, state, true),
            // ct.go:818-827: the volume diff is suppressed when the state starts with "<ds>:".
            (false, "mount_point.volume") => {
                let (f, s) = (text(file), text(state));
                f == s || s.starts_with(&format!("{}:", f.split(':').next().unwrap_or_default()))
            }
            _ => same(file, state, ty.starts_with("set")),
        }
    }

    fn file_template(&self) -> bool {
        self.file_root
            .get("template")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn list_block(
        &mut self,
        at: &Path,
        name: &str,
        spec: &Value,
        file: Option<&Map<String, Value>>,
        state: Option<&Map<String, Value>>,
        force_new: bool,
    ) {
        if self.ignored(at) {
            return;
        }
        let given = present(file, name);
        // Optional+Computed blocks (VM network_device, vga) left out => no diff (bpg-import.md §0.4).
        if given.is_none() && flag(spec, "x_computed") {
            return;
        }
        let force_new = force_new || flag(spec, "x_force_new");
        let empty = Vec::new();
        let file_list = given.and_then(Value::as_array).unwrap_or(&empty);
        let state_list = present(state, name)
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        if !self.vm
            && at.schema == "initialization.dns"
            && state_list.is_empty()
            && dns_is_empty(file_list)
        {
            // ct.go:4295-4309 skipDnsDiffIfEmpty.
            return;
        }
        let Some(inner) = spec.get("block") else {
            return;
        };
        let single = spec.get("max_items").and_then(Value::as_u64) == Some(1);
        let pairs = match element_key(self.vm, &at.schema) {
            Some(key) => keyed_pairs(file_list, state_list, key),
            None => indexed_pairs(file_list, state_list),
        };
        for (key, index, f, s) in pairs {
            let element = at.element(&key, index);
            if self.ignored(&element) {
                continue;
            }
            match (f, s) {
                (Some(f), Some(s)) => {
                    self.block(&element, inner, f.as_object(), s.as_object(), force_new);
                }
                (f, s) => {
                    let consequence =
                        self.consequence(&at.schema, force_new, &Value::Null, &Value::Null);
                    self.findings.push(Finding {
                        attribute: if single {
                            at.shown.clone()
                        } else {
                            element.shown
                        },
                        file: f.cloned().unwrap_or(Value::Null),
                        predicted: s.cloned().unwrap_or(Value::Null),
                        consequence,
                    });
                }
            }
        }
    }

    /// Replace for ForceNew and the CustomizeDiff sets, Reboot where the update restarts the
    /// guest, else Update.
    fn consequence(
        &self,
        schema_path: &str,
        force_new: bool,
        file: &Value,
        state: &Value,
    ) -> Consequence {
        use Consequence::{Reboot, Replace, Update};
        if force_new {
            return Replace;
        }
        let top = schema_path.split('.').next().unwrap_or_default();
        if self.vm {
            return match schema_path {
                // vm.go:1780-1789: CustomizeDiff ForceNew unless `migrate`.
                "node_name"
                    if self.file_root.get("migrate").and_then(Value::as_bool) == Some(true) =>
                {
                    Update
                }
                "node_name" => Replace,
                // vm.go:1766-1779: vm_id differing from the id.
                "vm_id" => Replace,
                // vm.go:1814-1928: type/version change with both sides set.
                "efi_disk.type" | "tpm_state.version"
                    if !file.as_str().unwrap_or_default().is_empty()
                        && !state.as_str().unwrap_or_default().is_empty() =>
                {
                    Replace
                }
                // vm.go:7082-7086: a resize is online with the default disk hotplug.
                "disk.size" => Update,
                _ if VM_REBOOT.contains(&top) => Reboot,
                _ => Update,
            };
        }
        match schema_path {
            // ct.go:987-992, 1090-1096, 1152-1158, 1019-1025, 408-414.
            "node_name" | "template" | "unprivileged" | "pool_id" | "disk.datastore_id" => Replace,
            // ct.go:1172-1181: vm_id different from the resource id.
            "vm_id" => {
                let id = self
                    .state_root
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| id.parse::<f64>().ok());
                if file.as_f64().is_some() && file.as_f64() == id {
                    Update
                } else {
                    Replace
                }
            }
            // ct.go:1183-1228: shrinking the root disk replaces.
            "disk.size" if file.as_f64() < state.as_f64() => Replace,
            // ct.go:3700-3709: only mount option changes reboot.
            "disk.mount_options" => Reboot,
            _ if schema_path.starts_with("operating_system")
                || schema_path.starts_with("mount_point")
                || schema_path.starts_with("initialization.user_account") =>
            {
                Replace
            }
            _ if CT_REBOOT.contains(&top) => Reboot,
            _ => Update,
        }
    }
}

/// VM attributes whose update sets `rebootRequired` (bpg-import.md §1 "reboot" column).
const VM_REBOOT: &[&str] = &[
    "acpi",
    "agent",
    "audio_device",
    "bios",
    "boot_order",
    "cpu",
    "disk",
    "efi_disk",
    "hostpci",
    "initialization",
    "keyboard_layout",
    "kvm_arguments",
    "machine",
    "memory",
    "numa",
    "operating_system",
    "rng",
    "scsi_hardware",
    "serial_device",
    "tablet_device",
    "tpm_state",
    "usb",
    "vga",
    "virtiofs",
    "watchdog",
];

/// Container attributes whose update reboots the container (bpg-import.md §2 "reboot" column).
const CT_REBOOT: &[&str] = &[
    "console",
    "device_passthrough",
    "environment_variables",
    "idmap",
    "initialization",
    "memory",
    "network_interface",
];

fn dns_is_empty(list: &[Value]) -> bool {
    list.len() == 1
        && ["domain", "server"].iter().all(|k| {
            list[0]
                .get(*k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
        })
        && list[0]
            .get("servers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
}

type Pair<'v> = (String, usize, Option<&'v Value>, Option<&'v Value>);

/// Elements paired by position; a null element (a VM NIC gap) is a missing one.
fn indexed_pairs<'v>(file: &'v [Value], state: &'v [Value]) -> Vec<Pair<'v>> {
    (0..file.len().max(state.len()))
        .map(|i| {
            let f = file.get(i).filter(|v| !v.is_null());
            let s = state.get(i).filter(|v| !v.is_null());
            (i.to_string(), i, f, s)
        })
        .filter(|(_, _, f, s)| f.is_some() || s.is_some())
        .collect()
}

/// Elements paired by the value of `key`, file order first, then state-only elements.
fn keyed_pairs<'v>(file: &'v [Value], state: &'v [Value], key: &str) -> Vec<Pair<'v>> {
    let key_of = |v: &Value| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut pairs: Vec<Pair<'v>> = file
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let k = key_of(f);
            let s = state.iter().find(|s| key_of(s) == k);
            (k, i, Some(f), s)
        })
        .collect();
    for (i, s) in state.iter().enumerate() {
        let k = key_of(s);
        if !file.iter().any(|f| key_of(f) == k) {
            pairs.push((k, i, None, Some(s)));
        }
    }
    pairs
}
