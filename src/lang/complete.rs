//! Completion data: the candidates for a partly typed line (verbs, kinds, flags, and the
//! world's names where they fit). The names come from the caller: the console session keeps
//! those its last resource command loaded and hands them to its completer.

use crate::model::GuestKind;

use super::flags::flags_for;
use super::words::{KINDS, Kind, VERBS, Verb};
use super::world::World;

/// Completion candidates for a resource-command line: verbs, kinds, flags, and the names in
/// `names` (guests, nodes, storages, bridges, templates, pools) where they fit.
pub fn complete(before: &str, names: &Names) -> Vec<String> {
    let ends_with_space = before.ends_with(char::is_whitespace);
    let words: Vec<&str> = before.split_whitespace().collect();
    let (done, partial): (&[&str], &str) = if ends_with_space || words.is_empty() {
        (&words[..], "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let filter = |items: Vec<String>| -> Vec<String> {
        let mut out: Vec<String> = items
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let Some(first) = done.first() else {
        return filter(VERBS.iter().map(|(w, _)| w.to_string()).collect());
    };
    let Some(verb) = VERBS.iter().find(|(w, _)| w == first).map(|(_, v)| *v) else {
        return Vec::new();
    };
    if done.len() == 1 {
        if verb == Verb::List {
            return filter(
                [
                    "vms",
                    "containers",
                    "nodes",
                    "storages",
                    "networks",
                    "pools",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
        return filter(vec![
            "vm".into(),
            "container".into(),
            "ct".into(),
            "pool".into(),
        ]);
    }
    let kind = KINDS.iter().find(|(w, _)| *w == done[1]).map(|(_, k)| *k);
    let specs = flags_for(verb, kind);
    if partial.starts_with('-') {
        return filter(specs.iter().map(|f| format!("--{}", f.name)).collect());
    }
    let last = done.last().copied().unwrap_or_default();
    if let Some(flag) = last.strip_prefix("--") {
        return filter(match flag {
            "node" | "to" => names.nodes.clone(),
            "pool" => names.pools.clone(),
            "clone" => names.vms.clone(),
            "template" => names.templates.clone(),
            "net" | "add-net" => names.bridges.clone(),
            "disk" | "add-disk" | "rootfs" => {
                names.storages.iter().map(|s| format!("{s}:")).collect()
            }
            "status" => vec!["running".into(), "stopped".into(), "template".into()],
            "o" | "output" => vec!["table".into(), "json".into(), "yaml".into()],
            _ => Vec::new(),
        });
    }
    if done.len() == 2 && verb != Verb::Create && verb != Verb::List {
        return filter(match kind {
            Some(Kind::Vm) => names.vms.clone(),
            Some(Kind::Container) => names.containers.clone(),
            Some(Kind::Pool) => names.pools.clone(),
            None => Vec::new(),
        });
    }
    filter(specs.iter().map(|f| format!("--{}", f.name)).collect())
}

/// Names offered by completion.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub vms: Vec<String>,
    pub containers: Vec<String>,
    pub nodes: Vec<String>,
    pub storages: Vec<String>,
    pub bridges: Vec<String>,
    pub templates: Vec<String>,
    pub pools: Vec<String>,
}

impl Names {
    /// Collects the names of a world.
    pub fn of(world: &World<'_>) -> Self {
        let mut n = Names::default();
        for g in world.all_guests() {
            match g.kind {
                GuestKind::Qemu => n.vms.push(g.name.clone()),
                GuestKind::Lxc => n.containers.push(g.name.clone()),
            }
        }
        n.nodes = world.node_names();
        n.storages = world
            .snapshot
            .storages
            .iter()
            .map(|s| s.id.clone())
            .collect();
        n.storages.sort();
        n.storages.dedup();
        n.bridges = world
            .snapshot
            .networks
            .iter()
            .filter(|x| x.kind == "bridge")
            .map(|x| x.iface.clone())
            .collect();
        n.bridges.sort();
        n.bridges.dedup();
        n.templates = world
            .ct_templates
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        n.pools = world.pool_ids();
        n
    }
}
