//! Whole-cluster discovery into a [`ClusterSnapshot`] with the fewest round trips: one
//! `/cluster/resources` (guests, nodes, storages, pools at once), one `/cluster/status`, one
//! `/version`, one `/pools`, each guest's config with bounded concurrency, and storage plus
//! network per online node. Total: guests + 2 x online nodes + 4 requests (before retries).
//! Never touches the guest agent.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::client::Client;
use super::error::PveError;
use super::types::{ClusterResource, ClusterStatusEntry, NetworkInterface, NodeStorage, PoolEntry};
use crate::model::{
    ClusterSnapshot, Guest, GuestKind, GuestStatus, Node, NodeNetwork, NodeStatus, Pool, Storage,
    guest_from_config,
};

/// A snapshot plus what could not be read cleanly.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub snapshot: ClusterSnapshot,
    /// Things the user should know: guests gone mid-read, config keys kept verbatim, offline
    /// nodes skipped.
    pub warnings: Vec<String>,
}

fn node_status(text: Option<&str>) -> NodeStatus {
    match text {
        Some("online") => NodeStatus::Online,
        Some("offline") => NodeStatus::Offline,
        _ => NodeStatus::Unknown,
    }
}

fn to_storage(node: &str, s: NodeStorage) -> Storage {
    Storage {
        id: s.storage,
        node: node.to_string(),
        kind: s.kind.unwrap_or_default(),
        content: s
            .content
            .map(|c| crate::model::propstring::split_list(&c))
            .unwrap_or_default(),
        shared: s.shared,
        active: s.active,
        total_bytes: s.total,
        used_bytes: s.used,
        available_bytes: s.avail,
    }
}

fn to_network(node: &str, n: NetworkInterface) -> NodeNetwork {
    NodeNetwork {
        node: node.to_string(),
        iface: n.iface,
        kind: n.kind.unwrap_or_default(),
        method: n.method,
        cidr: n.cidr,
        gateway: n.gateway,
        bridge_ports: n.bridge_ports,
        cidr6: n.cidr6,
        gateway6: n.gateway6,
        mtu: n.mtu,
        vlan_aware: n.bridge_vlan_aware,
        autostart: n.autostart,
        active: n.active,
        comments: n.comments,
    }
}

impl Client {
    /// Discovers the whole cluster. `progress(done, total)` is called as guest configs arrive.
    pub async fn discover(
        &self,
        progress: impl Fn(usize, usize),
    ) -> Result<ClusterSnapshot, PveError> {
        let discovery = self.discover_detailed(progress).await?;
        for warning in &discovery.warnings {
            tracing::warn!("{warning}");
        }
        Ok(discovery.snapshot)
    }

    /// As [`Client::discover`], returning the warnings too.
    pub async fn discover_detailed(
        &self,
        progress: impl Fn(usize, usize),
    ) -> Result<Discovery, PveError> {
        let (resources, status, version, pools) = tokio::try_join!(
            self.cluster_resources(None),
            self.cluster_status(),
            self.version(),
            self.pools(),
        )?;
        let mut warnings = Vec::new();

        let cluster_name = status
            .iter()
            .find(|e| e.kind == "cluster")
            .and_then(|e| e.name.clone());
        let nodes = nodes_of(&resources, &status);
        let online: BTreeSet<String> = nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Online)
            .map(|n| n.name.clone())
            .collect();
        for node in nodes.iter().filter(|n| n.status != NodeStatus::Online) {
            warnings.push(format!(
                "node {} is {:?}: its guests, storages and networks were not read",
                node.name, node.status
            ));
        }

        let guests = self
            .read_guests(&resources, &online, progress, &mut warnings)
            .await?;
        let (storages, networks) = self.read_node_details(&online).await?;
        let pool_list = pools_of(pools, &guests);

        Ok(Discovery {
            snapshot: ClusterSnapshot {
                nodes,
                guests,
                storages,
                networks,
                pools: pool_list,
                version: version.version,
                cluster_name,
            },
            warnings,
        })
    }

    /// Reads the config of every guest on an online node, `max_concurrency` at a time, sorted
    /// by vmid. A guest gone mid-read is left out with a warning.
    async fn read_guests(
        &self,
        resources: &[ClusterResource],
        online: &BTreeSet<String>,
        progress: impl Fn(usize, usize),
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Guest>, PveError> {
        let guest_entries: Vec<&ClusterResource> = resources
            .iter()
            .filter(|r| r.kind == "qemu" || r.kind == "lxc")
            .filter(|r| r.node.as_ref().is_some_and(|n| online.contains(n)))
            .collect();
        let total = guest_entries.len();
        let concurrency = self.config().max_concurrency.max(1);
        let mut fetches =
            futures::stream::iter(guest_entries.into_iter().map(|entry| async move {
                let kind = GuestKind::parse(&entry.kind).unwrap_or(GuestKind::Qemu);
                let node = entry.node.clone().unwrap_or_default();
                let vmid = entry.vmid;
                let result = match vmid {
                    Some(vmid) => self.guest_config(&node, kind, vmid).await,
                    None => Err(PveError::Protocol {
                        request: super::error::RequestInfo::new("GET", "/cluster/resources"),
                        reason: format!("resource {} has no vmid", entry.id),
                    }),
                };
                (entry, kind, node, result)
            }))
            .buffer_unordered(concurrency);

        let mut guests: Vec<Guest> = Vec::with_capacity(total);
        let mut done = 0;
        progress(done, total);
        while let Some((entry, kind, node, result)) = fetches.next().await {
            done += 1;
            progress(done, total);
            let vmid = entry.vmid.unwrap_or_default();
            let raw = match result {
                Ok(raw) => raw,
                Err(PveError::NotFound { .. }) => {
                    warnings.push(format!(
                        "guest {vmid} on {node} disappeared while reading; it is left out"
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            };
            guests.push(guest_of(entry, vmid, &node, kind, &raw, warnings));
        }
        drop(fetches);
        guests.sort_by_key(|g| g.vmid);
        Ok(guests)
    }

    /// Reads the storages and networks of every online node, sorted by node.
    async fn read_node_details(
        &self,
        online: &BTreeSet<String>,
    ) -> Result<(Vec<Storage>, Vec<NodeNetwork>), PveError> {
        let concurrency = self.config().max_concurrency.max(1);
        let per_node = futures::stream::iter(online.iter().map(|node| async move {
            let (storages, networks) = tokio::try_join!(self.storages(node), self.networks(node))?;
            Ok::<_, PveError>((node.clone(), storages, networks))
        }))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
        let mut storages = Vec::new();
        let mut networks = Vec::new();
        for result in per_node {
            let (node, node_storages, node_networks) = result?;
            storages.extend(node_storages.into_iter().map(|s| to_storage(&node, s)));
            networks.extend(node_networks.into_iter().map(|n| to_network(&node, n)));
        }
        storages.sort_by(|a, b| (&a.node, &a.id).cmp(&(&b.node, &b.id)));
        networks.sort_by(|a, b| (&a.node, &a.iface).cmp(&(&b.node, &b.iface)));
        Ok((storages, networks))
    }
}

/// The nodes of `/cluster/resources` plus those only `/cluster/status` knows, sorted by name.
fn nodes_of(resources: &[ClusterResource], status: &[ClusterStatusEntry]) -> Vec<Node> {
    let ips: BTreeMap<String, String> = status
        .iter()
        .filter(|e| e.kind == "node")
        .filter_map(|e| Some((e.name.clone()?, e.ip.clone()?)))
        .collect();

    let mut nodes: Vec<Node> = resources
        .iter()
        .filter(|r| r.kind == "node")
        .filter_map(|r| {
            let name = r.node.clone()?;
            Some(Node {
                ip: ips.get(&name).cloned(),
                status: node_status(r.status.as_deref()),
                cpus: r.maxcpu.map(|c| c as u32),
                memory_bytes: r.maxmem,
                memory_used_bytes: r.mem,
                uptime_seconds: r.uptime,
                name,
            })
        })
        .collect();
    // A node /cluster/status knows but resources omitted (no RRD data yet).
    for entry in status.iter().filter(|e| e.kind == "node") {
        if let Some(name) = &entry.name
            && !nodes.iter().any(|n| &n.name == name)
        {
            nodes.push(Node {
                name: name.clone(),
                status: match entry.online {
                    Some(true) => NodeStatus::Online,
                    Some(false) => NodeStatus::Offline,
                    None => NodeStatus::Unknown,
                },
                ip: entry.ip.clone(),
                cpus: None,
                memory_bytes: None,
                memory_used_bytes: None,
                uptime_seconds: None,
            });
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

/// One guest from its resource entry and config; its conversion warnings go to `warnings`.
fn guest_of(
    entry: &ClusterResource,
    vmid: u32,
    node: &str,
    kind: GuestKind,
    raw: &BTreeMap<String, serde_json::Value>,
    warnings: &mut Vec<String>,
) -> Guest {
    let status = entry
        .status
        .as_deref()
        .map(GuestStatus::parse)
        .unwrap_or(GuestStatus::Unknown);
    let (mut guest, guest_warnings) =
        guest_from_config(vmid, node, kind, status, entry.pool.clone(), raw);
    if guest.name.is_empty()
        && let Some(name) = &entry.name
    {
        // PVE shows `VM 100` for unnamed guests; keep the model's name empty then.
        if !name.starts_with("VM ") && !name.starts_with("CT ") {
            guest.name = name.clone();
        }
    }
    warnings.extend(
        guest_warnings
            .into_iter()
            .map(|w| format!("guest {vmid}: {w}")),
    );
    guest
}

/// The pools, each with the guests that name it and its storage members, sorted by id.
fn pools_of(pools: Vec<PoolEntry>, guests: &[Guest]) -> Vec<Pool> {
    let mut pool_list: Vec<Pool> = pools
        .into_iter()
        .map(|p| Pool {
            guests: guests
                .iter()
                .filter(|g| g.pool.as_deref() == Some(p.poolid.as_str()))
                .map(|g| g.vmid)
                .collect(),
            storages: p.members.iter().filter_map(|m| m.storage.clone()).collect(),
            id: p.poolid,
            comment: p.comment.filter(|c| !c.is_empty()),
        })
        .collect();
    pool_list.sort_by(|a, b| a.id.cmp(&b.id));
    pool_list
}
