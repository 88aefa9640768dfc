"""The demo: a working system on embedded defaults (SQLite, local object store, local accounts)
with a synthetic year of every dataset submitted, approved and accepted, and one rejected
file left for the partner to fix."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlmodel import select

from services import accounts, db
from services.catalog import default_catalog
from services.config import settings
from services.ingest import ingest
from services.models import Submission
from services.policy import load_policies
from services.workflow import move

# Rows per synthetic demo file: enough for charts, quick to load on a laptop.
DEMO_ROWS = {"border_crossings": 20_000, "interceptions": 600}
DEFAULT_ROWS = 2_000


def submitter_of(policies, dataset: str) -> str | None:
    for code in sorted(policies.institutions):
        if dataset in policies.datasets_submitted_by(code):
            return code
    return None


def init(year: int = 2025, say: Callable[[str], None] = print) -> None:
    from services.synth import write_file

    if settings().production:
        raise RuntimeError("the demo never runs in production (MARSAD_ENV=production)")
    engine = db.default_engine()
    for change in db.upgrade(engine):
        say(change)
    policies, catalog = load_policies(), default_catalog()
    with db.session(engine) as s:
        created = accounts.seed_demo(s, policies)
        say(f"{len(created)} demo accounts created")
        if s.exec(select(Submission)).first() is not None:
            say("demo data already loaded (remove var/ to start again)")
            return
    folder = settings().var_dir / "demo-files"
    folder.mkdir(parents=True, exist_ok=True)
    for code in catalog.datasets:
        institution = submitter_of(policies, code)
        if institution is None:
            say(f"skipped {code}: no agreement submits it")
            continue
        path = folder / f"{code}-{year}.csv"
        write_file(path, code, rows=DEMO_ROWS.get(code, DEFAULT_ROWS), year=year, seed=year)
        result = ingest(path, dataset=code, institution=institution, principal=_principal(institution, "submitter"))
        sub = result.submission
        if not result.valid:
            say(f"{code}: {sub.status} with {sub.errors_count} errors (see the portal)")
            continue
        with db.session(engine) as s:
            move(s, sub.id, "approve", _principal(institution, "focal_point"))
            move(s, sub.id, "accept", _principal("ONM", "onm_analyst"))
        say(f"{code}: {sub.rows_loaded:,} rows from {institution}, accepted")
    _leave_one_rejected(folder, policies, year, say)


def _leave_one_rejected(folder: Path, policies, year: int, say) -> None:
    """A file with deliberate errors, so the demo shows a rejection report to fix."""
    from services.synth import write_file

    institution = submitter_of(policies, "residence_permits") or submitter_of(policies, "border_crossings")
    dataset = "residence_permits" if submitter_of(policies, "residence_permits") else "border_crossings"
    path = folder / f"{dataset}-{year}-with-errors.csv"
    write_file(path, dataset, rows=500, year=year, seed=year + 1, error_rate=0.05)
    result = ingest(path, dataset=dataset, institution=institution, principal=_principal(institution, "submitter"))
    say(f"{dataset}: a file with {result.submission.errors_count} errors left {result.submission.status}")


def _principal(institution: str, role: str):
    with db.session() as s:
        account = accounts.find(s, f"{institution.lower()}.{role}")
    return accounts.principal_of(account)


def logins(policies=None) -> list[tuple[str, str, str]]:
    """(username, institution, role) of every demo account."""
    policies = policies or load_policies()
    return [(f"{code.lower()}.{role}", code, role)
            for code in sorted(policies.institutions) for role in accounts.demo_roles(policies, code)]
