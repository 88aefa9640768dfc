"""Sensitive reads leave an entry in the audit trail: who (actor, institution), what (indicator,
dataset, submission), with which filters and in which format; and the audit viewer's "sensitive"
filter finds every one of them.

The data go through the real pipeline (upload, approval, acceptance: tests/test_portal_dashboard.py).
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from services import audit, db
from services.models import AuditEntry

from portal.audit_log import Filters, entries, sensitive
from tests.portal_fixtures import (app, border_crossings_csv, crossing, portal_engine, portal_env,  # noqa: F401
                                   upload)
from tests.test_portal_dashboard import CODE, accepted, signed_in  # noqa: F401

SENSITIVE = ("export.csv", "export.xlsx", "export.sdmx", "microdata.read", "microdata.report")


def entries_since(engine, start: int, action: str | None = None) -> list[AuditEntry]:
    with db.session(engine) as s:
        query = select(AuditEntry).where(AuditEntry.id > start).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(s.exec(query))


def head(engine) -> int:
    with db.session(engine) as s:
        return audit.verify(s).count


def rejected_submission(app) -> int:
    submitter = signed_in(app, "mi-paf.submitter")
    answer = upload(submitter, border_crossings_csv([crossing(1), crossing(2, sex="Q")]))
    return int(answer.location.rsplit("/", 1)[-1])


# --- one test per kind ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,action", [("csv", "export.csv"), ("xlsx", "export.xlsx"), ("sdmx-csv", "export.sdmx")])
def test_a_dashboard_export_is_audited(app, accepted, fmt, action):
    ins = signed_in(app, "ins.analyst")
    start = head(accepted)
    answer = ins.get(f"/dashboard/{CODE}/download?format={fmt}&by=nationality&split=direction&year=2024"
                     "&sex=F&lang=fr")
    assert answer.status_code == 200
    [entry] = entries_since(accepted, start, action)
    assert (entry.actor, entry.institution, entry.target) == ("ins.analyst", "INS", f"indicator:{CODE}")
    assert entry.details == {"via": "dashboard", "indicator": CODE, "dataset": "border_crossings",
                             "level": "aggregates", "filters": {"sex": "F", "year": 2024},
                             "by": ["nationality", "direction"], "version": None, "format": fmt, "language": "fr"}


def test_a_refused_download_leaves_no_export_entry(app, accepted):
    ins = signed_in(app, "ins.analyst")
    start = head(accepted)
    assert ins.get(f"/dashboard/{CODE}/download?format=pdf").status_code == 404
    assert not [e for e in entries_since(accepted, start) if sensitive(e.action)]


def test_a_microdata_read_on_the_dashboard_is_audited(app, accepted):
    onm = signed_in(app, "onm.onm_analyst")  # pseudonymised microdata of every institution: nothing hidden
    start = head(accepted)
    assert onm.get(f"/dashboard/{CODE}?by=nationality&year=2024&direction=ENTRY").status_code == 200
    [entry] = entries_since(accepted, start, "microdata.read")
    assert (entry.actor, entry.institution, entry.target) == ("onm.onm_analyst", "ONM", f"indicator:{CODE}")
    assert entry.details == {"via": "dashboard", "indicator": CODE, "dataset": "border_crossings",
                             "level": "pseudonymised_microdata", "filters": {"direction": "ENTRY", "year": 2024},
                             "by": ["nationality"], "version": None}
    # A table under disclosure control is not a microdata read.
    ins = signed_in(app, "ins.analyst")
    start = head(accepted)
    assert ins.get(f"/dashboard/{CODE}?by=nationality&year=2024").status_code == 200
    assert entries_since(accepted, start, "microdata.read") == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_rejection_report_download_is_audited(app, portal_engine, fmt):
    submission_id = rejected_submission(app)
    focal_point = signed_in(app, "mi-paf.focal_point")
    start = head(portal_engine)
    assert focal_point.get(f"/submissions/{submission_id}/report.{fmt}?lang=en").status_code == 200
    [entry] = entries_since(portal_engine, start, "microdata.report")
    assert (entry.actor, entry.institution, entry.target) == ("mi-paf.focal_point", "MI-PAF",
                                                              f"submission:{submission_id}")
    assert entry.details == {"format": fmt, "language": "en", "dataset": "border_crossings",
                             "institution": "MI-PAF", "status": "rejected", "lines": 1}


def test_a_report_refused_to_another_institution_is_not_recorded_as_read(app, portal_engine):
    submission_id = rejected_submission(app)
    other = signed_in(app, "unhcr.submitter")
    start = head(portal_engine)
    assert other.get(f"/submissions/{submission_id}/report.csv").status_code in (403, 404)
    assert entries_since(portal_engine, start, "microdata.report") == []


# --- the viewer's sensitive filter ------------------------------------------------------------------

def test_the_sensitive_filter_finds_every_kind_of_read(app, accepted):
    ins, onm = signed_in(app, "ins.analyst"), signed_in(app, "onm.onm_analyst")
    for fmt in ("csv", "xlsx", "sdmx-csv"):
        assert ins.get(f"/dashboard/{CODE}/download?format={fmt}&by=nationality&year=2024").status_code == 200
    assert onm.get(f"/dashboard/{CODE}?by=nationality&year=2024").status_code == 200
    assert signed_in(app, "mi-paf.focal_point").get(
        f"/submissions/{rejected_submission(app)}/report.csv").status_code == 200

    page = signed_in(app, "onm.auditor").get("/audit?sensitive=1&lang=en").get_data(as_text=True)
    listed = re.findall(r'<tr class="sensitive">.*?<code>([^<]+)</code>', page.split("<tbody>", 1)[1], re.S)
    assert sorted(listed) == sorted(SENSITIVE)  # each once, and nothing else (no login, no audit.read)


def test_the_sensitive_filter_in_sql_is_the_viewers_rule(portal_engine):
    names = [*SENSITIVE, "indicator.export", "export", "a.export.b", "auth.login", "audit.read",
             "submission.create", "exports.x", "data.exported", "microdata", "microdataset.read", "re_export.csv",
             "auth.login.throttled", "auth.login.failed"]
    with db.session(portal_engine) as s:
        for name in names:
            audit.record(s, actor="t", action=name)
        found = {e.action for e in entries(s, None, Filters(sensitive_only=True), ZoneInfo("UTC"), per_page=100).items}
    assert found == {n for n in names if sensitive(n)}
    assert found == {*SENSITIVE, "indicator.export", "export", "a.export.b", "auth.login.throttled"}
