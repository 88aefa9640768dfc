"""A real Keycloak for the test suite, on loopback, out of a throwaway folder.

The pinned distribution (hardware/keycloak.pin) is fetched, unpacked and built once by
``hardware/keycloak-dist.sh`` (``make test-deps``) into a cache outside the clone; this module
starts it with ``kc.sh start --optimized`` (no Quarkus build at start), an H2 dev-file database in
the throwaway folder, and a bootstrap admin with a random password.

Keycloak's first boot on an empty database spends most of its time creating the schema (Liquibase,
about 50 of 75 s on the loaded 2-core machine). So the first session on a machine boots once, stops,
and keeps that database as a template beside the cached distribution; every session then starts
from a copy of it and gives the admin a new random password before handing the server out.

    with KeycloakServer() as kc:
        admin = KeycloakAdmin(server_url=kc.url + "/", username=kc.admin_user, password=kc.admin_password)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.servers import (
    ServerBinaryMissing, ServerStartError, _die_with_parent, _log_tail, _PortTaken, _Server, free_ports,
)

ROOT = Path(__file__).resolve().parent.parent
PIN = ROOT / "hardware" / "keycloak.pin"
FETCH_HINT = "run `make test-deps` (or `hardware/keycloak-dist.sh`) to fetch and build it"


def pinned_version() -> str:
    for line in PIN.read_text().splitlines():
        if line.startswith("KEYCLOAK_VERSION="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{PIN}: no KEYCLOAK_VERSION line")


def find_keycloak() -> tuple[Path, str]:
    """The built distribution's folder and the JAVA_HOME it was built with (the script's stamp)."""
    version = pinned_version()
    root = os.environ.get("MARSAD_KEYCLOAK_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marsad" / "keycloak"
    cache = Path(root) / version
    home = cache / f"keycloak-{version}"
    stamps = sorted(cache.glob(".ready-*"))
    if not stamps or not (home / "bin" / "kc.sh").exists():
        raise ServerBinaryMissing(f"Keycloak {version} not found in {cache}; {FETCH_HINT}")
    return home, stamps[0].read_text().strip()


class KeycloakServer(_Server):
    """``kc.sh start --optimized`` on free loopback ports; admin ``admin`` with a random password.

    The management port (health) is separate from the HTTP port, as in a deployment.
    """

    def __init__(self, *, startup_timeout: float = 240.0):
        # Generous: a first boot on an empty database takes ~40 s on an idle 2-core machine and
        # minutes when it is loaded; the wait stops early when the process exits.
        self.home, self.java_home = find_keycloak()
        self.startup_timeout = startup_timeout
        self.admin_user = "admin"
        self.admin_password = secrets.token_urlsafe(18)
        self.base: Path | None = None
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.management_port: int | None = None

    @property
    def url(self) -> str:
        """Base URL (no trailing slash), e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base / "keycloak.log"

    def environ(self) -> dict[str, str]:
        """The variables `marsad identity sync` reads to reach this server."""
        return {"KEYCLOAK_URL": self.url, "KEYCLOAK_ADMIN_USER": self.admin_user,
                "KEYCLOAK_ADMIN_PASSWORD": self.admin_password, "KEYCLOAK_ADMIN_REALM": "master"}

    def rss_bytes(self) -> int | None:
        """Resident memory of the Keycloak JVM (the child kc.sh starts and waits for)."""
        try:
            pid = self.process.pid
            java = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]
            for line in Path(f"/proc/{java}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, AttributeError, IndexError):
            return None
        return None

    def keep_log(self, folder: Path) -> Path:
        """Copy the server's log into `folder` (a test artifact); returns the copy's path."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "keycloak.log"
        shutil.copyfile(self.log_path, target)
        return target

    @property
    def template(self) -> Path:
        return self.home.parent / "template-db"

    def _start_once(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="marsad-kc-"))
        with open(self.home.parent / ".template.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # two sessions at once: one makes the template
            if not (self.template / "admin-password").exists():
                self._make_template()
        shutil.copytree(self.template / "h2", self.base / "h2")
        self._launch((self.template / "admin-password").read_text().strip())
        self._rotate_admin_password((self.template / "admin-password").read_text().strip())

    def _make_template(self) -> None:
        password = secrets.token_urlsafe(18)
        self._launch(password)
        self._stop_process()                   # a clean stop: H2 closes its file
        work = Path(tempfile.mkdtemp(prefix=".template-", dir=self.home.parent))
        shutil.copytree(self.base / "h2", work / "h2")
        (work / "admin-password").write_text(password + "\n")
        shutil.rmtree(self.template, ignore_errors=True)
        work.rename(self.template)
        shutil.rmtree(self.base / "h2")

    def _rotate_admin_password(self, old: str) -> None:
        from keycloak import KeycloakAdmin

        admin = KeycloakAdmin(server_url=self.url + "/", username=self.admin_user, password=old, realm_name="master")
        admin.set_user_password(admin.get_user_id(self.admin_user), self.admin_password, temporary=False)

    def _launch(self, admin_password: str) -> None:
        self.port, self.management_port = free_ports(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "KEYCLOAK_", "JAVA_OPTS"))}
        # kc.sh's default heap outside containers is -Xms64m -Xmx512m: enough for tests.
        env |= {"JAVA_HOME": self.java_home,
                "KC_BOOTSTRAP_ADMIN_USERNAME": self.admin_user, "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password}
        command = [
            str(self.home / "bin" / "kc.sh"), "start", "--optimized",
            "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={self.port}",
            f"--http-management-port={self.management_port}", "--hostname-strict=false",
            # The database lives in this run's folder, not in the shared, cached distribution.
            f"--db-url=jdbc:h2:file:{self.base / 'h2' / 'keycloakdb'};NON_KEYWORDS=VALUE",
            "--log-console-color=false",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.base, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        ready = f"http://127.0.0.1:{self.management_port}/health/ready"
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = _log_tail(self.log_path)
                if "Address already in use" in log or "Port already bound" in log:
                    raise _PortTaken()
                raise ServerStartError(f"Keycloak exited with {self.process.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(ready, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:   # refused until up, 503 while starting
                last = str(exc)
            time.sleep(0.5)
        raise ServerStartError(
            f"Keycloak not ready after {self.startup_timeout:.0f}s ({ready}: {last}); log {self.log_path}:\n"
            f"{_log_tail(self.log_path)}"
        )

    def _stop_process(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                # SIGTERM: Quarkus shuts down in a second or two; kill if it does not.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
            self.process = None

    def _cleanup(self) -> None:
        self._stop_process()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
