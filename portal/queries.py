"""Read-side questions the portal asks about submissions, scoped by the policy decision.

No Flask here: every function takes a database session, the policies and a principal, so the
future JSON API and the command line can ask the same questions. (Candidates to move into
`services` once a second caller needs them.)
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from services.models import RowError, Submission
from services.policy import Resource, decide, institutions_in_reach
from services.workflow import MOVES

ALL = None  # "every institution": no filter on the submission list


def readable_institutions(policies, principal) -> set[str] | None:
    """The institutions whose submissions `principal` may read; ALL when every one of them.

    Asked of the policy institution by institution, so that scope rules (own institution,
    parent covering its units, observatory staff seeing all) stay in one place.
    """
    readable = set(institutions_in_reach(policies, principal, "submission.read"))
    return ALL if readable == set(policies.institutions) else readable


def _scoped(query, institutions):
    if institutions is ALL:
        return query
    return query.where(Submission.institution.in_(sorted(institutions)))


@dataclass
class Page:
    items: list[Submission]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def submissions(session: Session, institutions, *, dataset: str | None = None, status: str | None = None,
                institution: str | None = None, page: int = 1, per_page: int = 50) -> Page:
    query = _scoped(select(Submission), institutions)
    if dataset:
        query = query.where(Submission.dataset == dataset)
    if status:
        query = query.where(Submission.status == status)
    if institution:
        query = query.where(Submission.institution == institution)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = max(1, page)
    items = list(session.exec(query.order_by(Submission.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return Page(items, total, page, per_page)


def obligations(session: Session, policies, institution: str) -> list[tuple[str, Submission | None]]:
    """What the institution's agreement says it submits, each with its latest submission (or None)."""
    out = []
    for dataset in sorted(policies.datasets_submitted_by(institution)):
        latest = session.exec(select(Submission).where(Submission.institution == institution,
                                                       Submission.dataset == dataset)
                              .order_by(Submission.id.desc())).first()
        out.append((dataset, latest))
    return out


def allowed_moves(policies, principal, submission: Submission) -> list[str]:
    """The workflow moves `principal` may make on `submission` now (status and policy both agree)."""
    resource = Resource("submission", institution=submission.institution, dataset=submission.dataset)
    return [action for action, (starts, _to, policy_action) in MOVES.items()
            if submission.status in {s.value for s in starts}
            and decide(policies, principal, policy_action, resource)]


def awaiting(session: Session, policies, principal, institutions, limit: int = 20) -> list[Submission]:
    """Submissions waiting for a move this principal may make (approve or accept)."""
    waiting_statuses = sorted({s.value for action in ("approve", "accept") for s in MOVES[action][0]})
    query = _scoped(select(Submission).where(Submission.status.in_(waiting_statuses)), institutions)
    found = []
    for sub in session.exec(query.order_by(Submission.id)):
        if set(allowed_moves(policies, principal, sub)) - {"reject"}:
            found.append(sub)
            if len(found) >= limit:
                break
    return found


def row_errors(session: Session, submission_id: int, limit: int | None = None) -> list[RowError]:
    query = (select(RowError).where(RowError.submission_id == submission_id)
             .order_by(RowError.row_number.asc().nulls_first(), RowError.id))  # file-level errors first
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def stored_error_count(session: Session, submission_id: int) -> int:
    return session.exec(select(func.count()).where(RowError.submission_id == submission_id)).one()
