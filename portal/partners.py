"""Partners overview for the observatory's administrators: every institution and unit with its
agreement (what it submits, what it may read, which roles), its active accounts and the latest
submission of each dataset it owes.

Everything shown comes from policies/*.yaml, the submissions table and the user directory; the
page changes nothing (changing an agreement is a reviewed change to policies/, never a form).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlmodel import Session, select

from services.models import Submission
from services.policy import ALL_DATASETS, Policies, Resource

from portal.access import can, own, require
from portal.runtime import db_session, runtime
from portal.users import active_counts, user_directory

bp = Blueprint("partners", __name__, url_prefix="/partners")

READ_LEVEL_LABELS = {
    "published": _l("published indicators only"),
    "aggregates": _l("aggregates under disclosure control"),
    "own_microdata": _l("its own rows (microdata)"),
    "pseudonymised_microdata": _l("every institution's rows, pseudonymised"),
}
KIND_LABELS = {
    "observatory": _l("Observatory"),
    "ministry": _l("Ministry"),
    "public_agency": _l("Public agency"),
    "public_fund": _l("Public fund"),
    "international_organisation": _l("International organisation"),
    "unit": _l("Unit"),
}


@dataclass
class Partner:
    code: str
    kind: str
    parent: str | None
    units: list[str]
    submits: list[tuple[str, Submission | None]]   # dataset, its latest submission
    reads: list[tuple[str | None, str]]             # dataset (None: every other dataset), level
    roles: list[str]
    users: int | None                               # None: the directory cannot say


def latest_submissions(session: Session) -> dict[tuple[str, str], Submission]:
    """The latest submission of each (institution, dataset) pair, in one query."""
    latest_ids = select(func.max(Submission.id)).group_by(Submission.institution, Submission.dataset)
    found = session.exec(select(Submission).where(Submission.id.in_(latest_ids.scalar_subquery())))
    return {(sub.institution, sub.dataset): sub for sub in found}


def partners(session: Session, policies: Policies, users: dict[str, int] | None) -> list[Partner]:
    latest = latest_submissions(session)
    out = []
    # Each institution followed by its units, as institutions.yaml lists them.
    for top in policies.top_level:
        for inst in (top, *top.units):
            agreement = policies.agreements.get(inst.code)
            submits = sorted(agreement.submits) if agreement else []
            reads = sorted(agreement.reads.items(), key=lambda kv: (kv[0] == ALL_DATASETS, kv[0])) if agreement else []
            out.append(Partner(
                code=inst.code, kind=inst.kind, parent=inst.parent, units=[u.code for u in inst.units],
                submits=[(d, latest.get((inst.code, d))) for d in submits],
                reads=[(None if d == ALL_DATASETS else d, level) for d, level in reads],
                roles=[r for r in policies.roles if agreement and r in agreement.roles],
                users=None if users is None else users.get(inst.code, 0)))
    return out


@bp.route("")
@require("institutions.manage", lambda: own("institutions"))
def index():
    policies = runtime().policies
    counts = active_counts(user_directory())
    return render_template("partners/index.html", partners=partners(db_session(), policies, counts),
                           users_known=counts is not None, observatory=policies.settings.observatory,
                           level_label=lambda level: str(READ_LEVEL_LABELS.get(level, level)),
                           kind_label=lambda kind: str(KIND_LABELS.get(kind, kind)),
                           may_list_users=lambda code: can("users.read", Resource("users", institution=code)))
