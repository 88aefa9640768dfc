"""Faults lose nothing: a server killed in the middle of an ingestion, then a retry.

Each test starts servers of its own (tests/servers.py), never the session's shared ones, and
kills them with SIGKILL at a chosen point: PostgreSQL's postmaster in the middle of a large
load, SeaweedFS in the middle of archiving. Each time the submission ends in a clear state
(rejected with a reference, or never created), no row of it is in the database, the raw file
is archived whole or not at all, and once the server is back a retry loads it exactly once.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.ingest import IngestInterrupted, ingest
from services.models import RowError, Status, Submission
from services.policy import load_policies
from services.storage import LocalStore, S3Store, raw_key
from tests.ingest_support import count_rows, submitter
from tests.servers import PostgresServer, SeaweedServer, _clean_env

CATALOG = default_catalog()
POLICIES = load_policies()
WHO = submitter(POLICIES, "border_crossings")
HEADER = "event_id,event_date,direction,border_post,person_id,family_name,given_name,nationality,sex,birth_date,age\n"


def write_valid(path: Path, rows: int) -> bytes:
    """`rows` valid border crossings, each person entering once; returns the file's bytes."""
    lines = [HEADER] + [f"E{n:09d},2024-07-14,ENTRY,AIR_TUN,P{n:010d},Ben Salah,Amira,TUN,F,1990-03-02,34\n"
                        for n in range(rows)]
    data = "".join(lines).encode()
    path.write_bytes(data)
    return data


def run(path: Path, engine, store, progress=None):
    return ingest(path, dataset="border_crossings", institution=WHO.institution, principal=WHO, engine=engine,
                  store=store, catalog=CATALOG, policies=POLICIES, progress=progress)


def submissions(engine) -> list[Submission]:
    with db.session(engine) as s:
        return list(s.exec(select(Submission).order_by(Submission.id)))


def archived_whole(store, data: bytes) -> bool:
    key = raw_key(hashlib.sha256(data).hexdigest())
    return store.exists(WHO.institution, key) and hashlib.sha256(store.get(WHO.institution, key)).digest() == \
        hashlib.sha256(data).digest()


def _children(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children()]


def kill_postmaster(server: PostgresServer) -> None:
    """SIGKILL the postmaster, then wait for its backends to notice and go (as they do)."""
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = _children(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    for child in children:
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(f"/proc/{child}").exists():  # still attached to the shared memory: the restart needs it gone
            os.kill(child, signal.SIGKILL)


def restart_postgres(server: PostgresServer) -> None:
    started = server._run(str(server.bindir / "pg_ctl"), "-D", str(server.data_dir), "-l", str(server.log_path),
                          "-w", "-t", "60", "start", timeout=80)
    assert started.returncode == 0, started.stderr
    server._wait_ready()


ROWS = 500_000  # a million took 52 s here beside other work: over the test budget


@pytest.fixture
def own_postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


def test_postgres_killed_in_the_middle_of_a_large_ingest(own_postgres, tmp_path):
    data = write_valid(tmp_path / "border.csv", ROWS)
    store = LocalStore(tmp_path / "objects")
    engine = db.make_engine(own_postgres.url)
    db.upgrade(engine)
    killed = []

    def kill_midway(rows: int) -> None:
        if rows >= ROWS // 3 and not killed:
            killed.append(rows)
            kill_postmaster(own_postgres)

    with pytest.raises(IngestInterrupted) as raised:
        run(tmp_path / "border.csv", engine, store, progress=kill_midway)
    assert killed, "the load ended before the kill"
    assert archived_whole(store, data)  # archived before anything else, and whole
    engine.dispose()

    restart_postgres(own_postgres)
    engine = db.make_engine(own_postgres.url)
    [stuck] = submissions(engine)
    assert stuck.id == raised.value.submission_id and stuck.status == Status.submitted.value
    assert count_rows(engine, CATALOG, "border_crossings") == 0  # the load's transaction died with the server

    retry = run(tmp_path / "border.csv", engine, store)
    assert retry.valid and retry.duplicate_of is None, [p.code for p in retry.problems]
    assert retry.submission.rows_loaded == ROWS
    assert count_rows(engine, CATALOG, "border_crossings") == ROWS
    first, second = submissions(engine)
    assert (first.status, second.status) == (Status.rejected.value, Status.validated.value)
    with db.session(engine) as s:
        [error] = s.exec(select(RowError).where(RowError.submission_id == first.id)).all()
    assert (error.code, error.params) == ("load_interrupted", {"reference": f"submission-{first.id}"})
    engine.dispose()


@pytest.fixture
def own_seaweed():
    server = SeaweedServer().start()
    yield server
    server.stop()


class _KillAfter:
    """The bytes minio uploads, read through: once the first part has gone, the server is
    killed, so that the kill falls in the middle of the file's transfer (not before, not after)."""

    def __init__(self, data, after: int, kill):
        self.data, self.after, self.kill, self.read_so_far = data, after, kill, 0

    def read(self, size=-1):
        if self.read_so_far >= self.after and self.kill is not None:
            self.kill()
            self.kill = None
        chunk = self.data.read(size)
        self.read_so_far += len(chunk)
        return chunk


def restart_seaweed(server: SeaweedServer, argv: list[str]) -> None:
    with open(server.log_path, "ab") as log:
        server.process = subprocess.Popen(argv, cwd=server.base, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=_clean_env())
    server._wait_ready()


def test_object_store_killed_in_the_middle_of_archiving(own_seaweed, tmp_path):
    data = write_valid(tmp_path / "border.csv", 200_000)  # about 19 MB: three parts of a multipart upload
    store = S3Store(own_seaweed.endpoint, own_seaweed.access_key, own_seaweed.secret_key, bucket_prefix="faults")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'marsad.db'}")
    db.upgrade(engine)
    argv = Path(f"/proc/{own_seaweed.process.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    killed = []
    upload = store.client.put_object

    def kill_midway():
        own_seaweed.process.kill()
        own_seaweed.process.wait(timeout=30)
        killed.append(True)

    def put_object(bucket, key, data, length, **options):  # the real upload, killed on its way
        return upload(bucket, key, _KillAfter(data, 8 * 2**20, kill_midway), length, **options)

    store.client.put_object = put_object
    with pytest.raises(Exception):
        run(tmp_path / "border.csv", engine, store)
    store.client.put_object = upload
    assert killed, "the archive completed before the kill"
    assert submissions(engine) == []  # refused before anything else
    assert count_rows(engine, CATALOG, "border_crossings") == 0

    restart_seaweed(own_seaweed, argv)
    assert not store.exists(WHO.institution, raw_key(hashlib.sha256(data).hexdigest()))  # no partial object
    retry = run(tmp_path / "border.csv", engine, store)
    assert retry.valid and retry.submission.rows_loaded == 200_000, [p.code for p in retry.problems]
    assert archived_whole(store, data)
    assert count_rows(engine, CATALOG, "border_crossings") == 200_000
    assert [s.status for s in submissions(engine)] == [Status.validated.value]
