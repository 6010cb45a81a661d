#!/usr/bin/env python3
"""Extract the routes the simulator serves from the official PVE API schema.

Provenance: input is ../shared/pve-api/pve-9.1-apischema.flat.json (the PVE 9.1 apidoc schema,
flattened to {"METHOD /path": info}). Output: src/sim/schema.json, a trimmed copy (descriptions
dropped; types, ranges, enums, patterns, formats and `returns` kept) embedded in the binary.

Usage: python3 scripts/extract-sim-schema.py [SCHEMA] [OUT]
"""
import json
import sys

ROUTES = """
GET /version
GET /cluster/status
GET /cluster/resources
GET /cluster/nextid
GET /cluster/tasks
GET /nodes
GET /nodes/{node}/status
GET /nodes/{node}/rrddata
GET /nodes/{node}/time
GET /storage/{storage}
GET /nodes/{node}/network
GET /nodes/{node}/storage
GET /nodes/{node}/storage/{storage}/content
GET /nodes/{node}/tasks
GET /nodes/{node}/tasks/{upid}/status
GET /nodes/{node}/tasks/{upid}/log
DELETE /nodes/{node}/tasks/{upid}
GET /access/domains
GET /storage
GET /pools
POST /pools
PUT /pools
DELETE /pools
GET /pools/{poolid}
PUT /pools/{poolid}
DELETE /pools/{poolid}
POST /access/ticket
GET /access/permissions
POST /access/roles
GET /access/roles/{roleid}
GET /access/acl
PUT /access/acl
GET /access/users/{userid}/token
GET /access/users/{userid}/token/{tokenid}
POST /access/users/{userid}/token/{tokenid}
DELETE /access/users/{userid}/token/{tokenid}
GET /nodes/{node}/qemu
POST /nodes/{node}/qemu
DELETE /nodes/{node}/qemu/{vmid}
GET /nodes/{node}/qemu/{vmid}/config
PUT /nodes/{node}/qemu/{vmid}/config
POST /nodes/{node}/qemu/{vmid}/config
GET /nodes/{node}/qemu/{vmid}/pending
GET /nodes/{node}/qemu/{vmid}/status/current
POST /nodes/{node}/qemu/{vmid}/status/start
POST /nodes/{node}/qemu/{vmid}/status/stop
POST /nodes/{node}/qemu/{vmid}/status/shutdown
POST /nodes/{node}/qemu/{vmid}/status/reboot
POST /nodes/{node}/qemu/{vmid}/status/reset
POST /nodes/{node}/qemu/{vmid}/status/suspend
POST /nodes/{node}/qemu/{vmid}/status/resume
POST /nodes/{node}/qemu/{vmid}/clone
PUT /nodes/{node}/qemu/{vmid}/resize
PUT /nodes/{node}/qemu/{vmid}/unlink
POST /nodes/{node}/qemu/{vmid}/template
POST /nodes/{node}/qemu/{vmid}/migrate
POST /nodes/{node}/qemu/{vmid}/remote_migrate
GET /nodes/{node}/qemu/{vmid}/snapshot
POST /nodes/{node}/qemu/{vmid}/snapshot
POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback
DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}
GET /nodes/{node}/qemu/{vmid}/rrddata
GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces
POST /nodes/{node}/qemu/{vmid}/agent/exec
GET /nodes/{node}/qemu/{vmid}/agent/exec-status
POST /nodes/{node}/qemu/{vmid}/agent/ping
GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo
GET /nodes/{node}/qemu/{vmid}/agent/get-host-name
GET /nodes/{node}/lxc
POST /nodes/{node}/lxc
DELETE /nodes/{node}/lxc/{vmid}
GET /nodes/{node}/lxc/{vmid}/config
PUT /nodes/{node}/lxc/{vmid}/config
GET /nodes/{node}/lxc/{vmid}/pending
GET /nodes/{node}/lxc/{vmid}/status/current
POST /nodes/{node}/lxc/{vmid}/status/start
POST /nodes/{node}/lxc/{vmid}/status/stop
POST /nodes/{node}/lxc/{vmid}/status/shutdown
POST /nodes/{node}/lxc/{vmid}/status/reboot
POST /nodes/{node}/lxc/{vmid}/clone
PUT /nodes/{node}/lxc/{vmid}/resize
POST /nodes/{node}/lxc/{vmid}/template
POST /nodes/{node}/lxc/{vmid}/migrate
POST /nodes/{node}/lxc/{vmid}/remote_migrate
GET /nodes/{node}/lxc/{vmid}/snapshot
POST /nodes/{node}/lxc/{vmid}/snapshot
POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback
DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}
GET /nodes/{node}/lxc/{vmid}/rrddata
GET /nodes/{node}/lxc/{vmid}/interfaces
POST /nodes/{node}/vzdump
GET /nodes/{node}/storage/{storage}/content/{volume}
PUT /nodes/{node}/storage/{storage}/content/{volume}
DELETE /nodes/{node}/storage/{storage}/content/{volume}
GET /cluster/backup
POST /cluster/backup
GET /cluster/backup/{id}
PUT /cluster/backup/{id}
DELETE /cluster/backup/{id}
GET /cluster/backup-info/not-backed-up
GET /access/users
GET /access/users/{userid}
GET /access/groups
"""

KEEP = ("type", "optional", "enum", "minimum", "maximum", "pattern", "maxLength", "minLength",
        "format", "default", "alias", "default_key", "format_description")


def trim(schema):
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key in KEEP:
        if key in schema:
            value = schema[key]
            # property-string formats are dicts of sub-keys: keep only the names of sub-keys
            if key == "format" and isinstance(value, dict):
                value = {k: trim(v) for k, v in value.items()}
            out[key] = value
    if "properties" in schema and isinstance(schema["properties"], dict):
        out["properties"] = {k: trim(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        out["items"] = trim(schema["items"])
    if "additionalProperties" in schema:
        out["additionalProperties"] = schema["additionalProperties"]
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "../shared/pve-api/pve-9.1-apischema.flat.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "src/sim/schema.json"
    full = json.load(open(src))
    out = {}
    for line in ROUTES.strip().splitlines():
        info = full[line]  # KeyError = the route is not in the official schema: a bug
        out[line] = {
            "allowtoken": info.get("allowtoken", 1),
            "parameters": trim(info.get("parameters", {})),
            "returns": trim(info.get("returns", {})),
        }
    with open(dst + ".tmp", "w") as f:
        json.dump({"source": "pve-9.1-apischema.flat.json", "routes": out}, f, sort_keys=True,
                  separators=(",", ":"))
    import os
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main()
