"""`marsad hardware`: servers and deployment profiles (hardware/*.yaml), the Ansible inventory."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from services import deployment, hardware
from services.cli import EXIT_NOT_FOUND, EXIT_OK, EXIT_PROBLEMS
from services.config import settings

_ENV = click.argument("environment", metavar="ENV")


def _load(name: str) -> hardware.Environment:
    try:
        return hardware.load_environment(name)
    except hardware.HardwareError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        missing = any(p.message.startswith(("no environment", "no such file")) for p in err.problems)
        sys.exit(EXIT_NOT_FOUND if missing else EXIT_PROBLEMS)


@click.group("hardware")
def hardware_group() -> None:
    """Servers and deployment profiles (hardware/): sizing checks and the Ansible inventory."""


@hardware_group.command("list")
def list_command() -> None:
    """The environments in hardware/environments/ and the profiles."""
    for name in hardware.environment_names():
        try:
            env = hardware.load_environment(name)
            click.echo(f"{name}\t{env.kind}\t{env.profile.name}\t{len(env.servers)} server(s)")
        except hardware.HardwareError:
            click.echo(f"{name}\tINVALID (marsad hardware check {name})")
    for profile in hardware.load_profiles().values():
        slots = "; ".join(f"{s.count}x {s.describe()}" for s in profile.slots)
        click.echo(f"profile {profile.name}: {slots}")


@hardware_group.command("check")
@_ENV
def check_command(environment: str) -> None:
    """Check ENV (a name in hardware/environments/ or a path) against its profile.

    Prints each problem as FILE: PATH: MESSAGE and exits 1 when there is any: a server with
    less RAM, CPU or disk than its roles need, a role missing or misplaced, a name or
    address used twice.
    """
    env = _load(environment)
    problems = hardware.check(env)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {env.display_file}")
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"{env.name} OK: profile {env.profile.name}, {len(env.servers)} server(s): "
               + ", ".join(f"{s.name} ({', '.join(s.roles)})" for s in env.servers))
    sys.exit(EXIT_OK)


@hardware_group.command("inventory")
@_ENV
@click.option("--secrets", "secrets_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML mapping of secrets (names from services.hardware.SECRETS) to include.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (mode 0600 when it holds secrets); default: standard output.")
def inventory_command(environment: str, secrets_file: Path | None, output: Path | None) -> None:
    """Print the Ansible inventory of ENV (YAML): a group per role, host variables, marsad_* variables."""
    env = _load(environment)
    problems = hardware.check(env)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(problems)} problem(s); run `marsad hardware check {environment}`", err=True)
        sys.exit(EXIT_PROBLEMS)
    secrets = yaml.safe_load(secrets_file.read_text()) if secrets_file else None
    text = yaml.safe_dump(hardware.inventory(env, secrets), sort_keys=False, allow_unicode=True)
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.touch(mode=0o600)
    output.write_text(text)


COMMANDS = [hardware_group]


# --- the lab -------------------------------------------------------------------------


def _lab(environment: str | None, profile: str | None):
    from services import lab

    try:
        env = lab.lab_environment(profile) if environment is None else _load(environment)
        return lab.Lab(env, log=lambda message: click.echo(message, err=True))
    except lab.LabError as err:
        raise click.ClickException(str(err)) from None


_LAB_ENV = click.argument("environment", metavar="[ENV]", required=False)
_PROFILE = click.option("--profile", default="standard", show_default=True,
                        help="Without ENV: the lab environment of this profile (kind lab in hardware/environments/).")


@hardware_group.group("lab")
def lab_group() -> None:
    """The hardware lab: an environment's servers as Debian containers on this machine (root)."""


@lab_group.command("up")
@_LAB_ENV
@_PROFILE
def lab_up(environment: str | None, profile: str) -> None:
    """Boot the servers of a lab environment (idempotent) and write its Ansible inventory."""
    from services.lab import LabError

    lab = _lab(environment, profile)
    try:
        deployment.lab_up(lab)
    except LabError as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(lab.inventory_file))


@lab_group.command("down")
@_LAB_ENV
@_PROFILE
@click.option("--all", "every", is_flag=True, help="Every lab this machine runs (each environment with a lab record).")
def lab_down(environment: str | None, profile: str, every: bool) -> None:
    """Power off and remove everything the lab made (the cached image stays)."""
    from services import lab as lab_module

    try:
        if every:
            names = lab_module.recorded_labs()
            if not names:
                click.echo("no lab to remove", err=True)
            for name in names:
                lab_module.Lab(_load(name), log=lambda message: click.echo(message, err=True)).down()
            return
        _lab(environment, profile).down()
    except lab_module.LabError as err:
        raise click.ClickException(str(err)) from None


@lab_group.command("status")
@_LAB_ENV
@_PROFILE
def lab_status(environment: str | None, profile: str) -> None:
    """Each server of the lab: absent, stopped, or what its systemd says."""
    for name, address, state in _lab(environment, profile).status():
        click.echo(f"{name}\t{address}\t{state}")


# --- deploying and verifying ---------------------------------------------------------


@hardware_group.command("deploy")
@_ENV
@click.option("--playbook", default="site.yml", show_default=True, help="A playbook of playbooks/.")
@click.option("--expect-no-change", is_flag=True,
              help="Fail (exit 1) when the run changed anything: the idempotence check of a second deploy.")
@click.argument("ansible_args", nargs=-1, type=click.UNPROCESSED)
def deploy_command(environment: str, playbook: str, expect_no_change: bool, ansible_args: tuple[str, ...]) -> None:
    """Run playbooks/site.yml (or --playbook) on ENV's servers; extra arguments go to ansible-playbook.

    The inventory is the lab's for a lab environment, else written from hardware/ into
    var/deploy/ENV/ with that environment's secrets (generated once, kept there, mode 0600).
    """
    env = _load(environment)
    problems = hardware.check(env)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEMS)
    try:
        run = deployment.run_playbook(env, playbook, ansible_args)
    except hardware.HardwareError as err:
        raise click.ClickException("\n".join(map(str, err.problems))) from None
    per_host = ", ".join(f"{host} changed={c.get('changed', 0)}" for host, c in run.recap.items())
    click.echo(f"deploy {env.name} ({playbook}): {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s; "
               f"{run.changed} change(s) [{per_host}]; log {run.log_file}")
    if not run.ok:
        sys.exit(EXIT_PROBLEMS)
    if expect_no_change and run.changed:
        click.echo(f"not idempotent: a second run changed {run.changed} thing(s); see {run.log_file}", err=True)
        sys.exit(EXIT_PROBLEMS)


@hardware_group.command("verify")
@_ENV
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify_command(environment: str, pytest_args: tuple[str, ...]) -> None:
    """Check ENV's servers over SSH with the testinfra suites of tests/testinfra/."""
    import os
    import subprocess

    env = _load(environment)
    try:
        inventory_path = deployment.inventory_file(env)
    except hardware.HardwareError as err:
        raise click.ClickException("\n".join(map(str, err.problems))) from None
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               f"--ansible-inventory={inventory_path}", "--connection=ansible",
               str(hardware.REPO_ROOT / "tests" / "testinfra"), *pytest_args]
    # testinfra's ansible backend runs `ansible-inventory`: the virtualenv's bin first on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environ = {**os.environ, "PATH": path, "MARSAD_VERIFY_ENV": env.name, "MARSAD_VERIFY_INVENTORY": str(inventory_path),
               "ANSIBLE_CONFIG": str(deployment.PLAYBOOKS_DIR / "ansible.cfg")}
    sys.exit(subprocess.run(command, env=environ, cwd=hardware.REPO_ROOT).returncode)


@hardware_group.command("yardsticks")
@_ENV
def yardsticks_command(environment: str) -> None:
    """Lynis, ssh-audit and testssl.sh on ENV's deployed servers: a table, raw reports in var/yardsticks/ENV/.

    Exit 1 when a target is missed: a Lynis hardening index under 80, an ssh-audit failure, a
    HIGH or CRITICAL testssl.sh finding (a lab's self-signed certificate is reported apart).
    """
    from services import yardsticks

    env = _load(environment)
    core = settings()  # the repository's var/ unless MARSAD_VAR_DIR is given
    out_dir = (core.var_dir if "var_dir" in core.model_fields_set else hardware.REPO_ROOT / "var") / "yardsticks" / env.name
    try:
        found = yardsticks.measure(env, out_dir, log=lambda message: click.echo(message, err=True))
    except hardware.HardwareError as err:
        raise click.ClickException("\n".join(map(str, err.problems))) from None
    except yardsticks.YardstickError as err:
        raise click.ClickException(str(err)) from None
    click.echo(yardsticks.table(found))
    for server in found:
        if server.lynis_lost:
            lost = sorted(server.lynis_lost.items(), key=lambda item: -item[1])
            click.echo(f"{server.name}: Lynis points not given: " + ", ".join(f"{t} {n}" for t, n in lost))
        for line in server.tls_trust:
            click.echo(f"{server.name}: trust finding, expected with a lab's self-signed certificate: {line}")
        for line in server.missed():
            click.echo(f"{server.name}: MISSED {line}")
    click.echo(f"raw reports: {out_dir}")
    sys.exit(EXIT_PROBLEMS if any(s.missed() for s in found) else EXIT_OK)
