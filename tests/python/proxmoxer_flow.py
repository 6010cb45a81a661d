#!/usr/bin/env python3
"""proxmoxer (a real PVE client written by others) driven against the simulator.

Run by tests/real_clients.rs with the venv's python. Walks the life of one VM the way a proxmoxer
user would: list nodes and guests, create a VM, wait for its task with proxmoxer's own
Tasks.blocking_status, read its config, start it, destroy it. Every observation is checked; the
first mismatch is printed to stderr and the script exits 1. On success it prints one JSON object
(a summary the Rust test checks against the simulator's own view) to stdout.

Inputs (secrets only ever come from the environment, never argv):
  PMPC_SIM_URL           https://127.0.0.1:PORT
  PMPC_SIM_CA_FILE       PEM of the simulator's self-signed certificate (verified against it)
  and either an API token (proxmoxer sends `Authorization: PVEAPIToken=...`):
  PMPC_SIM_TOKEN_ID      user@realm!tokenname
  PMPC_SIM_TOKEN_SECRET  the token's secret
  or a password (proxmoxer logs in with POST /access/ticket, then sends the ticket cookie and
  the CSRFPreventionToken header on writes):
  PMPC_SIM_USER          user@realm
  PMPC_SIM_PASSWORD      the user's password
  optionally a read-only token, to show a refused create (403):
  PMPC_SIM_READONLY_TOKEN_ID, PMPC_SIM_READONLY_TOKEN_SECRET
"""

import json
import os
import re
import sys
import time
from urllib.parse import urlparse

from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

VM_NAME = "proxmoxer-flow"


class Mismatch(Exception):
    """The simulator answered something a real PVE would not (or the flow broke)."""


def expect(condition, what):
    if not condition:
        raise Mismatch(what)


TASKS_SEEN_RUNNING = []
TASKS_WAITED = []


def wait_task(prox, upid, what):
    """Waits with proxmoxer's own helper; the task must end, and end OK."""
    decoded = Tasks.decode_upid(upid)  # raises on a malformed UPID
    TASKS_WAITED.append(upid)
    first = prox.nodes(decoded["node"]).tasks(upid).status.get()
    if first.get("status") == "running":
        # PVE reports exitstatus only once a task has stopped
        expect("exitstatus" not in first, f"{what}: running task has exitstatus: {first!r}")
        TASKS_SEEN_RUNNING.append(upid)
    else:
        expect(first.get("status") == "stopped", f"{what}: task status {first!r}")
    status = Tasks.blocking_status(prox, upid, timeout=60, polling_interval=0.1)
    expect(status is not None, f"{what}: task {upid} did not stop within 60 s")
    expect(status.get("status") == "stopped", f"{what}: task status {status!r}")
    expect(status.get("exitstatus") == "OK", f"{what}: task exitstatus {status.get('exitstatus')!r}")
    expect(status.get("upid") == upid, f"{what}: status names UPID {status.get('upid')!r}")
    return decoded, status


def expect_resource_error(call, status_code, message_part, what):
    try:
        call()
    except ResourceException as err:
        expect(
            err.status_code == status_code,
            f"{what}: HTTP {err.status_code} instead of {status_code} ({err})",
        )
        text = f"{err.status_message} {err.content} {err.errors}"
        expect(message_part in text, f"{what}: error {text!r} lacks {message_part!r}")
        return
    raise Mismatch(f"{what}: call succeeded, PVE answers HTTP {status_code}")


def expect_param_error(call, param, what, message_part=""):
    """PVE answers a bad parameter with 400 and an `errors` map naming it."""
    try:
        call()
    except ResourceException as err:
        expect(err.status_code == 400, f"{what}: HTTP {err.status_code} instead of 400 ({err})")
        expect(
            isinstance(err.errors, dict) and param in err.errors,
            f"{what}: errors {err.errors!r} do not name {param!r}",
        )
        expect(
            message_part in str(err.errors[param]),
            f"{what}: errors[{param!r}] = {err.errors[param]!r} lacks {message_part!r}",
        )
        expect(
            "Parameter verification failed" in str(err.content),
            f"{what}: reason phrase {err.content!r}",
        )
        return
    raise Mismatch(f"{what}: call succeeded, PVE answers HTTP 400")


def run():
    url = urlparse(os.environ["PMPC_SIM_URL"])
    ca_file = os.environ["PMPC_SIM_CA_FILE"]
    if os.environ.get("PMPC_SIM_TOKEN_ID"):
        user, token_name = os.environ["PMPC_SIM_TOKEN_ID"].split("!", 1)
        auth = {"token_name": token_name, "token_value": os.environ["PMPC_SIM_TOKEN_SECRET"]}
        task_user = f"{user}!{token_name}"
    else:
        user = os.environ["PMPC_SIM_USER"]
        auth = {"password": os.environ["PMPC_SIM_PASSWORD"]}
        task_user = user

    prox = ProxmoxAPI(
        url.hostname,
        port=url.port,
        user=user,
        verify_ssl=ca_file,
        timeout=30,
        **auth,
    )

    version = prox.version.get()
    expect(isinstance(version.get("version"), str), f"/version: {version!r}")

    # Nodes and guests, seen per node (what proxmoxer users iterate) and cluster-wide.
    nodes = prox.nodes.get()
    expect(isinstance(nodes, list) and nodes, f"/nodes: {nodes!r}")
    node_names = sorted(n["node"] for n in nodes)
    for n in nodes:
        expect(n.get("status") in ("online", "offline", "unknown"), f"node status {n!r}")
    per_node = {}
    for name in node_names:
        for kind in ("qemu", "lxc"):
            for guest in getattr(prox.nodes(name), kind).get():
                vmid = guest["vmid"]
                expect(isinstance(vmid, int), f"{kind} list vmid {vmid!r} is not a number")
                expect(vmid not in per_node, f"vmid {vmid} listed twice")
                expect(guest.get("status") in ("running", "stopped"), f"guest {guest!r}")
                per_node[vmid] = (name, kind)
    resources = prox.cluster.resources.get(type="vm")
    from_resources = {r["vmid"]: (r["node"], r["type"]) for r in resources}
    expect(
        from_resources == per_node,
        f"/cluster/resources?type=vm {sorted(from_resources)} != per-node lists {sorted(per_node)}",
    )

    # A read-only token (PVEAuditor-like) may list but not create: 403 naming path and privilege.
    if os.environ.get("PMPC_SIM_READONLY_TOKEN_ID"):
        ro_user, ro_name = os.environ["PMPC_SIM_READONLY_TOKEN_ID"].split("!", 1)
        readonly = ProxmoxAPI(
            url.hostname,
            port=url.port,
            user=ro_user,
            token_name=ro_name,
            token_value=os.environ["PMPC_SIM_READONLY_TOKEN_SECRET"],
            verify_ssl=ca_file,
            timeout=30,
        )
        expect(
            len(readonly.cluster.resources.get(type="vm")) == len(per_node),
            "the read-only token sees every guest",
        )
        free = int(readonly.cluster.nextid.get())
        expect_resource_error(
            lambda: readonly.nodes(node_names[0]).qemu.create(vmid=free, name="denied"),
            403,
            f"Permission check failed (/vms/{free}, VM.Allocate)",
            "create with a read-only token",
        )

    # Create a VM where the cluster says the next free id is.
    node = node_names[0]
    nextid = prox.cluster.nextid.get()
    vmid = int(nextid)
    expect(vmid not in per_node, f"/cluster/nextid {nextid!r} is already used")
    upid = prox.nodes(node).qemu.create(
        vmid=vmid,
        name=VM_NAME,
        memory=512,
        cores=1,
        sockets=1,
        ostype="l26",
        scsihw="virtio-scsi-pci",
        scsi0="local-lvm:4",
        net0="virtio,bridge=vmbr0",
        tags="flow;Proxmoxer",
    )
    expect(isinstance(upid, str) and upid.startswith("UPID:"), f"create returned {upid!r}")
    decoded, _ = wait_task(prox, upid, "create")
    expect(decoded["node"] == node, f"create UPID node {decoded['node']!r}")
    expect(decoded["type"] == "qmcreate", f"create UPID type {decoded['type']!r}")
    expect(decoded["id"] == str(vmid), f"create UPID id {decoded['id']!r}")
    # proxmoxer's decode_upid drops the token part of the user; the raw UPID keeps it (NOTES §5)
    expect(decoded["user"] == user, f"create UPID user {decoded['user']!r}")
    expect(upid.split(":")[7] == task_user, f"create UPID user field {upid.split(':')[7]!r}")
    log = prox.nodes(node).tasks(upid).log.get()
    expect(isinstance(log, list) and log and log[-1].get("t") == "TASK OK", f"create task log {log!r}")

    config = prox.nodes(node).qemu(vmid).config.get()
    expect(config.get("name") == VM_NAME, f"config name {config.get('name')!r}")
    expect(str(config.get("memory")) == "512", f"config memory {config.get('memory')!r}")
    expect(config.get("cores") == 1, f"config cores {config.get('cores')!r} (integer keys are numbers)")
    expect(re.fullmatch(r"[0-9a-f]{40}", config.get("digest", "")), f"config digest {config.get('digest')!r}")
    expect(
        re.fullmatch(r"virtio=([0-9A-F]{2}:){5}[0-9A-F]{2},bridge=vmbr0", config.get("net0", "")),
        f"config net0 {config.get('net0')!r} is not PVE's canonical form",
    )
    expect(
        config.get("scsi0") == f"local-lvm:vm-{vmid}-disk-0,size=4G",
        f"config scsi0 {config.get('scsi0')!r}",
    )
    expect(config.get("tags") == "flow;proxmoxer", f"config tags {config.get('tags')!r}")
    found = [r for r in prox.cluster.resources.get(type="vm") if r["vmid"] == vmid]
    expect(len(found) == 1 and found[0]["node"] == node, f"new VM in /cluster/resources: {found!r}")
    expect(found[0].get("status") == "stopped", f"new VM status {found[0].get('status')!r}")

    # Change it the way proxmoxer users do (PUT is synchronous and returns null), then show that
    # PVE's error answers reach proxmoxer as PVE sends them.
    vm = prox.nodes(node).qemu(vmid)
    expect(vm.config.put(cores=2, digest=config["digest"]) is None, "PUT config returns null")
    changed = vm.config.get()
    expect(changed.get("cores") == 2, f"cores after PUT {changed.get('cores')!r}")
    expect(changed.get("digest") != config["digest"], "digest unchanged after a config change")
    expect_resource_error(
        lambda: vm.config.put(cores=3, digest=config["digest"]),
        500,
        "checksum mismatch",
        "PUT config with a stale digest",
    )
    expect_param_error(lambda: vm.config.put(cores="many"), "cores", "PUT config cores=many")
    expect_param_error(
        lambda: vm.config.put(bogus=1),
        "bogus",
        "PUT config with an unknown parameter",
        "property is not defined in schema",
    )
    expect_resource_error(
        lambda: prox.nodes(node).nosuchthing.get(),
        501,
        "not implemented",
        "GET an unknown route",
    )
    locked = [
        r for r in resources if r.get("lock") and r["type"] == "qemu" and not r.get("template")
    ]
    expect(locked, "the homelab seed has a locked VM in /cluster/resources")
    lock = locked[0]
    expect_resource_error(
        lambda: prox.nodes(lock["node"]).qemu(lock["vmid"]).config.put(description="changed"),
        500,
        f"VM is locked ({lock['lock']})",
        f"PUT config of locked VM {lock['vmid']}",
    )

    # Start it; starting it again is an error PVE reports inside the task, not on the call.
    wait_task(prox, prox.nodes(node).qemu(vmid).status.start.post(), "start")
    current = prox.nodes(node).qemu(vmid).status.current.get()
    expect(current.get("status") == "running", f"status/current after start {current!r}")
    again = prox.nodes(node).qemu(vmid).status.start.post()
    failed = Tasks.blocking_status(prox, again, timeout=60, polling_interval=0.1)
    expect(
        failed is not None and failed.get("exitstatus") == f"VM {vmid} already running",
        f"second start: task ended {failed!r}",
    )

    # A running VM cannot be destroyed: PVE refuses the call itself with a 500.
    expect_resource_error(
        lambda: prox.nodes(node).qemu(vmid).delete(),
        500,
        f"VM {vmid} is running - destroy failed",
        "destroy while running",
    )
    wait_task(prox, prox.nodes(node).qemu(vmid).status.stop.post(), "stop")
    current = prox.nodes(node).qemu(vmid).status.current.get()
    expect(current.get("status") == "stopped", f"status/current after stop {current!r}")

    wait_task(prox, prox.nodes(node).qemu(vmid).delete(purge=1), "destroy")
    expect_resource_error(
        lambda: prox.nodes(node).qemu(vmid).config.get(),
        500,
        "does not exist",
        "config of a destroyed VM",
    )
    left = [r for r in prox.cluster.resources.get(type="vm") if r["vmid"] == vmid]
    expect(not left, f"destroyed VM still in /cluster/resources: {left!r}")

    ctid = container_flow(prox, node_names[1], {vmid for vmid in per_node})

    return {
        "created_ct": ctid,
        "nodes": node_names,
        "guests": len(per_node),
        "qemu": sum(1 for _, kind in per_node.values() if kind == "qemu"),
        "lxc": sum(1 for _, kind in per_node.values() if kind == "lxc"),
        "created_vmid": vmid,
        "created_on": node,
        "auth": "token" if "token_name" in auth else "ticket",
        "tasks_seen_running": len(TASKS_SEEN_RUNNING),
        "tasks_waited": len(TASKS_WAITED),
    }


def container_flow(prox, node, taken):
    """An LXC container from a template: create, read back, start, list its NICs, stop, destroy."""
    ctid = int(prox.cluster.nextid.get())
    expect(ctid not in taken, f"/cluster/nextid {ctid} is already used")
    templates = [
        c["volid"]
        for c in prox.nodes(node).storage("local").content.get(content="vztmpl")
        if "debian-12-standard" in c["volid"]
    ]
    expect(templates, f"no debian-12 container template in local on {node}")
    ct = prox.nodes(node).lxc(ctid)
    upid = prox.nodes(node).lxc.create(
        vmid=ctid,
        ostemplate=templates[0],
        hostname="proxmoxer-ct",
        memory=256,
        cores=1,
        rootfs="local-lvm:4",
        net0="name=eth0,bridge=vmbr0,ip=dhcp",
        unprivileged=1,
    )
    decoded, _ = wait_task(prox, upid, "create container")
    expect(decoded["type"] == "vzcreate", f"container create UPID type {decoded['type']!r}")
    config = ct.config.get()
    expect(config.get("hostname") == "proxmoxer-ct", f"container hostname {config.get('hostname')!r}")
    expect(config.get("memory") == 256, f"container memory {config.get('memory')!r} (integer)")
    expect(
        config.get("rootfs") == f"local-lvm:vm-{ctid}-disk-0,size=4G",
        f"container rootfs {config.get('rootfs')!r}",
    )
    # PVE adds type=veth and a generated MAC, and prints required keys (name) first
    expect(
        re.fullmatch(
            r"name=eth0,bridge=vmbr0,hwaddr=BC:24:11(:[0-9A-F]{2}){3},ip=dhcp,type=veth",
            config.get("net0", ""),
        ),
        f"container net0 {config.get('net0')!r} is not PVE's canonical form",
    )
    wait_task(prox, ct.status.start.post(), "start container")
    expect(ct.status.current.get().get("status") == "running", "container not running after start")
    nics = {nic["name"]: nic for nic in ct.interfaces.get()}
    expect("eth0" in nics, f"container interfaces {sorted(nics)} lack eth0")
    mac = re.search(r"hwaddr=([0-9A-F:]+)", config["net0"]).group(1)
    expect(nics["eth0"]["hwaddr"].upper() == mac, f"eth0 hwaddr {nics['eth0']['hwaddr']!r} != {mac}")
    wait_task(prox, ct.status.stop.post(), "stop container")
    wait_task(prox, prox.nodes(node).lxc(ctid).delete(), "destroy container")
    expect_resource_error(
        lambda: ct.config.get(), 500, "does not exist", "config of a destroyed container"
    )
    return ctid


def main():
    started = time.monotonic()
    try:
        summary = run()
    except Mismatch as err:
        print(f"MISMATCH: {err}", file=sys.stderr)
        return 1
    except ResourceException as err:
        print(f"UNEXPECTED API ERROR: {err}", file=sys.stderr)
        return 1
    summary["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
