"""Concurrent writers of the audit trail: separate processes (as `marsad ingest` runs and gunicorn
workers are) append to one chain, on SQLite (a file database, as the demo) and on PostgreSQL.
The database itself must serialise the appends: a lock inside one process cannot."""
from __future__ import annotations

import multiprocessing
import traceback

from services import audit, db
from tests.ingest_support import engine  # noqa: F401  (SQLite and PostgreSQL)

PROCESSES = 8
APPENDS = 25


def _append(url: str, worker: int, start, errors) -> None:
    eng = db.make_engine(url)  # the child's own engine: connections are not shared across a fork
    try:
        start.wait(timeout=60)  # every process starts appending at the same moment
        for i in range(APPENDS):
            with db.session(eng) as s:
                audit.record(s, actor=f"worker{worker}", action="test.append", institution="INS",
                             target=f"item:{i}", details={"worker": worker, "i": i})
    except Exception:  # reported to the parent, which fails the test with it
        errors.put(f"worker {worker}: {traceback.format_exc()}")
    finally:
        eng.dispose()


def _append_in_parallel(url: str) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    start, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_append, args=(url, n, start, errors)) for n in range(PROCESSES)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    problems += [f"worker {n} exit code {w.exitcode}" for n, w in enumerate(workers) if w.exitcode != 0]
    return problems


def test_parallel_processes_append_one_intact_chain(engine):
    with db.session(engine) as s:  # an entry already there: the workers continue a chain
        audit.record(s, actor="setup", action="test.append")
    url = engine.url.render_as_string(hide_password=False)
    failures = _append_in_parallel(url)
    assert not failures, "\n".join(failures)
    with db.session(engine) as s:
        report = audit.verify(s)
        per_worker = {}
        for entry in s.exec(audit.select(audit.AuditEntry).where(audit.AuditEntry.actor != "setup")):
            per_worker.setdefault(entry.actor, []).append(entry.details["i"])
    assert report.problems == [] and report.count == 1 + PROCESSES * APPENDS
    # Each worker's appends are all there, in its own order.
    assert per_worker == {f"worker{n}": list(range(APPENDS)) for n in range(PROCESSES)}


def test_an_append_commits_what_the_session_holds_with_it(engine):
    """record() keeps its contract: pending changes (flushed or not) are committed with the entry."""
    from services.models import Account

    with db.session(engine) as s:
        s.add(Account(username="flushed", password_hash="-", institution="INS", roles="submitter"))
        s.flush()
        s.add(Account(username="pending", password_hash="-", institution="INS", roles="submitter"))
        audit.record(s, actor="setup", action="account.create")
    with db.session(engine) as s:
        names = {a.username for a in s.exec(audit.select(Account))}
        assert {"flushed", "pending"} <= names
        assert audit.verify(s).count == 1
