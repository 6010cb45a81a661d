//! Typed PVE endpoints the console needs (pve-api/NOTES.md §7-§11; paths as in the PVE 9.1 API
//! schema). Async operations return the task's [`Upid`]; follow it with [`Client::wait_task`].

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use super::client::{Client, Params, params};
use super::error::{PveError, RequestInfo};
use super::types::{
    ClusterResource, ClusterStatusEntry, GuestStatusInfo, NetworkInterface, NodeEntry, NodeStorage,
    Permissions, PoolEntry, SnapshotEntry, StorageContent, VersionInfo,
};
use super::upid::Upid;
use crate::model::{GuestKind, PowerAction};

fn guest_path(node: &str, kind: GuestKind, vmid: u32) -> String {
    format!("/nodes/{}/{}/{vmid}", encode(node), kind.as_str())
}

/// Encodes one path segment (node, storage and pool names are plain, but never trust input).
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
}

/// Reads a UPID from a write's `data`.
pub(crate) fn upid_from(method: &str, path: &str, value: Value) -> Result<Upid, PveError> {
    let request = RequestInfo::new(method, path);
    match value {
        Value::String(text) => text.parse().map_err(|e| PveError::Protocol {
            request,
            reason: format!("expected a task id: {e}"),
        }),
        Value::Null => Err(PveError::Protocol {
            request,
            reason: "the answer had 'data: null' where a task id (UPID) was expected".into(),
        }),
        other => Err(PveError::Protocol {
            request,
            reason: format!(
                "expected a task id (UPID), got {}",
                other.to_string().chars().take(100).collect::<String>()
            ),
        }),
    }
}

/// Reads an optional UPID: `null` means the call finished synchronously.
fn maybe_upid(method: &str, path: &str, value: Value) -> Result<Option<Upid>, PveError> {
    if value.is_null() {
        Ok(None)
    } else {
        upid_from(method, path, value).map(Some)
    }
}

impl Client {
    async fn task_call(&self, method: Method, path: &str, body: Params) -> Result<Upid, PveError> {
        let name = method.as_str().to_string();
        let value = self.write(method, path, body).await?;
        upid_from(&name, path, value)
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<VersionInfo, PveError> {
        self.get("/version", Params::new()).await
    }

    /// `GET /nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>, PveError> {
        self.get("/nodes", Params::new()).await
    }

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<Vec<ClusterStatusEntry>, PveError> {
        self.get("/cluster/status", Params::new()).await
    }

    /// `GET /cluster/resources[?type=vm|storage|node|sdn]`.
    pub async fn cluster_resources(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<ClusterResource>, PveError> {
        let query = kind.map(|k| params([("type", k)])).unwrap_or_default();
        self.get("/cluster/resources", query).await
    }

    /// `GET /cluster/nextid`: the first free vmid (PVE sends it as a string).
    pub async fn next_id(&self) -> Result<u32, PveError> {
        let value: Value = self.get("/cluster/nextid", Params::new()).await?;
        let parsed = match &value {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        parsed.ok_or_else(|| PveError::Protocol {
            request: RequestInfo::new("GET", "/cluster/nextid"),
            reason: format!("expected a vmid, got {value}"),
        })
    }

    /// `GET /nodes/{node}/{qemu|lxc}/{vmid}/config`: the flat config, including `digest`.
    pub async fn guest_config(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
    ) -> Result<BTreeMap<String, Value>, PveError> {
        self.get(
            &format!("{}/config", guest_path(node, kind, vmid)),
            Params::new(),
        )
        .await
    }

    /// `GET .../status/current`.
    pub async fn guest_status(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
    ) -> Result<GuestStatusInfo, PveError> {
        self.get(
            &format!("{}/status/current", guest_path(node, kind, vmid)),
            Params::new(),
        )
        .await
    }

    /// `POST /nodes/{node}/{qemu|lxc}`: creates a guest. `config` holds `vmid` and the PVE
    /// config keys (see [`crate::model::format_guest_config`]).
    pub async fn create_guest(
        &self,
        node: &str,
        kind: GuestKind,
        config: Params,
    ) -> Result<Upid, PveError> {
        let path = format!("/nodes/{}/{}", encode(node), kind.as_str());
        self.task_call(Method::POST, &path, config).await
    }

    /// `POST .../{vmid}/clone` to `newid`; `options` are `name`/`hostname`, `full`, `target`,
    /// `storage`, `pool`, ...
    pub async fn clone_guest(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        newid: u32,
        options: Params,
    ) -> Result<Upid, PveError> {
        let mut body = params([("newid", newid.to_string())]);
        body.extend(options);
        let path = format!("{}/clone", guest_path(node, kind, vmid));
        self.task_call(Method::POST, &path, body).await
    }

    /// Changes config keys (`delete` lists keys to remove). With `digest`, PVE refuses the
    /// change if the config changed since it was read (a [`PveError::Conflict`]). qemu runs
    /// it as a task (`POST`, returns the UPID); LXC applies it at once (`PUT`, returns `None`).
    pub async fn update_config(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        changes: Params,
        delete: &[String],
        digest: Option<&str>,
    ) -> Result<Option<Upid>, PveError> {
        let path = format!("{}/config", guest_path(node, kind, vmid));
        let mut body = changes;
        if !delete.is_empty() {
            body.push(("delete".into(), delete.join(",")));
        }
        if let Some(digest) = digest {
            body.push(("digest".into(), digest.to_string()));
        }
        let method = match kind {
            GuestKind::Qemu => Method::POST,
            GuestKind::Lxc => Method::PUT,
        };
        let name = method.as_str().to_string();
        let value = self.write(method, &path, body).await?;
        maybe_upid(&name, &path, value)
    }

    /// `PUT .../resize`: `size` is absolute (`32G`) or a growth (`+10G`).
    pub async fn resize(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        disk: &str,
        size: &str,
        digest: Option<&str>,
    ) -> Result<Option<Upid>, PveError> {
        let path = format!("{}/resize", guest_path(node, kind, vmid));
        let mut body = params([("disk", disk), ("size", size)]);
        if let Some(digest) = digest {
            body.push(("digest".into(), digest.to_string()));
        }
        let value = self.write(Method::PUT, &path, body).await?;
        maybe_upid("PUT", &path, value)
    }

    /// `POST .../status/{start|stop|shutdown|reboot}`.
    pub async fn power(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        action: PowerAction,
    ) -> Result<Upid, PveError> {
        let path = format!(
            "{}/status/{}",
            guest_path(node, kind, vmid),
            action.as_str()
        );
        self.task_call(Method::POST, &path, Params::new()).await
    }

    pub async fn start(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Upid, PveError> {
        self.power(node, kind, vmid, PowerAction::Start).await
    }

    pub async fn stop(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Upid, PveError> {
        self.power(node, kind, vmid, PowerAction::Stop).await
    }

    pub async fn shutdown(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Upid, PveError> {
        self.power(node, kind, vmid, PowerAction::Shutdown).await
    }

    pub async fn reboot(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Upid, PveError> {
        self.power(node, kind, vmid, PowerAction::Reboot).await
    }

    /// `DELETE /nodes/{node}/{qemu|lxc}/{vmid}?purge=1`: also removes it from jobs and pools.
    pub async fn destroy(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Upid, PveError> {
        let path = guest_path(node, kind, vmid);
        self.task_call(Method::DELETE, &path, params([("purge", "1")]))
            .await
    }

    /// `POST .../migrate` to `target`; `online` live-migrates a running VM (LXC restarts it).
    pub async fn migrate(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        target: &str,
        online: bool,
    ) -> Result<Upid, PveError> {
        let path = format!("{}/migrate", guest_path(node, kind, vmid));
        let mut body = params([("target", target)]);
        if online {
            body.push(match kind {
                GuestKind::Qemu => ("online".into(), "1".into()),
                GuestKind::Lxc => ("restart".into(), "1".into()),
            });
        }
        self.task_call(Method::POST, &path, body).await
    }

    /// `GET .../snapshot` (includes PVE's `current` pseudo entry).
    pub async fn snapshots(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
    ) -> Result<Vec<SnapshotEntry>, PveError> {
        self.get(
            &format!("{}/snapshot", guest_path(node, kind, vmid)),
            Params::new(),
        )
        .await
    }

    /// `POST .../snapshot`.
    pub async fn create_snapshot(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        name: &str,
        description: Option<&str>,
    ) -> Result<Upid, PveError> {
        let mut body = params([("snapname", name)]);
        if let Some(d) = description {
            body.push(("description".into(), d.to_string()));
        }
        let path = format!("{}/snapshot", guest_path(node, kind, vmid));
        self.task_call(Method::POST, &path, body).await
    }

    /// `POST .../snapshot/{snap}/rollback`.
    pub async fn rollback_snapshot(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        name: &str,
    ) -> Result<Upid, PveError> {
        let path = format!(
            "{}/snapshot/{}/rollback",
            guest_path(node, kind, vmid),
            encode(name)
        );
        self.task_call(Method::POST, &path, Params::new()).await
    }

    /// `DELETE .../snapshot/{snap}`.
    pub async fn delete_snapshot(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        name: &str,
    ) -> Result<Upid, PveError> {
        let path = format!("{}/snapshot/{}", guest_path(node, kind, vmid), encode(name));
        self.task_call(Method::DELETE, &path, Params::new()).await
    }

    /// `GET /nodes/{node}/storage`: status of each storage enabled on the node.
    pub async fn storages(&self, node: &str) -> Result<Vec<NodeStorage>, PveError> {
        self.get(&format!("/nodes/{}/storage", encode(node)), Params::new())
            .await
    }

    /// `GET /nodes/{node}/storage/{storage}/content[?content=]`.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageContent>, PveError> {
        let query = content
            .map(|c| params([("content", c)]))
            .unwrap_or_default();
        self.get(
            &format!(
                "/nodes/{}/storage/{}/content",
                encode(node),
                encode(storage)
            ),
            query,
        )
        .await
    }

    /// `GET /nodes/{node}/network`.
    pub async fn networks(&self, node: &str) -> Result<Vec<NetworkInterface>, PveError> {
        self.get(&format!("/nodes/{}/network", encode(node)), Params::new())
            .await
    }

    /// `GET /pools`: every pool (members are not included in the list).
    pub async fn pools(&self) -> Result<Vec<PoolEntry>, PveError> {
        self.get("/pools", Params::new()).await
    }

    /// `GET /pools?poolid=X`: one pool with its members.
    pub async fn pool(&self, id: &str) -> Result<PoolEntry, PveError> {
        let list: Vec<PoolEntry> = self.get("/pools", params([("poolid", id)])).await?;
        list.into_iter()
            .find(|p| p.poolid == id)
            .ok_or_else(|| PveError::NotFound {
                request: RequestInfo::new("GET", "/pools"),
                message: format!("pool '{id}' does not exist"),
            })
    }

    /// `POST /pools`.
    pub async fn create_pool(&self, id: &str, comment: Option<&str>) -> Result<(), PveError> {
        let mut body = params([("poolid", id)]);
        if let Some(c) = comment {
            body.push(("comment".into(), c.to_string()));
        }
        self.write(Method::POST, "/pools", body).await.map(|_| ())
    }

    /// `PUT /pools`: sets the comment and adds (or with `remove`, removes) guests.
    pub async fn update_pool(
        &self,
        id: &str,
        comment: Option<&str>,
        vmids: &[u32],
        remove: bool,
    ) -> Result<(), PveError> {
        let mut body = params([("poolid", id)]);
        if let Some(c) = comment {
            body.push(("comment".into(), c.to_string()));
        }
        if !vmids.is_empty() {
            let list: Vec<String> = vmids.iter().map(u32::to_string).collect();
            body.push(("vms".into(), list.join(",")));
            if remove {
                body.push(("delete".into(), "1".into()));
            }
        }
        self.write(Method::PUT, "/pools", body).await.map(|_| ())
    }

    /// `DELETE /pools?poolid=X`.
    pub async fn delete_pool(&self, id: &str) -> Result<(), PveError> {
        self.write(Method::DELETE, "/pools", params([("poolid", id)]))
            .await
            .map(|_| ())
    }

    /// `GET /access/permissions`: the caller's effective privileges per ACL path.
    pub async fn permissions(&self) -> Result<Permissions, PveError> {
        self.get("/access/permissions", Params::new()).await
    }

    /// `GET .../agent/network-get-interfaces` with the short agent timeout, so a guest without
    /// an agent never blocks the caller.
    pub async fn agent_network(&self, node: &str, vmid: u32) -> Result<Value, PveError> {
        let path = format!(
            "{}/agent/network-get-interfaces",
            guest_path(node, GuestKind::Qemu, vmid)
        );
        let timeout = self.config().agent_timeout;
        self.call_with_policy(Method::GET, &path, Params::new(), timeout, 0)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_answers_are_checked() {
        let good =
            Value::String("UPID:pve1:00000001:00000002:6745F0A1:qmstart:100:root@pam:".into());
        assert_eq!(upid_from("POST", "/x", good).unwrap().node, "pve1");
        for bad in [
            Value::Null,
            Value::String("not-a-upid".into()),
            serde_json::json!({"a": 1}),
        ] {
            let err = upid_from("POST", "/nodes/n/qemu/5/status/start", bad).unwrap_err();
            assert_eq!(err.kind(), "protocol");
            assert!(err.to_string().contains("guest 5 on node n"));
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode("pve-1.lab_x"), "pve-1.lab_x");
        assert_eq!(encode("a/b"), "a%2Fb");
    }
}
