"""The audit trail: every kind of tampering is reported by `marsad audit verify`."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from services import audit, db
from services.cli import main
from tests.ingest_support import engine  # noqa: F401  (SQLite and PostgreSQL)


def _fill(engine, n=6):
    with db.session(engine) as s:
        for i in range(n):
            audit.record(s, actor=f"user{i}", action="submission.create", institution="INS",
                         target=f"submission:{i}", details={"rows": i, "file": "نموذج.csv"})


def test_intact_chain_verifies(engine):
    _fill(engine)
    with db.session(engine) as s:
        report = audit.verify(s)
    assert report.ok and report.count == 6 and len(report.head) == 64


@pytest.mark.parametrize("tamper,expected", [
    ("UPDATE audit_entry SET details = '{\"rows\": 999}' WHERE id = 3", "entry 3: content altered"),
    ("UPDATE audit_entry SET actor = 'someone-else' WHERE id = 5", "entry 5: content altered"),
    ("DELETE FROM audit_entry WHERE id = 4", "entry 4 deleted"),
])
def test_tampering_is_reported(engine, tamper, expected):
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    with db.session(engine) as s:
        report = audit.verify(s)
    assert not report.ok
    assert any(p.startswith(expected) for p in report.problems), report.problems


def test_reordering_is_reported(engine):
    _fill(engine)
    with engine.begin() as conn:  # swap entries 2 and 3
        for old, new in ((2, -1), (3, 2), (-1, 3)):
            conn.execute(text("UPDATE audit_entry SET id = :new WHERE id = :old"), {"old": old, "new": new})
    with db.session(engine) as s:
        report = audit.verify(s)
    assert any(p.startswith("entry 2: does not follow") for p in report.problems), report.problems


def test_cli_verify_exit_codes(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv("MARSAD_DATABASE_URL", url)
    eng = db.engine_for(url)
    db.upgrade(eng)
    _fill(eng, 3)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0 and "3 entries" in ok.output and "intact" in ok.output
    with eng.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET action = 'nothing.happened' WHERE id = 2"))
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1 and "entry 2: content altered" in broken.output
