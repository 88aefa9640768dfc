"""The deployment, end to end, in the hardware lab (marker `lab`; slow: about 10-15 minutes).

Boots the standard profile's three servers (and the restore drill's empty one) as Debian 13
containers, deploys playbooks/site.yml, deploys again and expects no change, runs the testinfra
suites, makes a training sandbox on the lab's sandbox server and uses it over TLS (target lab),
runs the restore drill, and removes the lab. Skipped, with the reason, on a machine that
cannot boot containers (not root, no systemd-nspawn, debootstrap or tinyproxy: `make lab-deps`),
or when MARSAD_LAB_TEST=0. The root filesystem image and pip's downloads stay cached between
runs (MARSAD_LAB_CACHE, default /var/cache/marsad-lab).

It uses its own environment (a copy of hardware/environments/lab.yaml named `labci`, on its own
network), so a lab an IT team or developer has up is left alone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from services import deployment, hardware, lab

pytest_plugins = ["tests.testinfra.plugin"]  # registers the `lab` marker and marks these tests

REPO = Path(__file__).resolve().parents[1]
NETWORK = "10.213.15"


def _skip_reason() -> str | None:
    if os.environ.get("MARSAD_LAB_TEST", "1") == "0":
        return "MARSAD_LAB_TEST=0"
    reason = lab.unavailable()
    if reason:
        return f"the hardware lab cannot run on this machine: {reason}"
    if shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None:
        return "ansible-core is not installed in this virtualenv (pip install -r playbooks/requirements.txt)"
    return None


def _ci_environment(folder: Path) -> hardware.Environment:
    data = yaml.safe_load((REPO / "hardware/environments/lab.yaml").read_text())
    data["name"] = "labci"
    data["description"] = "The lab deployment test's own copy of lab.yaml (tests/test_lab.py)."
    data["lab"].update(network=f"{NETWORK}.0/24", bridge="marsad-labci", proxy_port=3144)
    data["lab"]["restore_drill"]["address"] = f"{NETWORK}.19"
    for server in data["servers"]:
        server["address"] = f"{NETWORK}.{server['address'].rsplit('.', 1)[1]}"
    path = folder / "labci.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = hardware.load_environment(path)
    assert hardware.check(env) == []
    return env


def _step(timings: dict, name: str):
    class _Timer:
        def __enter__(self):
            self.started = time.monotonic()

        def __exit__(self, *exc):
            timings[name] = round(time.monotonic() - self.started, 1)

    return _Timer()


def _https_session():
    """A cookie-keeping HTTPS opener that accepts the lab's self-signed certificate."""
    import http.cookiejar
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                       urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _status(opener, url: str, data: dict | None = None) -> tuple[int, str, str]:
    import urllib.error
    import urllib.parse

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=30) as answer:
            return answer.status, answer.url, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, url, ""


def _sandbox_on_the_lab(env: hardware.Environment, root: Path, log: list[str]) -> None:
    """The training sandbox target lab: create on the lab's sandbox server, sign in over TLS, reset, destroy."""
    import csv
    import re
    import urllib.parse

    from services import sandbox

    name = "labci-class"
    os.environ["MARSAD_SANDBOX_ROOT"] = str(root)
    try:
        sb, sheet = sandbox.create(name, trainees=3, target="lab", env=env, say=log.append)
        assert sb.url == f"https://{env.servers_with('sandbox')[0].address}/sandbox/{name}/"
        assert {p.suffix for p in sheet} == {".csv", ".html", ".pdf"}, sheet   # Pango is on the server for PDF
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in sheet)
        accounts = {r["username"]: r for r in csv.DictReader(sheet[0].read_text(encoding="utf-8-sig").splitlines())}
        trainee = accounts["trainee-01"]
        assert trainee["address"] == sb.url

        # A trainee signs in through the lab's nginx and reaches the exercises, under the sandbox's path.
        opener = _https_session()
        status, _url, page = _status(opener, f"{sb.url}login")
        assert status == 200 and f'action="/sandbox/{name}/login"' in page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, landed, _page = _status(opener, f"{sb.url}login", {"username": "trainee-01",
                                                                    "password": trainee["password"],
                                                                    "csrf_token": token})
        assert status == 200 and landed.startswith(sb.url), landed
        assert _status(opener, f"{sb.url}exercises")[0] == 200
        # The production portal's address space is not the sandbox's: its session opens nothing there.
        landed = _status(opener, f"https://{sb.lab['address']}/submissions")[1]
        assert urllib.parse.urlsplit(landed).path == "/login", landed

        exercises, table = sandbox.progress_table(sandbox.load(name))
        assert set(table) == {"trainee-01", "trainee-02", "trainee-03"} and len(exercises) >= 4
        assert sandbox.reset(name) >= 0
        assert _status(opener, f"{sb.url}exercises")[0] == 200          # served on after a reset
        [row] = [r for r in sandbox.all_sandboxes() if r.name == name]
        assert row.target == "lab" and sandbox.port_open(row)

        removed = sandbox.destroy(name)
        assert removed and sandbox.leftovers(sb) == []
        assert _status(_https_session(), f"{sb.url}login")[0] == 404     # nginx no longer serves it
    finally:
        os.environ.pop("MARSAD_SANDBOX_ROOT", None)


def test_standard_profile_deploys_verifies_and_restores(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    env = _ci_environment(tmp_path)
    the_lab = lab.Lab(env)
    timings: dict[str, float] = {}
    log: list[str] = []
    try:
        with _step(timings, "artifacts"):
            done = subprocess.run(["bash", str(REPO / "hardware/artifacts.sh")], cwd=REPO, capture_output=True,
                                  text=True, timeout=900,
                                  env={**os.environ, "PIP": str(Path(sys.executable).parent / "pip")})
            assert done.returncode == 0, done.stdout + done.stderr
        with _step(timings, "lab up"):
            deployment.lab_up(the_lab)
        with _step(timings, "deploy"):
            first = deployment.run_playbook(env, "site.yml", echo=log.append, timeout=2400)
        assert first.ok, f"deployment failed; log {first.log_file}:\n" + "\n".join(log[-60:])
        with _step(timings, "deploy again"):
            second = deployment.run_playbook(env, "site.yml", echo=log.append, timeout=1200)
        assert second.ok, f"second deployment failed; log {second.log_file}"
        changed = {host: c["changed"] for host, c in second.recap.items() if c.get("changed")}
        assert not changed, f"not idempotent: the second deployment changed {changed}; log {second.log_file}"
        with _step(timings, "verify"):
            verify = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(REPO / "tests/testinfra")],
                cwd=REPO, capture_output=True, text=True, timeout=1200,
                env={**os.environ, "MARSAD_VERIFY_INVENTORY": str(the_lab.inventory_file),
                     "ANSIBLE_CONFIG": str(REPO / "playbooks/ansible.cfg"),
                     "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
        assert verify.returncode == 0, verify.stdout[-6000:] + verify.stderr[-2000:]
        with _step(timings, "sandbox"):
            _sandbox_on_the_lab(env, tmp_path / "sandboxes", log)
        with _step(timings, "restore drill"):
            drill = deployment.run_playbook(env, "restore-drill.yml", echo=log.append, timeout=1200)
        assert drill.ok, f"restore drill failed; log {drill.log_file}:\n" + "\n".join(log[-40:])
        assert any("restore drill passed" in line for line in log)
    finally:
        logs = the_lab.state / "logs"
        keep = lab.CACHE_DIR / "last-lab-test"
        if logs.is_dir():
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(logs, keep)
        with _step(timings, "lab down"):
            the_lab.down()
        lab.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        (lab.CACHE_DIR / "last-lab-test.json").write_text(json.dumps(timings, indent=1))
        print(f"lab test timings (s): {timings}")
