"""`marsad policies`: check the institutions, roles and agreements, show one, ask a decision."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.cli import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_OK, EXIT_PROBLEMS
from services.languages import LANGUAGES
from services.policy import (
    ACTION_KINDS, ACTIONS, ALL_DATASETS, READ_LEVELS, Policies, PolicyError, Principal, Resource,
    catalog_dataset_codes, check_policies, decide, load_policies, policies_dir,
)

_DIR = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                    help="Read another policies folder (to review a change); default: MARSAD_POLICIES_DIR "
                         "or the repository's policies/.")
_LANG = click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
                     help="Language of names.")


def _load(directory: Path | None) -> Policies:
    try:
        return load_policies(directory)
    except PolicyError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(err.problems)} problem(s); run `marsad policies check`", err=True)
        sys.exit(EXIT_PROBLEMS)


@click.group("policies")
def policies() -> None:
    """Partner institutions, roles and data-sharing agreements (policies/*.yaml)."""


@policies.command("check")
@_DIR
@click.option("--catalog-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Check dataset codes against another catalog folder; default: the installed one.")
def check(directory: Path | None, catalog_dir: Path | None) -> None:
    """Check the policies: schema, references between files and to the catalog, duplicates.

    Prints each problem as FILE: PATH: MESSAGE; exits 1 when there is any.
    """
    datasets, note = catalog_dataset_codes(catalog_dir)
    if note:
        click.echo(f"note: {note}", err=True)
    problems = check_policies(directory, catalog=datasets)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {policies_dir(directory)}")
        sys.exit(EXIT_PROBLEMS)
    loaded = load_policies(directory)
    click.echo(f"policies OK: {len(loaded.institutions)} institutions, {len(loaded.roles)} roles, "
               f"{len(loaded.agreements)} agreements")
    sys.exit(EXIT_OK)


@policies.command("show")
@click.argument("institution")
@_DIR
@_LANG
def show(institution: str, directory: Path | None, lang: str) -> None:
    """Show INSTITUTION's names, units and agreement: what it submits, who it has, what it reads."""
    loaded = _load(directory)
    inst = loaded.institutions.get(institution) or loaded.institutions.get(institution.upper())
    if inst is None:
        click.echo(f"unknown institution {institution!r}; known: {', '.join(loaded.institutions)}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    agreement = loaded.agreements[inst.code]
    click.echo(f"{inst.code}: {inst.name(lang)}")
    for other in LANGUAGES:
        if other != lang:
            click.echo(f"  {other}: {inst.names[other]}")
    if inst.parent:
        click.echo(f"unit of: {inst.parent} ({loaded.institutions[inst.parent].name(lang)})")
    if inst.supervised_by:
        click.echo(f"supervised by: {inst.supervised_by} ({loaded.institutions[inst.supervised_by].name(lang)})")
    for unit in inst.units:
        click.echo(f"unit: {unit.code} ({unit.name(lang)})")
    click.echo("")
    click.echo("submits: " + (", ".join(agreement.submits) or "nothing"))
    click.echo("roles its users may hold:")
    for code in sorted(agreement.roles):
        role = loaded.roles[code]
        marks = [f"scope {role.scope}"] + (["sandbox only"] if role.sandbox_only else [])
        click.echo(f"  {code:<12} {role.name(lang)} ({', '.join(marks)})")
    click.echo("reads:")
    named = sorted(d for d in agreement.reads if d != ALL_DATASETS)
    width = max([len("other datasets"), *map(len, named)])
    for dataset in named:
        click.echo(f"  {dataset:<{width}}  {agreement.reads[dataset]}")
    if ALL_DATASETS in agreement.reads:
        click.echo(f"  {'other datasets':<{width}}  {agreement.reads[ALL_DATASETS]}")
    elif not named:
        click.echo("  nothing")


@policies.command("decide")
@click.option("--institution", required=True, help="The user's institution (or unit) code.")
@click.option("--unit", help="The user's unit, when --institution is the parent.")
@click.option("--role", "roles", multiple=True, required=True, help="A role the user holds (repeatable).")
@click.option("--user", "username", default="someone", show_default=True)
@click.option("--owner", help="The institution owning the resource (e.g. a submission's submitter).")
@click.option("--dataset")
@click.option("--grant-role", help="users.manage: the role being granted.")
@click.option("--sandbox", help="The sandbox the user and the resource live in.")
@click.argument("action", type=click.Choice(sorted(ACTIONS)))
@click.argument("kind", required=False)
@_DIR
def decide_command(institution: str, unit: str | None, roles: tuple[str, ...], username: str, owner: str | None,
                   dataset: str | None, grant_role: str | None, sandbox: str | None, action: str,
                   kind: str | None, directory: Path | None) -> None:
    """Ask the policy decision whether a user may do ACTION (on a resource of KIND), and why.

    Exits 0 when allowed, 3 when denied: for explaining a refusal or scripting a check.
    """
    loaded = _load(directory)
    kind = kind or ACTION_KINDS[action][0]
    # A sandbox is managed from outside it; anything else happens inside the sandbox named.
    principal = Principal(username=username, institution=institution, roles=frozenset(roles), unit=unit,
                          sandbox=None if kind == "sandbox" else sandbox)
    resource = Resource(kind=kind, institution=owner, dataset=dataset, role=grant_role, sandbox=sandbox)
    decision = decide(loaded, principal, action, resource)
    level = f" [level: {decision.level}]" if decision.level else ""
    click.echo(f"{'allowed' if decision else 'denied'}: {decision.reason}{level}")
    sys.exit(EXIT_OK if decision else EXIT_DENIED)


COMMANDS = [policies]

# Read levels, listed for `--help` readers who wonder what `show` prints.
policies.help = (policies.help or "") + "\n\nRead levels, lowest first: " + ", ".join(READ_LEVELS) + "."
