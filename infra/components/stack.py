"""The whole stack of one environment: its Servers, its Secrets, and the Ansible inventory.

`marsad_stack` is what infra/__main__.py runs and what the tests run under Pulumi's mocks.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pulumi

from services import hardware
from services.policy import Policies

from ..preflight import blocking_problems
from .secrets import Secrets, oidc_client_ids
from .servers import Servers


class HardwareProblems(ValueError):
    """The hardware file has problems `marsad hardware check` would report."""


def _sentinel(name: str) -> str:
    return f"\x00marsad-secret:{name}\x00"


def inventory_output(env: hardware.Environment, secrets: Mapping[str, pulumi.Output]) -> dict:
    """services.hardware.inventory(env, secrets), with each secret a secret Output in its place.

    The inventory is built once with a unique marker standing for each secret, then every
    string holding a marker becomes a secret Output. Hosts, groups and addresses stay readable
    in `pulumi preview` and `pulumi stack output`; only the secrets show as [secret].
    """
    markers = {_sentinel(name): value for name, value in secrets.items()}

    def place(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: place(v) for k, v in value.items()}
        if isinstance(value, list):
            return [place(v) for v in value]
        if isinstance(value, str) and "\x00marsad-secret:" in value:
            if value in markers:
                return pulumi.Output.secret(markers[value])
            used = [m for m in markers if m in value]

            def fill(resolved: list, text: str = value) -> str:
                for marker, secret in zip(used, resolved):
                    text = text.replace(marker, secret)
                return text
            return pulumi.Output.secret(pulumi.Output.all(*(markers[m] for m in used)).apply(fill))
        return value

    return place(hardware.inventory(env, {name: _sentinel(name) for name in secrets}))


def admin_users(env: hardware.Environment) -> dict[str, str]:
    """Who Ansible connects as on each server: cloud-init must create exactly that user."""
    return {name: host["ansible_user"] for name, host in hardware.inventory(env)["all"]["hosts"].items()}


def marsad_stack(env: hardware.Environment, policies: Policies, admin_ssh_keys: Sequence[str] = ()) -> dict:
    """Build the environment's resources; return the stack outputs (infra/__main__.py exports them)."""
    problems = blocking_problems(env)
    if problems:
        raise HardwareProblems("\n".join(map(str, problems)) + f"\n{len(problems)} problem(s): fix "
                                f"{env.display_file} (marsad hardware check {env.name})")
    if not env.profile.deployable:
        pulumi.log.warn(f"profile {env.profile.name} is planned here, but the playbooks do not deploy it yet")
    servers = Servers(env.name, env=env, admin_users=admin_users(env), admin_ssh_keys=admin_ssh_keys)
    keycloak = env.identity == "keycloak"
    secrets = Secrets(env.name, institutions=list(policies.institutions),
                      oidc_clients=oidc_client_ids(list(policies.agreements)) if keycloak else ())
    return {
        "environment": env.name,
        "kind": env.kind,
        "profile": env.profile.name,
        "machines": servers.machines,
        "inventory": inventory_output(env, secrets.inventory_secrets),
        "institution_s3_keys": secrets.institution_s3_keys,
        "oidc_client_secrets": secrets.oidc_client_secrets,
    }
