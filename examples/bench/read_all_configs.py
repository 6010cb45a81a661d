#!/usr/bin/env python3
"""The script people write by hand: proxmoxer, list every node's VMs and containers, read each
guest's config, one request after another. Used by the benchmark runner (examples/bench) as a
peer on the same simulated cluster.

Inputs (the secret only from the environment, never argv):
  PMPC_SIM_URL           https://127.0.0.1:PORT
  PMPC_SIM_CA_FILE       PEM of the simulator's self-signed certificate (verified against it)
  PMPC_SIM_TOKEN_ID      user@realm!tokenname
  PMPC_SIM_TOKEN_SECRET  the token's secret
Prints one JSON object: {"guests": N, "configs": N}.
"""

import json
import os
from urllib.parse import urlparse

from proxmoxer import ProxmoxAPI


def main():
    url = urlparse(os.environ["PMPC_SIM_URL"])
    user, token_name = os.environ["PMPC_SIM_TOKEN_ID"].split("!", 1)
    prox = ProxmoxAPI(
        url.hostname,
        port=url.port,
        user=user,
        token_name=token_name,
        token_value=os.environ["PMPC_SIM_TOKEN_SECRET"],
        verify_ssl=os.environ["PMPC_SIM_CA_FILE"],
        timeout=60,
    )
    guests = 0
    configs = 0
    for node in prox.nodes.get():
        name = node["node"]
        for kind in ("qemu", "lxc"):
            for guest in getattr(prox.nodes(name), kind).get():
                guests += 1
                config = getattr(prox.nodes(name), kind)(guest["vmid"]).config.get()
                if config:
                    configs += 1
    print(json.dumps({"guests": guests, "configs": configs}))


if __name__ == "__main__":
    main()
