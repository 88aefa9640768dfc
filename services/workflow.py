"""The submission workflow: submitted -> validated | rejected -> approved -> accepted.

Validation moves a submission out of `submitted` (services/ingest). People then approve
(the institution's focal point), accept (the ONM) or reject with a reason; every move is
asked of the policy decision, recorded as a SubmissionEvent and in the audit trail.
"""
from __future__ import annotations

from sqlmodel import Session, select

from services import audit
from services.models import Status, Submission, SubmissionEvent, utcnow
from services.policy import Principal, Resource, decide, load_policies

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
