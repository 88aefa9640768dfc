"""The testinfra suites: deployed servers checked over SSH, one suite per role.

Run by `make verify ENV=...` (`marsad hardware verify`), which sets MARSAD_VERIFY_INVENTORY to the
environment's Ansible inventory (the same one the deployment used). Without it — a plain
`pytest` run of the repository — the suites are not collected: there is nothing to connect to.

Each suite picks its servers by role (``hosts_with("database")``), so the same suites check
the lab, the all-in-one profile and real servers.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml


INVENTORY = os.environ.get("MARSAD_VERIFY_INVENTORY", "")


def pytest_configure(config):
    # The `lab` marker of tests/test_lab.py, registered for every run that loads this conftest.
    config.pluginmanager.import_plugin("tests.testinfra.plugin")

if not INVENTORY:
    collect_ignore_glob = ["test_*.py"]


@lru_cache(maxsize=1)
def inventory() -> dict:
    return yaml.safe_load(Path(INVENTORY).read_text()) if INVENTORY else {"all": {"vars": {}, "hosts": {}}}


def variables() -> dict:
    return inventory()["all"]["vars"]


def host_names(role: str | None = None) -> list[str]:
    data = inventory()["all"]
    if role is None:
        return list(data["hosts"])
    return list((data.get("children", {}).get(role) or {}).get("hosts") or {})


def hosts_with(role: str | None = None) -> list[str]:
    """testinfra host specs of the servers carrying ``role`` (every server when None)."""
    return [f"ansible://{name}?ansible_inventory={INVENTORY}" for name in host_names(role)]


def address(name: str) -> str:
    return inventory()["all"]["hosts"][name]["ansible_host"]


def addresses(role: str) -> list[str]:
    return list(variables()["marsad_addresses"].get(role) or [])


def name_of(host) -> str:
    """The inventory name of a testinfra host (the server's name in hardware/)."""
    return host.backend.get_hostname()


def other_host(name: str):
    """A testinfra host for another server of the inventory."""
    import testinfra

    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def reachable(host, address: str, port: int, timeout: int = 3) -> bool:
    """Whether ``host`` opens a TCP connection to address:port (bash's /dev/tcp, bounded)."""
    result = host.run(f"timeout {timeout} bash -c '</dev/tcp/{address}/{port}'")
    return result.rc == 0
