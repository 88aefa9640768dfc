"""`marsad identity`: the Keycloak realm compiled from policies/ — plan, sync, export.

  marsad identity export --output realm.json      first boot: kc.sh import --file realm.json
  marsad identity plan                            against KEYCLOAK_URL's realm, or --current FILE,
                                                  or (neither) against an empty Keycloak
  KEYCLOAK_URL=... marsad identity sync           apply the plan; a second run changes nothing

Deployment settings (realm name, portal URLs, session lengths) come from the environment:
see services.identity.realm.RealmSettings.from_env.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from services.cli import EXIT_PROBLEMS
from services.cli.common import emit_json
from services.identity.plan import plan as make_plan
from services.identity.realm import (
    RealmSettings, desired_realm, realm_representation, state_from_representation,
)
from services.policy import PolicyError, load_policies

_DIR = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                    help="Policies folder; default: MARSAD_POLICIES_DIR or the repository's policies/.")


def _desired(directory):
    try:
        policies = load_policies(directory)
    except PolicyError as err:
        raise click.ClickException(f"{err}\nrun `marsad policies check`") from None
    settings = RealmSettings.from_env()
    return settings, desired_realm(policies, settings)


def _connect(settings: RealmSettings):
    from services.identity import keycloak_sync

    try:
        return keycloak_sync.connect(settings.realm)
    except ImportError:
        raise click.ClickException("python-keycloak is not installed (pip install python-keycloak)") from None
    except keycloak_sync.KeycloakSyncError as exc:
        raise click.ClickException(str(exc)) from None


def _show(actions, as_json: bool) -> None:
    if as_json:
        emit_json([a.as_dict() for a in actions])
        return
    if not actions:
        click.echo("the realm is as policies/ describe it: nothing to do")
        return
    for action in actions:
        click.echo(str(action))
    counts = {}
    for action in actions:
        counts[action.op] = counts.get(action.op, 0) + 1
    click.echo(", ".join(f"{n} to {op}" for op, n in sorted(counts.items())))


@click.group("identity")
def identity() -> None:
    """The Keycloak realm: groups, roles, clients and login rules compiled from policies/."""


@identity.command("plan")
@_DIR
@click.option("--current", "current_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Compare with this realm JSON (kc.sh export) instead of a live Keycloak.")
@click.option("--json", "as_json", is_flag=True, help="Print the actions as JSON.")
def plan_command(directory, current_file, as_json) -> None:
    """Show what sync would change, in order. Exits 1 when the plan has conflicts.

    Reads the live realm when KEYCLOAK_URL is set (with KEYCLOAK_ADMIN_USER/PASSWORD), else the
    file given with --current, else plans a fresh realm.
    """
    settings, desired = _desired(directory)
    if current_file is not None:
        current = state_from_representation(json.loads(current_file.read_text(encoding="utf-8")))
    elif os.environ.get("KEYCLOAK_URL"):
        from services.identity import keycloak_sync

        current = keycloak_sync.read_state(_connect(settings), settings.realm)
    else:
        click.echo("note: KEYCLOAK_URL is not set; planning against an empty Keycloak", err=True)
        current = None
    actions = make_plan(desired, current)
    _show(actions, as_json)
    if any(a.op == "conflict" for a in actions):
        sys.exit(EXIT_PROBLEMS)


@identity.command("sync")
@_DIR
@click.option("--dry-run", is_flag=True, help="Read and plan only.")
def sync_command(directory, dry_run) -> None:
    """Apply the plan to the Keycloak at KEYCLOAK_URL; never deletes what Marsad did not create."""
    from services.identity import keycloak_sync

    settings, desired = _desired(directory)
    admin = _connect(settings)
    actions = make_plan(desired, keycloak_sync.read_state(admin, settings.realm))
    _show(actions, False)
    if dry_run or not actions:
        return
    try:
        keycloak_sync.apply(admin, settings.realm, actions)
    except keycloak_sync.KeycloakSyncError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_PROBLEMS)
    left = make_plan(desired, keycloak_sync.read_state(admin, settings.realm))
    if left:
        click.echo("after sync the plan is still not empty (Keycloak changed something back?):", err=True)
        _show(left, False)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"applied {len(actions)} action(s); the realm is in sync")


@identity.command("export")
@_DIR
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: standard output).")
def export_command(directory, output) -> None:
    """Write the realm as Keycloak realm JSON, for `kc.sh import --file FILE` on first boot.

    The OTP login flow is not in the file (Keycloak's import would then lack its built-in flows);
    run `marsad identity sync` once Keycloak is up to add it.
    """
    _, desired = _desired(directory)
    rep = realm_representation(desired)
    if output is None:
        emit_json(rep)
        return
    output.write_text(json.dumps(rep, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {output}: realm {rep['realm']}, {len(rep['roles']['realm'])} roles, "
               f"{len(rep['clients'])} clients; then run `marsad identity sync` to add the OTP flow", err=True)


COMMANDS = [identity]
