//! The route table: every served endpoint with its method, path template, the privilege it needs
//! and its handler. qemu and lxc share most handlers (the handler reads the guest kind from the
//! route path, see `Ctx::kind`), so both families are listed here side by side.

use super::access::{
    access_domains, access_permissions, access_ticket, acl_list, acl_update, groups_list,
    role_create, role_get, token_create, token_delete, token_get, token_list, user_get, users_list,
};
use super::agent::{
    agent_exec, agent_exec_status, agent_host_name, agent_interfaces, agent_osinfo, agent_ping,
    lxc_interfaces,
};
use super::backup::{volume_delete, volume_get, volume_update, vzdump};
use super::backup_jobs::{job_create, job_delete, job_get, job_update, jobs_list, not_backed_up};
use super::clone::guest_clone;
use super::cluster::{cluster_nextid, cluster_resources, cluster_status, version};
use super::config::{
    guest_config_get, guest_config_post, guest_config_put, guest_pending, guest_unlink,
};
use super::disks::guest_resize;
use super::guests::{guest_list, guest_status};
use super::lifecycle::{guest_create, guest_destroy, guest_template};
use super::migrate::guest_migrate;
use super::nodes::{node_network, node_status, node_time, nodes_list};
use super::pools::{pool_get, pools_create, pools_delete, pools_list, pools_update};
use super::power::{
    guest_reboot, guest_reset, guest_resume, guest_shutdown, guest_start, guest_stop, guest_suspend,
};
use super::remote_migrate::guest_remote_migrate;
use super::rrd::{guest_rrddata, node_rrddata};
use super::snapshots::{snapshot_create, snapshot_delete, snapshot_list, snapshot_rollback};
use super::storage::{node_storage, storage_config, storage_content, storage_get};
use super::tasks::{cluster_tasks, node_tasks, task_log, task_status, task_stop};
use super::{Handler, Route};

const fn r(
    method: &'static str,
    path: &'static str,
    perm: Option<(&'static str, &'static str)>,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        perm,
        handler,
    }
}

const VM: &str = "/vms/{vmid}";

/// Every route the simulator serves.
pub(crate) static ROUTES: &[Route] = &[
    r("GET", "/version", None, version),
    r(
        "GET",
        "/cluster/status",
        Some(("/", "Sys.Audit")),
        cluster_status,
    ),
    r("GET", "/cluster/resources", None, cluster_resources),
    r(
        "GET",
        "/nodes/{node}/time",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_time,
    ),
    r(
        "GET",
        "/storage/{storage}",
        Some(("/storage/{storage}", "Datastore.Allocate")),
        storage_get,
    ),
    r("GET", "/cluster/nextid", None, cluster_nextid),
    r("GET", "/cluster/tasks", None, cluster_tasks),
    r("GET", "/nodes", None, nodes_list),
    r(
        "GET",
        "/nodes/{node}/status",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_status,
    ),
    r(
        "GET",
        "/nodes/{node}/rrddata",
        Some(("/nodes/{node}", "Sys.Audit")),
        node_rrddata,
    ),
    r("GET", "/nodes/{node}/network", None, node_network),
    r("GET", "/nodes/{node}/storage", None, node_storage),
    r(
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        Some(("/storage/{storage}", "Datastore.Audit")),
        storage_content,
    ),
    r("GET", "/nodes/{node}/tasks", None, node_tasks),
    r(
        "GET",
        "/nodes/{node}/tasks/{upid}/status",
        None,
        task_status,
    ),
    r("GET", "/nodes/{node}/tasks/{upid}/log", None, task_log),
    r("DELETE", "/nodes/{node}/tasks/{upid}", None, task_stop),
    r("GET", "/access/domains", None, access_domains),
    r(
        "GET",
        "/storage",
        Some(("/storage", "Datastore.Audit")),
        storage_config,
    ),
    r("GET", "/pools", None, pools_list),
    r(
        "POST",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_create,
    ),
    r(
        "PUT",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_update,
    ),
    r(
        "DELETE",
        "/pools",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_delete,
    ),
    r(
        "GET",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Audit")),
        pool_get,
    ),
    r(
        "PUT",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_update,
    ),
    r(
        "DELETE",
        "/pools/{poolid}",
        Some(("/pool/{poolid}", "Pool.Allocate")),
        pools_delete,
    ),
    r("POST", "/access/ticket", None, access_ticket),
    r("GET", "/access/permissions", None, access_permissions),
    r(
        "POST",
        "/access/roles",
        Some(("/access", "Sys.Modify")),
        role_create,
    ),
    r("GET", "/access/roles/{roleid}", None, role_get),
    r("GET", "/access/acl", None, acl_list),
    r(
        "PUT",
        "/access/acl",
        Some(("{path}", "Permissions.Modify")),
        acl_update,
    ),
    r("GET", "/access/users/{userid}/token", None, token_list),
    r(
        "GET",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_get,
    ),
    r(
        "POST",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_create,
    ),
    r(
        "DELETE",
        "/access/users/{userid}/token/{tokenid}",
        None,
        token_delete,
    ),
    // qemu
    r("GET", "/nodes/{node}/qemu", None, guest_list),
    r(
        "POST",
        "/nodes/{node}/qemu",
        Some((VM, "VM.Allocate")),
        guest_create,
    ),
    r(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}",
        Some((VM, "VM.Allocate")),
        guest_destroy,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Audit")),
        guest_config_get,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_put,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_post,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/pending",
        Some((VM, "VM.Audit")),
        guest_pending,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/status/current",
        Some((VM, "VM.Audit")),
        guest_status,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/start",
        Some((VM, "VM.PowerMgmt")),
        guest_start,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/stop",
        Some((VM, "VM.PowerMgmt")),
        guest_stop,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
        Some((VM, "VM.PowerMgmt")),
        guest_shutdown,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reboot",
        Some((VM, "VM.PowerMgmt")),
        guest_reboot,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reset",
        Some((VM, "VM.PowerMgmt")),
        guest_reset,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/suspend",
        Some((VM, "VM.PowerMgmt")),
        guest_suspend,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/resume",
        Some((VM, "VM.PowerMgmt")),
        guest_resume,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/clone",
        Some((VM, "VM.Clone")),
        guest_clone,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/resize",
        Some((VM, "VM.Config.Disk")),
        guest_resize,
    ),
    r(
        "PUT",
        "/nodes/{node}/qemu/{vmid}/unlink",
        Some((VM, "VM.Config.Disk")),
        guest_unlink,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/template",
        Some((VM, "VM.Allocate")),
        guest_template,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/migrate",
        Some((VM, "VM.Migrate")),
        guest_migrate,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/remote_migrate",
        Some((VM, "VM.Migrate")),
        guest_remote_migrate,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        Some((VM, "VM.Audit")),
        snapshot_list,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        Some((VM, "VM.Snapshot")),
        snapshot_create,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
        Some((VM, "VM.Snapshot.Rollback")),
        snapshot_rollback,
    ),
    r(
        "DELETE",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
        Some((VM, "VM.Snapshot")),
        snapshot_delete,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/rrddata",
        Some((VM, "VM.Audit")),
        guest_rrddata,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_interfaces,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/exec",
        Some((VM, "VM.GuestAgent.Unrestricted")),
        agent_exec,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/exec-status",
        Some((VM, "VM.GuestAgent.Unrestricted")),
        agent_exec_status,
    ),
    r(
        "POST",
        "/nodes/{node}/qemu/{vmid}/agent/ping",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_ping,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/get-osinfo",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_osinfo,
    ),
    r(
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/get-host-name",
        Some((VM, "VM.GuestAgent.Audit")),
        agent_host_name,
    ),
    // lxc
    r("GET", "/nodes/{node}/lxc", None, guest_list),
    r(
        "POST",
        "/nodes/{node}/lxc",
        Some((VM, "VM.Allocate")),
        guest_create,
    ),
    r(
        "DELETE",
        "/nodes/{node}/lxc/{vmid}",
        Some((VM, "VM.Allocate")),
        guest_destroy,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/config",
        Some((VM, "VM.Audit")),
        guest_config_get,
    ),
    r(
        "PUT",
        "/nodes/{node}/lxc/{vmid}/config",
        Some((VM, "VM.Config.Options")),
        guest_config_put,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/pending",
        Some((VM, "VM.Audit")),
        guest_pending,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/status/current",
        Some((VM, "VM.Audit")),
        guest_status,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/start",
        Some((VM, "VM.PowerMgmt")),
        guest_start,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/stop",
        Some((VM, "VM.PowerMgmt")),
        guest_stop,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/shutdown",
        Some((VM, "VM.PowerMgmt")),
        guest_shutdown,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/status/reboot",
        Some((VM, "VM.PowerMgmt")),
        guest_reboot,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/clone",
        Some((VM, "VM.Clone")),
        guest_clone,
    ),
    r(
        "PUT",
        "/nodes/{node}/lxc/{vmid}/resize",
        Some((VM, "VM.Config.Disk")),
        guest_resize,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/template",
        Some((VM, "VM.Allocate")),
        guest_template,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/migrate",
        Some((VM, "VM.Migrate")),
        guest_migrate,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/remote_migrate",
        Some((VM, "VM.Migrate")),
        guest_remote_migrate,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/snapshot",
        Some((VM, "VM.Audit")),
        snapshot_list,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/snapshot",
        Some((VM, "VM.Snapshot")),
        snapshot_create,
    ),
    r(
        "POST",
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
        Some((VM, "VM.Snapshot.Rollback")),
        snapshot_rollback,
    ),
    r(
        "DELETE",
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
        Some((VM, "VM.Snapshot")),
        snapshot_delete,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/rrddata",
        Some((VM, "VM.Audit")),
        guest_rrddata,
    ),
    r(
        "GET",
        "/nodes/{node}/lxc/{vmid}/interfaces",
        Some((VM, "VM.Audit")),
        lxc_interfaces,
    ),
    r("POST", "/nodes/{node}/vzdump", None, vzdump),
    r(
        "GET",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        Some(("/storage/{storage}", "Datastore.Audit")),
        volume_get,
    ),
    r(
        "PUT",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        Some(("/storage/{storage}", "Datastore.AllocateSpace")),
        volume_update,
    ),
    r(
        "DELETE",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        None,
        volume_delete,
    ),
    r(
        "GET",
        "/cluster/backup",
        Some(("/", "Sys.Audit")),
        jobs_list,
    ),
    r(
        "POST",
        "/cluster/backup",
        Some(("/", "Sys.Modify")),
        job_create,
    ),
    r(
        "GET",
        "/cluster/backup/{id}",
        Some(("/", "Sys.Audit")),
        job_get,
    ),
    r(
        "PUT",
        "/cluster/backup/{id}",
        Some(("/", "Sys.Modify")),
        job_update,
    ),
    r(
        "DELETE",
        "/cluster/backup/{id}",
        Some(("/", "Sys.Modify")),
        job_delete,
    ),
    r(
        "GET",
        "/cluster/backup-info/not-backed-up",
        Some(("/", "Sys.Audit")),
        not_backed_up,
    ),
    r("GET", "/access/users", None, users_list),
    r(
        "GET",
        "/access/users/{userid}",
        Some(("/access/groups", "Sys.Audit")),
        user_get,
    ),
    r("GET", "/access/groups", None, groups_list),
];
