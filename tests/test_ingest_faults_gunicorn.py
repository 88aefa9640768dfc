"""Faults lose nothing: a gunicorn worker killed in the middle of an upload, then a retry.

The portal runs under gunicorn of its own (one sync worker, SQLite, a local object store in a
temporary folder). The worker is SIGKILLed twice: while the request body is still arriving
(nothing may be archived or recorded), and while the file is being validated (the submission
is left in `submitted`, without its lock). The retry of the same bytes, answered by the worker
gunicorn starts in place of the dead one, loads the file exactly once, and the interrupted
submission is rejected with its reference.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from sqlmodel import select

from services import accounts, db
from services.catalog import default_catalog
from services.identity import api_tokens
from services.models import RowError, Status, Submission
from services.policy import default_policies
from tests.ingest_support import count_rows, submitter

ROOT = Path(__file__).resolve().parent.parent
CATALOG = default_catalog()
WHO = submitter(default_policies(), "border_crossings")
ROWS = 60_000
HEADER = "event_id,event_date,direction,border_post,person_id,family_name,given_name,nationality,sex,birth_date,age\r\n"


def crossings(rows: int) -> bytes:
    return (HEADER + "".join(f"E{n:09d},2024-07-14,ENTRY,AIR_TUN,P{n:010d},Ben Salah,Amira,TUN,F,1990-03-02,34\r\n"
                             for n in range(rows))).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def workers_of(master: int) -> list[int]:
    return [child.pid for child in psutil.Process(master).children()]


class Portal:
    def __init__(self, tmp_path: Path):
        self.url = f"sqlite:///{tmp_path / 'marsad.db'}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "MARSAD_ENV": "test", "MARSAD_VAR_DIR": str(tmp_path / "var"),
                    "MARSAD_DATABASE_URL": self.url, "MARSAD_STORAGE": "local",
                    "MARSAD_STORAGE_DIR": str(tmp_path / "objects"), "MARSAD_COOKIE_SECURE": "0",
                    "MARSAD_LOCAL_ACCOUNTS": "1"}
        self.objects = tmp_path / "objects"
        self.engine = db.make_engine(self.url)
        db.upgrade(self.engine)
        with db.session(self.engine) as s:
            accounts.seed_demo(s, default_policies())
            self.token = api_tokens.issue(s, WHO.username)[0]
        self.port = free_port()
        self.log = tmp_path / "gunicorn.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--timeout", "120", "--bind", f"127.0.0.1:{self.port}",
             "--error-logfile", str(self.log), "portal.wsgi:app"],
            cwd=ROOT, env=self.env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_worker()

    def wait_worker(self, not_pid: int | None = None) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            pids = [p for p in workers_of(self.process.pid) if p != not_pid]
            if pids:
                try:
                    if self.request("GET", "/healthz")[0] == 200:
                        return pids[0]
                except OSError:
                    pass
            time.sleep(0.2)
        raise AssertionError("no gunicorn worker answered: " + self.log.read_text()[-2000:])

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def upload_parts(self, data: bytes) -> tuple[bytes, dict]:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"dataset\"\r\n\r\nborder_crossings\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"border.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return body, {"Authorization": f"Bearer {self.token}", "Content-Type": f"multipart/form-data; boundary={boundary}",
                      "Content-Length": str(len(body))}

    def submissions(self) -> list[Submission]:
        with db.session(self.engine) as s:
            return list(s.exec(select(Submission).order_by(Submission.id)))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.engine.dispose()


@pytest.fixture
def portal(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSAD_LOCAL_ACCOUNTS", "1")  # to seed the demo accounts
    server = Portal(tmp_path)
    yield server
    server.stop()


def archived_files(folder: Path) -> list[Path]:
    """The objects stored (not the store's bookkeeping, nor a temporary file being written)."""
    return [p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                     p.relative_to(folder).parts)] \
        if folder.exists() else []


def test_gunicorn_worker_killed_in_the_middle_of_an_upload(portal):
    data = crossings(ROWS)
    body, headers = portal.upload_parts(data)

    # 1. Killed while the body is still arriving: nothing is archived, nothing recorded.
    worker = portal.wait_worker()
    conn = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=60)
    conn.putrequest("POST", "/api/v1/submissions")
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(body[:len(body) // 2])
    time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.send(body[len(body) // 2:])
        conn.getresponse().read()
    conn.close()
    worker = portal.wait_worker(not_pid=worker)
    assert portal.submissions() == [] and archived_files(portal.objects) == []

    # 2. Killed while the file is validated: archived whole, left in `submitted`, nothing loaded.
    outcome: list = []
    sender = threading.Thread(target=lambda: outcome.append(_try(portal.request, "POST", "/api/v1/submissions",
                                                                 body, headers)), daemon=True)
    sender.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not portal.submissions():
        time.sleep(0.01)
    [stuck] = portal.submissions()
    os.kill(worker, signal.SIGKILL)
    sender.join(60)
    assert isinstance(outcome[0], (OSError, http.client.HTTPException)), outcome  # the client saw it fail
    with db.session(portal.engine) as s:
        assert s.get(Submission, stuck.id).status == Status.submitted.value
    assert count_rows(portal.engine, CATALOG, "border_crossings") == 0
    [raw] = archived_files(portal.objects)
    assert raw.name == hashlib.sha256(data).hexdigest() and raw.read_bytes() == data  # archived whole before anything else

    # 3. The retry, answered by the worker gunicorn started in place of the dead one.
    portal.wait_worker(not_pid=worker)
    status, answer = portal.request("POST", "/api/v1/submissions", body, headers)
    assert status == 201, answer[:500]
    assert count_rows(portal.engine, CATALOG, "border_crossings") == ROWS
    first, second = portal.submissions()
    assert (first.id, first.status, second.status) == (stuck.id, Status.rejected.value, Status.validated.value)
    with db.session(portal.engine) as s:
        [error] = s.exec(select(RowError).where(RowError.submission_id == first.id)).all()
    assert (error.code, error.params) == ("load_interrupted", {"reference": f"submission-{first.id}"})
    status, _ = portal.request("POST", "/api/v1/submissions", body, headers)
    assert status == 200 and count_rows(portal.engine, CATALOG, "border_crossings") == ROWS  # a duplicate now


def _try(call, *args):
    try:
        return call(*args)
    except Exception as err:  # the connection died with the worker
        return err
