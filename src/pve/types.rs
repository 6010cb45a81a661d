//! Wire types: the JSON PVE really sends (pve-api/NOTES.md §4). Perl decides JSON types by last
//! use, so every number may arrive as a string and every boolean as `0/1/"1"/true/"yes"`; keys
//! are omitted rather than null. The `loose` helpers accept all of it, as Proxmox's own Rust
//! client does (proxmox-serde `perl.rs`). Conversion to `model` types happens at the edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Deserializers for Perl-loose values.
pub mod loose {
    use super::*;

    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    fn unsigned(value: &Value) -> Option<u64> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::String(s) => s.trim().parse::<u64>().ok().or_else(|| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::Bool(b) => Some(u64::from(*b)),
            _ => None,
        }
    }

    /// Reads a Perl boolean: `1/0`, `"1"/"0"`, `true/false`, `"yes"/"no"`, `"on"/"off"`.
    pub fn boolean(value: &Value) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_f64().map(|f| f != 0.0),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" | "" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn invalid<E: serde::de::Error>(what: &str, value: &Value) -> E {
        E::custom(format!("expected {what}, got {value}"))
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => unsigned(&v)
                .map(Some)
                .ok_or_else(|| invalid("a number", &v)),
        }
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        opt_u64(d)?
            .map(|v| u32::try_from(v).map_err(|_| serde::de::Error::custom("number too large")))
            .transpose()
    }

    pub fn u32_required<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        opt_u32(d)?.ok_or_else(|| serde::de::Error::custom("missing number"))
    }

    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(&v).map(Some).ok_or_else(|| invalid("a number", &v)),
        }
    }

    pub fn bool_default<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(false),
            Some(v) => boolean(&v).ok_or_else(|| invalid("a boolean", &v)),
        }
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => boolean(&v)
                .map(Some)
                .ok_or_else(|| invalid("a boolean", &v)),
        }
    }

    /// Reads a string that may arrive as a number (`"nextid": 100` or `"100"`).
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(if b { "1" } else { "0" }.to_string())),
            Some(v) => Err(invalid("a string", &v)),
        }
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct VersionInfo {
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub version: Option<String>,
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub release: Option<String>,
    #[serde(default)]
    pub repoid: Option<String>,
}

/// One entry of `GET /cluster/resources`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClusterResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(deserialize_with = "loose::opt_u32", default)]
    pub vmid: Option<u32>,
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub template: bool,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(deserialize_with = "loose::opt_f64", default)]
    pub maxcpu: Option<f64>,
    #[serde(deserialize_with = "loose::opt_f64", default)]
    pub cpu: Option<f64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub maxmem: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub mem: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub maxdisk: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub disk: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub plugintype: Option<String>,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub shared: bool,
    #[serde(default)]
    pub content: Option<String>,
}

/// One entry of `GET /cluster/status`: `type` is `cluster` or `node`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClusterStatusEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub online: Option<bool>,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub local: Option<bool>,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub quorate: Option<bool>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub nodeid: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub nodes: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub version: Option<u64>,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NodeEntry {
    pub node: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(deserialize_with = "loose::opt_f64", default)]
    pub maxcpu: Option<f64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub maxmem: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub mem: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
}

/// `GET /nodes/{node}/{qemu|lxc}/{vmid}/status/current`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GuestStatusInfo {
    pub status: String,
    #[serde(deserialize_with = "loose::opt_u32", default)]
    pub vmid: Option<u32>,
    #[serde(deserialize_with = "loose::opt_string", default)]
    pub name: Option<String>,
    #[serde(default)]
    pub qmpstatus: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub uptime: Option<u64>,
    #[serde(deserialize_with = "loose::opt_f64", default)]
    pub cpus: Option<f64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub maxmem: Option<u64>,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub template: Option<bool>,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaskStatus {
    /// `running` or `stopped`.
    pub status: String,
    /// Set once stopped: `OK`, `WARNINGS: n`, or the error text.
    #[serde(default)]
    pub exitstatus: Option<String>,
    #[serde(default)]
    pub upid: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// One line of `GET /nodes/{node}/tasks/{upid}/log`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaskLogLine {
    #[serde(deserialize_with = "loose::u32_required")]
    pub n: u32,
    #[serde(default)]
    pub t: String,
}

/// One entry of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NodeStorage {
    pub storage: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub active: bool,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub enabled: Option<bool>,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub shared: bool,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub total: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub used: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub avail: Option<u64>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StorageContent {
    pub volid: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub size: Option<u64>,
    #[serde(deserialize_with = "loose::opt_u32", default)]
    pub vmid: Option<u32>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub ctime: Option<u64>,
}

/// One entry of `GET /nodes/{node}/network`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NetworkInterface {
    pub iface: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub bridge_ports: Option<String>,
    #[serde(default)]
    pub cidr6: Option<String>,
    #[serde(default)]
    pub gateway6: Option<String>,
    /// PVE sends it as a number or a string.
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub mtu: Option<u64>,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub bridge_vlan_aware: bool,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub autostart: bool,
    #[serde(deserialize_with = "loose::bool_default", default)]
    pub active: bool,
    #[serde(default)]
    pub comments: Option<String>,
}

/// One entry of `GET /pools` (members only when asked for one pool).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PoolEntry {
    pub poolid: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub members: Vec<PoolMember>,
}

/// A pool member.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PoolMember {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(deserialize_with = "loose::opt_u32", default)]
    pub vmid: Option<u32>,
    #[serde(default)]
    pub storage: Option<String>,
}

/// One entry of `GET .../snapshot` (includes the `current` pseudo entry).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SnapshotEntry {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(deserialize_with = "loose::opt_u64", default)]
    pub snaptime: Option<u64>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(deserialize_with = "loose::opt_bool", default)]
    pub vmstate: Option<bool>,
}

/// `GET /access/permissions`: ACL path -> privilege -> granted (propagate flag as value).
pub type Permissions = BTreeMap<String, BTreeMap<String, Value>>;

/// `POST /access/ticket` answer.
#[derive(Deserialize)]
pub struct TicketResponse {
    pub username: String,
    pub ticket: String,
    #[serde(rename = "CSRFPreventionToken")]
    pub csrf_token: String,
}

impl std::fmt::Debug for TicketResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketResponse")
            .field("username", &self.username)
            .field("ticket", &"***")
            .field("csrf_token", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_loose_resources_parse() {
        let entry: ClusterResource = serde_json::from_str(
            r#"{"id":"qemu/100","type":"qemu","vmid":"100","template":"0","maxmem":"2147483648",
                "cpu":"0.25","shared":1,"node":"pve1","status":"running","tags":"a;b"}"#,
        )
        .unwrap();
        assert_eq!(entry.vmid, Some(100));
        assert!(!entry.template);
        assert!(entry.shared);
        assert_eq!(entry.maxmem, Some(2147483648));
        let entry: ClusterResource =
            serde_json::from_str(r#"{"id":"node/pve1","type":"node","template":true}"#).unwrap();
        assert!(entry.template);
        assert_eq!(entry.name, None);
    }

    #[test]
    fn network_string_booleans_parse() {
        let iface: NetworkInterface = serde_json::from_str(
            r#"{"iface":"vmbr0","type":"bridge","active":"1","autostart":1,"bridge_vlan_aware":"yes"}"#,
        )
        .unwrap();
        assert!(iface.active && iface.autostart && iface.bridge_vlan_aware);
    }

    #[test]
    fn garbage_numbers_are_errors_not_panics() {
        let r: Result<ClusterResource, _> =
            serde_json::from_str(r#"{"id":"x","type":"qemu","vmid":"abc"}"#);
        assert!(r.is_err());
        let r: Result<ClusterResource, _> =
            serde_json::from_str(r#"{"id":"x","type":"qemu","vmid":99999999999}"#);
        assert!(r.is_err());
    }

    #[test]
    fn ticket_debug_hides_ticket() {
        let t: TicketResponse = serde_json::from_str(
            r#"{"username":"u@pam","ticket":"PVE:u@pam:SECRET","CSRFPreventionToken":"CSRFSECRET"}"#,
        )
        .unwrap();
        let text = format!("{t:?}");
        assert!(!text.contains("SECRET"));
    }
}
