"""The home page: what my institution owes under its agreement, what it sent, what was rejected,
and what waits for me."""
from __future__ import annotations

from flask import Blueprint, render_template

from portal import queries
from portal.access import acting_as, can, current_principal, login_required, own
from portal.runtime import db_session, runtime

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    # Each section is asked of the policy on its own: a trainer, say, sees none of them.
    principal, policies, s = current_principal(), runtime().policies, db_session()
    context = {"obligations": [], "recent": [], "rejected": [], "awaiting": []}
    if can("submission.read", own("submission")):
        scope = queries.readable_institutions(policies, principal)
        context["obligations"] = queries.obligations(s, policies, acting_as())
        context["recent"] = queries.submissions(s, scope, per_page=10).items
        context["rejected"] = queries.submissions(s, scope, status="rejected", per_page=10).items
        context["awaiting"] = queries.awaiting(s, policies, principal, scope)
    return render_template("home/index.html", institution=acting_as(), **context)
