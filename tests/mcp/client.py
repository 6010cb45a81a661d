"""Drives `proxmox-mpc mcp` with the official Python MCP client (the `mcp` package).

Usage: client.py MODE < SCENARIO_JSON   (on stdin: it carries the token, kept off the command line)

MODE is `legacy` (the low-level `ClientSession` over `stdio_client`, with the initialize
handshake) or `auto` (the high-level `Client`, which probes `server/discover`). The scenario
is a JSON object:

    {"command": BIN, "args": [...], "cwd": DIR, "env": {...}, "client_name": NAME,
     or, over streamable HTTP (the high-level `Client` in either mode):
     "url": URL, "token": BEARER_TOKEN_OR_NULL,
     "steps": [{"do": "tools"} | {"do": "call", "tool": T, "args": {...}}
               | {"do": "resources"} | {"do": "read", "uri": U}
               | {"do": "prompts"} | {"do": "prompt", "name": N, "args": {...}}]}

In a call's args, the strings "$plan_id" and "$plan_hash" stand for the values of the last
plan a step returned. Prints one JSON object: the negotiated protocol version, the server's
name and version, and one observation per step (errors included, never raised), for the Rust
test to check.
"""

import asyncio
import json
import sys

from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Implementation


def dump(model):
    return model.model_dump(mode="json", by_alias=False, exclude_none=True)


def substitute(value, last_plan):
    if isinstance(value, str) and value in ("$plan_id", "$plan_hash"):
        return last_plan.get(value[1:])
    if isinstance(value, dict):
        return {k: substitute(v, last_plan) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, last_plan) for v in value]
    return value


async def run_steps(api, steps):
    """`api` has list_tools, call_tool, list_resources, read_resource, list_prompts, get_prompt."""
    out = []
    last_plan = {}
    for step in steps:
        try:
            if step["do"] == "tools":
                tools = (await api.list_tools()).tools
                out.append({"tools": [dump(t) for t in tools]})
            elif step["do"] == "call":
                args = substitute(step.get("args", {}), last_plan)
                result = await api.call_tool(step["tool"], args)
                texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
                structured = result.structured_content
                if step["tool"] == "plan" and not result.is_error and structured:
                    data = structured.get("data") or {}
                    last_plan = {"plan_id": data.get("plan_id"), "plan_hash": data.get("plan_hash")}
                out.append({
                    "tool": step["tool"],
                    "is_error": bool(result.is_error),
                    "text": "\n".join(texts),
                    "structured": structured,
                })
            elif step["do"] == "resources":
                resources = (await api.list_resources()).resources
                out.append({"resources": [dump(r) for r in resources]})
            elif step["do"] == "read":
                result = await api.read_resource(step["uri"])
                out.append({"contents": [dump(c) for c in result.contents]})
            elif step["do"] == "prompts":
                prompts = (await api.list_prompts()).prompts
                out.append({"prompts": [dump(p) for p in prompts]})
            elif step["do"] == "prompt":
                result = await api.get_prompt(step["name"], step.get("args", {}))
                out.append({"messages": [dump(m) for m in result.messages]})
            else:
                out.append({"exception": f"unknown step {step['do']}"})
        except Exception as e:  # the test reads the failure, whatever it is
            out.append({"exception": f"{type(e).__name__}: {e}"})
    return out


async def over_http(mode, scenario, info):
    token = scenario.get("token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = create_mcp_http_client(headers=headers)
    transport = streamable_http_client(scenario["url"], http_client=http)
    report = {"mode": mode}
    async with http:
        async with Client(transport, mode=mode, client_info=info) as client:
            report["protocol_version"] = client.protocol_version
            report["server"] = dump(client.server_info) if client.server_info else None
            report["steps"] = await run_steps(client, scenario["steps"])
    return report


async def main():
    mode, scenario = sys.argv[1], json.load(sys.stdin)
    info = Implementation(name=scenario.get("client_name", "pmpc-test"), version="1.0")
    if "url" in scenario:
        print(json.dumps(await over_http(mode, scenario, info)))
        return
    params = StdioServerParameters(
        command=scenario["command"],
        args=scenario.get("args", []),
        cwd=scenario["cwd"],
        env=scenario.get("env", {}),
    )
    report = {"mode": mode}
    if mode == "legacy":
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, client_info=info) as session:
                init = await session.initialize()
                report["protocol_version"] = init.protocol_version
                report["server"] = dump(init.server_info)
                report["instructions"] = init.instructions
                report["steps"] = await run_steps(session, scenario["steps"])
    else:
        async with Client(params, mode=mode, client_info=info) as client:
            report["protocol_version"] = client.protocol_version
            report["server"] = dump(client.server_info) if client.server_info else None
            report["steps"] = await run_steps(client, scenario["steps"])
    print(json.dumps(report))


asyncio.run(main())
