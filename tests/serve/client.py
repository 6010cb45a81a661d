"""A script using proxmox-mpc serve as a user's would: requests for the REST calls,
websockets for the live events, openapi-spec-validator for the served document.

PMPC_API is the server's base URL (http://127.0.0.1:PORT), PMPC_API_TOKEN an operator token.
Prints one line per check; exits non-zero on the first failure.
"""

import json
import os
import sys

import requests
from openapi_spec_validator import validate
from websockets.sync.client import connect

BASE = os.environ["PMPC_API"]
TOKEN = os.environ["PMPC_API_TOKEN"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


answer = requests.get(f"{BASE}/api/v1/guests", headers=AUTH, timeout=60)
if answer.status_code != 200:
    fail(f"GET guests: {answer.status_code} {answer.text}")
print(f"guests {len(answer.json()['guests'])}")

refused = requests.get(f"{BASE}/api/v1/guests", timeout=60)
if refused.status_code != 401 or refused.headers["content-type"] != "application/problem+json":
    fail(f"no token: {refused.status_code} {refused.headers.get('content-type')}")
print("no token refused")

ws_url = BASE.replace("http://", "ws://", 1) + "/api/v1/events"
with connect(ws_url, additional_headers=AUTH, open_timeout=60) as ws:
    started = requests.post(f"{BASE}/api/v1/sync", headers=AUTH, json={}, timeout=60)
    if started.status_code != 202:
        fail(f"POST sync: {started.status_code} {started.text}")
    job = started.json()["job"]["id"]
    ws.send(json.dumps({"subscribe": job}))
    seen = []
    while True:
        event = json.loads(ws.recv(timeout=120))
        if event.get("job") != job:
            continue
        seen.append(event["type"])
        if event["type"] == "job_finished":
            if event["status"] != "succeeded":
                fail(f"sync job: {event}")
            break
    if seen[0] != "job_started":
        fail(f"events: {seen}")
print("sync job succeeded")

document = requests.get(f"{BASE}/api/v1/openapi.json", timeout=60).json()
validate(document)
print("openapi valid")
