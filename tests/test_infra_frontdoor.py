"""`make plan ENV=x` and `make deploy-infra ENV=x`: what they do with and without a pulumi binary.

Without the CLI (this project's machines) they check hardware/ and say how to get Pulumi; the
tests that need the real CLI run only where `pulumi` is on PATH.
"""
from __future__ import annotations

import json
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
    done = make("plan", "ENV=", f"PULUMI={ABSENT}")
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


def hardware_copy(tmp_path: Path, name: str, change=lambda data: None) -> Path:
    """hardware/ in tmp_path with one environment (a shipped one, changed), for MARSAD_HARDWARE_DIR."""
    directory = tmp_path / "hardware"
    (directory / "environments").mkdir(parents=True, exist_ok=True)
    for file in ("schema.yaml", "profiles.yaml"):
        shutil.copy(REPO / "hardware" / file, directory / file)
    data = yaml.safe_load((REPO / "hardware/environments" / f"{name}.yaml").read_text())
    change(data)
    (directory / "environments" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data))
    return directory


def test_preflight_summarises_and_warns_of_missing_backup_disks(tmp_path, capsys, monkeypatch):
    def only_storage_backs_up(data):
        for server in data["servers"]:
            server["disks"] = [d for d in server["disks"] if d["purpose"] != "backup"]
        data["servers"][1]["disks"].append({"name": "backup", "size_gb": 8000, "purpose": "backup"})

    monkeypatch.setenv("MARSAD_HARDWARE_DIR", str(hardware_copy(tmp_path, "onm-production", only_storage_backs_up)))
    assert preflight.main(["onm-production"]) == 0
    out = capsys.readouterr().out
    assert "onm-production: profile standard, 3 server(s) to register" in out
    assert "onm-db1 10.20.0.11: 8 CPU, 32 GB RAM, system 240 GB, data 1920 GB; database, backup, monitoring" in out
    assert "no backup disk on onm-db1, onm-app1: the guardrail machine-has-backup-disk" in out


def test_preflight_refuses_a_server_too_small(tmp_path, capsys, monkeypatch):
    directory = hardware_copy(tmp_path, "lab", lambda data: data["servers"][0].update(ram_gb=1))
    monkeypatch.setenv("MARSAD_HARDWARE_DIR", str(directory))
    assert preflight.main(["lab"]) == 1
    assert "server lab-db has 1 GB of RAM" in capsys.readouterr().err


def test_preflight_needs_no_pulumi_sdk():
    # A machine without Pulumi runs this step: the module must not import the SDK.
    code = "import sys, infra.preflight; sys.exit(any(m.split('.')[0].startswith('pulumi') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_handoff_reads_the_stack_output_from_stdin(tmp_path):
    # What `make deploy-infra` pipes after `pulumi up` (`pulumi stack output inventory --json`).
    env = hardware.load_environment("onm-production")
    stack_output = json.dumps(hardware.inventory(env, hardware.generate_secrets()))
    done = subprocess.run([sys.executable, "-m", "infra.handoff", "onm-production"], cwd=REPO, input=stack_output,
                          capture_output=True, text=True, env={**os.environ, "MARSAD_DEPLOY_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path}/onm-production/secrets.yml" in done.stdout
    again = subprocess.run([sys.executable, "-m", "infra.handoff", "onm-production"], cwd=REPO,
                           input=json.dumps(hardware.inventory(env, hardware.generate_secrets())),
                           capture_output=True, text=True, env={**os.environ, "MARSAD_DEPLOY_DIR": str(tmp_path)})
    assert again.returncode == 1 and "already holds other values" in again.stderr


# --- with the real CLI ---------------------------------------------------------------------------


@pytest.fixture
def pulumi_home(tmp_path):
    """A throwaway file backend and passphrase, and a hardware/ whose environment has backup disks."""
    name = f"cli-test-{os.getpid()}"

    def with_backup_disks(data):
        data["name"] = name
        for server in data["servers"]:
            if not any(d["purpose"] == "backup" for d in server["disks"]):
                server["disks"].append({"name": "backup", "size_gb": 2000, "purpose": "backup"})

    directory = hardware_copy(tmp_path, "onm-production", with_backup_disks)
    (tmp_path / "state").mkdir()
    # The state in tmp_path; the plugin cache stays the user's (~/.pulumi): downloaded once.
    env = {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state", "PULUMI_CONFIG_PASSPHRASE": "test only",
           "MARSAD_HARDWARE_DIR": str(directory)}
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
def test_deploy_infra_hands_its_secrets_to_make_deploy(pulumi_home, tmp_path):
    name, env, directory = pulumi_home
    env = {**env, "MARSAD_DEPLOY_DIR": str(tmp_path / "deploy")}
    done = make("deploy-infra", f"ENV={name}", "YES=1", env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    path = tmp_path / "deploy" / name / "secrets.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(yaml.safe_load(path.read_text())) == set(hardware.SECRETS)
