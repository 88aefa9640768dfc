"""The audit log viewer: the hash-chained trail (services/audit.py), filtered and paged, with the
chain's state at the top. Reading the trail is itself recorded ("audit.read").
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_
from sqlmodel import Session, select

from services import audit
from services.models import AuditEntry
from services.policy import institutions_in_reach

from portal.access import current_principal, own, require
from portal.runtime import db_session, runtime

bp = Blueprint("audit_log", __name__, url_prefix="/audit")

PER_PAGE = 50
PROBLEMS_SHOWN = 20


# Attacks on the sign-in, shown beside the reads: a throttled login is someone guessing passwords.
SENSITIVE_ACTIONS = ("auth.login.throttled",)


def sensitive(action: str) -> bool:
    """Reads of microdata and exports: the entries an auditor looks for first (microdata.read,
    microdata.report, export.csv, export.xlsx, export.sdmx, indicator.export, ...), and throttled logins."""
    return action.startswith("microdata.") or "export" in action.split(".") or action in SENSITIVE_ACTIONS


def sensitive_clause():
    """`sensitive` as SQL, word for word: "export" must be a whole dotted part of the name."""
    action = AuditEntry.action
    return or_(action.startswith("microdata.", autoescape=True), action == "export",
               action.startswith("export.", autoescape=True), action.endswith(".export", autoescape=True),
               action.contains(".export.", autoescape=True), action.in_(SENSITIVE_ACTIONS))


@dataclass
class Filters:
    action: str | None = None
    actor: str | None = None
    institution: str | None = None
    since: dt.date | None = None     # inclusive, a day in the portal's time zone
    until: dt.date | None = None     # inclusive
    sensitive_only: bool = False

    def as_args(self) -> dict:
        return {k: v for k, v in {
            "action": self.action, "actor": self.actor, "institution": self.institution,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "sensitive": "1" if self.sensitive_only else None}.items() if v}


@dataclass
class EntryPage:
    items: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """Midnight of `day` in the portal's time zone, in UTC (how entries are stored)."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)


def entries(session: Session, institutions, filters: Filters, zone: ZoneInfo, *, page: int = 1,
            per_page: int = PER_PAGE) -> EntryPage:
    """Entries newest first. `institutions` None means every entry, including those of no institution
    (failed logins, the system itself); a set limits to entries recorded for those institutions."""
    query = select(AuditEntry)
    if institutions is not None:
        query = query.where(AuditEntry.institution.in_(sorted(institutions)))
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor:
        query = query.where(func.lower(AuditEntry.actor).contains(filters.actor.lower(), autoescape=True))
    if filters.institution:
        query = query.where(AuditEntry.institution == filters.institution)
    if filters.since:
        query = query.where(AuditEntry.at >= day_start(filters.since, zone))
    if filters.until:
        query = query.where(AuditEntry.at < day_start(filters.until + dt.timedelta(days=1), zone))
    if filters.sensitive_only:
        query = query.where(sensitive_clause())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = max(1, page)
    items = list(session.exec(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return EntryPage(items, total, page, per_page)


def details_text(details: dict | None) -> list[tuple[str, str]]:
    """An entry's details as (key, value) pairs, nested values written as compact JSON."""
    return [(str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))
            for key, value in sorted((details or {}).items())]


def known_actions(session: Session) -> list[str]:
    return list(session.exec(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def _date(name: str, problems: list[str]) -> dt.date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(_("%(value)s is not a date (expected year-month-day).", value=value))
        return None


@bp.route("")
@require("audit.read", lambda: own("audit"))
def index():
    principal, policies, s = current_principal(), runtime().policies, db_session()
    reach = institutions_in_reach(policies, principal, "audit.read")
    institutions = None if reach == set(policies.institutions) else reach
    problems: list[str] = []
    filters = Filters(
        action=request.args.get("action") or None,
        actor=(request.args.get("actor") or "").strip()[:128] or None,
        institution=request.args.get("institution") or None,
        since=_date("since", problems), until=_date("until", problems),
        sensitive_only=request.args.get("sensitive") == "1",
    )
    if filters.institution and filters.institution not in reach:
        filters.institution = None
    page_number = request.args.get("page", 1, type=int)
    # Recorded before the entries are read: the reader sees its own reading at the top.
    audit.record(s, actor=principal.username, institution=principal.institution, action="audit.read",
                 details={"filters": filters.as_args(), "page": page_number})
    chain = audit.verify(s)
    page = entries(s, institutions, filters, ZoneInfo(current_app.config["TIMEZONE"]), page=page_number)
    return render_template(
        "audit/index.html", page=page, chain=chain, problems_shown=chain.problems[:PROBLEMS_SHOWN],
        filters=filters, input_problems=problems, actions=known_actions(s), sensitive=sensitive, details_text=details_text,
        institutions=[code for code in policies.institutions if code in reach],
        page_url=lambda n: url_for("audit_log.index", **{**filters.as_args(), "page": n}))
