"""`make plan ENV=x` and `make deploy-infra ENV=x`: what they do with and without a pulumi binary.

Without the CLI (this project's machines) they check hardware/ and say how to get Pulumi; the
tests that need the real CLI run only where `pulumi` is on PATH.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra import preflight
from services import hardware

REPO = Path(__file__).resolve().parents[1]
ABSENT = "pulumi-not-installed-here"
needs_pulumi = pytest.mark.skipif(shutil.which("pulumi") is None, reason="no pulumi CLI here")


def make(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    # -o: never rebuild the virtualenv from inside a test (`make test` has just built it).
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_plan_without_pulumi_checks_hardware_then_says_how_to_get_it():
    done = make("plan", "ENV=lab", f"PULUMI={ABSENT}")
    assert done.returncode == 2, done.stderr               # make's failure status...
    assert "plan] Error 4" in done.stderr                  # ...from the script's "not found"
    assert "lab: profile standard, 3 server(s) to register" in done.stdout
    assert "pulumi CLI not found: the lab path (make lab / make deploy ENV=lab) works without it." in done.stderr
    assert "make plan ENV=lab" in done.stderr and "pulumi login --local" in done.stderr


def test_deploy_infra_without_pulumi_says_so_too():
    done = make("deploy-infra", "ENV=onm-production", f"PULUMI={ABSENT}")
    assert done.returncode == 2 and "deploy-infra] Error 4" in done.stderr
    assert "make deploy-infra ENV=onm-production" in done.stderr


def test_plan_needs_an_environment():
    done = make("plan", f"PULUMI={ABSENT}")
    assert done.returncode == 2 and "plan] Error 2" in done.stderr
    assert "usage: make plan ENV=<environment>" in done.stderr and "onm-production" in done.stderr


def test_unknown_environment_is_not_found_before_anything_else():
    done = make("plan", "ENV=nowhere", f"PULUMI={ABSENT}")
    assert "plan] Error 4" in done.stderr and "no environment 'nowhere'" in done.stderr
    assert "pulumi CLI not found" not in done.stderr


def test_help_lists_the_targets():
    out = make("help").stdout
    assert "plan " in out and "deploy-infra " in out


# --- preflight: the part that needs no Pulumi ---------------------------------------------------


def test_preflight_summarises_and_warns_of_missing_backup_disks(capsys):
    assert preflight.main(["onm-production"]) == 0
    out = capsys.readouterr().out
    assert "onm-production: profile standard, 3 server(s) to register" in out
    assert "onm-db1 10.20.0.11: 8 CPU, 32 GB RAM, system 240 GB, data 1920 GB; database, backup, monitoring" in out
    assert "no backup disk on onm-db1, onm-app1" in out


def test_preflight_refuses_a_server_too_small(tmp_path, capsys, monkeypatch):
    directory = tmp_path / "hardware"
    (directory / "environments").mkdir(parents=True)
    for name in ("schema.yaml", "profiles.yaml"):
        shutil.copy(REPO / "hardware" / name, directory / name)
    data = yaml.safe_load((REPO / "hardware/environments/lab.yaml").read_text())
    data["servers"][0]["ram_gb"] = 1
    (directory / "environments/lab.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MARSAD_HARDWARE_DIR", str(directory))
    assert preflight.main(["lab"]) == 1
    assert "server lab-db has 1 GB of RAM" in capsys.readouterr().err


def test_preflight_needs_no_pulumi_sdk():
    # A machine without Pulumi runs this step: the module must not import the SDK.
    code = "import sys, infra.preflight; sys.exit(any(m.split('.')[0].startswith('pulumi') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# --- with the real CLI ---------------------------------------------------------------------------


@pytest.fixture
def pulumi_home(tmp_path):
    """A throwaway file backend and passphrase, and a hardware/ whose environment has backup disks."""
    directory = tmp_path / "hardware"
    (directory / "environments").mkdir(parents=True)
    for name in ("schema.yaml", "profiles.yaml"):
        shutil.copy(REPO / "hardware" / name, directory / name)
    name = f"cli-test-{os.getpid()}"
    data = yaml.safe_load((REPO / "hardware/environments/onm-production.yaml").read_text())
    data["name"] = name
    for server in data["servers"]:
        if not any(d["purpose"] == "backup" for d in server["disks"]):
            server["disks"].append({"name": "backup", "size_gb": 2000, "purpose": "backup"})
    (directory / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    env = {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state", "PULUMI_CONFIG_PASSPHRASE": "test only",
           "PULUMI_HOME": str(tmp_path / "pulumi-home"), "MARSAD_HARDWARE_DIR": str(directory)}
    (tmp_path / "state").mkdir()
    yield name, env, directory
    (REPO / "infra" / f"Pulumi.{name}.yaml").unlink(missing_ok=True)   # the stack file make created


@needs_pulumi
def test_plan_previews_with_the_guardrails(pulumi_home):
    name, env, _ = pulumi_home
    done = make("plan", f"ENV={name}", env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "marsad-guardrails" in done.stdout
    assert hardware.load_environment(name, env["MARSAD_HARDWARE_DIR"]).servers[0].name in done.stdout


@needs_pulumi
def test_plan_is_refused_by_the_guardrails_without_backup_disks(pulumi_home):
    name, env, directory = pulumi_home
    path = directory / "environments" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["servers"][2]["disks"] = [d for d in data["servers"][2]["disks"] if d["purpose"] != "backup"]
    path.write_text(yaml.safe_dump(data))
    done = make("plan", f"ENV={name}", env=env, timeout=900)
    assert done.returncode != 0 and "machine-has-backup-disk" in done.stdout + done.stderr


@needs_pulumi
def test_deploy_infra_writes_the_inventory(pulumi_home):
    name, env, _ = pulumi_home
    done = make("deploy-infra", f"ENV={name}", "YES=1", env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    path = REPO / "var" / "infra" / name / "inventory.yml"
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        inventory = yaml.safe_load(path.read_text())
        assert set(hardware.SECRETS) <= set(inventory["all"]["vars"])
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
