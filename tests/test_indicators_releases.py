"""Releases: draft -> approved -> published on a release date; embargo, frozen figures, revisions, audit."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlmodel import select

from services import audit, db
from services.indicators import (ReleaseError, approve_release, create_release, get_release, list_releases,
                                 on_accepted, publish, query, query_release)
from services.indicators.table import TOTAL
from services.models import AuditEntry
from services.policy import Principal
from services.storage import LocalStore
from tests.ingest_support import border_row, csv_bytes, engine  # noqa: F401
from tests.test_indicators import load

DRAFTER = Principal("onm.amira", "ONM", frozenset({"onm_analyst"}))
APPROVER = Principal("onm.karim", "ONM", frozenset({"onm_analyst"}))
READER = Principal("ins.analyst", "INS", frozenset({"analyst"}))
TODAY = dt.date.today()
CODE = "border_movements"


def accept_border_rows(engine, store, rows, name):
    on_accepted(engine, load(engine, store, io.BytesIO(csv_bytes(rows)), "border_crossings", filename=name))


@pytest.fixture
def computed(engine, tmp_path):
    store = LocalStore(tmp_path / "objects")
    rows = [border_row(n, event_date=f"2024-0{1 + n % 3}-1{n % 9}", sex="F" if n % 2 else "M") for n in range(12)]
    accept_border_rows(engine, store, rows, "first.csv")
    return engine, store


def test_draft_approve_publish_with_embargo(computed):
    engine, _ = computed
    draft = create_release(engine, CODE, {"year": 2024}, DRAFTER)
    assert (draft.version, draft.status, draft.cells > 0) == (1, "draft", True)
    with pytest.raises(ReleaseError) as err:
        approve_release(engine, CODE, 1, DRAFTER)
    assert err.value.code == "same_person"
    with pytest.raises(ReleaseError) as err:
        publish(engine, CODE, 1, APPROVER)
    assert err.value.code == "wrong_status"  # a draft is approved before it is published
    approve_release(engine, CODE, 1, APPROVER)
    with pytest.raises(ReleaseError) as err:
        publish(engine, CODE, 1, APPROVER, release_date=TODAY - dt.timedelta(days=1))
    assert err.value.code == "bad_date"
    release_day = TODAY + dt.timedelta(days=10)
    published = publish(engine, CODE, 1, APPROVER, release_date=release_day)
    assert (published.status, published.release_date) == ("published", release_day)

    # Embargoed: readers do not see it before the day, publishers do.
    for as_of in (None, release_day - dt.timedelta(days=1)):
        with pytest.raises(ReleaseError) as err:
            get_release(engine, CODE, principal=READER, as_of=as_of)
        assert err.value.code == "not_found"
    assert list_releases(engine, CODE, principal=READER) == []
    early = get_release(engine, CODE, principal=APPROVER)
    assert early.meta["release"]["embargoed"] is True
    seen = get_release(engine, CODE, principal=READER, as_of=release_day)
    assert seen.meta["release"] == {"version": 1, "status": "published", "date": release_day.isoformat(),
                                    "note": None, "embargoed": False}
    assert seen.dimensions == ("year", "month", "direction", "border_post", "nationality", "sex")
    assert seen.value("2024", TOTAL, TOTAL, TOTAL, TOTAL, TOTAL) == 12
    assert seen.value("2024", "2024-02", TOTAL, TOTAL, TOTAL, TOTAL) == 4
    live = query(engine, CODE, {"year": 2024}, ("sex",))
    frozen = query_release(engine, CODE, {"year": 2024}, ("sex",), principal=READER, as_of=release_day)
    assert frozen.cells == live.cells == {("F",): 6, ("M",): 6}


def test_published_figures_never_change_and_revisions_keep_both_versions(computed):
    engine, store = computed
    create_release(engine, CODE, None, DRAFTER)
    approve_release(engine, CODE, 1, APPROVER)
    publish(engine, CODE, 1, APPROVER)
    late = [border_row(100 + n, event_date="2024-02-20") for n in range(3)]
    accept_border_rows(engine, store, late, "late.csv")
    assert query(engine, CODE, {"year": 2024}).value() == 15
    assert query_release(engine, CODE, {"year": 2024}, principal=READER).value() == 12

    with pytest.raises(ReleaseError) as err:
        create_release(engine, CODE, None, DRAFTER)
    assert err.value.code == "note_required"
    create_release(engine, CODE, None, DRAFTER, note="February completed by a late file from the border police")
    # a draft revision is not news yet: readers still get version 1
    assert get_release(engine, CODE, principal=READER).meta["release"]["version"] == 1
    approve_release(engine, CODE, 2, APPROVER)
    publish(engine, CODE, 2, APPROVER)
    latest = get_release(engine, CODE, principal=READER)
    assert latest.meta["release"]["version"] == 2 and latest.meta["release"]["note"].startswith("February")
    assert latest.value("2024", TOTAL, TOTAL, TOTAL, TOTAL, TOTAL) == 15
    first = get_release(engine, CODE, 1, principal=READER)
    assert first.value("2024", TOTAL, TOTAL, TOTAL, TOTAL, TOTAL) == 12
    assert [(r.version, r.status) for r in list_releases(engine, CODE, principal=READER)] == \
        [(1, "published"), (2, "published")]


def test_refusals_are_explained_and_audited(computed):
    engine, _ = computed
    with pytest.raises(ReleaseError) as err:
        create_release(engine, CODE, None, READER)
    assert err.value.code == "denied"
    with pytest.raises(ReleaseError) as err:
        create_release(engine, CODE, {"year": 1999}, DRAFTER)
    assert err.value.code == "empty"
    with pytest.raises(ReleaseError) as err:
        create_release(engine, CODE, {"colour": "red"}, DRAFTER)
    assert err.value.code == "bad_scope"
    create_release(engine, CODE, {"year": 2024}, DRAFTER)
    with pytest.raises(ReleaseError) as err:
        approve_release(engine, CODE, 1, READER)
    assert err.value.code == "denied"
    with pytest.raises(ReleaseError) as err:
        get_release(engine, CODE, 1, principal=READER)   # a draft is not for readers
    assert err.value.code == "not_found"
    approve_release(engine, CODE, 1, APPROVER)
    publish(engine, CODE, 1, APPROVER)
    with db.session(engine) as s:
        entries = s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert audit.verify(s).ok
    mine = [(e.action, e.actor, e.target) for e in entries if "indicator" in e.action]
    assert mine == [
        ("indicator.publish.denied", READER.username, f"indicator:{CODE}"),
        ("indicator.release.create", DRAFTER.username, f"release:{CODE}:1"),
        ("indicator.publish.denied", READER.username, f"indicator:{CODE}"),
        ("indicator.release.approve", APPROVER.username, f"release:{CODE}:1"),
        ("indicator.release.publish", APPROVER.username, f"release:{CODE}:1"),
    ]
