"""Marsad's Pulumi program: the machines, disks and secrets of one environment of hardware/.

Stack config (Pulumi.<stack>.yaml): `marsad:environment` names hardware/environments/<name>.yaml;
`marsad:adminSshKeys` lists the public keys cloud-init installs on new Proxmox VMs.
Everything else comes from hardware/ and policies/.
"""
import sys
from pathlib import Path

import pulumi

# Pulumi runs this file with infra/ on sys.path; the repository root makes `infra` a package
# here exactly as in the tests (`services` comes from the virtualenv's editable install).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.components import marsad_stack  # noqa: E402
from services import hardware  # noqa: E402
from services.policy import load_policies  # noqa: E402

config = pulumi.Config()
outputs = marsad_stack(
    hardware.load_environment(config.require("environment")),
    load_policies(),
    admin_ssh_keys=config.get_object("adminSshKeys") or [],
)
for name, value in outputs.items():
    pulumi.export(name, value)
