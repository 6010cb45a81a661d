"""Test stand-in for the bpg/proxmox Terraform provider (protocol 6, never touches a network).

This module owns the *fake provider process* that Terraform starts through a CLI-config
`dev_overrides` entry, so `terraform validate` / `terraform plan` can run against generated
workspaces without downloading bpg/proxmox and without a Proxmox VE cluster:

* the go-plugin handshake (magic cookie, protocol negotiation, AutoMTLS with a throw-away
  self-signed server certificate, the one-line address announcement on stdout);
* the gRPC services go-plugin expects (grpc.health.v1 "plugin", plugin.GRPCController);
* the tfplugin6 Provider service, answering from the schema fixture
  tests/fixtures/bpg-schema/schema.json and from a directory of *predicted states*
  (env PMPC_TFPLUGIN_STATES, layout `<type>/<import id with / and : as _>.json`);
* a small planner that imitates how the real provider plans (SDKv2 for VM / container / pool,
  plugin-framework for storage and networks) well enough that "config == imported state" plans
  as no-op and a difference plans as update or replace.

It is test tooling: ApplyResourceChange always fails, nothing is ever written anywhere but
stdout/stderr (and the optional log file PMPC_TFPLUGIN_LOG).

Run `plugin.py --compile` to only build the protobuf modules into the cache dir (check.py does
this once so that every provider start Terraform makes is fast).
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import importlib
import json
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "proto")
PROTO_FILES = ("tfplugin6_min.proto", "goplugin_min.proto")
DEFAULT_SCHEMA = os.path.join(HERE, "..", "fixtures", "bpg-schema", "schema.json")

# hashicorp/terraform internal/plugin6/serve.go (v1.11.4): Handshake.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
# hashicorp/go-plugin: CoreProtocolVersion is 1; we only serve tfplugin6.
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 6

_log_file = os.environ.get("PMPC_TFPLUGIN_LOG")


def log(msg: str) -> None:
    """stderr is collected by go-plugin into Terraform's TF_LOG output; the file is for humans."""
    line = f"[pmpc-tfplugin {os.getpid()}] {msg}\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    if _log_file:
        with open(_log_file, "a", encoding="utf-8") as f:
            f.write(line)


# --------------------------------------------------------------------------------------------
# protobuf modules, compiled at run time so the repository only carries the .proto sources
# --------------------------------------------------------------------------------------------


def cache_dir() -> str:
    explicit = os.environ.get("PMPC_TFPLUGIN_CACHE")
    if explicit:
        return explicit
    h = hashlib.sha256()
    for name in PROTO_FILES:
        with open(os.path.join(PROTO_DIR, name), "rb") as f:
            h.update(f.read())
    return os.path.join(tempfile.gettempdir(), f"pmpc-tfplugin-{h.hexdigest()[:16]}")


def load_generated():
    """Return (tfplugin6_pb2, tfplugin6_pb2_grpc, goplugin_pb2, goplugin_pb2_grpc)."""
    out = cache_dir()
    marker = os.path.join(out, "tfplugin6_min_pb2_grpc.py")
    if not os.path.exists(marker):
        from grpc_tools import protoc  # only needed when the cache is cold

        # Compile into a private dir and rename it into place: Terraform may start several
        # provider processes at once and none of them must see a half-written module.
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".protoc-", dir=os.path.dirname(out) or ".")
        args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={tmp}", f"--grpc_python_out={tmp}"]
        args += [os.path.join(PROTO_DIR, n) for n in PROTO_FILES]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed for " + ", ".join(PROTO_FILES))
        try:
            os.rename(tmp, out)
        except OSError:
            if not os.path.exists(marker):  # lost a race only if the winner finished
                raise
    if out not in sys.path:
        sys.path.insert(0, out)
    return tuple(
        importlib.import_module(m)
        for m in ("tfplugin6_min_pb2", "tfplugin6_min_pb2_grpc", "goplugin_min_pb2", "goplugin_min_pb2_grpc")
    )


# --------------------------------------------------------------------------------------------
# schema model (from the fixture's HCL-type-string form to what the protocol needs)
# --------------------------------------------------------------------------------------------

_MISSING = object()


class SchemaError(Exception):
    pass


def parse_type(text: str, attr: dict, where: str):
    """HCL type expression string -> internal type: 'string' | ('list', T) | ('object', {...})."""
    text = text.strip()
    if text in ("string", "number", "bool"):
        return text
    m = re.fullmatch(r"(list|set|map)\((.*)\)", text)
    if m:
        return (m.group(1), parse_type(m.group(2), attr, where))
    if text == "object":
        # The fixture spells the member types out separately (pool.members).
        members = attr.get("x_object_attributes")
        if not isinstance(members, dict):
            raise SchemaError(f"{where}: object type without x_object_attributes")
        return ("object", {k: parse_type(v["type"], v, f"{where}.{k}") for k, v in members.items()})
    raise SchemaError(f"{where}: unsupported type expression {text!r}")


def type_to_json(t):
    """Internal type -> cty's JSON type encoding, as Schema.Attribute.type carries it."""
    if isinstance(t, str):
        return t
    kind, inner = t
    if kind == "object":
        return ["object", {k: type_to_json(v) for k, v in inner.items()}]
    return [kind, type_to_json(inner)]


class Attribute:
    def __init__(self, name, spec, where):
        self.name = name
        self.type = parse_type(spec["type"], spec, where)
        self.required = bool(spec.get("required"))
        self.optional = bool(spec.get("optional"))
        self.computed = bool(spec.get("computed"))
        self.sensitive = bool(spec.get("sensitive"))
        self.facts = {k: v for k, v in spec.items() if k.startswith("x_")}


class NestedBlock:
    def __init__(self, name, spec, where):
        self.name = name
        self.nesting = spec.get("nesting_mode", "list")
        self.min_items = int(spec.get("min_items", 0) or 0)
        self.max_items = int(spec.get("max_items", 0) or 0)
        self.block = Block(spec["block"], where)
        self.facts = {k: v for k, v in spec.items() if k.startswith("x_")}
        # SDKv2 SchemaConfigModeAttr: Terraform core sees an attribute of type list(object),
        # and lets HCL block syntax fill it ("attributes as blocks").
        self.as_attr = self.facts.get("x_config_mode") == "attr"


class Block:
    def __init__(self, spec, where):
        self.attributes = {n: Attribute(n, a, f"{where}.{n}") for n, a in spec.get("attributes", {}).items()}
        self.blocks = {n: NestedBlock(n, b, f"{where}.{n}") for n, b in spec.get("block_types", {}).items()}

    def implied_type(self):
        members = {n: a.type for n, a in self.attributes.items()}
        for n, nb in self.blocks.items():
            inner = nb.block.implied_type()
            members[n] = inner if nb.nesting == "single" else (
                ("map", inner) if nb.nesting == "map" else (nb.nesting if nb.nesting == "set" else "list", inner)
            )
        return ("object", members)


class ResourceSchema:
    def __init__(self, type_name, spec):
        self.type_name = type_name
        self.block = Block(spec["block"], type_name)
        self.sdk = spec.get("x_framework", "terraform-plugin-sdk/v2") != "terraform-plugin-framework"
        self.deprecated = spec.get("x_deprecated")


def load_schema(path):
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    provider = Block(raw["provider"]["block"], "provider")
    resources = {n: ResourceSchema(n, s) for n, s in raw["resource_schemas"].items()}
    return provider, resources


def block_to_proto(pb, block: Block, deprecated=None):
    out = pb.Schema.Block(version=0, deprecated=bool(deprecated))
    for a in block.attributes.values():
        out.attributes.append(pb.Schema.Attribute(
            name=a.name,
            type=json.dumps(type_to_json(a.type)).encode(),
            required=a.required,
            optional=a.optional,
            computed=a.computed,
            sensitive=a.sensitive,
            deprecated=bool(a.facts.get("x_deprecated")),
        ))
    for nb in block.blocks.values():
        if nb.as_attr:
            out.attributes.append(pb.Schema.Attribute(
                name=nb.name,
                type=json.dumps(type_to_json(("list", nb.block.implied_type()))).encode(),
                optional=True,
                computed=bool(nb.facts.get("x_computed")),
            ))
            continue
        nesting = {
            "single": pb.Schema.NestedBlock.SINGLE,
            "list": pb.Schema.NestedBlock.LIST,
            "set": pb.Schema.NestedBlock.SET,
            "map": pb.Schema.NestedBlock.MAP,
        }[nb.nesting]
        out.block_types.append(pb.Schema.NestedBlock(
            type_name=nb.name,
            block=block_to_proto(pb, nb.block),
            nesting=nesting,
            min_items=nb.min_items,
            max_items=nb.max_items,
        ))
    return out


# --------------------------------------------------------------------------------------------
# values: msgpack wire format (docs/plugin-protocol/object-wire-format.md) and predicted states
# --------------------------------------------------------------------------------------------


class _Unknown:
    """A value that is only known after apply (msgpack extension type; code 12 = refined)."""

    def __repr__(self):
        return "<unknown>"


UNKNOWN = _Unknown()


def decode_dv(dv):
    import msgpack

    if dv is None:
        return None
    if dv.msgpack:
        # Any extension code is an unknown value; refinements (code 12) are ignored.
        return msgpack.unpackb(dv.msgpack, raw=False, ext_hook=lambda code, data: UNKNOWN)
    if dv.json:
        return json.loads(dv.json)
    return None


def encode_dv(pb, value):
    import msgpack

    def default(o):
        if o is UNKNOWN:
            # Same bytes cty writes for a wholly unknown value: fixext1, code 0, one zero byte.
            return msgpack.ExtType(0, b"\x00")
        raise TypeError(f"cannot encode {type(o).__name__}")

    return pb.DynamicValue(msgpack=msgpack.packb(value, default=default, use_bin_type=True))


class StateError(Exception):
    pass


def _p(path):
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(root)"


def conform_value(t, v, path):
    """Check a JSON value against a type and return it in wire shape (objects get all keys)."""
    if v is None:
        return None
    if t == "string":
        if not isinstance(v, str):
            raise StateError(f"{_p(path)}: expected string, got {json.dumps(v)}")
        return v
    if t == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise StateError(f"{_p(path)}: expected number, got {json.dumps(v)}")
        return v
    if t == "bool":
        if not isinstance(v, bool):
            raise StateError(f"{_p(path)}: expected bool, got {json.dumps(v)}")
        return v
    kind, inner = t
    if kind in ("list", "set"):
        if not isinstance(v, list):
            raise StateError(f"{_p(path)}: expected {kind}, got {json.dumps(v)[:80]}")
        return [conform_value(inner, e, path + [i]) for i, e in enumerate(v)]
    if kind == "map":
        if not isinstance(v, dict):
            raise StateError(f"{_p(path)}: expected map, got {json.dumps(v)[:80]}")
        return {k: conform_value(inner, e, path + [k]) for k, e in v.items()}
    if kind == "object":
        if not isinstance(v, dict):
            raise StateError(f"{_p(path)}: expected object, got {json.dumps(v)[:80]}")
        extra = sorted(set(v) - set(inner))
        if extra:
            raise StateError(f"{_p(path)}: unknown attribute(s) {', '.join(extra)}")
        return {k: conform_value(kt, v.get(k), path + [k]) for k, kt in inner.items()}
    raise StateError(f"{_p(path)}: unsupported type {t!r}")


def conform_block(block: Block, v, path):
    """Fill a predicted state so it has every attribute (null) and every block (empty list)."""
    if v is None:
        v = {}
    if not isinstance(v, dict):
        raise StateError(f"{_p(path)}: expected an object, got {json.dumps(v)[:80]}")
    known = set(block.attributes) | set(block.blocks)
    extra = sorted(set(v) - known)
    if extra:
        raise StateError(f"{_p(path)}: attribute(s) not in the provider schema: {', '.join(extra)}")
    out = {}
    for name, a in block.attributes.items():
        out[name] = conform_value(a.type, v.get(name), path + [name])
    for name, nb in block.blocks.items():
        raw = v.get(name)
        if nb.nesting == "single":
            out[name] = None if raw is None else conform_block(nb.block, raw, path + [name])
        elif nb.nesting == "map":
            raw = raw or {}
            out[name] = {k: conform_block(nb.block, e, path + [name, k]) for k, e in raw.items()}
        else:
            if raw is None:
                raw = []
            if isinstance(raw, dict):  # allow a max_items=1 block written as a bare object
                raw = [raw]
            if not isinstance(raw, list):
                raise StateError(f"{_p(path + [name])}: expected a list of blocks")
            out[name] = [conform_block(nb.block, e, path + [name, i]) for i, e in enumerate(raw)]
    return out


def state_file(states_dir, type_name, import_id):
    safe = import_id.replace("/", "_").replace(":", "_")
    return os.path.join(states_dir, type_name, safe + ".json")


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------


def has_unknown(v):
    if v is UNKNOWN:
        return True
    if isinstance(v, list):
        return any(has_unknown(e) for e in v)
    if isinstance(v, dict):
        return any(has_unknown(e) for e in v.values())
    return False


def _zero(t):
    if t == "string":
        return ""
    if t == "number":
        return 0
    if t == "bool":
        return False
    kind, _ = t
    return {} if kind == "map" else ([] if kind in ("list", "set") else None)


def canon(t, v, sdk, unordered=False):
    """Canonical form for comparisons. SDKv2 stores values in a flatmap that cannot tell null
    from the zero value (""/0/false/empty), so for SDK resources those compare equal."""
    if v is None:
        if not sdk:
            return None
        v = _zero(t)
        if v is None:  # object: zero object = all members zero
            return {k: canon(kt, None, sdk) for k, kt in t[1].items()}
        return v
    if v is UNKNOWN:
        return v
    if isinstance(t, str):
        return float(v) if t == "number" else v
    kind, inner = t
    if kind in ("list", "set"):
        items = [canon(inner, e, sdk) for e in v]
        if kind == "set" or unordered:
            items.sort(key=lambda e: json.dumps(e, sort_keys=True, default=repr))
        return items
    if kind == "map":
        return {k: canon(inner, e, sdk) for k, e in v.items()}
    return {k: canon(kt, v.get(k), sdk) for k, kt in inner.items()}


def same(t, a, b, sdk, unordered=False):
    if has_unknown(a) or has_unknown(b):
        return False
    return canon(t, a, sdk, unordered) == canon(t, b, sdk, unordered)


def _ignores_order(facts):
    # bpg uses SuppressIfListsAreEqualIgnoringOrder (tags) and
    # SuppressIfListsOfMapsAreEqualIgnoringOrderByKey (disk, numa): order is not a change.
    return "IgnoringOrder" in str(facts.get("x_diff_suppress", ""))


def _nb_type(nb: NestedBlock):
    inner = nb.block.implied_type()
    if nb.nesting == "single":
        return inner
    return ("map" if nb.nesting == "map" else ("set" if nb.nesting == "set" else "list"), inner)


class PlanContext:
    def __init__(self, sdk, creating):
        self.sdk = sdk
        self.creating = creating
        self.replace = []  # attribute paths (lists of str/int)


def plan_block(block: Block, prior, proposed, config, ctx: PlanContext, path):
    """planned value of one block instance. prior is None for a new instance (create, or a block
    element that did not exist before)."""
    planned = {}
    config = config or {}
    proposed = proposed or {}
    for name, a in block.attributes.items():
        cfg = config.get(name)
        val = proposed.get(name)
        if cfg is None:
            default = a.facts.get("x_default", _MISSING)
            # dict defaults are env-driven provider settings, not plan-time values.
            if default is not _MISSING and not isinstance(default, dict):
                val = copy.deepcopy(default)
            elif a.computed and prior is None:
                val = UNKNOWN
            elif a.computed:
                # Optional+Computed left out keeps the stored value. Core already does this
                # for attributes of blocks, but not inside list(object) attributes
                # (ConfigModeAttr network_device), whose elements come straight from config.
                val = prior.get(name)
        if prior is not None:
            pri = prior.get(name)
            if same(a.type, pri, val, ctx.sdk, _ignores_order(a.facts)):
                val = pri  # no diff: keep the stored value exactly
            elif a.facts.get("x_force_new"):
                ctx.replace.append(path + [name])
        elif ctx.sdk and not ctx.creating and a.facts.get("x_force_new") and val is not UNKNOWN:
            # SDKv2 compares a new list element against zero values ("disk.1.file_id": "" -> x).
            if not same(a.type, None, val, True):
                ctx.replace.append(path + [name])
        planned[name] = val

    for name, nb in block.blocks.items():
        cfg = config.get(name)
        val = proposed.get(name)
        pri = prior.get(name) if prior is not None else None
        computed = bool(nb.facts.get("x_computed"))
        if nb.as_attr and cfg is None:
            # Optional(+Computed) attribute left out: core already proposed the prior value.
            val = (UNKNOWN if computed else None) if prior is None else pri
        elif computed and not cfg and prior is not None:
            # Optional+Computed SDK block not written in config: SDK keeps what it read.
            val = pri
        elif val is not None and val is not UNKNOWN:
            if nb.nesting == "single":
                val = plan_block(nb.block, pri, val, cfg, ctx, path + [name])
            elif nb.nesting == "map":
                val = {
                    k: plan_block(nb.block, (pri or {}).get(k), e, (cfg or {}).get(k), ctx, path + [name, k])
                    for k, e in val.items()
                }
            else:
                pitems = pri if isinstance(pri, list) else []
                citems = cfg if isinstance(cfg, list) else []
                positional = nb.nesting == "list"
                val = [
                    plan_block(
                        nb.block,
                        pitems[i] if positional and i < len(pitems) else None,
                        e,
                        citems[i] if i < len(citems) else None,
                        ctx,
                        path + [name, i],
                    )
                    for i, e in enumerate(val)
                ]
        if prior is not None:
            t = _nb_type(nb)
            if same(t, pri, val, ctx.sdk, _ignores_order(nb.facts)):
                val = pri
            elif nb.facts.get("x_force_new") and not ctx.creating:
                ctx.replace.append(path + [name])
        planned[name] = val
    return planned


def apply_custom_diff(rs: ResourceSchema, prior, planned, ctx: PlanContext):
    """The two CustomizeDiff replacements of the SDK guests that matter for generated code
    (schema.json x_force_new_if on vm_id / node_name)."""
    if prior is None:
        return
    attrs = rs.block.attributes
    if "vm_id" in attrs and "x_force_new_if" in attrs["vm_id"].facts:
        old, new = prior.get("vm_id"), planned.get("vm_id")
        if old is not None and new is not None and new is not UNKNOWN and float(old) != float(new):
            ctx.replace.append(["vm_id"])
    if "node_name" in attrs and "x_force_new_if" in attrs["node_name"].facts:
        old, new = prior.get("node_name"), planned.get("node_name")
        if old and new and new is not UNKNOWN and old != new and planned.get("migrate") is not True:
            ctx.replace.append(["node_name"])


def plan_resource(rs: ResourceSchema, prior, proposed, config):
    ctx = PlanContext(sdk=rs.sdk, creating=prior is None)
    planned = plan_block(rs.block, prior, proposed, config, ctx, [])
    # DiffSuppressFunc of `started` on both guests: no diff while the config says template
    # (vm.go:1471-1479, container.go:1039-1041).
    if (
        prior is not None
        and (config or {}).get("template") is True
        and "started" in planned
        and "started" in prior
    ):
        planned["started"] = prior["started"]
    apply_custom_diff(rs, prior, planned, ctx)
    if prior is not None and not rs.sdk and planned != prior:
        # plugin-framework marks computed attributes the config leaves null as unknown when the
        # resource has any change, unless a UseStateForUnknown plan modifier keeps the state.
        for name, a in rs.block.attributes.items():
            if a.computed and (config or {}).get(name) is None and "x_default" not in a.facts:
                if "UseStateForUnknown" not in a.facts.get("x_plan_modifiers", []):
                    planned[name] = UNKNOWN
    return planned, ctx.replace


# --------------------------------------------------------------------------------------------
# validation (the provider-side checks a real provider would do; core checks the schema)
# --------------------------------------------------------------------------------------------


def validate_block(block: Block, value, path, diags):
    if not isinstance(value, dict):
        return
    for name, a in block.attributes.items():
        v = value.get(name)
        if v is None or has_unknown(v):
            continue
        if a.facts.get("x_deprecated"):
            diags.append(("warning", "Deprecated attribute", a.facts["x_deprecated"], path + [name]))
        allowed = a.facts.get("x_allowed_values")
        if allowed:
            note = str(a.facts.get("x_allowed_values_note", ""))
            values = v if isinstance(v, list) else [v]
            for e in values:
                if e in allowed or (isinstance(e, str) and "custom-" in note and re.match(r"^custom-.+$", e)):
                    continue
                # AnyDiag(StringInSlice, FileID): a `storage:content/file` id is valid too.
                if isinstance(e, str) and "file id" in note and re.match(r"^[^:\s]+:\S+$", e):
                    continue
                diags.append((
                    "error", "Invalid value",
                    f"expected {_p(path + [name])} to be one of {allowed}, got {json.dumps(e)}",
                    path + [name],
                ))
        rng = a.facts.get("x_range")
        if rng and a.type == "number" and isinstance(v, (int, float)):
            lo, hi = rng
            if not (lo <= v <= hi):
                diags.append((
                    "error", "Invalid value",
                    f"expected {_p(path + [name])} to be in the range ({lo} - {hi}), got {v}",
                    path + [name],
                ))
    for name, nb in block.blocks.items():
        v = value.get(name)
        if v is None or v is UNKNOWN:
            continue
        if nb.nesting == "single":
            validate_block(nb.block, v, path + [name], diags)
        elif isinstance(v, list):
            for i, e in enumerate(v):
                validate_block(nb.block, e, path + [name, i], diags)


# --------------------------------------------------------------------------------------------
# gRPC services
# --------------------------------------------------------------------------------------------


def make_servicers(pb, pb_grpc, gp, gp_grpc, server_ref):
    schema_path = os.environ.get("PMPC_TFPLUGIN_SCHEMA") or DEFAULT_SCHEMA
    provider_block, resources = load_schema(schema_path)
    states_dir = os.environ.get("PMPC_TFPLUGIN_STATES")

    def diag(severity, summary, detail="", path=None):
        d = pb.Diagnostic(
            severity=pb.Diagnostic.ERROR if severity == "error" else pb.Diagnostic.WARNING,
            summary=summary,
            detail=detail,
        )
        if path:
            d.attribute.CopyFrom(attr_path(path))
        return d

    def attr_path(path):
        ap = pb.AttributePath()
        for step in path:
            if isinstance(step, int):
                ap.steps.add(element_key_int=step)
            else:
                # map keys of map-nested blocks would be element_key_string; bpg has none
                ap.steps.add(attribute_name=step)
        return ap

    def unknown_type(type_name):
        return diag("error", "Unknown resource type", f"the test provider has no schema for {type_name}")

    class Provider(pb_grpc.ProviderServicer):
        def GetMetadata(self, request, context):
            resp = pb.GetMetadata.Response()
            resp.server_capabilities.plan_destroy = False
            for name in resources:
                resp.resources.add(type_name=name)
            return resp

        def GetProviderSchema(self, request, context):
            resp = pb.GetProviderSchema.Response()
            resp.provider.CopyFrom(pb.Schema(version=0, block=block_to_proto(pb, provider_block)))
            for name, rs in resources.items():
                resp.resource_schemas[name].CopyFrom(
                    pb.Schema(version=0, block=block_to_proto(pb, rs.block, rs.deprecated)))
            resp.server_capabilities.plan_destroy = False
            return resp

        def ValidateProviderConfig(self, request, context):
            return pb.ValidateProviderConfig.Response()

        def ValidateResourceConfig(self, request, context):
            rs = resources.get(request.type_name)
            if rs is None:
                return pb.ValidateResourceConfig.Response(diagnostics=[unknown_type(request.type_name)])
            found = []
            if rs.deprecated:
                found.append(("warning", "Deprecated resource", str(rs.deprecated), None))
            validate_block(rs.block, decode_dv(request.config), [], found)
            return pb.ValidateResourceConfig.Response(diagnostics=[diag(*d) for d in found])

        def UpgradeResourceState(self, request, context):
            rs = resources.get(request.type_name)
            if rs is None:
                return pb.UpgradeResourceState.Response(diagnostics=[unknown_type(request.type_name)])
            try:
                raw = json.loads(request.raw_state.json or b"null")
                state = conform_block(rs.block, raw, [])
            except (StateError, ValueError) as e:
                return pb.UpgradeResourceState.Response(
                    diagnostics=[diag("error", "Cannot upgrade state", str(e))])
            return pb.UpgradeResourceState.Response(upgraded_state=encode_dv(pb, state))

        def ConfigureProvider(self, request, context):
            return pb.ConfigureProvider.Response()

        def ReadResource(self, request, context):
            # The predicted state is the truth: refresh changes nothing.
            return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

        def PlanResourceChange(self, request, context):
            rs = resources.get(request.type_name)
            if rs is None:
                return pb.PlanResourceChange.Response(diagnostics=[unknown_type(request.type_name)])
            prior = decode_dv(request.prior_state)
            proposed = decode_dv(request.proposed_new_state)
            config = decode_dv(request.config)
            if proposed is None:  # destroy: core handles it (plan_destroy is false)
                return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
            planned, replace = plan_resource(rs, prior, proposed, config)
            log(f"plan {request.type_name}: {'create' if prior is None else 'update'}"
                f"{' replace=' + str([_p(p) for p in replace]) if replace else ''}")
            return pb.PlanResourceChange.Response(
                planned_state=encode_dv(pb, planned),
                requires_replace=[attr_path(p) for p in replace],
                planned_private=request.prior_private,
                # SDKv2 providers set this; it lets core accept planned values that differ
                # from config (defaults, null-vs-zero) with a log warning instead of an error.
                legacy_type_system=True,
            )

        def ApplyResourceChange(self, request, context):
            return pb.ApplyResourceChange.Response(diagnostics=[diag(
                "error", "Apply is not supported",
                "this is the proxmox-mpc test provider; it only serves validate and plan")])

        def ImportResourceState(self, request, context):
            rs = resources.get(request.type_name)
            if rs is None:
                return pb.ImportResourceState.Response(diagnostics=[unknown_type(request.type_name)])
            if not states_dir:
                return pb.ImportResourceState.Response(diagnostics=[diag(
                    "error", f"no predicted state for {request.type_name} {request.id}",
                    "PMPC_TFPLUGIN_STATES is not set")])
            path = state_file(states_dir, request.type_name, request.id)
            if not os.path.exists(path):
                return pb.ImportResourceState.Response(diagnostics=[diag(
                    "error", f"no predicted state for {request.type_name} {request.id}",
                    f"expected file {path}")])
            try:
                with open(path, encoding="utf-8") as f:
                    state = conform_block(rs.block, json.load(f), [])
            except (StateError, ValueError) as e:
                return pb.ImportResourceState.Response(diagnostics=[diag(
                    "error", f"bad predicted state for {request.type_name} {request.id}",
                    f"{path}: {e}")])
            log(f"import {request.type_name} {request.id} from {path}")
            resp = pb.ImportResourceState.Response()
            resp.imported_resources.add(type_name=request.type_name, state=encode_dv(pb, state))
            return resp

        def StopProvider(self, request, context):
            return pb.StopProvider.Response()

    class Controller(gp_grpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            # go-plugin's client calls this from Kill(); exit soon after answering so that
            # Terraform need not wait for its 2 s force-kill timeout.
            def stop():
                time.sleep(0.05)
                server_ref[0].stop(0.5)
                for d in CLEANUP:
                    shutil.rmtree(d, ignore_errors=True)
                os._exit(0)

            threading.Thread(target=stop, daemon=True).start()
            return gp.Empty()

    return Provider(), Controller()


CLEANUP: list = []  # private temp dirs to remove on shutdown


class TlsFront:
    """TLS endpoint on 127.0.0.1 that forwards the decrypted HTTP/2 bytes to the gRPC server.

    Why not grpcio's own TLS: go-plugin's AutoMTLS client certificate is ECDSA P-521 signed
    with SHA-512 (go-plugin mtls.go generateCert). grpcio's BoringSSL does not list
    ecdsa_secp521r1_sha512 among the signature algorithms in its CertificateRequest, so Go's
    TLS client finds no acceptable certificate and sends none (observed: BoringSSL
    PEER_DID_NOT_RETURN_A_CERTIFICATE). Python's ssl module (OpenSSL) accepts P-521.
    """

    def __init__(self, private_dir, cert_pem, key_pem, client_cert_pem, upstream_sock):
        self.upstream = upstream_sock
        cert_file = os.path.join(private_dir, "server.pem")
        key_file = os.path.join(private_dir, "server.key")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # go-plugin: MinVersion tls.VersionTLS12
        ctx.load_cert_chain(cert_file, key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED  # go-plugin: RequireAndVerifyClientCert
        ctx.load_verify_locations(cadata=client_cert_pem)
        ctx.set_alpn_protocols(["h2"])  # grpc-go refuses TLS connections without ALPN h2
        self.ctx = ctx
        self.listener = socket.create_server(("127.0.0.1", 0))

    def start(self):
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self.listener.getsockname()[1]

    def _accept_loop(self):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()

    def _serve_conn(self, raw):
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"TLS handshake failed: {e}")
            raw.close()
            return
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(self.upstream)
        except OSError as e:
            log(f"cannot reach gRPC server: {e}")
            tls.close()
            return
        # SSLSocket is not safe for concurrent read+write from two threads, so one thread
        # multiplexes both directions with select().
        sel = selectors.DefaultSelector()
        sel.register(tls, selectors.EVENT_READ, up)
        sel.register(up, selectors.EVENT_READ, tls)
        try:
            while True:
                ready = sel.select()
                for key, _ in ready:
                    src, dst = key.fileobj, key.data
                    while True:
                        try:
                            data = src.recv(65536)
                        except ssl.SSLWantReadError:
                            break
                        if not data:
                            return
                        dst.sendall(data)
                        # drain what OpenSSL already decrypted; select() cannot see it
                        if not (src is tls and tls.pending()):
                            break
        except OSError:
            return
        finally:
            sel.close()
            for s_ in (tls, up):
                try:
                    s_.close()
                except OSError:
                    pass


def make_server_cert():
    """Self-signed cert like go-plugin's mtls.go generateCert: CN/SAN localhost, CA, both
    server and client auth. Returns (cert_pem, key_pem, cert_der)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "proxmox-mpc test provider"),
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=True, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER)


def serve():
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(
            "This binary is a plugin. These are not meant to be executed directly.\n"
            "Please execute the program that consumes these plugins, which will\n"
            "load any plugins automatically\n")
        sys.exit(1)
    offered = [v.strip() for v in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(",") if v.strip()]
    if offered and str(APP_PROTOCOL_VERSION) not in offered:
        # go-plugin would still announce its version and let the client report the mismatch.
        log(f"client offers protocol versions {offered}; this plugin only speaks {APP_PROTOCOL_VERSION}")

    # Terraform forwards Ctrl-C to the whole process group; like go-plugin servers we ignore
    # it and let Terraform shut us down through the controller.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    pb, pb_grpc, gp, gp_grpc = load_generated()
    server_ref = [None]
    cleanup = CLEANUP
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)],
    )
    server_ref[0] = server
    provider, controller = make_servicers(pb, pb_grpc, gp, gp_grpc, server_ref)
    pb_grpc.add_ProviderServicer_to_server(provider, server)
    gp_grpc.add_GRPCControllerServicer_to_server(controller, server)
    health_servicer = health.HealthServicer()
    # go-plugin grpc_client.go Ping(): Health/Check with service "plugin".
    health_servicer.set("plugin", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    cert_field = ""
    if client_cert:
        # gRPC itself listens on a unix socket in a private 0700 dir; the TLS front below is the
        # only thing on 127.0.0.1 (see TlsFront for why grpcio's own TLS cannot be used).
        # PMPC_TFPLUGIN_RUNDIR (check.py: inside its temp dir) so a force-killed plugin
        # leaves nothing behind in the system temp dir.
        run_root = os.environ.get("PMPC_TFPLUGIN_RUNDIR") or None
        if run_root:
            os.makedirs(run_root, exist_ok=True)
        private_dir = tempfile.mkdtemp(prefix="pmpc-tfplugin-", dir=run_root)
        cleanup.append(private_dir)
        sock = os.path.join(private_dir, "grpc.sock")
        if not server.add_insecure_port("unix:" + sock):
            log("could not bind the internal unix socket")
            sys.exit(1)
        cert_pem, key_pem, cert_der = make_server_cert()
        front = TlsFront(private_dir, cert_pem, key_pem, client_cert, sock)
        port = front.start()
        # go-plugin server.go: base64.RawStdEncoding of the DER leaf (no padding, no newlines).
        cert_field = base64.b64encode(cert_der).decode("ascii").rstrip("=")
    else:
        # TF_DISABLE_PLUGIN_TLS set: plain gRPC, still loopback only.
        port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        log("could not bind a loopback port")
        sys.exit(1)
    server.start()
    line = f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc|{cert_field}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    log(f"serving tfplugin6 on 127.0.0.1:{port} (tls={'yes' if client_cert else 'no'})")
    server.wait_for_termination()


def main(argv):
    if argv[1:2] == ["--compile"]:
        load_generated()
        print(cache_dir())
        return 0
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
