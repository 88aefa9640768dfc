"""An environment's deployment state on the control machine, and the playbook runner.

The state folder (``deployment_dir``) holds ``secrets.yml`` (every name of
services.hardware.SECRETS, generated once and kept, 0600), ``inventory.yml`` (the Ansible
inventory built by services.hardware.inventory, 0600) and ``logs/``. A lab environment's
folder is its lab's (services.lab); any other's is ``MARSAD_DEPLOY_DIR/<env>``
(default var/deploy/<env>)::

    path = inventory_file(env)             # secrets kept or made, inventory written
    run = run_playbook(env, "site.yml")    # ansible-playbook with it; PLAY RECAP parsed

``write_secrets`` is the only writer of ``secrets.yml`` (the lab, `make deploy` and
infra/handoff.py go through it). This module sits above services.lab: the lab boots machines,
this module says what Ansible is told about them.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from services import hardware, lab
from services.datafiles import Problem

REPO_ROOT = hardware.REPO_ROOT
PLAYBOOKS_DIR = REPO_ROOT / "playbooks"
_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


# --- the state folder --------------------------------------------------------------------


def deployment_dir(env: hardware.Environment) -> Path:
    """Where the control machine keeps an environment's inventory, secrets and deploy logs."""
    if env.kind == "lab":
        return lab.Lab(env).state
    from services.config import LabEnv, section

    root = Path(section(LabEnv).deploy_dir or REPO_ROOT / "var" / "deploy")
    return root / env.name


def secrets_file(folder: Path) -> Path:
    return folder / "secrets.yml"


def read_secrets(folder: Path) -> dict[str, str]:
    """The secrets kept in a state folder ({} when none yet)."""
    path = secrets_file(folder)
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def write_secrets(folder: Path, secrets: Mapping[str, str]) -> Path:
    """The one writer of secrets.yml: 0600 (even if made otherwise) before anything is written to it."""
    path = secrets_file(folder)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(yaml.safe_dump(dict(secrets)))
    return path


def keep_secrets(folder: Path) -> dict[str, str]:
    """The folder's secrets, the missing ones generated and written (the file left as it is
    when nothing is missing)."""
    existing = read_secrets(folder)
    secrets = hardware.generate_secrets(existing)
    if secrets != existing:
        write_secrets(folder, secrets)
    return secrets


def write_inventory(folder: Path, data: Mapping[str, Any]) -> Path:
    path = folder / "inventory.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def lab_inventory(the_lab: lab.Lab, secrets: Mapping[str, str]) -> dict:
    """A lab's inventory: the environment's, reached with the lab's SSH key, plus the restore
    drill's empty server when the lab has one."""
    connection = {
        "ansible_ssh_private_key_file": str(the_lab.key_file),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={the_lab.known_hosts} -o StrictHostKeyChecking=accept-new",
    }
    data = hardware.inventory(the_lab.env, secrets, connection=connection)
    drill = the_lab.net.restore_drill
    if drill is not None:
        # An empty server: the base roles only, then whatever the restore drill installs.
        data["all"]["hosts"][drill.name] = {"ansible_host": drill.address, "ansible_user": "root",
                                            "marsad_roles": [], "marsad_cpu": drill.cpu,
                                            "marsad_ram_gb": drill.ram_gb, "marsad_disks": []}
        data["all"]["children"]["restore_drill"] = {"hosts": {drill.name: {}}}
        data["all"]["vars"]["marsad_addresses"]["restore_drill"] = [drill.address]
    return data


def lab_up(the_lab: lab.Lab) -> Path:
    """Boot a lab (idempotent), then write its secrets and inventory."""
    the_lab.up()
    return write_inventory(the_lab.state, lab_inventory(the_lab, keep_secrets(the_lab.state)))


def inventory_file(env: hardware.Environment) -> Path:
    """The inventory Ansible and testinfra use: the lab's (written by `lab up`), or one written
    here from the environment and its secrets file (missing secrets generated and kept, 0600)."""
    if env.kind == "lab":
        path = lab.Lab(env).inventory_file
        if not path.is_file():
            raise hardware.HardwareError([Problem(env.display_file, "", f"the lab is not up (no {path}); run "
                                                  f"`make lab` or `marsad hardware lab up {env.name}`")])
        return path
    folder = deployment_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return write_inventory(folder, hardware.inventory(env, keep_secrets(folder)))


# --- the playbook runner ------------------------------------------------------------------


@dataclass
class PlaybookRun:
    returncode: int
    seconds: float
    recap: dict[str, dict[str, int]]  # host -> {"ok": n, "changed": n, "failed": n, ...}
    log_file: Path

    @property
    def changed(self) -> int:
        return sum(c.get("changed", 0) for c in self.recap.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(c.get("failed", 0) == 0 and c.get("unreachable", 0) == 0
                                            for c in self.recap.values())


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP of ansible-playbook's output: host -> counts."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap, recap = True, {}
            continue
        match = _RECAP.match(line.strip()) if in_recap else None
        if match:
            recap[match["host"]] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match["counts"])}
    return recap


def run_playbook(env: hardware.Environment, playbook: str = "site.yml", args: Iterable[str] = (), *,
                 echo=print, timeout: float = 3600) -> PlaybookRun:
    """Run one of playbooks/ against the environment; output streamed to ``echo`` and a log file."""

    inventory_path = inventory_file(env)
    folder = deployment_dir(env)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(playbook).stem}.log"
    binary = Path(sys.executable).parent / "ansible-playbook"
    command = [str(binary if binary.exists() else "ansible-playbook"), "-i", str(inventory_path),
               str(PLAYBOOKS_DIR / playbook), *args]
    environ = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS_DIR / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
               "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    lines: list[str] = []
    with open(log_file, "w") as log:
        log.write(f"$ {' '.join(command)}\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=environ, cwd=REPO_ROOT)
        assert process.stdout is not None

        watchdog = threading.Timer(timeout, process.kill)  # bounded, even when nothing is printed
        watchdog.start()
        try:
            for line in process.stdout:
                log.write(line)
                lines.append(line)
                echo(line.rstrip("\n"))
            process.wait()
        finally:
            watchdog.cancel()
        if process.returncode == -9:
            echo(f"ansible-playbook stopped after {timeout:.0f} s")
    return PlaybookRun(process.returncode, time.monotonic() - started, parse_recap("".join(lines)), log_file)
