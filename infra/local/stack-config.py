#!/usr/bin/env python3
"""Prints the local stack's ports and paths as shell assignments.

Reads config/local.toml -- the one place where local ports and URLs are
written -- and applies TICKETING__SECTION__KEY environment overrides the same
way the Rust services do, so scripts, services, opsctl and tests agree.
"""
import os
import shlex
import sys
import tomllib
from urllib.parse import urlparse

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(root, "config", "local.toml"), "rb") as f:
    cfg = tomllib.load(f)

for key, value in os.environ.items():
    if not key.startswith("TICKETING__"):
        continue
    path = key[len("TICKETING__"):].lower().split("__")
    node = cfg
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def port_of(url: str) -> int:
    parsed = urlparse(url)
    if parsed.port is None:
        sys.exit(f"stack-config: {url} has no port")
    return parsed.port


state = cfg["stack"]["state_dir"]
if not os.path.isabs(state):
    state = os.path.join(root, state)

kafka = cfg["kafka"]["bootstrap_servers"].split(",")[0].strip()
kafka_host, kafka_port = kafka.rsplit(":", 1)

out = {
    "REPO_ROOT": root,
    "STATE_DIR": state,
    "PG_HOST": cfg["database"]["host"],
    "PG_PORT": cfg["database"]["port"],
    "PG_USER": cfg["database"]["user"],
    "PG_DB": cfg["database"]["name"],
    "REDIS_HOST": urlparse(cfg["redis"]["url"]).hostname,
    "REDIS_PORT": port_of(cfg["redis"]["url"]),
    "KAFKA_HOST": kafka_host,
    "KAFKA_PORT": kafka_port,
    "KAFKA_CONTROLLER_PORT": cfg["stack"]["kafka_controller_port"],
    "MOTO_PORT": cfg["stack"]["moto_port"],
    # The account moto answers for (its default, 123456789012): the
    # registry's login is derived from it.
    "MOTO_ACCOUNT": os.environ.get("MOTO_ACCOUNT_ID", "123456789012"),
    "REGISTRY_PORT": port_of(cfg["aws"]["registry_url"]),
    "EMF_AGENT_PORT": cfg["stack"]["emf_agent_port"],
    "SANDBOX_PORT": cfg["stack"]["portone_sandbox_port"],
    "GATEWAY_URL": cfg["services"]["api_gateway"]["url"],
}
for key, value in out.items():
    print(f"{key}={shlex.quote(str(value))}")

# The three-broker cluster profile (stack.sh start kafka-cluster), as arrays.
cluster = cfg["stack"]["kafka_cluster"]
for key, values in (
    ("KAFKA_CLUSTER_PORTS", cluster["ports"]),
    ("KAFKA_CLUSTER_CONTROLLER_PORTS", cluster["controller_ports"]),
):
    print(f"{key}=({' '.join(shlex.quote(str(v)) for v in values)})")
print(f"KAFKA_CLUSTER_RF={int(cluster['replication_factor'])}")
print(f"KAFKA_CLUSTER_MIN_ISR={int(cluster['min_insync_replicas'])}")
