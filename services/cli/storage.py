"""`marsad storage`: buckets, versioning, lifecycle and per-institution S3 keys from policies/.

  marsad storage plan                                   what sync would change
  marsad storage sync --credentials-out keys.json       apply; new keys are written to keys.json
  marsad storage sync --credentials keys.json           use keys made elsewhere (e.g. Pulumi secrets)

Connection (an Admin identity of the S3 gateway, and the SeaweedFS master for `weed shell`):
MARSAD_S3_ENDPOINT, MARSAD_S3_ACCESS_KEY, MARSAD_S3_SECRET_KEY, MARSAD_S3_SECURE,
MARSAD_WEED_MASTER (default 127.0.0.1:9333), MARSAD_WEED (the weed binary; default: on PATH).
Rules: MARSAD_S3_BUCKET_PREFIX, MARSAD_S3_NONCURRENT_DAYS, MARSAD_S3_ABORT_MULTIPART_DAYS.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from services.cli import EXIT_PROBLEMS
from services.config import StorageEnv, section
from services.policy import PolicyError, load_policies
from services.storage_access import (
    SeaweedAdmin, StorageSettings, StorageState, StorageSyncError, credentials_needed, desired_storage,
    identity_name, plan,
)

_DIR = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                    help="Policies folder; default: MARSAD_POLICIES_DIR or the repository's policies/.")


def _desired(directory):
    try:
        policies = load_policies(directory)
    except PolicyError as err:
        raise click.ClickException(f"{err}\nrun `marsad policies check`") from None
    settings = StorageSettings.from_env()
    return settings, desired_storage(policies, settings)


def _admin() -> SeaweedAdmin:
    try:
        return SeaweedAdmin.from_env()
    except StorageSyncError as exc:
        raise click.ClickException(str(exc)) from None


def _read_credentials(path: Path | None, prefix: str) -> dict[str, tuple[str, str]]:
    """{"MI-PAF": {"access_key": ..., "secret_key": ...}} -> {identity name: (key, secret)}."""
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {identity_name(prefix, code): (v["access_key"], v["secret_key"]) for code, v in data.items()}


def _write_credentials(path: Path, generated: dict[str, tuple[str, str]], prefix: str) -> None:
    by_code = {name[len(prefix) + 1:].upper(): {"identity": name, "access_key": k, "secret_key": s}
               for name, (k, s) in generated.items()}
    existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # secrets: owner only
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({**existing, **by_code}, out, indent=2, sort_keys=True)
        out.write("\n")


def _show(actions) -> None:
    if not actions:
        click.echo("the object store is as policies/ describe it: nothing to do")
    for action in actions:
        click.echo(str(action))


@click.group("storage")
def storage() -> None:
    """Object-store buckets and per-institution access keys compiled from policies/."""


@storage.command("plan")
@_DIR
@click.option("--credentials", "credentials_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Keys to use, per institution code (JSON).")
def plan_command(directory, credentials_file) -> None:
    """Show what sync would change. Without MARSAD_S3_ENDPOINT, plans an empty object store."""
    settings, desired = _desired(directory)
    given = _read_credentials(credentials_file, settings.bucket_prefix)
    if section(StorageEnv).s3_endpoint:
        current = _admin().read_state(settings.bucket_prefix)
    else:
        click.echo("note: MARSAD_S3_ENDPOINT is not set; planning against an empty object store", err=True)
        current = StorageState()
    # Keys for new identities are made by sync; the plan only says so.
    credentials = {name: pair if name in given else ("(new, made by sync)", "")
                   for name, pair in credentials_needed(desired, current, given).items()}
    try:
        _show(plan(desired, current, settings.bucket_prefix, credentials))
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_PROBLEMS)


@storage.command("sync")
@_DIR
@click.option("--credentials", "credentials_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Keys to use, per institution code (JSON); a different key rotates the identity's keys.")
@click.option("--credentials-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write keys generated for new identities (created with mode 600).")
def sync_command(directory, credentials_file, credentials_out) -> None:
    """Create buckets, set versioning and lifecycle, and give each institution its key."""
    settings, desired = _desired(directory)
    admin = _admin()
    prefix = settings.bucket_prefix
    current = admin.read_state(prefix)
    given = _read_credentials(credentials_file, prefix)
    credentials = credentials_needed(desired, current, given)
    generated = {k: v for k, v in credentials.items() if k not in given}
    if generated and credentials_out is None:
        raise click.ClickException(f"{len(generated)} new identities need keys: give --credentials-out FILE to "
                                   "receive them, or --credentials FILE with keys made elsewhere")
    try:
        actions = plan(desired, current, prefix, credentials)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if generated:
        # Written before applying: a key must never exist on the server and nowhere else.
        _write_credentials(credentials_out, generated, prefix)
    try:
        admin.apply(actions, echo=click.echo)
    except StorageSyncError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_PROBLEMS)
    left = plan(desired, admin.read_state(prefix), prefix)
    if left:
        click.echo("after sync the plan is still not empty:", err=True)
        _show(left)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"applied {len(actions)} action(s); the object store is in sync"
               + (f"; new keys in {credentials_out}" if generated else ""))


COMMANDS = [storage]
