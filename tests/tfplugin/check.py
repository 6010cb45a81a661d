#!/usr/bin/env python3
"""Run real Terraform (validate + plan) on a generated root module against the test provider.

This driver owns the *hermetic Terraform run*: it never writes into ROOT_MODULE_DIR and never
lets Terraform download anything.

  check.py ROOT_MODULE_DIR [--states DIR] [--json] [--keep] [--var NAME=VALUE ...]

1. makes a temp dir with: a copy of the module (without .terraform/, state and plan files),
   a HOME, a CLI config whose provider_installation dev_overrides maps bpg/proxmox to a
   directory holding a `terraform-provider-proxmox` wrapper that execs plugin.py with this
   Python (so run check.py with the venv's python, or set PMPC_VENV);
2. runs `terraform validate -json`, and if valid `terraform plan -input=false -refresh=true
   -json -out=PLAN` and `terraform show -json PLAN`;
3. prints one JSON summary:
   {"valid", "plan_ok", "diagnostics": [...], "import": [addr], "create": [addr],
    "update": [{"address", "attributes", "unknown_after"}],
    "replace": [{"address", "attributes", "unknown_after", "requires_replace"}],
    "delete": [addr], "no_op": [addr]}
   Imported resources are listed in "import" *and* under their action (no_op / update / ...).

Exit status: 0 when Terraform ran (whatever it found), 1 when the tool itself failed
(terraform missing, unreadable output, provider plugin failed to start or crashed).
Environment for Terraform: TF_IN_AUTOMATION=1, CHECKPOINT_DISABLE=1, dummy PROXMOX_VE_ENDPOINT /
PROXMOX_VE_API_TOKEN (and TF_VAR_proxmox_endpoint / TF_VAR_proxmox_api_token for workspaces
that take them as variables); the plugin never connects anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(HERE, "plugin.py")

DUMMY_ENDPOINT = "https://127.0.0.1:8006/"
DUMMY_TOKEN = "root@pam!test=00000000-0000-0000-0000-000000000000"

DEV_OVERRIDES_WARNING = "Provider development overrides are in effect"

# Diagnostics that mean the provider process (our tool), not the workspace, is broken.
TOOL_FAILURE_MARKERS = (
    "Failed to load plugin schemas",
    "Plugin did not respond",
    "Unrecognized remote plugin message",
    "Failed to instantiate provider",
    "plugin exited before we could connect",
    "timeout while waiting for plugin to start",
)


class ToolError(Exception):
    pass


def python_for_plugin():
    venv = os.environ.get("PMPC_VENV")
    if venv:
        return os.path.join(venv, "bin", "python")
    return sys.executable


def write_provider_dir(work, python, cache, env_log):
    prov = os.path.join(work, "provider")
    os.makedirs(prov)
    wrapper = os.path.join(prov, "terraform-provider-proxmox")
    lines = ["#!/bin/sh", f"export PMPC_TFPLUGIN_CACHE={sh_quote(cache)}"]
    if env_log:
        lines.append(f"export PMPC_TFPLUGIN_LOG={sh_quote(env_log)}")
    lines.append(f'exec {sh_quote(python)} {sh_quote(PLUGIN)} "$@"')
    with open(wrapper, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(wrapper, 0o755)
    return prov


def sh_quote(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


def write_cli_config(work, prov):
    path = os.path.join(work, "terraformrc")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            "provider_installation {\n"
            f"  dev_overrides {{\n    \"bpg/proxmox\" = {json.dumps(prov)}\n  }}\n"
            "  direct {}\n"
            "}\n"
        )
    return path


def copy_module(src, dst):
    def ignore(_dir, names):
        return [
            n for n in names
            if n == ".terraform" or n.startswith("terraform.tfstate") or n.endswith(".tfplan")
        ]

    shutil.copytree(src, dst, ignore=ignore, symlinks=False)


def terraform_env(work, cli_config, states, cache, extra_vars):
    env = {}
    # Keep only what a process needs to run; drop any TF_* of the caller (data dirs, workspaces,
    # plugin caches, tokens) so the run is hermetic. TF_LOG* is kept for debugging.
    for k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "TF_LOG", "TF_LOG_PATH", "TF_LOG_PROVIDER", "TF_LOG_CORE"):
        if k in os.environ:
            env[k] = os.environ[k]
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    env.update({
        "HOME": home,
        "TF_CLI_CONFIG_FILE": cli_config,
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "PROXMOX_VE_ENDPOINT": DUMMY_ENDPOINT,
        "PROXMOX_VE_API_TOKEN": DUMMY_TOKEN,
        "TF_VAR_proxmox_endpoint": DUMMY_ENDPOINT,
        "TF_VAR_proxmox_api_token": DUMMY_TOKEN,
        "PMPC_TFPLUGIN_STATES": states,
        "PMPC_TFPLUGIN_CACHE": cache,
        "PMPC_TFPLUGIN_RUNDIR": os.path.join(work, "run"),
    })
    if os.environ.get("PMPC_TFPLUGIN_SCHEMA"):
        env["PMPC_TFPLUGIN_SCHEMA"] = os.environ["PMPC_TFPLUGIN_SCHEMA"]
    for name, value in extra_vars:
        env[f"TF_VAR_{name}"] = value
    return env


def run(cmd, cwd, env, timeout=600):
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise ToolError(f"cannot run {cmd[0]}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"{' '.join(cmd[:2])} timed out after {timeout}s") from e


def slim_diag(d, stage):
    out = {"stage": stage, "severity": d.get("severity"), "summary": d.get("summary"),
           "detail": d.get("detail", "")}
    if d.get("address"):
        out["address"] = d["address"]
    rng = d.get("range")
    if rng:
        out["range"] = {"filename": rng.get("filename"), "line": rng.get("start", {}).get("line")}
    return out


def changed_paths(before, after, unknown, path=""):
    """(changed, unknown_after) attribute paths between two JSON values from `terraform show`."""
    changed, unk = [], []
    if unknown is True:
        return [], [path or "(root)"]
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after)):
            c, u = changed_paths(before.get(k), after.get(k),
                                 unknown.get(k) if isinstance(unknown, dict) else None,
                                 f"{path}.{k}" if path else k)
            changed += c
            unk += u
        return changed, unk
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            c, u = changed_paths(b, a, unknown[i] if isinstance(unknown, list) and i < len(unknown) else None,
                                 f"{path}[{i}]")
            changed += c
            unk += u
        return changed, unk
    if isinstance(unknown, (dict, list)) and after is None:
        # a nested value that is partly unknown but otherwise absent
        return [path], []
    if before != after:
        changed.append(path or "(root)")
    return changed, unk


def fmt_path(steps):
    out = ""
    for s in steps:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else s)
    return out


def summarize(show):
    summary = {"import": [], "create": [], "update": [], "replace": [], "delete": [], "no_op": []}
    for rc in show.get("resource_changes", []):
        addr = rc["address"]
        ch = rc.get("change", {})
        actions = ch.get("actions", [])
        if ch.get("importing") is not None:
            summary["import"].append(addr)
        if "create" in actions and "delete" in actions:
            c, u = changed_paths(ch.get("before"), ch.get("after"), ch.get("after_unknown"))
            summary["replace"].append({
                "address": addr, "attributes": c, "unknown_after": u,
                "requires_replace": [fmt_path(p) for p in ch.get("replace_paths", [])],
            })
        elif actions == ["create"]:
            summary["create"].append(addr)
        elif actions == ["update"]:
            c, u = changed_paths(ch.get("before"), ch.get("after"), ch.get("after_unknown"))
            summary["update"].append({"address": addr, "attributes": c, "unknown_after": u})
        elif actions == ["delete"]:
            summary["delete"].append(addr)
        elif actions == ["no-op"]:
            summary["no_op"].append(addr)
    return summary


def check(module_dir, states, keep, extra_vars, terraform):
    if not os.path.isdir(module_dir):
        raise ToolError(f"not a directory: {module_dir}")
    work = tempfile.mkdtemp(prefix="pmpc-tfcheck-")
    try:
        python = python_for_plugin()
        cache = os.environ.get("PMPC_TFPLUGIN_CACHE") or os.path.join(work, "protocache")
        # Compile the protobuf modules once, before Terraform starts several plugin processes.
        r = run([python, PLUGIN, "--compile"], cwd=HERE, env={**os.environ, "PMPC_TFPLUGIN_CACHE": cache})
        if r.returncode != 0:
            raise ToolError(f"plugin.py --compile failed: {r.stderr.strip()[-2000:]}")
        plugin_log = os.path.join(work, "plugin.log") if keep else None
        prov = write_provider_dir(work, python, cache, plugin_log)
        cli_config = write_cli_config(work, prov)
        if states is None:
            states = os.path.join(work, "empty-states")
            os.makedirs(states)
        states = os.path.abspath(states)
        mod = os.path.join(work, "module")
        copy_module(module_dir, mod)
        env = terraform_env(work, cli_config, states, cache, extra_vars)

        result = {"valid": False, "plan_ok": False, "diagnostics": [],
                  "import": [], "create": [], "update": [], "replace": [], "delete": [], "no_op": []}

        v = run([terraform, "validate", "-json", "-no-color"], cwd=mod, env=env)
        try:
            vj = json.loads(v.stdout)
        except ValueError as e:
            raise ToolError(f"terraform validate printed no JSON (exit {v.returncode}): {v.stderr.strip()[-2000:]}") from e
        result["valid"] = bool(vj.get("valid"))
        # The dev_overrides warning is caused by this driver itself; leave it out.
        result["diagnostics"] += [slim_diag(d, "validate") for d in vj.get("diagnostics", [])
                                  if d.get("summary") != DEV_OVERRIDES_WARNING]

        if result["valid"]:
            plan_file = os.path.join(work, "plan.bin")
            p = run([terraform, "plan", "-input=false", "-refresh=true", "-lock=false", "-json",
                     "-no-color", f"-out={plan_file}"], cwd=mod, env=env)
            for line in p.stdout.splitlines():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("type") == "diagnostic":
                    d = slim_diag(msg.get("diagnostic", {}), "plan")
                    if d["summary"] != DEV_OVERRIDES_WARNING:
                        result["diagnostics"].append(d)
            if p.returncode == 0 and os.path.exists(plan_file):
                s = run([terraform, "show", "-json", "-no-color", plan_file], cwd=mod, env=env)
                try:
                    show = json.loads(s.stdout)
                except ValueError as e:
                    raise ToolError(f"terraform show printed no JSON: {s.stderr.strip()[-2000:]}") from e
                result["plan_ok"] = True
                result.update(summarize(show))
            elif p.returncode != 0 and not any(d["stage"] == "plan" and d["severity"] == "error"
                                               for d in result["diagnostics"]):
                raise ToolError(f"terraform plan failed without diagnostics: {p.stderr.strip()[-2000:]}")

        # Terraform plans resources concurrently; sort so the output is stable.
        result["diagnostics"].sort(key=lambda d: (d["stage"] != "validate", d["severity"] != "error",
                                                  d.get("address") or "", d["summary"], d["detail"]))
        broken = [d for d in result["diagnostics"]
                  if any(m in (d.get("summary", "") + d.get("detail", "")) for m in TOOL_FAILURE_MARKERS)]
        if broken:
            result["tool_error"] = broken[0]["summary"] + ": " + broken[0]["detail"][:500]
        if keep:
            result["workdir"] = work
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="root module directory (read only)")
    ap.add_argument("--states", help="predicted state directory (<type>/<id>.json); default: empty")
    ap.add_argument("--json", action="store_true", help="compact one-line JSON instead of indented")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (and a plugin.log) for debugging")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="extra Terraform variable (passed as TF_VAR_NAME)")
    ap.add_argument("--terraform", default=os.environ.get("TERRAFORM", "terraform"))
    args = ap.parse_args(argv)
    extra = []
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--var wants NAME=VALUE, got {item!r}")
        extra.append((name, value))
    try:
        result = check(args.module, args.states, args.keep, extra, args.terraform)
    except ToolError as e:
        print(json.dumps({"tool_error": str(e)}), file=sys.stdout)
        return 1
    print(json.dumps(result, separators=(",", ":")) if args.json else json.dumps(result, indent=2))
    return 1 if "tool_error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
