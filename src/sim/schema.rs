//! The embedded extract of the official PVE 9.1 API schema (`schema.json`, produced by
//! `scripts/extract-sim-schema.py` from `pve-9.1-apischema.flat.json`), and parameter validation
//! against it the way PVE's JSONSchema.pm does (messages included).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use super::cluster::GuestKind;

const SCHEMA: &str = include_str!("schema.json");

/// Returns the embedded schema extract (JSON: `{"source":..., "routes": {"METHOD /path": ...}}`).
pub fn schema_json() -> &'static str {
    SCHEMA
}

/// Returns every `METHOD /path` template the simulator serves.
pub fn served_routes() -> Vec<String> {
    super::api::ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn routes() -> &'static serde_json::Map<String, Value> {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED
        .get_or_init(|| serde_json::from_str(SCHEMA).unwrap_or(Value::Null))
        .get("routes")
        .and_then(Value::as_object)
        .unwrap_or_else(|| {
            static EMPTY: OnceLock<serde_json::Map<String, Value>> = OnceLock::new();
            EMPTY.get_or_init(serde_json::Map::new)
        })
}

/// Returns the schema entry of a route (`{"allowtoken", "parameters", "returns"}`).
pub fn route(key: &str) -> Option<&'static Value> {
    routes().get(key)
}

/// Finds the schema of a parameter, mapping `net0` to `net[n]`.
fn property<'a>(props: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(p) = props.get(name) {
        return Some(p);
    }
    let digits = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits.len() < name.len() && !digits.is_empty() {
        return props.get(&format!("{digits}[n]"));
    }
    None
}

/// The JSON type (`integer`, `boolean`, `number`, `string`) of a guest config key, per the
/// `returns` of `GET .../config`.
pub fn config_key_type(kind: GuestKind, key: &str) -> &'static str {
    let route_key = match kind {
        GuestKind::Qemu => "GET /nodes/{node}/qemu/{vmid}/config",
        GuestKind::Lxc => "GET /nodes/{node}/lxc/{vmid}/config",
    };
    static CACHE: OnceLock<Mutex<HashMap<(GuestKind, String), &'static str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(guard) = cache.lock()
        && let Some(t) = guard.get(&(kind, key.to_string()))
    {
        return t;
    }
    let found = route(route_key)
        .and_then(|r| r.pointer("/returns/properties"))
        .and_then(Value::as_object)
        .and_then(|props| property(props, key))
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .map(|t| match t {
            "integer" => "integer",
            "boolean" => "boolean",
            "number" => "number",
            _ => "string",
        })
        .unwrap_or("string");
    if let Ok(mut guard) = cache.lock() {
        guard.insert((kind, key.to_string()), found);
    }
    found
}

fn regex_cached(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache.lock().ok()?;
    guard
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).ok())
        .clone()
}

/// Validates request parameters (path variables included) against a route's schema.
/// Returns PVE's `errors` map on failure.
pub fn validate(
    route_key: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), BTreeMap<String, String>> {
    let Some(props) = route(route_key)
        .and_then(|r| r.pointer("/parameters/properties"))
        .and_then(Value::as_object)
    else {
        if params.is_empty() {
            return Ok(());
        }
        return Err(params
            .keys()
            .map(|k| (k.clone(), NOT_DEFINED.to_string()))
            .collect());
    };
    let mut errors = BTreeMap::new();
    for (name, value) in params {
        match property(props, name) {
            None => {
                errors.insert(name.clone(), NOT_DEFINED.to_string());
            }
            Some(schema) => {
                if let Err(msg) = check_value(schema, value, name) {
                    errors.insert(name.clone(), msg);
                }
            }
        }
    }
    for (name, schema) in props {
        let optional = schema.get("optional").is_some_and(truthy);
        if !optional && !name.contains("[n]") && !params.contains_key(name) {
            errors.insert(
                name.clone(),
                "property is missing and it is not optional".to_string(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

const NOT_DEFINED: &str =
    "property is not defined in schema and the schema does not allow additional properties";

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() != Some(0),
        Value::String(s) => s == "1",
        _ => false,
    }
}

/// Checks one value against its schema, returning PVE's message on failure.
fn check_value(schema: &Value, value: &str, name: &str) -> Result<(), String> {
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    match kind {
        "integer" => {
            let ok = regex_cached(r"[+-]?\d+").is_some_and(|r| r.is_match(value));
            let parsed: Option<i64> = if ok { value.parse().ok() } else { None };
            let Some(n) = parsed else {
                return Err(format!("type check ('integer') failed - got '{value}'"));
            };
            check_range(schema, n as f64)
        }
        "number" => {
            let Some(n) = value.parse::<f64>().ok().filter(|n| n.is_finite()) else {
                return Err(format!("type check ('number') failed - got '{value}'"));
            };
            check_range(schema, n)
        }
        "boolean" => {
            if value == "0" || value == "1" {
                Ok(())
            } else {
                Err(format!("type check ('boolean') failed - got '{value}'"))
            }
        }
        _ => check_string(schema, value, name),
    }
}

fn check_range(schema: &Value, n: f64) -> Result<(), String> {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        return Err(format!("value must have a minimum value of {min}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        return Err(format!("value may not exceed {max}"));
    }
    Ok(())
}

fn check_string(schema: &Value, value: &str, name: &str) -> Result<(), String> {
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && value.chars().count() as u64 > max
    {
        return Err(format!("value may only be {max} characters long"));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (value.chars().count() as u64) < min
    {
        return Err(format!("value must be at least {min} characters long"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let allowed: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        if !allowed.contains(&value) {
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                allowed.join(", ")
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Some(re) = regex_cached(pattern)
        && !re.is_match(value)
    {
        return Err("value does not match the regex pattern".to_string());
    }
    match schema.get("format") {
        Some(Value::Object(format)) => check_property_string(format, value, name),
        Some(Value::String(format)) => check_format(format, value),
        _ => Ok(()),
    }
}

/// Cheap checks of named formats (the ones a client gets wrong in practice).
fn check_format(format: &str, value: &str) -> Result<(), String> {
    let pattern = match format {
        "pve-node" => r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?",
        "pve-storage-id" => r"[a-z][a-z0-9\-_.]*[a-z0-9]",
        "pve-poolid" => r"[A-Za-z0-9_\-/]+",
        "pve-configid" => r"[a-z][a-z0-9_]+",
        "pve-vmid-list" => r"[\d,;\s]*",
        _ => return Ok(()),
    };
    if regex_cached(pattern).is_some_and(|r| r.is_match(value)) {
        Ok(())
    } else {
        Err(format!("value does not match the regex pattern ({format})"))
    }
}

/// Checks a property string (`virtio,bridge=vmbr0,firewall=1`) against its sub-key format.
fn check_property_string(
    format: &serde_json::Map<String, Value>,
    value: &str,
    name: &str,
) -> Result<(), String> {
    let default_key = format
        .iter()
        .find(|(_, s)| s.get("default_key").is_some_and(truthy))
        .map(|(k, _)| k.as_str());
    let mut seen = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        let (key, sub) = match part.split_once('=') {
            Some((k, v)) if format.contains_key(k) => (k, v),
            Some((k, v)) if default_key.is_none() => (k, v),
            Some(_) | None => match default_key {
                Some(dk) if !seen.contains(&dk) => (dk, part),
                _ => {
                    return Err(format!(
                        "invalid format - format error\n{name}.{}: property is not defined in schema",
                        part.split('=').next().unwrap_or(part)
                    ));
                }
            },
        };
        let Some(sub_schema) = format.get(key) else {
            return Err(format!(
                "invalid format - format error\n{name}.{key}: property is not defined in schema and the schema does not allow additional properties"
            ));
        };
        if seen.contains(&key) {
            return Err(format!(
                "invalid format - format error\n{name}.{key}: duplicate key in comma-separated list property"
            ));
        }
        seen.push(key);
        // booleans inside property strings are looser (JSONSchema.pm parse_boolean)
        let ok = match sub_schema.get("type").and_then(Value::as_str) {
            Some("boolean") => matches!(
                sub.to_ascii_lowercase().as_str(),
                "1" | "0" | "on" | "off" | "yes" | "no" | "true" | "false"
            ),
            Some("integer") | Some("number") => {
                check_value(sub_schema, sub, key).is_ok() || sub_schema.get("format").is_some()
            }
            _ => sub_schema.get("enum").is_none() || check_value(sub_schema, sub, key).is_ok(),
        };
        if !ok {
            return Err(format!(
                "invalid format - format error\n{name}.{key}: type check failed - got '{sub}'"
            ));
        }
    }
    for (key, sub_schema) in format {
        let optional = sub_schema.get("optional").is_some_and(truthy);
        let aliased = sub_schema.get("alias").is_some();
        // `virtio=MAC` names the model through an alias key (PVE's parse_net does the same)
        let named_by_alias = Some(key.as_str()) == default_key
            && seen
                .iter()
                .any(|k| format.get(*k).is_some_and(|s| s.get("alias").is_some()));
        if !optional && !aliased && !named_by_alias && !seen.contains(&key.as_str()) {
            return Err(format!(
                "invalid format - format error\n{name}.{key}: property is missing and it is not optional"
            ));
        }
    }
    Ok(())
}
