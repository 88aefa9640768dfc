"""`pulumi stack output inventory --show-secrets --json | python -m infra.handoff ENV`

Hands the secrets Pulumi generated to the deployment: writes them where `make deploy ENV`
reads an environment's secrets (services.deployment.deployment_dir(env)/secrets.yml, mode 0600),
so Ansible configures the servers with exactly the values the stack holds, and the inventory
`make deploy` writes equals the stack's `inventory` output. Last step of `make deploy-infra`.

A secrets file already holding other values is left alone (exit 1): the servers may be using
them, and replacing a database password under a running system is a decision for a person.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Mapping


from services import deployment, hardware


class HandoffRefused(RuntimeError):
    pass


def secrets_of(inventory: Mapping) -> dict[str, str]:
    """The values of services.hardware.SECRETS in an inventory (the stack's output)."""
    variables = inventory["all"]["vars"]
    return {name: variables[name] for name in hardware.SECRETS if name in variables}


def hand_over(env: hardware.Environment, secrets: Mapping[str, str]) -> Path:
    folder = deployment.deployment_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = deployment.secrets_file(folder)
    existing = deployment.read_secrets(folder)
    clash = sorted(name for name, value in secrets.items() if existing.get(name) not in (None, "", value))
    if clash:
        raise HandoffRefused(f"{path} already holds other values for {', '.join(clash)}: the servers may use them. "
                             "Move the file away to deploy with the stack's secrets, or keep it and leave "
                             "the stack's unused.")
    return deployment.write_secrets(folder, {**existing, **secrets})


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: pulumi stack output inventory --show-secrets --json | python -m infra.handoff ENV", file=sys.stderr)
        return 2
    env = hardware.load_environment(argv[0])
    try:
        path = hand_over(env, secrets_of(json.load(sys.stdin)))
    except HandoffRefused as err:
        print(err, file=sys.stderr)
        return 1
    print(f"secrets of {env.name} handed to the deployment: {path} (make deploy ENV={env.name} uses them)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
