"""The submission workflow through the policies: who may approve, accept and reject what."""
from __future__ import annotations

import io

import pytest
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.ingest import ingest
from services.models import AuditEntry, SubmissionEvent
from services.policy import Principal, load_policies
from services.storage import LocalStore
from services.workflow import WorkflowError, move
from tests.ingest_support import border_row, csv_bytes, engine, submitter  # noqa: F401

POLICIES = load_policies()
WHO = submitter(POLICIES, "border_crossings")
FOCAL = Principal(f"{WHO.institution.lower()}.focal_point", WHO.institution, frozenset({"focal_point"}))
ONM = Principal("onm.onm_analyst", "ONM", frozenset({"onm_analyst"}))
OTHER_FOCAL = Principal("ins.focal_point", "INS", frozenset({"focal_point"}))


@pytest.fixture
def validated(engine, tmp_path):
    result = ingest(io.BytesIO(csv_bytes([border_row(1)])), dataset="border_crossings", institution=WHO.institution,
                    principal=WHO, engine=engine, store=LocalStore(tmp_path / "o"), catalog=default_catalog(),
                    policies=POLICIES)
    assert result.submission.status == "validated"
    return result.submission.id


def test_approve_then_accept_records_who_and_when(engine, validated):
    with db.session(engine) as s:
        assert move(s, validated, "approve", FOCAL, policies=POLICIES).status == "approved"
        assert move(s, validated, "accept", ONM, policies=POLICIES).status == "accepted"
        events = s.exec(select(SubmissionEvent).where(SubmissionEvent.submission_id == validated)
                        .order_by(SubmissionEvent.id)).all()
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [
        (None, "submitted", WHO.username), ("submitted", "validated", "system:validation"),
        ("validated", "approved", FOCAL.username), ("approved", "accepted", ONM.username)]
    assert all(e.at is not None for e in events)
    assert actions[-2:] == ["submission.approve", "submission.accept"]


@pytest.mark.parametrize("who,action,code", [
    (OTHER_FOCAL, "approve", "denied"),      # another institution's focal point
    (WHO, "approve", "denied"),              # a submitter cannot approve
    (ONM, "accept", "wrong_status"),         # the ONM accepts only approved submissions
    (FOCAL, "accept", "denied"),             # a focal point cannot accept for the ONM
    (FOCAL, "reject", "reason_required"),    # a rejection says why
])
def test_refused_moves(engine, validated, who, action, code):
    with db.session(engine) as s, pytest.raises(WorkflowError) as err:
        move(s, validated, action, who, policies=POLICIES)
    assert err.value.code == code
    with db.session(engine) as s:
        assert s.exec(select(SubmissionEvent).where(SubmissionEvent.submission_id == validated)).all()[-1] \
            .to_status == "validated"


def test_reject_with_reason(engine, validated):
    with db.session(engine) as s:
        sub = move(s, validated, "reject", FOCAL, reason="July figures are incomplete", policies=POLICIES)
        last = s.exec(select(SubmissionEvent).order_by(SubmissionEvent.id.desc())).first()
    assert sub.status == "rejected" and last.reason == "July figures are incomplete"
