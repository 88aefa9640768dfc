"""The submission workflow: submitted -> validated | rejected -> approved -> accepted.

Validation moves a submission out of `submitted` (services/ingest). People then approve
(the institution's focal point), accept (the ONM) or reject with a reason; every move is
asked of the policy decision, recorded as a SubmissionEvent and in the audit trail.

A submission is in `submitted` only while a live process validates it, and that process
holds the submission's lock (`SubmissionLock`) all along. A process that dies (killed, out
of memory, its server gone) loses the lock with it, so a submission found in `submitted`
whose lock anyone can take was interrupted: `recover_interrupted` rejects it with a
reference, and the same bytes may then be submitted again.
"""
from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services import audit
from services.models import RowError, Status, Submission, SubmissionEvent, utcnow
from services.policy import Principal, Resource, decide, load_policies

log = logging.getLogger(__name__)
INTERRUPTED = "load_interrupted"  # the RowError code of a submission whose validating process died
FAULTS = ("load_failed", INTERRUPTED)  # rejections for a fault of the system, not of the file

# action -> (statuses it may start from, status it leads to, the policy action asked)
MOVES = {
    "approve": ({Status.validated}, Status.approved, "submission.approve"),
    "accept": ({Status.approved}, Status.accepted, "submission.accept"),
    "reject": ({Status.validated, Status.approved}, Status.rejected, "submission.reject"),
}


class WorkflowError(Exception):
    """A move that the workflow or the policies do not allow; `code` is stable for scripts and the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def record_move(session: Session, submission: Submission, to: Status, actor: str, reason: str | None = None) -> None:
    session.add(SubmissionEvent(submission_id=submission.id, from_status=submission.status, to_status=to.value,
                                actor=actor, reason=reason))
    submission.status = to.value
    submission.updated_at = utcnow()
    session.add(submission)


def leave_submitted(session: Session, submission_id: int, to: Status, actor: str, **values) -> bool:
    """Move a submission out of `submitted` if it still is there (atomic on both databases, so
    of two processes that both think they finish it, one only does); False when it was not."""
    moved = session.execute(update(Submission).where(Submission.id == submission_id,
                                                     Submission.status == Status.submitted.value)
                            .values(status=to.value, updated_at=utcnow(), **values))
    if moved.rowcount != 1:
        return False
    session.add(SubmissionEvent(submission_id=submission_id, from_status=Status.submitted.value,
                                to_status=to.value, actor=actor))
    return True


class SubmissionLock:
    """Held by the process validating a submission, from before the submission is visible in
    `submitted` until it has left it; released by the operating system or the database when
    that process dies, which is what makes it a reliable sign of life.

    PostgreSQL: a session advisory lock on a connection of its own (the server drops it with
    the connection, whichever side dies). SQLite (one machine by nature): an flock on a file
    beside the database, which the kernel drops with the process; flock locks belong to an open
    file, so even two threads of one process exclude each other.
    """

    _KEY = 0x6D617273  # advisory locks of submissions: (this, submission id); "mars"

    def __init__(self, engine: Engine, submission_id: int):
        self.engine, self.submission_id = engine, submission_id
        self._conn = self._file = None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when taken."""
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:key, :id)"),
                                 {"key": self._KEY, "id": self.submission_id}).scalar()
            if taken:
                self._conn = conn
            else:
                conn.close()
            return bool(taken)
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+b")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._file = fh
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key, :id)"), {"key": self._KEY, "id": self.submission_id})
                conn.close()
            except Exception:  # the server or the connection is gone, and the lock with it
                conn.invalidate()
        if self._file is not None:
            fh, self._file = self._file, None
            self._path().unlink(missing_ok=True)  # whoever opens it next finds the submission finished
            fh.close()

    def _path(self) -> Path:
        database = self.engine.url.database
        folder = Path(f"{database}.locks") if database and database != ":memory:" else Path("/tmp/marsad-locks")
        return folder / f"submission-{self.submission_id}"

    def __enter__(self):
        if not self.acquire():
            raise RuntimeError(f"submission {self.submission_id} is locked by another process")
        return self

    def __exit__(self, *exc):
        self.release()


def recover_interrupted(engine: Engine, submission_ids=None, catalog=None) -> list[int]:
    """Reject, with a reference, every submission (of `submission_ids`, or all) left in
    `submitted` by a process that is gone. Returns their ids. Taking the lock first means that
    two processes never recover the same one, and a live one is never touched."""
    with Session(engine) as s:
        query = select(Submission.id).where(Submission.status == Status.submitted.value)
        if submission_ids is not None:
            query = query.where(Submission.id.in_(list(submission_ids)))
        waiting = list(s.exec(query))
    recovered = []
    for submission_id in waiting:
        lock = SubmissionLock(engine, submission_id)
        if not lock.acquire():
            continue  # being validated right now
        try:
            if _reject_interrupted(engine, submission_id, catalog):
                recovered.append(submission_id)
        finally:
            lock.release()
    return recovered


def _reject_interrupted(engine: Engine, submission_id: int, catalog=None) -> bool:
    from services.catalog import default_catalog
    from services.datasets_db import dataset_table

    reference = f"submission-{submission_id}"
    with Session(engine, expire_on_commit=False) as s:
        sub = s.get(Submission, submission_id)
        if not leave_submitted(s, submission_id, Status.rejected, "system:recovery", rows_loaded=0,
                               errors_count=1):
            return False
        # The load commits its rows with the move out of `submitted`, so none should be left;
        # removed all the same, in the same transaction, so that a retry cannot count them twice.
        catalog = catalog or default_catalog()
        if sub.dataset in catalog.datasets:
            table = dataset_table(catalog.dataset(sub.dataset))
            s.execute(table.delete().where(table.c.submission_id == submission_id))
        s.add(RowError(submission_id=submission_id, code=INTERRUPTED, params={"reference": reference}))
        s.commit()
        log.warning("%s was left in submitted by a process that is gone: rejected", reference)
        audit.record(s, actor="system:recovery", institution=sub.institution, action="submission.rejected",
                     target=f"submission:{submission_id}", details={"reason": INTERRUPTED, "reference": reference})
    return True


def move(session: Session, submission_id: int, action: str, principal: Principal, *,
         reason: str | None = None, policies=None) -> Submission:
    if action not in MOVES:
        raise WorkflowError("unknown_action", f"unknown action {action!r}; one of {', '.join(MOVES)}")
    starts, to, policy_action = MOVES[action]
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise WorkflowError("not_found", f"no submission {submission_id}")
    decision = decide(policies or load_policies(), principal, policy_action,
                      Resource("submission", institution=submission.institution, dataset=submission.dataset))
    if not decision:
        audit.record(session, actor=principal.username, institution=principal.institution,
                     action=f"{policy_action}.denied", target=f"submission:{submission.id}",
                     details={"reason": decision.reason})
        raise WorkflowError("denied", decision.reason)
    if submission.status not in {s.value for s in starts}:
        raise WorkflowError("wrong_status", f"submission {submission.id} is {submission.status}; "
                            f"{action} needs it {' or '.join(sorted(s.value for s in starts))}")
    if action == "reject" and not (reason and reason.strip()):
        raise WorkflowError("reason_required", "a rejection needs a reason the institution can act on")
    record_move(session, submission, to, principal.username, reason)
    session.commit()
    if to is Status.accepted:
        # Accepted rows count from now on: refresh the indicator slices they fall in. Runs in
        # the request for now; at national scale this belongs in the background job queue.
        from services.indicators import on_accepted

        on_accepted(session.get_bind(), submission.id)
    audit.record(session, actor=principal.username, institution=principal.institution, action=policy_action,
                 target=f"submission:{submission.id}",
                 details={"dataset": submission.dataset, "institution": submission.institution,
                          "to": to.value, "reason": reason})
    return submission


def history(session: Session, submission_id: int) -> list[SubmissionEvent]:
    return list(session.exec(select(SubmissionEvent).where(SubmissionEvent.submission_id == submission_id)
                             .order_by(SubmissionEvent.id)))
