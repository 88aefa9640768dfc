"""Ingestion errors at scale and after a crash, on SQLite and PostgreSQL.

- the problems of a file are kept up to MARSAD_MAX_STORED_ERRORS, the others counted exactly;
- every error comes in one report, the exit-after-entry check included;
- a submission left in `submitted` by a process that died is rejected with a reference, and the
  same bytes are then accepted and loaded exactly once.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.ingest import ingest
from services.ingest.report import report_lines
from services.models import RowError, Status, Submission
from services.policy import load_policies
from services.storage import LocalStore
from services.workflow import SubmissionLock, recover_interrupted
from tests.ingest_support import border_row, count_rows, csv_bytes, engine, submitter  # noqa: F401

CATALOG = default_catalog()
POLICIES = load_policies()
WHO = submitter(POLICIES, "border_crossings")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "objects")


def submit(engine, store, data: bytes):
    return ingest(io.BytesIO(data), dataset="border_crossings", institution=WHO.institution, principal=WHO,
                  filename="upload.csv", engine=engine, store=store, catalog=CATALOG, policies=POLICIES)


def stored_errors(engine, submission_id: int) -> list[RowError]:
    with db.session(engine) as s:
        return list(s.exec(select(RowError).where(RowError.submission_id == submission_id).order_by(RowError.id)))


# --- problems past the cap are counted, not kept ----------------------------------------------

def all_invalid(n: int) -> bytes:
    """Every row wrong twice: its sex and its nationality."""
    return csv_bytes([border_row(i, sex="?", nationality="Narnia") for i in range(1, n + 1)])


def test_problems_past_the_cap_are_counted_by_code_and_field_not_kept(engine, store, monkeypatch):
    monkeypatch.setenv("MARSAD_MAX_STORED_ERRORS", "50")
    result = submit(engine, store, all_invalid(300))
    sub = result.submission
    assert sub.status == "rejected" and sub.errors_count == 600 and sub.rows_loaded == 0
    listed = [p for p in result.problems if p.code != "more_errors"]
    more = {(p.params["kind"], p.field): p.params["count"] for p in result.problems if p.code == "more_errors"}
    assert len(listed) == 50
    # the first 50 problems are rows 2..26, sex then nationality; all the others are counted
    assert more == {("unknown_code", "sex"): 275, ("unknown_code", "nationality"): 275}, more
    assert len(listed) + sum(more.values()) == sub.errors_count
    assert len(stored_errors(engine, sub.id)) == 52
    assert count_rows(engine, CATALOG, "border_crossings") == 0
    for lang in ("ar", "fr", "en"):
        lines = report_lines(result.problems, CATALOG, "border_crossings", lang)
        assert "275" in lines[-1]["message"] and lines[-1]["message"] != "more_errors"


def test_memory_of_an_all_invalid_file_does_not_grow_with_its_errors(tmp_path, store, monkeypatch):
    """Peak Python memory for 10x the errors stays well under 2x (it grew with every problem)."""
    import tracemalloc

    monkeypatch.setenv("MARSAD_MAX_STORED_ERRORS", "100")
    engine_ = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine_)
    peaks = []
    for n in (3_000, 30_000):
        path = tmp_path / f"{n}.csv"
        path.write_bytes(all_invalid(n))
        tracemalloc.start()
        result = ingest(path, dataset="border_crossings", institution=WHO.institution, principal=WHO,
                        engine=engine_, store=store, catalog=CATALOG, policies=POLICIES)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.submission.errors_count == 2 * n
    assert peaks[1] < peaks[0] * 2, f"peak grew from {peaks[0]:,} to {peaks[1]:,} bytes for 10x the errors"


# --- one report, the exit-after-entry check included ------------------------------------------

def test_exit_before_entry_is_reported_with_the_row_errors_in_one_pass(engine, store):
    rows = [border_row(1, direction="EXIT", event_date="2024-07-01", person_id="P1"),
            border_row(2, direction="EXIT", event_date="2024-07-10", person_id="P1"),  # no entry between
            border_row(3, sex="?", person_id="P2"),  # a row error of a person seen once, an entry
            border_row(4, event_date="yesterday", person_id="P3")]
    result = submit(engine, store, csv_bytes(rows))
    assert [(p.row, p.field, p.code) for p in result.problems] == \
        [(3, "event_date", "exit_before_entry"), (4, "sex", "unknown_code"), (5, "event_date", "bad_date")]
    assert result.submission.errors_count == 3
    assert count_rows(engine, CATALOG, "border_crossings") == 0


def test_a_second_round_of_the_exit_check_is_announced_when_rows_left_out_may_change_it(engine, store):
    # Row 3 (an exit of P1, who has another exit) has an error: once corrected, the check may
    # find P1 exiting twice. The report says so plainly.
    rows = [border_row(1, direction="EXIT", event_date="2024-07-01", person_id="P1"),
            border_row(2, direction="EXIT", event_date="2024-07-10", person_id="P1", nationality="Narnia"),
            border_row(3, person_id="P2")]
    result = submit(engine, store, csv_bytes(rows))
    assert [p.code for p in result.problems] == ["unknown_code", "exit_check_partial"]
    for lang in ("ar", "fr", "en"):
        assert report_lines(result.problems, CATALOG, "border_crossings", lang)[-1]["message"] != "exit_check_partial"


def test_an_exit_that_a_row_in_error_may_explain_is_left_to_the_second_check(engine, store):
    # P1's entry (row 3) has an error: without it P1 seems to exit twice, which may well be false.
    rows = [border_row(1, direction="EXIT", event_date="2024-07-01", person_id="P1"),
            border_row(2, direction="ENTRY", event_date="2024-07-05", person_id="P1", sex="?"),
            border_row(3, direction="EXIT", event_date="2024-07-10", person_id="P1")]
    result = submit(engine, store, csv_bytes(rows))
    assert [(p.row, p.code) for p in result.problems] == [(3, "unknown_code"), (None, "exit_check_partial")]


# --- a crash leaves nothing stuck -------------------------------------------------------------

CRASHING_CHILD = textwrap.dedent(r"""
    import os, signal, sys
    from pathlib import Path
    from services import db
    from services.ingest import ingest
    from services.policy import Principal
    from services.storage import LocalStore
    url, path, objects, institution = sys.argv[1:5]
    who = Principal(username="crash", institution=institution, roles=frozenset({"submitter"}))
    def die(rows):  # after the first batch, before anything is committed
        os.kill(os.getpid(), signal.SIGKILL)
    ingest(Path(path), dataset="border_crossings", institution=institution, principal=who,
           engine=db.make_engine(url), store=LocalStore(Path(objects)), progress=die)
""")


def crash_during_ingest(engine, path: Path, objects: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.run([sys.executable, "-c", CRASHING_CHILD, url, str(path), str(objects), WHO.institution],
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]


def test_a_submission_left_by_a_dead_process_is_rejected_and_the_same_file_loads_once(engine, tmp_path):
    data = csv_bytes([border_row(i) for i in range(1, 3001)])
    path = tmp_path / "border.csv"
    path.write_bytes(data)
    store = LocalStore(tmp_path / "objects")
    crash_during_ingest(engine, path, tmp_path / "objects")
    with db.session(engine) as s:
        [stuck] = s.exec(select(Submission)).all()
    assert stuck.status == Status.submitted.value
    assert count_rows(engine, CATALOG, "border_crossings") == 0

    retry = submit(engine, store, data)
    assert retry.valid and retry.duplicate_of is None, [p.code for p in retry.problems]
    assert retry.submission.rows_loaded == 3000
    assert count_rows(engine, CATALOG, "border_crossings") == 3000
    with db.session(engine) as s:
        stuck = s.get(Submission, stuck.id)
    assert stuck.status == Status.rejected.value
    [error] = stored_errors(engine, stuck.id)
    assert error.code == "load_interrupted" and error.params == {"reference": f"submission-{stuck.id}"}
    message = report_lines([error], CATALOG, "border_crossings", "en")[0]["message"]
    assert f"submission-{stuck.id}" in message

    again = submit(engine, store, data)  # the loaded one is the duplicate now
    assert again.duplicate_of is not None and again.duplicate_of.id == retry.submission.id
    assert count_rows(engine, CATALOG, "border_crossings") == 3000


def test_a_submission_whose_process_is_alive_is_left_alone(engine):
    with db.session(engine) as s:
        sub = Submission(dataset="border_crossings", institution=WHO.institution, filename="x.csv",
                         file_sha256="0" * 64, file_key="raw/00/x", file_size=1, submitted_by="x")
        s.add(sub)
        s.commit()
        sub_id = sub.id
    alive = SubmissionLock(engine, sub_id)
    assert alive.acquire()
    try:
        assert recover_interrupted(engine) == []
        with db.session(engine) as s:
            assert s.get(Submission, sub_id).status == Status.submitted.value
    finally:
        alive.release()
    assert recover_interrupted(engine) == [sub_id]
    with db.session(engine) as s:
        assert s.get(Submission, sub_id).status == Status.rejected.value
    assert recover_interrupted(engine) == []
